"""Rendering of Slack text fields: values from templates are data, never Slack markup.

A DAG author may write ``<!here>`` or ``<@U123>`` in a message on purpose; a value that a template
pulls in (a model name, a commit message, an XCom) must not be able to ping a channel, mention someone
or disguise a link. So every ``{{ ... }}`` result in the message fields is escaped (``&``, ``<``, ``>``)
while the author's literal text is left as written.
"""

from __future__ import annotations

from typing import Any

from airflow_slack_gate.messages import escape_mrkdwn

#: Fields whose template values are shown to people in Slack.
SLACK_TEXT_FIELDS = ("text", "blocks")


def escape_template_value(value: Any) -> Any:
    """Jinja ``finalize`` hook: escape string results of template expressions."""
    return escape_mrkdwn(value) if isinstance(value, str) else value


class SlackTextTemplating:
    """Operator mixin: render :data:`SLACK_TEXT_FIELDS` with template values escaped."""

    template_fields: Any

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        env = jinja_env or self.get_template_env()  # type: ignore[attr-defined]
        text_fields = [name for name in self.template_fields if name in SLACK_TEXT_FIELDS]
        other_fields = [name for name in self.template_fields if name not in SLACK_TEXT_FIELDS]
        render = self._do_render_template_fields  # type: ignore[attr-defined]
        render(self, other_fields, context, env, set())
        render(self, text_fields, context, env.overlay(finalize=escape_template_value), set())
