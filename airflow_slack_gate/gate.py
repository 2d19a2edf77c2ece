"""What one read of a gate's Slack thread means: a pure step shared by the trigger and poke modes.

The trigger (deferrable), the sensor's poke and reschedule modes, and the worker's last look after a
deferral timeout all read the same thread and must reach the same answer, so the step from "what Slack
shows" to "the event that ends the wait" lives here, free of I/O.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from airflow_slack_gate.decisions import (
    ApprovalPolicy,
    Decision,
    decide,
    recorded_votes,
    replies_to_note,
    voters_to_verify,
)

#: Slack message metadata event type that marks an ask message posted by this package.
ASK_EVENT_TYPE = "airflow_slack_gate_ask"
_RULES_KEY = "rules"
_RULES_VERSION = 2  # version 1 was the rules in the buttons' value, which a long approver list overflowed

GateStatus = Literal["decided", "timed_out", "error"]
#: The decision of a gate that timed out without a vote seen (e.g. Slack could not be read in time).
NO_DECISION = Decision(outcome="pending")


@dataclass(frozen=True)
class GateRef:
    """The ask message of one gate: where it is and how to link to it."""

    channel: str
    ts: str
    permalink: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"channel": self.channel, "ts": self.ts, "permalink": self.permalink}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateRef:
        return cls(channel=data["channel"], ts=data["ts"], permalink=data.get("permalink") or "")


def with_group_members(policy: ApprovalPolicy, members: frozenset[str]) -> ApprovalPolicy:
    """The policy with user-group members (expanded at run time) added to its approvers."""
    return replace(policy, approvers=(policy.approvers or frozenset()) | members)


def split_thread(thread: Sequence[Mapping[str, Any]], ts: str) -> tuple[Mapping[str, Any], list[Any]]:
    """The ask message and its replies from a conversations.replies result."""
    parent = next((message for message in thread if message.get("ts") == ts), {"ts": ts})
    return parent, [message for message in thread if message.get("ts") != ts]


def read_step(
    thread: Sequence[Mapping[str, Any]],
    gate: GateRef,
    policy: ApprovalPolicy,
    *,
    expired: bool,
    people: Collection[str],
) -> dict[str, Any] | None:
    """The event payload that ends the wait after this read, or None to keep waiting.

    A decision found in the read wins over expiry: a vote that is in Slack when the deadline passes
    is honoured, never reported as a timeout as well.

    Button clicks count as recorded in the thread by the bot that posted the ask (the thread must be
    read with its message metadata; see :func:`~airflow_slack_gate.decisions.recorded_votes`).

    ``people`` are the users Slack confirmed are people (``users.info``) among :func:`voters_to_check`;
    a vote by anyone else (another app's bot user, a deactivated account, a user who could not be
    looked up) does not count, so a failed look-up keeps the gate waiting rather than deciding it.
    """
    parent, replies = split_thread(thread, gate.ts)
    clicks = recorded_votes(replies, ask_ts=gate.ts, bot_id=parent.get("bot_id"))
    decision = decide(parent, replies, policy, extra_votes=clicks, people=people)
    if decision.is_final:
        return event_payload("decided", gate, decision)
    if expired:
        return event_payload("timed_out", gate, decision)
    return None


def voters_to_check(
    thread: Sequence[Mapping[str, Any]], gate: GateRef, policy: ApprovalPolicy
) -> frozenset[str]:
    """The users of this read to look up with ``users.info`` before :func:`read_step` (see
    :func:`~airflow_slack_gate.decisions.voters_to_verify`)."""
    parent, replies = split_thread(thread, gate.ts)
    clicks = recorded_votes(replies, ask_ts=gate.ts, bot_id=parent.get("bot_id"))
    return voters_to_verify(parent, replies, policy, extra_votes=clicks)


def uncounted_replies(
    thread: Sequence[Mapping[str, Any]], gate: GateRef, policy: ApprovalPolicy, *, people: Collection[str]
) -> list[tuple[str, str, str]]:
    """``(user, reply ts, note)`` for the replies of this read that look like a vote but are not
    counted, by people who may vote (see :func:`~airflow_slack_gate.decisions.replies_to_note`)."""
    parent, replies = split_thread(thread, gate.ts)
    return replies_to_note(parent, replies, policy, people=people)


class SentNotes:
    """The replies already answered with a note (bounded: the oldest are forgotten first)."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._sent: OrderedDict[tuple[str, str], None] = OrderedDict()

    def first_time(self, channel: str, reply_ts: str) -> bool:
        """True the first time a reply is seen (and remember it); False after that."""
        key = (channel, reply_ts)
        if key in self._sent:
            return False
        self._sent[key] = None
        while len(self._sent) > self._size:
            self._sent.popitem(last=False)
        return True


def event_payload(status: GateStatus, gate: GateRef, decision: Decision | None = None, **extra: Any) -> dict:
    """The JSON payload of the trigger event (it carries all the resume step needs)."""
    payload: dict[str, Any] = {"status": status, "gate": gate.to_dict(), **extra}
    if decision is not None:
        payload["decision"] = decision.to_dict()
    return payload


def error_payload(gate: GateRef, *, error: str, error_code: str) -> dict[str, Any]:
    """A payload for a Slack error that ends the gate (bad token, channel gone, message deleted...)."""
    return event_payload("error", gate, error=error, error_code=error_code)


def ask_metadata(
    identity: Mapping[str, Any],
    state: str,
    *,
    policy: ApprovalPolicy | None = None,
    approver_groups: Iterable[str] = (),
) -> dict[str, Any]:
    """Slack message metadata that lets any later run of the task find this gate's message.

    With ``policy`` (user approvers only) and ``approver_groups`` it also carries the gate's rules
    (:func:`ask_rules` reads them back), so whoever receives a click can judge it from the ask itself:
    only the gate's bot can write its message's metadata. ``identity`` may be an earlier payload:
    rules it carries are kept.
    """
    payload: dict[str, Any] = {**identity, "state": state}
    if policy is not None:
        rules = {"policy": policy.to_dict(), "approver_groups": sorted(set(approver_groups))}
        # one string value: Slack's metadata payload takes flat values, not lists
        payload[_RULES_KEY] = json.dumps({"version": _RULES_VERSION, **rules}, separators=(",", ":"))
    return {"event_type": ASK_EVENT_TYPE, "event_payload": payload}


@dataclass(frozen=True)
class AskRules:
    """The rules an ask's metadata carries: ``policy`` (user approvers) and the groups to expand."""

    policy: ApprovalPolicy
    approver_groups: frozenset[str] = frozenset()


def ask_rules(payload: Mapping[str, Any]) -> AskRules | None:
    """The rules in an ask's metadata payload (:func:`gate_metadata`); ``None`` when it carries none
    (an ask posted before version 2 of the rules) or rules this version cannot read."""
    text = payload.get(_RULES_KEY)
    if not isinstance(text, str):
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != _RULES_VERSION:
            return None
        groups = data.get("approver_groups") or []
        if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
            return None
        return AskRules(ApprovalPolicy.from_dict(data["policy"]), frozenset(groups))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def gate_metadata(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The metadata payload of an ask message posted by this package, else None."""
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != ASK_EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    return payload if isinstance(payload, dict) else None


def same_task(payload: Mapping[str, Any], identity: Mapping[str, Any]) -> bool:
    """True when an ask message belongs to the same task instance (any try)."""
    return all(payload.get(key) == identity.get(key) for key in ("dag_id", "run_id", "task_id", "map_index"))


_TRY_KEYS = ("dag_id", "run_id", "task_id", "map_index", "try_number")


def try_key(payload: Mapping[str, Any]) -> tuple[Any, ...]:
    """The task instance and try an ask message belongs to, as one hashable value."""
    return tuple(payload.get(key) for key in _TRY_KEYS)


def same_try(payload: Mapping[str, Any], identity: Mapping[str, Any]) -> bool:
    """True when an ask message belongs to the same try of the same task instance."""
    return try_key(payload) == try_key(identity)


def kept_ask(asks: Sequence[tuple[str, Mapping[str, Any]]]) -> str | None:
    """Of one try's open questions, as (ts, metadata payload), the one its gate waits on.

    A question posted again after Slack's answer to a post was lost names the ``ask_id`` of each
    earlier attempt it ``replaces`` (comma-separated: metadata values are flat); the oldest question
    no other one replaces is kept (the oldest of all when every one is replaced by another).
    """
    replaced = {ask_id for _, payload in asks for ask_id in str(payload.get("replaces") or "").split(",")}
    unreplaced = sorted(ts for ts, payload in asks if payload.get("ask_id") not in replaced)
    candidates = unreplaced or sorted(ts for ts, _ in asks)
    return candidates[0] if candidates else None
