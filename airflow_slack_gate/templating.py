"""Rendering of Slack text fields: values from templates are data, never Slack markup.

A DAG author may write ``<!here>``, ``<@U123>`` or ``<https://example.com|a link>`` in a message on
purpose; a value that a template pulls in (a model name, a commit message, an XCom, a run's conf) must
not be able to ping a channel, mention someone or disguise a link. So in the message fields:

- every ``{{ ... }}`` result is escaped (``&``, ``<``, ``>``), whatever its type: a list or dict
  is escaped as the text Jinja shows for it (``None`` shows as ``None``, as in Jinja);
- a value inside a ``<...>`` the author wrote (``<{{ url }}|Open>``, ``<{{ url }}>``) cannot add or
  change the link's label: a ``|`` in it, before the author's own ``|``, is sent as ``%7C``;
- ``blocks`` given as a JSON string is parsed *before* rendering, and each string in it rendered on its
  own, so a value can never end a JSON string (``"``), add blocks, or smuggle ``\\u003c`` past escaping;
- the fields are always rendered as text, also in DAGs with ``render_template_as_native_obj=True``.

The author's literal text is left as written. A whole field that is not a template (a list given
in the DAG, or an upstream task's output passed as ``blocks=build.output``) is the author's and is sent
as it is.

The string functions here are pure; :class:`SlackTextTemplating` is the operators' Airflow-facing mixin.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from airflow_slack_gate.core.messages import check_block_kit_limits, escape_mrkdwn

#: Fields whose template values are shown to people in Slack.
SLACK_TEXT_FIELDS = ("text", "blocks")

# Private-use characters around each rendered value, so that after rendering the author's text and
# the values can be told apart; stripped from values, sources and the result.
_VALUE_START = "\ue000"
_VALUE_END = "\ue001"
_NO_MARKERS = str.maketrans("", "", _VALUE_START + _VALUE_END)

BLOCKS_TEMPLATE_HELP = (
    "blocks must be a list of Block Kit blocks: a list of dicts with templated strings, e.g. "
    "blocks=[{'type': 'section', 'text': {'type': 'mrkdwn', 'text': 'Model {{ params.model }}'}}], or a "
    "JSON string of that list whose templates sit inside its string values (quote strings inside a "
    "template with ' there: {{ ti.xcom_pull(task_ids='build') }}). The JSON is read before "
    "rendering, so a value cannot end a string or add blocks; templates that build the JSON itself "
    "({% for %}, or a whole list from a param or XCom) are refused. To send blocks an upstream task "
    "built, pass its output: blocks=build_blocks.output."
)


def escape_template_value(value: Any) -> str:
    """Jinja ``finalize`` hook: every expression's result, whatever its type, is escaped text.

    The result is marked so :func:`finish_rendered` can tell it from the author's text around it.
    """
    return _VALUE_START + escape_mrkdwn(str(value).translate(_NO_MARKERS)) + _VALUE_END


def template_source(source: str) -> str:
    """The author's template without the private markers (they could otherwise fake a value's end)."""
    return source.translate(_NO_MARKERS)


def finish_rendered(rendered: str) -> str:
    """Drop the value markers of :func:`escape_template_value`; a ``|`` that a value puts inside a
    ``<...>`` the author opened, before the author's own ``|``, becomes ``%7C``, so the value cannot
    start or change the link's label."""
    out: list[str] = []
    in_value = in_link = in_label = False
    for char in rendered:
        if char == _VALUE_START:
            in_value = True
        elif char == _VALUE_END:
            in_value = False
        elif in_value:
            out.append("%7C" if char == "|" and in_link and not in_label else char)
        else:
            if char == "<":
                in_link, in_label = True, False
            elif char == ">":
                in_link = False
            elif char == "|" and in_link:
                in_label = True
            out.append(char)
    return "".join(out)


def blocks_template(source: str, *, task_id: str) -> list[Any]:
    """A JSON-string ``blocks`` template, read as JSON before anything is rendered into it."""
    try:
        parsed = json.loads(source)
    except ValueError as error:
        raise ValueError(
            f"Task {task_id!r}: blocks is a string that is not JSON ({error}). {BLOCKS_TEMPLATE_HELP}"
        ) from None
    if not isinstance(parsed, list):
        raise ValueError(
            f"Task {task_id!r}: blocks is JSON of a {type(parsed).__name__}, not a list. "
            + BLOCKS_TEMPLATE_HELP
        )
    return parsed


class SlackTextTemplating:
    """Operator mixin: render :data:`SLACK_TEXT_FIELDS` with template values escaped, then check the
    message against Slack's Block Kit limits, so a message Slack would refuse fails at render time."""

    template_fields: Any
    task_id: str
    text: Any
    blocks: Any
    #: Blocks the operator adds after the author's (the approval sensor adds its question, how to
    #: answer and the buttons), so the author has that many fewer.
    own_blocks: ClassVar[int] = 0

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Any, jinja_env: Any, seen_oids: set[int]
    ) -> None:
        # Airflow renders mapped tasks through this method (not render_template_fields): escape here.
        super_render = super()._do_render_template_fields  # type: ignore[misc]
        if parent is not self:
            super_render(parent, template_fields, context, jinja_env, seen_oids)
            return
        fields = list(template_fields)
        super_render(
            self, [name for name in fields if name not in SLACK_TEXT_FIELDS], context, jinja_env, seen_oids
        )
        env = jinja_env.overlay(finalize=escape_template_value)
        for name in fields:
            value = getattr(self, name)
            if name in SLACK_TEXT_FIELDS and value and id(value) not in seen_oids:
                setattr(self, name, self._render_slack_field(name, value, context, env, seen_oids))
        self.check_slack_message()

    def _render_slack_field(self, name: str, value: Any, context: Any, env: Any, seen_oids: set[int]) -> Any:
        if name == "blocks" and isinstance(value, str):
            value = blocks_template(value, task_id=self.task_id)
        return self._render_slack_value(value, context, env, seen_oids)

    def _render_slack_value(self, value: Any, context: Any, env: Any, seen_oids: set[int]) -> Any:
        from airflow.sdk.definitions.context import render_template_to_string

        if isinstance(value, str):
            # Always text: the marked values are strings, even where Jinja would build native objects.
            return finish_rendered(
                render_template_to_string(env.from_string(template_source(value)), context)
            )
        if isinstance(value, list):
            return [self._render_slack_value(item, context, env, seen_oids) for item in value]
        if isinstance(value, tuple):
            return tuple(self._render_slack_value(item, context, env, seen_oids) for item in value)
        if isinstance(value, dict):
            return {
                key: self._render_slack_value(item, context, env, seen_oids) for key, item in value.items()
            }
        if value is None or isinstance(value, (bool, int, float)):
            return value  # JSON's other leaves
        # An XComArg and the like: Airflow resolves it; its value is the upstream task's, sent as it is.
        return self.render_template(value, context, env, seen_oids)  # type: ignore[attr-defined]

    def slack_message_to_check(self) -> tuple[Any, Any]:
        """The ``text`` and ``blocks`` Slack's limits apply to (the sensor shortens its text to fit)."""
        return self.text, self.blocks

    def check_slack_message(self, *, rendered: bool = True) -> None:
        """Raise ``ValueError`` if Slack would refuse the message (``invalid_blocks``, ``msg_too_long``).

        Before rendering (when the DAG is parsed) strings holding templates are not measured.
        """
        text, blocks = self.slack_message_to_check()
        if isinstance(blocks, str):
            blocks = blocks_template(blocks, task_id=self.task_id)
        problems = check_block_kit_limits(
            text, blocks, own_blocks=self.own_blocks, skip_templates=not rendered
        )
        if problems:
            raise ValueError(
                f"Task {self.task_id!r}: Slack would refuse this message "
                f"({', '.join(sorted({problem.error for problem in problems}))}): "
                + "; ".join(str(problem) for problem in problems)
                + ". Shorten the DAG's text or blocks (values that templates insert count once rendered)."
            )
