"""The audit trail of a channel's gate questions, read from Slack alone (so it outlives XCom and Airflow's
database): one :class:`~airflow_slack_gate.core.audit.AuditRecord` per question, its votes judged by the
rules the question carries. Every call goes through :class:`SlackGateHook`, paced by its rate limiter."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone

from airflow_slack_gate.core.audit import (
    CSV_COLUMNS,
    AuditRecord,
    audit_record,
    judged_policy,
    mark_superseded,
    question_groups,
    question_payload,
)
from airflow_slack_gate.core.gate import GateRef, voters_to_check
from airflow_slack_gate.core.votes import UserKind
from airflow_slack_gate.hooks.sessions import holding_shared_sessions
from airflow_slack_gate.hooks.slack import DEFAULT_CONN_ID, SlackGateHook

__all__ = ["AuditRecord", "read_audit", "records_csv", "records_json"]

#: Users whose votes an audit counts: people, and people deactivated since they voted.
_VOTERS = ("person", "deleted")


def read_audit(
    conn_id: str = DEFAULT_CONN_ID,
    channel: str | None = None,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
) -> list[AuditRecord]:
    """Every gate question in ``channel`` asked between ``since`` and ``until``, oldest first.

    ``conn_id`` is the Airflow connection of the gates' Slack app; ``channel`` a channel ID (or
    ``#name``; default: the connection's ``default_channel``). ``since`` and ``until`` are dates
    (``until`` includes its whole day), timezone-aware datetimes (naive ones are UTC) or ISO strings
    (``"2026-05-01"``). Raises :class:`~airflow_slack_gate.hooks.errors.SlackGateError` naming the Slack
    error and the fix (the bot is not in the channel, a scope is missing...).
    """
    hook = SlackGateHook(slack_conn_id=conn_id)
    channel_id = hook.channel_id(hook.task_channel(channel, task_id="audit"))
    oldest = _moment(since, end_of_day=False)
    latest = _moment(until, end_of_day=True)
    if oldest is not None and latest is not None and latest < oldest:
        raise ValueError(f"until ({until}) is before since ({since}): nothing to audit")
    return asyncio.run(_read_audit(hook, channel_id, oldest, latest))


async def _read_audit(
    hook: SlackGateHook, channel: str, oldest: float | None, latest: float | None
) -> list[AuditRecord]:
    async with holding_shared_sessions():
        own_bot = (await hook.abot_identity()).bot_id
        history = await hook.aread_history(
            channel=channel,
            oldest=f"{oldest:.6f}" if oldest is not None else None,
            latest=f"{latest:.6f}" if latest is not None else None,
            include_all_metadata=True,
        )
        records = []
        kinds: dict[str, UserKind] = {}
        for message in history:
            payload = question_payload(message)
            if payload is None:
                continue
            ts = str(message["ts"])
            thread = await hook.aread_thread(channel=channel, ts=ts)
            groups, escalation_groups = question_groups(payload)
            members = await hook.aexpand_usergroups(groups) if groups else frozenset()
            escalated = await hook.aexpand_usergroups(escalation_groups) if escalation_groups else frozenset()
            policy = judged_policy(payload, members, escalated)
            voters = voters_to_check(thread, GateRef(channel, ts), policy)
            kinds.update(await hook.auser_kinds([user for user in voters if user not in kinds]))
            people = frozenset(user for user, kind in kinds.items() if kind in _VOTERS)
            permalink = await _permalink(hook, channel, ts)
            records.append(
                audit_record(
                    thread,
                    channel=channel,
                    ts=ts,
                    people=people,
                    group_members=members,
                    escalation_members=escalated,
                    permalink=permalink,
                    own_bot_id=own_bot,
                )
            )
        return mark_superseded(records)


async def _permalink(hook: SlackGateHook, channel: str, ts: str) -> str:
    response = await hook.acall("chat.getPermalink", channel=channel, message_ts=ts)
    return str(response.get("permalink") or "")


def records_json(records: Sequence[AuditRecord]) -> str:
    """The records as a JSON list (one object per question)."""
    return json.dumps([record.to_dict() for record in records], indent=2, ensure_ascii=False) + "\n"


def records_csv(records: Sequence[AuditRecord]) -> str:
    """The records as CSV with a header row (:data:`~airflow_slack_gate.core.audit.CSV_COLUMNS`); lists
    and the votes are JSON in their cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = record.to_dict()
        writer.writerow(
            {
                key: json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
                for key, value in row.items()
            }
        )
    return out.getvalue()


def _moment(value: date | datetime | str | None, *, end_of_day: bool) -> float | None:
    """A bound as Unix time: a date's start (or, for ``until``, its end), a datetime (naive is UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date: write YYYY-MM-DD (or an ISO 8601 time, 2026-05-01T09:00:00+00:00)"
            ) from None
    if not isinstance(value, datetime):
        start = datetime.combine(value, time(), tzinfo=timezone.utc)
        return (start + timedelta(days=1)).timestamp() - 1e-6 if end_of_day else start.timestamp()
    moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return moment.timestamp()
