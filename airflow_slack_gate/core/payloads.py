"""Slack's interaction payloads, read into the one thing this package cares about: a click on a gate.

Pure: no I/O. A ``block_actions`` payload of the ask's Approve or Reject button, or the
``view_submission`` of the reject-reason modal, becomes a :class:`Click`; anything else (other apps'
buttons, other modals, shortcuts) is ``None`` and is acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from airflow_slack_gate.core.hitl import (
    FORM_ACTION,
    FORM_CALLBACK,
    OPTION_ACTION,
    SUBMIT_ACTION,
    chosen_indexes,
)
from airflow_slack_gate.core.messages import (
    APPROVE_ACTION,
    REASON_ACTION,
    REASON_BLOCK,
    REASON_CALLBACK,
    REJECT_ACTION,
)
from airflow_slack_gate.core.votes import VoteKind

ClickKind = Literal["button", "reason"]

#: Where the plugin mounts the Request URL app on the API server, and its route: Slack's Request URL
#: is ``https://<airflow>/slack-gate/interactions``.
REQUEST_URL_PREFIX = "/slack-gate"
REQUEST_URL_ROUTE = "/interactions"

_ACTIONS: dict[str, VoteKind] = {APPROVE_ACTION: "approve", REJECT_ACTION: "reject"}


@dataclass(frozen=True)
class Click:
    """A person pressed a gate's button (``kind="button"``) or submitted the reject reason (``"reason"``).

    ``channel`` and ``ts`` name the ask message (from the payload's container, or the modal's
    ``private_metadata``); ``click_id`` is unique per click and the same when Slack delivers the same
    click again; ``trigger_id`` lets the receiver open a modal within 3 seconds; ``value`` is the
    button's value as the payload carries it.
    """

    kind: ClickKind
    user: str
    channel: str
    ts: str
    vote: VoteKind
    click_id: str
    reason: str | None = None
    trigger_id: str | None = None
    value: str | None = None

    @property
    def opens_reason_modal(self) -> bool:
        """A Reject button click asks for the reason first; the submission is the vote."""
        return self.kind == "button" and self.vote == "reject"


@dataclass(frozen=True)
class HITLClick:
    """A person answered an Airflow HITL request's message: pressed an option's button, or Submit after
    ticking checkboxes (``multiple=True``).

    ``chosen`` are the values the payload carries (option indexes as text, unchecked: a click is judged
    against the request's metadata and Airflow's own row, never by these alone); ``channel`` and ``ts``
    name the message, ``click_id`` the click (the same when Slack delivers it again).
    """

    user: str
    channel: str
    ts: str
    click_id: str
    chosen: tuple[str, ...]
    submit: bool = False
    trigger_id: str | None = None
    #: the "Answer in Slack" button of a request with a form: opens the form's modal
    open_form: bool = False


@dataclass(frozen=True)
class HITLFormSubmission:
    """A person submitted the modal of a HITL request's form.

    ``channel`` and ``ts`` name the request's message (the modal's ``private_metadata``: only a
    reference, judged like a click on that message); ``state`` is the view's ``state`` as the payload
    carries it (the typed values, unchecked); ``click_id`` names the submission.
    """

    user: str
    channel: str
    ts: str
    click_id: str
    state: Mapping[str, Any]

    @property
    def chosen(self) -> tuple[str, ...]:
        return ()


def parse_interaction(payload: Mapping[str, Any]) -> Click | HITLClick | HITLFormSubmission | None:
    """The gate click or HITL answer in an interaction payload, or ``None`` when it is not one of ours."""
    kind = payload.get("type")
    if kind == "block_actions":
        return _hitl_click(payload) or _button_click(payload)
    if kind == "view_submission":
        return _form_submission(payload) or _reason_submission(payload)
    return None


def _form_submission(payload: Mapping[str, Any]) -> HITLFormSubmission | None:
    view = payload.get("view") or {}
    if not isinstance(view, Mapping) or view.get("callback_id") != FORM_CALLBACK:
        return None
    try:
        message = json.loads(view.get("private_metadata") or "")
    except (TypeError, ValueError):
        return None
    user = (payload.get("user") or {}).get("id")
    if not (
        isinstance(message, dict)
        and _text(message.get("channel"))
        and _text(message.get("ts"))
        and _text(user)
    ):
        return None
    state = view.get("state")
    return HITLFormSubmission(
        user=user,
        channel=message["channel"],
        ts=message["ts"],
        click_id=f"form:{view.get('id') or payload.get('trigger_id') or ''}:{view.get('hash') or ''}",
        state=state if isinstance(state, Mapping) else {},
    )


def _button_click(payload: Mapping[str, Any]) -> Click | None:
    actions = payload.get("actions") or []
    action = next(
        (a for a in actions if isinstance(a, Mapping) and a.get("action_id") in _ACTIONS),
        None,
    )
    container = payload.get("container") or {}
    message = payload.get("message") or {}
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id")
    ts = container.get("message_ts") or message.get("ts")
    user = (payload.get("user") or {}).get("id")
    if action is None or not (_text(channel) and _text(ts) and _text(user)):
        return None
    action_ts = action.get("action_ts")
    click_id = f"button:{action['action_id']}:{user}:{action_ts or payload.get('trigger_id') or ''}"
    return Click(
        kind="button",
        user=user,
        channel=channel,
        ts=ts,
        vote=_ACTIONS[action["action_id"]],
        click_id=click_id,
        trigger_id=payload.get("trigger_id"),
        value=action.get("value"),
    )


def _hitl_click(payload: Mapping[str, Any]) -> HITLClick | None:
    """An option's button or the Submit button of a HITL request (ticking a checkbox is no answer)."""
    actions = payload.get("actions") or []
    action = next(
        (
            a
            for a in actions
            if isinstance(a, Mapping)
            and isinstance(a.get("action_id"), str)
            and (
                a["action_id"] in (SUBMIT_ACTION, FORM_ACTION)
                or a["action_id"].startswith(f"{OPTION_ACTION}_")
            )
        ),
        None,
    )
    container = payload.get("container") or {}
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (payload.get("message") or {}).get("ts")
    user = (payload.get("user") or {}).get("id")
    if action is None or not (_text(channel) and _text(ts) and _text(user)):
        return None
    submit = action["action_id"] == SUBMIT_ACTION
    open_form = action["action_id"] == FORM_ACTION
    if open_form:
        chosen: tuple[str, ...] = ()
    elif submit:
        chosen = tuple(chosen_indexes(payload.get("state") or {}) or ())
    else:
        chosen = (str(action.get("value")),)
    stamp = action.get("action_ts") or payload.get("trigger_id") or ""
    return HITLClick(
        user=user,
        channel=channel,
        ts=ts,
        click_id=f"hitl:{action['action_id']}:{user}:{stamp}",
        chosen=chosen,
        submit=submit,
        trigger_id=payload.get("trigger_id"),
        open_form=open_form,
    )


def _reason_submission(payload: Mapping[str, Any]) -> Click | None:
    view = payload.get("view") or {}
    if view.get("callback_id") != REASON_CALLBACK:
        return None
    try:
        gate = json.loads(view.get("private_metadata") or "")
    except ValueError:
        return None
    user = (payload.get("user") or {}).get("id")
    if not (isinstance(gate, dict) and _text(gate.get("channel")) and _text(gate.get("ts")) and _text(user)):
        return None
    values = (view.get("state") or {}).get("values") or {}
    reason = ((values.get(REASON_BLOCK) or {}).get(REASON_ACTION) or {}).get("value")
    reason = reason.strip() if isinstance(reason, str) else ""
    return Click(
        kind="reason",
        user=user,
        channel=gate["channel"],
        ts=gate["ts"],
        vote="reject",
        click_id=f"reason:{view.get('id') or payload.get('trigger_id') or ''}",
        reason=reason or None,
        trigger_id=payload.get("trigger_id"),
    )


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value)


def slack_signature(secret: str, stamp: str, body: bytes) -> str:
    """Slack's ``v0=`` signature of a request: the HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the
    app's signing secret (over the body's bytes, whatever they are)."""
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"
