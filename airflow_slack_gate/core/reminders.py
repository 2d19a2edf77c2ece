"""When a waiting gate reminds its approvers and escalates, whom it mentions, and what it posts. Pure.

A gate's follow-ups are its reminders (``remind_after``: offsets from the ask, in seconds) and its
escalation announcement (``policy.escalate_after``). Each has a key (``reminder:<index>``,
``escalation``) that its thread reply carries in its metadata
(:func:`~airflow_slack_gate.core.protocol.follow_up_metadata`), so whoever watches the gate finds it
before posting and posts each at most once, across triggerer restarts. A reminder whose time passed
while nobody watched the gate is posted once, as the latest one due: never once per missed offset.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from airflow_slack_gate.core.messages import escalation_text, reminder_text
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import follow_up_metadata
from airflow_slack_gate.core.votes import Decision

ESCALATION_KEY = "escalation"
_REMINDER_PREFIX = "reminder:"


@dataclass(frozen=True)
class FollowUp:
    """One reply a waiting gate owes its thread: a reminder (``index`` into ``remind_after``) or the
    escalation announcement."""

    kind: Literal["reminder", "escalation"]
    key: str
    index: int = 0


def reminder_key(index: int) -> str:
    return f"{_REMINDER_PREFIX}{index}"


def follow_ups_due(
    *,
    ask_ts: str,
    remind_after: Sequence[float],
    escalate_after: float | None,
    now: float,
    posted: Collection[str],
) -> list[FollowUp]:
    """What to post now: the escalation announcement once it is due, then the latest reminder due,
    unless that reminder or a later one is already posted (``posted``: keys found in the thread).

    The caller posts nothing once the gate is decided or past its deadline.
    """
    asked = float(ask_ts)
    due: list[FollowUp] = []
    if escalate_after is not None and now >= asked + escalate_after and ESCALATION_KEY not in posted:
        due.append(FollowUp("escalation", ESCALATION_KEY))
    reached = [index for index, offset in enumerate(remind_after) if now >= asked + offset]
    if reached:
        latest = max(reached)
        posted_indexes = {int(key[len(_REMINDER_PREFIX) :]) for key in posted if _is_reminder_key(key)}
        if not any(index >= latest for index in posted_indexes):
            due.append(FollowUp("reminder", reminder_key(latest), latest))
    return due


def next_follow_up_at(
    *, ask_ts: str, remind_after: Sequence[float], escalate_after: float | None, now: float
) -> float | None:
    """The Unix time of the next reminder or escalation after ``now`` (``None``: nothing left)."""
    asked = float(ask_ts)
    offsets = [*remind_after, *([] if escalate_after is None else [escalate_after])]
    later = [asked + offset for offset in offsets if asked + offset > now]
    return min(later) if later else None


def missing_voters(
    users: Collection[str],
    groups: Mapping[str, Collection[str]],
    decision: Decision,
    policy: ApprovalPolicy,
) -> tuple[list[str], list[str]]:
    """``(users, groups)`` to mention: those of ``users`` who have not voted yet, and each of ``groups``
    (ID -> members) with a member who has not voted yet (or whose members are unknown). Nobody who
    could not approve is named: the requester, unless ``policy.allow_self_approval``."""
    voted = {vote.user for vote in decision.votes}
    if policy.requested_by and not policy.allow_self_approval:
        voted.add(policy.requested_by)
    missing_users = sorted(user for user in set(users) if user not in voted)
    missing_groups = sorted(
        group for group, members in groups.items() if not members or any(m not in voted for m in members)
    )
    return missing_users, missing_groups


def approvals_needed(decision: Decision, policy: ApprovalPolicy) -> int:
    """How many more distinct approvals the gate needs."""
    approvals = sum(1 for vote in decision.votes if vote.vote == "approve")
    return max(0, policy.required_approvals - approvals)


Named = tuple[Collection[str], Mapping[str, Collection[str]]]


@dataclass(frozen=True)
class FollowUpReply:
    """A follow-up as the gate's bot posts it: its ``text`` (Slack mrkdwn) and ``metadata``."""

    follow_up: FollowUp
    text: str
    metadata: dict[str, Any]


def follow_up_replies(
    due: Sequence[FollowUp],
    *,
    ask_ts: str,
    policy: ApprovalPolicy,
    decision: Decision,
    approvers: Named,
    escalated: Named,
    now: float,
    deadline: float | None,
) -> list[FollowUpReply]:
    """The thread replies of the ``due`` follow-ups of the (undecided) gate asked at ``ask_ts``.

    ``approvers`` and ``escalated`` are ``(user IDs, {group ID: members})`` of the gate's approvers and
    of ``escalate_to``, as the DAG named them. A reminder names the approvers who have not voted yet
    (and, once the escalation started, the escalated people who have not); nobody when anyone may
    vote (``policy.approvers`` is ``None``). The announcement names everyone in ``escalate_to``. Both
    say how many approvals are still needed and when the gate times out.
    """
    needed = approvals_needed(decision, policy)
    times_out = None if deadline is None else datetime.fromtimestamp(deadline, tz=timezone.utc)
    started = policy.escalate_after is not None and now >= float(ask_ts) + policy.escalate_after
    replies = []
    for follow_up in due:
        if follow_up.kind == "escalation":
            users, groups = sorted(escalated[0]), sorted(escalated[1])
            text = escalation_text(users, groups, needed=needed, times_out=times_out)
        else:
            users, groups = _still_missing(
                policy, decision, (approvers, escalated) if started else (approvers,)
            )
            text = reminder_text(users, groups, needed=needed, times_out=times_out)
        replies.append(FollowUpReply(follow_up, text, follow_up_metadata(gate_ts=ask_ts, key=follow_up.key)))
    return replies


def _still_missing(
    policy: ApprovalPolicy, decision: Decision, named: Sequence[Named]
) -> tuple[list[str], list[str]]:
    users: list[str] = []
    groups: list[str] = []
    if policy.approvers is None:
        return users, groups
    for listed_users, listed_groups in named:
        more_users, more_groups = missing_voters(listed_users, listed_groups, decision, policy)
        users += [user for user in more_users if user not in users]
        groups += [group for group in more_groups if group not in groups]
    return users, groups


def _is_reminder_key(key: str) -> bool:
    return key.startswith(_REMINDER_PREFIX) and key[len(_REMINDER_PREFIX) :].isdigit()


def as_seconds(name: str, value: object) -> float:
    """A duration the DAG gives in seconds or as a ``timedelta``, in seconds; ``ValueError`` naming the
    fix unless it is positive."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(
            f"{name} must be a positive number of seconds or a timedelta, e.g. timedelta(hours=1); "
            f"got {value!r}"
        )
    return float(seconds)


def reminder_offsets(remind_after: object, *, timeout: float) -> tuple[float, ...]:
    """``remind_after`` (``None``, seconds or a ``timedelta``, or a sequence of them) as sorted seconds
    after the ask; ``ValueError`` naming the fix for a non-positive, repeated or too late one."""
    if remind_after is None:
        return ()
    listed = list(remind_after) if isinstance(remind_after, (list, tuple, set, frozenset)) else [remind_after]
    offsets = sorted(as_seconds("remind_after", value) for value in listed)
    if len(set(offsets)) < len(offsets):
        raise ValueError("remind_after lists one time twice: list each reminder once")
    if offsets and offsets[-1] >= timeout:
        raise ValueError(
            f"remind_after holds {offsets[-1]:g}s, not before the gate's timeout ({timeout:g}s), so that "
            "reminder could never be posted: remind earlier or raise timeout"
        )
    return tuple(offsets)


def escalation_delay(escalate_after: object, *, timeout: float) -> float | None:
    """``escalate_after`` (seconds or a ``timedelta``) in seconds, ``None`` for no escalation;
    ``ValueError`` naming the fix for a non-positive one or one not before the timeout."""
    if escalate_after is None:
        return None
    seconds = as_seconds("escalate_after", escalate_after)
    if seconds >= timeout:
        raise ValueError(
            f"escalate_after is {seconds:g}s, not before the gate's timeout ({timeout:g}s), so the "
            "escalation could never start: escalate earlier or raise timeout"
        )
    return seconds
