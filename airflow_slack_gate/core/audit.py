"""The audit trail of gate questions, judged from what Slack keeps: one record per question, its votes
judged by the same rules the gate used (:func:`~airflow_slack_gate.core.votes.decide` with the rules the
question's metadata carries). Pure: the reading is :mod:`airflow_slack_gate.audit`'s."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from airflow_slack_gate.core.gate import split_thread, with_escalation_members, with_group_members
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import (
    ask_rules,
    asked_digest,
    decided_allowed_by,
    decided_marks,
    gate_metadata,
    recorded_votes,
)
from airflow_slack_gate.core.votes import Vote, decide

#: The columns of the audit's CSV, in order (``votes`` is a JSON list).
CSV_COLUMNS = (
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
    "asked_at",
    "requested_by",
    "approvers",
    "approver_groups",
    "required_approvals",
    "review_digest",
    "outcome",
    "superseded",
    "decided_at",
    "decided_by",
    "allowed_then",
    "allowed_then_not_now",
    "allowed_now_not_then",
    "votes",
    "permalink",
    "channel",
    "ts",
    "bot_id",
    "by_this_app",
)
#: What a question's metadata ``state`` says, as an audit outcome (``open``: nobody decided yet).
_OUTCOMES = {"open": "pending", "approved": "approved", "rejected": "rejected", "timed_out": "timed_out"}


@dataclass(frozen=True)
class AuditVote:
    """One counted vote: who (Slack user ID), how (``reply``, ``reaction``, ``button``,
    ``airflow_ui``), the vote, when (ISO 8601 UTC; ``None`` for reactions, which Slack does not
    timestamp), the reason, and whether it was cast as an escalation."""

    user: str
    vote: str
    via: str
    at: str | None
    reason: str | None
    escalated: bool = False


@dataclass(frozen=True)
class AuditRecord:
    """One gate question as Slack keeps it (see docs/audit.md for each field)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    asked_at: str
    requested_by: str | None
    approvers: list[str] | None
    approver_groups: list[str]
    required_approvals: int
    review_digest: str | None
    outcome: str
    superseded: bool
    decided_at: str | None
    decided_by: list[str]
    allowed_then: dict[str, list[str]] | None = None
    allowed_then_not_now: list[str] | None = None
    allowed_now_not_then: list[str] | None = None
    votes: list[AuditVote] = field(default_factory=list)
    permalink: str = ""
    channel: str = ""
    ts: str = ""
    bot_id: str = ""
    by_this_app: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-serializable data."""
        return asdict(self)


def question_payload(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The gate metadata of a question posted by a bot (``None`` for anything else: a person cannot
    write metadata, but another app can, so the record keeps which bot posted it)."""
    payload = gate_metadata(message)
    return payload if payload is not None and message.get("bot_id") else None


def audit_record(
    thread: Sequence[Mapping[str, Any]],
    *,
    channel: str,
    ts: str,
    people: Collection[str],
    group_members: Iterable[str] = (),
    escalation_members: Iterable[str] = (),
    permalink: str = "",
    own_bot_id: str | None = None,
) -> AuditRecord:
    """The record of the question at ``ts`` from its thread (conversations.replies with metadata).

    Votes are judged as the gate judged them: replies, reactions and recorded clicks, by the rules in
    the question's metadata, counting people only (``people``: users Slack says are people or were,
    deactivated since). Replies after the decision the worker recorded (its ``decided_at``) are left
    out; reactions carry no time, so they are as they stand now. User groups count their members
    now (``group_members``; ``escalation_members`` for the groups the gate escalates to); how each
    decider was allowed when the gate recorded its outcome is kept apart (``allowed_then``, from the
    question's metadata when this app's bot posted it), with the deciders the two disagree on.
    """
    question, replies = split_thread(thread, ts)
    payload = question_payload(question) or {}
    rules = ask_rules(payload)
    policy = rules.policy if rules else ApprovalPolicy()
    groups = sorted(rules.approver_groups) if rules else []
    judged = judged_policy(payload, group_members, escalation_members)
    decided_at, decided_by = decided_marks(payload)
    if decided_at is not None:
        replies = [reply for reply in replies if float(reply.get("ts") or 0) <= decided_at]
    clicks = recorded_votes(replies, ask_ts=ts, bot_id=question.get("bot_id"))
    decision = decide(question, replies, judged, extra_votes=clicks, people=people)
    state = str(payload.get("state") or "")
    outcome = "superseded" if state == "superseded" else _OUTCOMES.get(state, state or "unknown")
    if not decided_by and outcome in ("approved", "rejected"):
        decided_by = decision.decided_by
    by_this_app = own_bot_id is not None and question.get("bot_id") == own_bot_id
    recorded = decided_allowed_by(payload) if by_this_app else None  # another app's claim proves nothing
    allowed_then = then_not_now = now_not_then = None
    if recorded is not None:
        allowed_then = {user: list(ways) for user, ways in recorded.items() if user in decided_by}
        then_not_now = [
            user for user in decided_by if user in allowed_then and not _allowed_now(judged, user)
        ]
        now_not_then = [
            user for user in decided_by if user not in allowed_then and _allowed_now(judged, user)
        ]
    return AuditRecord(
        dag_id=str(payload.get("dag_id") or ""),
        run_id=str(payload.get("run_id") or ""),
        task_id=str(payload.get("task_id") or ""),
        map_index=_int(payload.get("map_index"), -1),
        try_number=_int(payload.get("try_number"), 0),
        asked_at=iso_time(float(ts)),
        requested_by=policy.requested_by,
        approvers=sorted(policy.approvers) if policy.approvers is not None else None,
        approver_groups=groups,
        required_approvals=policy.required_approvals,
        review_digest=asked_digest(payload),
        outcome=outcome,
        superseded=outcome == "superseded",
        decided_at=iso_time(decided_at) if decided_at is not None else None,
        decided_by=list(decided_by),
        allowed_then=allowed_then,
        allowed_then_not_now=then_not_now,
        allowed_now_not_then=now_not_then,
        votes=[_audit_vote(vote) for vote in decision.votes],
        permalink=permalink,
        channel=channel,
        ts=ts,
        bot_id=str(question.get("bot_id") or ""),
        by_this_app=by_this_app,
    )


def _allowed_now(policy: ApprovalPolicy, user: str) -> bool:
    """Whether ``policy`` (judged now) lets ``user`` vote at all: anyone, an approver, or someone the
    gate escalates to (when their vote counts is not asked)."""
    return policy.approvers is None or user in policy.approvers or policy.escalates(user)


def question_groups(payload: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The user groups whose members may vote on a question, as its metadata names them: the approvers'
    groups and the groups it escalates to."""
    rules = ask_rules(payload)
    if rules is None:
        return [], []
    return sorted(rules.approver_groups), sorted(rules.escalation_groups)


def judged_policy(
    payload: Mapping[str, Any], group_members: Iterable[str] = (), escalation_members: Iterable[str] = ()
) -> ApprovalPolicy:
    """The rules a question's votes are judged by: those its metadata carries, with the members of its
    user groups and of the groups it escalates to (the default rules for a question that carries none,
    posted by an older version)."""
    rules = ask_rules(payload)
    if rules is None:
        return ApprovalPolicy()
    policy = rules.policy
    if rules.approver_groups:
        policy = with_group_members(policy, frozenset(group_members))
    if rules.escalation_groups:
        policy = with_escalation_members(policy, frozenset(escalation_members))
    return policy


def mark_superseded(records: Iterable[AuditRecord]) -> list[AuditRecord]:
    """Mark each question of a task instance that a later try asked again as superseded (also one
    whose closing update never reached Slack), oldest first."""
    records = sorted(records, key=lambda record: float(record.ts))
    last_try: dict[tuple[Any, ...], int] = {}
    for record in records:
        last_try[_task_key(record)] = max(last_try.get(_task_key(record), 0), record.try_number)
    return [
        replace(record, superseded=True) if record.try_number < last_try[_task_key(record)] else record
        for record in records
    ]


def _task_key(record: AuditRecord) -> tuple[Any, ...]:
    return (record.bot_id, record.dag_id, record.run_id, record.task_id, record.map_index)


def iso_time(unix_time: float) -> str:
    """A Unix time (a Slack ts) as ISO 8601 in UTC."""
    return datetime.fromtimestamp(unix_time, tz=timezone.utc).isoformat()


def _audit_vote(vote: Vote) -> AuditVote:
    return AuditVote(
        user=vote.user,
        vote=vote.vote,
        via=vote.via,
        at=iso_time(float(vote.ts)) if vote.ts else None,
        reason=vote.reason,
        escalated=vote.escalated,
    )


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
