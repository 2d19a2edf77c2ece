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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


def answerable_in_slack(*, options: Sequence[str], multiple: bool, has_params: bool) -> bool:
    """Whether Slack can answer the request (this version: no forms, and options that fit Block Kit)."""
    if has_params:
        return False
    return len(options) <= (MAX_CHECKBOXES if multiple else MAX_BUTTONS)


def hitl_message(
    *,
    subject: str,
    body: str | None,
    options: Sequence[str],
    multiple: bool,
    has_params: bool,
    link: str | None,
    text: str | None = None,
    mention: str | None = None,
    assigned_users: Sequence[Mapping[str, Any]] = (),
    context_line: str = "",
) -> dict[str, Any]:
    """The message that asks a HITL request (``text`` and ``blocks`` for ``chat.postMessage``).

    ``link`` is the task's Required Actions page in Airflow (``None`` when Airflow has no
    ``api.base_url``: the message says so). A request with ``params`` (a form) or with more options
    than Block Kit shows is answered in Airflow: the message links there instead of showing buttons.
    """
    blocks: list[dict[str, Any]] = []
    intro = " ".join(part for part in (_mention_of(mention), text or "") if part)
    if intro:
        blocks.append(_section(_fit(intro)))
    blocks.append(_section(_fit(f"*{escape_mrkdwn(subject)}*")))
    if body:
        blocks.append(_section(_fit(escape_mrkdwn(body))))
    if answerable_in_slack(options=options, multiple=multiple, has_params=has_params):
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
