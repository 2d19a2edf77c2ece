"""Block Kit of an Airflow HITL request asked in Slack (``HITLOperator``, ``ApprovalOperator``,
``HITLBranchOperator``, ``HITLEntryOperator``), of its answer, and the notes a click gets. Pure: no I/O.

The request's subject, body and options come from the run (the operator renders ``subject`` and
``body`` as templates), so they are escaped: nothing in them can ping a channel, mention someone or
forge a link. The notifier's ``text`` and ``mention`` are the DAG author's and are sent as written.

Each option is one button whose value is its index in the request's options (an option may be longer
than a button's value allows); ``multiple=True`` shows checkboxes and a Submit button. The message's
metadata (:func:`~airflow_slack_gate.core.protocol.hitl_metadata`) names the task instance and the
digest of the options, so a click is judged by what the bot wrote, not by the button.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_slack_gate.core.messages import (
    SECTION_TEXT_LIMIT,
    _context,
    _fit,
    _mention,
    _mrkdwn,
    _plain,
    _section,
    escape_mrkdwn,
)
from airflow_slack_gate.core.policy import is_user_id
from airflow_slack_gate.core.protocol import hitl_outcome_metadata

#: ``action_id`` prefix of a single-choice option's button (``..._0``, ``..._1``: unique in a block).
OPTION_ACTION = "airflow_slack_gate_hitl_option"
#: ``action_id`` of the checkboxes of a ``multiple=True`` request (ticking one changes nothing).
CHOICES_ACTION = "airflow_slack_gate_hitl_choices"
#: ``action_id`` of the Submit button of a ``multiple=True`` request.
SUBMIT_ACTION = "airflow_slack_gate_hitl_submit"
#: ``block_id`` of the blocks that answer (buttons, or checkboxes and Submit); an answer removes them.
ANSWER_BLOCK = "airflow_slack_gate_hitl_answer"
#: Slack's limits: 25 elements in an actions block, 10 options in a checkboxes element, 75 characters
#: in a button's or an option's text.
MAX_BUTTONS = 25
MAX_CHECKBOXES = 10
_LABEL_LIMIT = 75


def option_index(value: object, options_count: int) -> int | None:
    """The option a button's or checkbox's value names (its index), when it is one of ``options_count``."""
    if not isinstance(value, str) or not value.isdigit() or len(value) > 6:
        return None
    index = int(value)
    return index if index < options_count else None


def answerable_in_slack(
    *, options: Sequence[str], multiple: bool, has_params: bool, form_in_slack: bool = False
) -> bool:
    """Whether Slack can answer the request: options that fit Block Kit, and no form, or a form whose
    every param has a Slack input (``form_in_slack``: :func:`form_fields`), answered in a modal."""
    if has_params:
        return form_in_slack and len(options) <= (MAX_CHECKBOXES if multiple else MAX_SELECT_OPTIONS)
    return len(options) <= (MAX_CHECKBOXES if multiple else MAX_BUTTONS)


def hitl_message(
    *,
    subject: str,
    body: str | None,
    options: Sequence[str],
    multiple: bool,
    has_params: bool,
    link: str | None,
    form_in_slack: bool = False,
    text: str | None = None,
    mention: str | None = None,
    assigned_users: Sequence[Mapping[str, Any]] = (),
    context_line: str = "",
    buttons: bool = True,
) -> dict[str, Any]:
    """The message that asks a HITL request (``text`` and ``blocks`` for ``chat.postMessage``).

    ``link`` is the task's Required Actions page in Airflow (``None`` when Airflow has no
    ``api.base_url``: the message says so). A request with ``params`` (a form) shows an "Answer in
    Slack" button that opens the form's modal when ``form_in_slack`` (every param has a Slack input,
    :func:`form_fields`); otherwise, like a request with more options than Block Kit shows, it is
    answered in Airflow: the message links there instead of showing buttons. So it is without
    ``buttons`` (Slack could not deliver a click).
    """
    blocks: list[dict[str, Any]] = []
    intro = " ".join(part for part in (_mention_of(mention), text or "") if part)
    if intro:
        blocks.append(_section(_fit(intro)))
    blocks.append(_section(_fit(f"*{escape_mrkdwn(subject)}*")))
    if body:
        blocks.append(_section(_fit(escape_mrkdwn(body))))
    if not buttons:
        blocks.append(_section(f"Answer this request in Airflow. {_link_or_why(link)}"))
    elif answerable_in_slack(
        options=options, multiple=multiple, has_params=has_params, form_in_slack=form_in_slack
    ):
        if has_params:
            blocks.append(_form_button())
        else:
            blocks.append(_checkboxes(options) if multiple else _buttons(options))
    else:
        why = (
            "This request has a form to fill in" if has_params else f"This request has {len(options)} options"
        )
        blocks.append(_section(f"{why}: answer it in Airflow. {_link_or_why(link)}"))
    footer = [_link_or_why(link)]
    if assigned_users:
        names = ", ".join(escape_mrkdwn(str(user.get("name") or user.get("id"))) for user in assigned_users)
        footer.append(f"Only these Airflow users may answer: {names}.")
    blocks.append(_context(_mrkdwn(_fit(" ".join(footer)))))
    if context_line:
        blocks.append(_context({"type": "plain_text", "text": context_line[:SECTION_TEXT_LIMIT]}))
    return {"text": _fit(escape_mrkdwn(subject)), "blocks": blocks}


@dataclass(frozen=True)
class HITLOutcome:
    """How a HITL request ended, as its message shows it.

    ``chosen``: the options Airflow recorded (empty: nobody answered); ``airflow_user``: who answered
    (``None`` with options: nobody did, Airflow took the request's defaults at its timeout);
    ``slack_user``: the person who clicked (``None``: answered in Airflow, its UI or REST API);
    ``why``: why a request nobody answered closed (``timed out``, ``the task failed``).
    """

    chosen: tuple[str, ...] = ()
    airflow_user: str | None = None
    slack_user: str | None = None
    why: str = ""

    @property
    def state(self) -> str:
        """The message's metadata ``state`` afterwards: ``answered`` (options recorded) or ``closed``."""
        return "answered" if self.chosen else "closed"

    @property
    def summary(self) -> str:
        """One line of plain text for the notes of later clicks (``Reject by admin``)."""
        if not self.chosen:
            return f"closed without an answer: {self.why}" if self.why else "closed without an answer"
        by = self.airflow_user if self.airflow_user else "the defaults, at the timeout"
        return f"{', '.join(self.chosen)} by {by}"


def outcome_line(outcome: HITLOutcome) -> str:
    """The mrkdwn line that replaces the buttons: who answered what, and where (data is escaped)."""
    choice = ", ".join(f"*{escape_mrkdwn(option)}*" for option in outcome.chosen)
    if not outcome.chosen:
        why = f": {escape_mrkdwn(outcome.why)}" if outcome.why else ""
        return f":no_entry: Closed without an answer{why}."
    if outcome.airflow_user is None:
        return f":hourglass: Nobody answered in time: Airflow took the default {choice}."
    user = escape_mrkdwn(outcome.airflow_user)
    if outcome.slack_user:
        return f":white_check_mark: {_mention(outcome.slack_user)} answered {choice} (Airflow user {user})."
    return f":white_check_mark: Airflow user {user} answered {choice} in Airflow."


def outcome_message(blocks: Sequence[Mapping[str, Any]], outcome: HITLOutcome) -> dict[str, Any]:
    """The request's message once it ended: its blocks without the buttons, and :func:`outcome_line`."""
    kept = [dict(block) for block in blocks if block.get("block_id") != ANSWER_BLOCK]
    at = next((i for i, block in enumerate(kept) if block.get("type") == "context"), len(kept))
    kept.insert(at, _section(_fit(outcome_line(outcome))))
    if outcome.chosen:
        text = f"Answered: {', '.join(escape_mrkdwn(option) for option in outcome.chosen)}"
    else:
        text = "Closed without an answer"
    return {"text": _fit(text), "blocks": kept}


def answered_message(
    blocks: Sequence[Mapping[str, Any]], *, chosen: Sequence[str], slack_user: str | None, airflow_user: str
) -> dict[str, Any]:
    """The request's message once answered: its blocks without the buttons, and who answered what."""
    return outcome_message(
        blocks, HITLOutcome(chosen=tuple(chosen), airflow_user=airflow_user, slack_user=slack_user)
    )


def outcome_update(message: Mapping[str, Any], outcome: HITLOutcome) -> dict[str, Any] | None:
    """The ``chat.update`` arguments (``text``, ``blocks``, ``metadata``) that show ``outcome`` in a
    request's message, or ``None`` when its metadata says it shows an outcome already (it is not
    rewritten). ``message`` must be one :func:`~airflow_slack_gate.core.protocol.hitl_request` accepts:
    the bot's own, naming the request."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    if payload.get("state") != "open":
        return None
    return {
        **outcome_message(list(message.get("blocks") or []), outcome),
        "metadata": hitl_outcome_metadata(payload, state=outcome.state, answer=outcome.summary),
    }


def chosen_indexes(state: Mapping[str, Any]) -> list[str] | None:
    """The values of the ticked checkboxes in a ``block_actions`` payload's ``state`` (``None``: the
    message has no checkboxes of ours)."""
    values = state.get("values") if isinstance(state, Mapping) else None
    block = values.get(ANSWER_BLOCK) if isinstance(values, Mapping) else None
    element = block.get(CHOICES_ACTION) if isinstance(block, Mapping) else None
    if not isinstance(element, Mapping):
        return None
    selected = element.get("selected_options") or []
    if not isinstance(selected, list):
        return None
    return [str(option.get("value")) for option in selected if isinstance(option, Mapping)]


# -- the notes a click gets (ephemeral) -------------------------------------------------------------------


def note_text(why: str, *, link: str | None = None, detail: str = "") -> str:
    """The ephemeral answer to a click on a HITL request that changed nothing, by ``why``."""
    texts = {
        "unmapped": (
            "Airflow does not know which Airflow user you are, so your click cannot answer this request: "
            "ask an Airflow admin to map you (the Slack connection's slack_users extra, or email_domain)."
        ),
        "ambiguous": (
            "Your Slack user maps to more than one Airflow user, so your click cannot answer this request: "
            "ask an Airflow admin to fix the Slack connection's slack_users extra."
        ),
        "not_a_person": "Only people can answer Airflow's requests; nothing was answered.",
        "not_allowed": "You may not answer this request (it is assigned to other people, or your Airflow "
        "user may not answer it); your click changed nothing.",
        "already_answered": f"This request was already answered{detail}; your click changed nothing.",
        "closed": f"This request is closed{detail}; your click changed nothing.",
        "invalid_option": "That is not one of this request's options; nothing was answered.",
        "nothing_chosen": "Tick at least one option, then press Submit; nothing was answered.",
        "too_many_chosen": "This request takes one option only; nothing was answered.",
        "stale": "This request was asked again (a newer try) or changed: answer the newer message. "
        "Your click changed nothing.",
        "form": "This request has a form to fill in: answer it in Airflow. Nothing was answered.",
        "no_form": "This request has no form; answer it with its buttons. Nothing was answered.",
        "invalid_input": "Some values are not valid for this request; nothing was answered.",
        "gone": "This request no longer exists in Airflow; your click changed nothing.",
        "not_a_request": "This message is no open request of Airflow's; your click changed nothing.",
        "no_airflow": "Slack delivered this click where Airflow's requests cannot be answered, and it "
        "could not be handed to Airflow's API server (the Slack connection needs the app's signing "
        "secret for that); nothing was answered: answer in Airflow.",
        "unsupported": f"Airflow's auth manager{detail} is not supported for answers from Slack yet: "
        "answer in Airflow.",
        "failed": f"Airflow could not record your answer{detail}; nothing was answered. Try again, or answer "
        "in Airflow.",
    }
    text = texts.get(why, "Your click changed nothing.")
    return f"{text} {_link_or_why(link)}" if link else text


def _link_or_why(link: str | None) -> str:
    if link:
        return f"<{link}|Open the request in Airflow> (Required actions)."
    return (
        "No link to Airflow: Airflow has no api.base_url configured. Find the task's Required "
        "actions in the Airflow UI."
    )


def _mention_of(mention: str | None) -> str:
    if not mention:
        return ""
    return _mention(mention) if is_user_id(mention) else mention


def _buttons(options: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": ANSWER_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": f"{OPTION_ACTION}_{index}",
                "text": _plain(_label(option)),
                "value": str(index),
            }
            for index, option in enumerate(options)
        ],
    }


def _form_button() -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": ANSWER_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": FORM_ACTION,
                "text": _plain("Answer in Slack"),
                "style": "primary",
                "value": "form",
            }
        ],
    }


def _checkboxes(options: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": ANSWER_BLOCK,
        "elements": [
            {
                "type": "checkboxes",
                "action_id": CHOICES_ACTION,
                "options": [
                    {"text": _plain(_label(option)), "value": str(index)}
                    for index, option in enumerate(options)
                ],
            },
            {
                "type": "button",
                "action_id": SUBMIT_ACTION,
                "text": _plain("Submit"),
                "style": "primary",
                "value": "submit",
            },
        ],
    }


def _label(option: str) -> str:
    return option if len(option) <= _LABEL_LIMIT else option[: _LABEL_LIMIT - 1] + "…"


# -- forms: a request's params as the inputs of a Slack modal ---------------------------------------------

#: ``action_id`` of the "Answer in Slack" button of a request with a form (it opens the modal).
FORM_ACTION = "airflow_slack_gate_hitl_form"
#: ``callback_id`` of the form's modal.
FORM_CALLBACK = "airflow_slack_gate_hitl_form"
#: ``block_id`` prefix of a param's input in the modal (the param's name follows), and the element's
#: ``action_id``.
FIELD_BLOCK_PREFIX = "airflow_slack_gate_hitl_param:"
FIELD_ACTION = "value"
#: ``block_id`` / ``action_id`` of the option chosen in the modal.
FORM_OPTION_BLOCK = "airflow_slack_gate_hitl_form_option"
FORM_OPTION_ACTION = "option"
#: Slack's limits: 100 blocks in a modal, 24 characters in its title and buttons, 2000 in an input's
#: label and hint, 100 options in a static_select, 75 in an option's text, 150 in its value, 255 in a
#: block_id, 3000 in a plain_text_input's initial value.
MAX_MODAL_BLOCKS = 100
MAX_SELECT_OPTIONS = 100
_TITLE_LIMIT = 24
_INPUT_LABEL_LIMIT = 2000
_BLOCK_ID_LIMIT = 255
_INITIAL_TEXT_LIMIT = 3000

FieldKind = Literal["string", "multiline", "integer", "number", "boolean", "enum"]


@dataclass(frozen=True)
class FormField:
    """One param of a request's form, as a Slack input: ``kind`` says which element, ``choices`` the
    values of an ``enum`` (typed as the schema has them) or of a boolean."""

    key: str
    kind: FieldKind
    label: str
    hint: str
    default: Any
    choices: tuple[Any, ...] = ()
    #: the param's JSON schema (Airflow validates the value against it)
    schema: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def block_id(self) -> str:
        return f"{FIELD_BLOCK_PREFIX}{self.key}"


def _scalar(value: object) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def form_field(key: str, param: Mapping[str, Any]) -> FormField | None:
    """The Slack input of one param (``param`` as Airflow keeps it: ``value``, ``schema``,
    ``description``), or ``None`` when Slack has no input for its schema (objects, arrays, formats,
    unions such as ``["null", "string"]``, ``const``, or a name longer than a block id allows)."""
    schema = param.get("schema")
    if not isinstance(schema, Mapping) or not isinstance(key, str) or not key:
        return None
    if len(FIELD_BLOCK_PREFIX) + len(key) > _BLOCK_ID_LIMIT:
        return None
    kind_of = schema.get("type")
    default = param.get("value")
    title = schema.get("title")
    label = str(title) if isinstance(title, str) and title else key
    description = param.get("description") or schema.get("description")
    hint = str(description) if isinstance(description, str) else ""
    base: dict[str, Any] = {
        "key": key,
        "label": label,
        "hint": hint,
        "default": default,
        "schema": dict(schema),
    }
    known = {
        "type",
        "title",
        "description",
        "enum",
        "format",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "values_display",
    }
    if set(schema) - known:  # anything this version does not show faithfully: answered in Airflow
        return None
    if "enum" in schema:
        choices = schema["enum"]
        if (
            not isinstance(choices, list)
            or not 0 < len(choices) <= MAX_SELECT_OPTIONS
            or not all(_scalar(choice) for choice in choices)
            or len({json.dumps(choice) for choice in choices}) != len(choices)
        ):
            return None
        if kind_of is not None and not isinstance(kind_of, str):
            return None
        return FormField(kind="enum", choices=tuple(choices), **base)
    if schema.get("format") not in (None, "multiline"):
        return None
    if kind_of == "string":
        kind: FieldKind = "multiline" if schema.get("format") == "multiline" else "string"
        return FormField(kind=kind, **base)
    if schema.get("format") is not None:
        return None
    if kind_of in ("integer", "number"):
        return FormField(kind=kind_of, **base)
    if kind_of == "boolean":
        return FormField(kind="boolean", choices=(True, False), **base)
    return None


def form_fields(params: Mapping[str, Any]) -> list[FormField] | None:
    """The inputs of a request's params (Airflow's row: name -> ``value``/``schema``/``description``),
    or ``None`` when any param has no Slack input or the modal would be too long: the whole request is
    then answered in Airflow."""
    fields: list[FormField] = []
    for key, param in params.items():
        found = form_field(key, param) if isinstance(param, Mapping) else None
        if found is None:
            return None
        fields.append(found)
    if len(fields) + 2 > MAX_MODAL_BLOCKS:  # the subject and the option's choice
        return None
    return fields


def form_modal(
    *,
    channel: str,
    ts: str,
    subject: str,
    fields: Sequence[FormField],
    options: Sequence[str],
    multiple: bool,
) -> dict[str, Any]:
    """The modal of a request's form (``views.open``): one input per param, prefilled with its value,
    and the option's choice (none for a single option, checkboxes for ``multiple=True``).

    ``private_metadata`` names only the message (channel and ts): the submission is judged by that
    message's metadata and Airflow's row, like a click. Every text is plain_text: nothing from the run
    is markup."""
    blocks: list[dict[str, Any]] = [_section(_fit(f"*{escape_mrkdwn(subject)}*"))]
    blocks += [_input_block(field) for field in fields]
    if len(options) > 1:
        choice = [{"text": _plain(_label(option)), "value": str(i)} for i, option in enumerate(options)]
        element: dict[str, Any] = (
            {"type": "checkboxes", "action_id": FORM_OPTION_ACTION, "options": choice}
            if multiple
            else {"type": "static_select", "action_id": FORM_OPTION_ACTION, "options": choice}
        )
        blocks.append(
            {
                "type": "input",
                "block_id": FORM_OPTION_BLOCK,
                "label": _plain("Your answer"),
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "private_metadata": json.dumps({"channel": channel, "ts": ts}, separators=(",", ":")),
        "title": _plain("Airflow request"),
        "submit": _plain("Submit"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def _input_block(field: FormField) -> dict[str, Any]:
    element: dict[str, Any] = {"action_id": FIELD_ACTION}
    default = field.default
    if field.kind in ("string", "multiline"):
        element["type"] = "plain_text_input"
        if field.kind == "multiline":
            element["multiline"] = True
        if isinstance(default, str) and default and len(default) <= _INITIAL_TEXT_LIMIT:
            element["initial_value"] = default
    elif field.kind in ("integer", "number"):
        element["type"] = "number_input"
        element["is_decimal_allowed"] = field.kind == "number"
        if _scalar(default) and not isinstance(default, str):
            element["initial_value"] = str(default)
    else:
        options = [
            {"text": _plain(_label(_shown(choice))), "value": str(i)}
            for i, choice in enumerate(field.choices)
        ]
        element["type"] = "static_select"
        element["options"] = options
        for option, choice in zip(options, field.choices, strict=True):
            if type(choice) is type(default) and choice == default:
                element["initial_option"] = option
    block: dict[str, Any] = {
        "type": "input",
        "block_id": field.block_id,
        "label": _plain(_fit(field.label, _INPUT_LABEL_LIMIT)),
        "element": element,
        # an empty text field is the empty string; numbers and choices must be given
        "optional": field.kind in ("string", "multiline"),
    }
    if field.hint:
        block["hint"] = _plain(_fit(field.hint, _INPUT_LABEL_LIMIT))
    return block


def _shown(choice: Any) -> str:
    if isinstance(choice, bool):
        return "true" if choice else "false"
    return str(choice)


def form_values(
    fields: Sequence[FormField], state: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed values of a submitted form (``view.state``, as Slack sends it) and the inputs Slack
    cannot have sent as they are (``block_id`` -> why): a number that is none, an option index out of
    range. Values are typed as the params' schemas say (an integer as ``int``, an enum's value as the
    schema has it); Airflow's own validation of them is the caller's."""
    values = state.get("values") if isinstance(state, Mapping) else None
    values = values if isinstance(values, Mapping) else {}
    typed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for input_ in fields:
        block = values.get(input_.block_id)
        element = block.get(FIELD_ACTION) if isinstance(block, Mapping) else None
        element = element if isinstance(element, Mapping) else {}
        if input_.kind in ("string", "multiline"):
            value = element.get("value")
            typed[input_.key] = value if isinstance(value, str) else ""
        elif input_.kind in ("integer", "number"):
            value = element.get("value")
            number = _number(value, integer=input_.kind == "integer")
            if number is None:
                errors[input_.block_id] = (
                    "Enter a whole number." if input_.kind == "integer" else "Enter a number."
                )
            else:
                typed[input_.key] = number
        else:
            selected = element.get("selected_option")
            index = option_index(
                selected.get("value") if isinstance(selected, Mapping) else None, len(input_.choices)
            )
            if index is None:
                errors[input_.block_id] = "Choose one of the options."
            else:
                typed[input_.key] = input_.choices[index]
    return typed, errors


def _number(value: object, *, integer: bool) -> int | float | None:
    if not isinstance(value, str) or not 0 < len(value) <= 40:
        return None
    if re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if integer or not re.fullmatch(r"-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?", value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def form_options(options_count: int, state: Mapping[str, Any]) -> list[str]:
    """The option indexes a submitted form chose (as text): the static_select's or the checkboxes';
    the single option of a request with one (``HITLEntryOperator``'s ``OK``) needs no choice."""
    if options_count == 1:
        return ["0"]
    values = state.get("values") if isinstance(state, Mapping) else None
    block = values.get(FORM_OPTION_BLOCK) if isinstance(values, Mapping) else None
    element = block.get(FORM_OPTION_ACTION) if isinstance(block, Mapping) else None
    if not isinstance(element, Mapping):
        return []
    if isinstance(element.get("selected_option"), Mapping):
        return [str(element["selected_option"].get("value"))]
    selected = element.get("selected_options")
    if not isinstance(selected, list):
        return []
    return [str(option.get("value")) for option in selected if isinstance(option, Mapping)]
