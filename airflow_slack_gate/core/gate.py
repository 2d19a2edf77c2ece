"""What one read of a gate's Slack thread means: a pure step shared by the trigger and poke modes.

The trigger (deferrable), the sensor's poke and reschedule modes, and the worker's last look after a
deferral timeout all read the same thread and must reach the same answer, so the step from "what Slack
shows" to "the event that ends the wait" lives here, free of I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from airflow_slack_gate.core.messages import before_escalation_text
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import (
    ALLOWED_AS_ANYONE,
    ALLOWED_AS_APPROVER,
    ALLOWED_AS_ESCALATION,
    posted_follow_ups,
    recorded_votes,
)
from airflow_slack_gate.core.votes import (
    Decision,
    decide,
    escalation_at,
    replies_to_note,
    voters_to_verify,
    votes_before_escalation,
)

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


def with_escalation_members(policy: ApprovalPolicy, members: frozenset[str]) -> ApprovalPolicy:
    """The policy with the members of its escalation groups (expanded at run time) added to
    ``escalate_to``."""
    return replace(policy, escalate_to=policy.escalate_to | members)


def ways_allowed(
    decided_by: Sequence[str],
    policy: ApprovalPolicy,
    approver_groups: Mapping[str, frozenset[str]],
    escalation_groups: Mapping[str, frozenset[str]],
) -> dict[str, tuple[str, ...]]:
    """How each decider was allowed to vote (for :func:`~airflow_slack_gate.core.protocol.outcome_marks`):
    anyone in the channel (``policy.approvers`` is ``None``), listed in the approvers, a member of
    approvers' groups, else listed in ``escalate_to`` or a member of a group it escalated to.

    ``policy`` holds user IDs only (groups not expanded); ``approver_groups`` and ``escalation_groups``
    map each group ID to its members. A decider allowed no way is left out."""
    allowed: dict[str, tuple[str, ...]] = {}
    for user in decided_by:
        if policy.approvers is None:
            allowed[user] = (ALLOWED_AS_ANYONE,)
            continue
        ways = [ALLOWED_AS_APPROVER] if user in policy.approvers else []
        ways += sorted(group for group, members in approver_groups.items() if user in members)
        if not ways and policy.escalate_after is not None:
            ways = [ALLOWED_AS_ESCALATION] if user in policy.escalate_to else []
            ways += sorted(
                f"{ALLOWED_AS_ESCALATION}:{group}"
                for group, members in escalation_groups.items()
                if user in members
            )
        if ways:
            allowed[user] = tuple(ways)
    return allowed


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
    read with its message metadata; see :func:`~airflow_slack_gate.core.protocol.recorded_votes`).

    ``people`` are the users Slack confirmed are people (``users.info``) among :func:`voters_to_check`;
    a vote by anyone else (another app's bot user, a deactivated account, a user who could not be
    looked up) does not count, so a failed look-up keeps the gate waiting rather than deciding it.
    """
    decision = decide_thread(thread, gate, policy, people=people)
    if decision.is_final:
        return event_payload("decided", gate, decision)
    if expired:
        return event_payload("timed_out", gate, decision)
    return None


def approved(payload: Mapping[str, Any]) -> bool:
    """Whether a :func:`read_step` payload approves the gate."""
    return payload.get("status") == "decided" and (payload.get("decision") or {}).get("outcome") == "approved"


def decide_thread(
    thread: Sequence[Mapping[str, Any]], gate: GateRef, policy: ApprovalPolicy, *, people: Collection[str]
) -> Decision:
    """Where the gate stands after this read: its replies, reactions and recorded clicks, decided."""
    parent, replies = split_thread(thread, gate.ts)
    clicks = recorded_votes(replies, ask_ts=gate.ts, bot_id=parent.get("bot_id"))
    return decide(parent, replies, policy, extra_votes=clicks, people=people)


def follow_ups_in_thread(thread: Sequence[Mapping[str, Any]], gate: GateRef) -> frozenset[str]:
    """The keys of the reminders and announcements the gate's own bot already posted in this read
    (see :func:`~airflow_slack_gate.core.protocol.posted_follow_ups`)."""
    parent, replies = split_thread(thread, gate.ts)
    return posted_follow_ups(replies, ask_ts=gate.ts, bot_id=parent.get("bot_id"))


def voters_to_check(
    thread: Sequence[Mapping[str, Any]], gate: GateRef, policy: ApprovalPolicy
) -> frozenset[str]:
    """The users of this read to look up with ``users.info`` before :func:`read_step` (see
    :func:`~airflow_slack_gate.core.votes.voters_to_verify`)."""
    parent, replies = split_thread(thread, gate.ts)
    clicks = recorded_votes(replies, ask_ts=gate.ts, bot_id=parent.get("bot_id"))
    return voters_to_verify(parent, replies, policy, extra_votes=clicks)


def uncounted_replies(
    thread: Sequence[Mapping[str, Any]], gate: GateRef, policy: ApprovalPolicy, *, people: Collection[str]
) -> list[tuple[str, str, str]]:
    """``(user, reply ts, note)`` for the replies of this read that look like a vote but are not
    counted, by people who may vote (see :func:`~airflow_slack_gate.core.votes.replies_to_note`), and
    for the votes of escalated people cast before the escalation or by a reaction (a reaction's note
    is keyed ``reaction:<ask ts>:<user>``, as a reaction has no ts), saying from when a vote counts."""
    parent, replies = split_thread(thread, gate.ts)
    notes = replies_to_note(parent, replies, policy, people=people)
    starts = escalation_at(policy, gate.ts)
    for vote in votes_before_escalation(parent, replies, policy, people=people):
        key = vote.ts or f"reaction:{gate.ts}:{vote.user}"
        notes.append((vote.user, key, before_escalation_text(starts=starts, via=vote.via)))
    return notes


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
