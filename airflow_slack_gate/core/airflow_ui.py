"""A Slack gate in Airflow's Required actions: the HITL request a gate writes, the answer Airflow hands
back, and what the gate's thread says about it. Pure: no I/O, no Airflow.

The gate writes an Airflow HITL request (options Approve / Reject) next to its Slack question. An
answer there is one person's vote: the responder's Airflow user, mapped to Slack by the requester's
rules, under the gate's policy. It is recorded in the gate's thread (the click record of
:mod:`airflow_slack_gate.core.protocol`, ``via="airflow_ui"``), and the gate decides from the thread.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_slack_gate.core.messages import escape_mrkdwn
from airflow_slack_gate.core.votes import NotVoter, VoteKind

APPROVE_OPTION = "Approve"
REJECT_OPTION = "Reject"
#: The options of a gate's request; Airflow's UI shows two such options as an approval.
OPTIONS = (APPROVE_OPTION, REJECT_OPTION)
_VOTES: dict[str, VoteKind] = {APPROVE_OPTION: "approve", REJECT_OPTION: "reject"}
#: A gate with more approvers than this (user groups included) assigns its request to nobody in
#: particular: finding each one's Airflow user costs a Slack look-up.
MAX_ASSIGNED = 50
#: Airflow's HITL subject is plain text; a longer question is shortened.
SUBJECT_LIMIT = 1000
#: Why an Airflow answer counts nothing: no Slack user is found for the Airflow user, Slack does not
#: show the one found as a person, or the policy (not an approver, their own request) refuses them.
NotCounted = Literal["unmapped", "not_a_person", NotVoter]

_LINK = re.compile(r"<([^<>|]*)\|([^<>]*)>")
_BARE = re.compile(r"<([^<>]*)>")
_SPACES = re.compile(r"\s+")
#: mrkdwn's bold, code and strike-through marks (underscores stay: names have them)
_FORMATTING = re.compile(r"[*`~]")


@dataclass(frozen=True)
class AirflowAnswer:
    """One answer given in Airflow's Required actions: the Airflow user (``name``, ``user_id``), the
    vote, and when Airflow recorded it."""

    name: str
    user_id: str
    vote: VoteKind
    responded_at: datetime

    @property
    def answer_id(self) -> str:
        """Names this answer in its record (``click_id``), so a redelivered answer is recorded once."""
        return f"airflow_ui:{self.user_id}:{self.responded_at.isoformat()}"


def is_airflow_answer(event: Mapping[str, Any]) -> bool:
    """True for a resume payload of Airflow's HITL row (``HITLDetail.as_resume_event_payload``, or the
    trigger's event of the same shape); the gate's own events carry a ``status``."""
    return "status" not in event and "chosen_options" in event


def read_answer(event: Mapping[str, Any], *, asked_at: float) -> AirflowAnswer | None:
    """The answer an Airflow resume payload holds, or ``None`` when it holds no vote of this gate's try:
    not exactly one of :data:`OPTIONS`, no respondent (a timeout's default), a malformed user or time,
    or an answer recorded before ``asked_at`` (the Unix time the try's question was posted): an answer
    to an earlier try that the request kept cannot vote on this one."""
    chosen = event.get("chosen_options")
    user = event.get("responded_by_user")
    if event.get("timedout") or not isinstance(chosen, (list, tuple)) or len(chosen) != 1:
        return None
    vote = _VOTES.get(chosen[0]) if isinstance(chosen[0], str) else None
    if vote is None or not isinstance(user, Mapping):
        return None
    name, user_id = user.get("name"), user.get("id")
    if not (isinstance(name, str) and name.strip() and isinstance(user_id, (str, int))):
        return None
    responded_at = _moment(event.get("responded_at"))
    if responded_at is None or responded_at.timestamp() < asked_at:
        return None
    return AirflowAnswer(name=name.strip(), user_id=str(user_id), vote=vote, responded_at=responded_at)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def subject(question: str) -> str:
    """The question as the plain text Airflow shows: Slack markup read as its visible text (a link's
    label, a mention's ID, no bold, code or strike-through marks), entities decoded, white space
    collapsed, shortened to :data:`SUBJECT_LIMIT`."""
    text = _LINK.sub(lambda m: m.group(2), question)
    text = _BARE.sub(lambda m: "@" + m.group(1)[1:] if m.group(1).startswith("!") else m.group(1), text)
    text = _FORMATTING.sub("", text)
    text = _SPACES.sub(" ", html.unescape(text)).strip()
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 1] + "\u2026"


def assigned_users(names: Iterable[str]) -> list[dict[str, str]]:
    """Airflow's ``assigned_users`` for the Airflow user names who may answer, for auth managers whose
    user id is the user name (Airflow's simple auth manager)."""
    return [{"id": name, "name": name} for name in sorted(set(names))]


def record_text(*, slack_user: str, airflow_user: str, vote: VoteKind) -> str:
    """The thread reply recording an answer given in Airflow, e.g. ":white_check_mark: <@U1> approved in
    Airflow's Required actions (Airflow user `alice`)."""
    verb = ":white_check_mark: {} approved" if vote == "approve" else ":x: {} rejected"
    return (
        verb.format(f"<@{slack_user}>")
        + f" in Airflow's Required actions (Airflow user `{_code(airflow_user)}`)."
    )


def not_counted_text(*, airflow_user: str, vote: VoteKind, why: NotCounted, slack_user: str | None) -> str:
    """The thread reply saying an answer given in Airflow counts nothing, and why."""
    word = "Approve" if vote == "approve" else "Reject"
    who = f"Airflow user `{_code(airflow_user)}`"
    if why == "unmapped":
        reason = (
            "no Slack user is found for them (map them in the connection's `slack_users` extra, or give "
            "them an email Slack knows), so the gate cannot apply its rules to them"
        )
    elif why == "self_approval":
        reason = f"they are <@{slack_user}>, who requested this and cannot approve their own request"
    elif why == "not_approver":
        reason = f"they are <@{slack_user}>, who is not an approver of this gate"
    elif why == "before_escalation":
        reason = (
            f"they are <@{slack_user}>, who may vote only through the gate's escalation, and only by a reply "
            "or a button in Slack"
        )
    else:
        reason = f"they are <@{slack_user}>, whom Slack does not show as a person who may vote"
    return (
        f":warning: {who} answered *{word}* in Airflow's Required actions. It does not count: {reason}. "
        "The gate keeps waiting."
    )


def _code(text: str) -> str:
    return escape_mrkdwn(text).replace("`", "'")
