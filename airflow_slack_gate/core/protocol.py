"""The message-metadata protocol: how a question, a post and a recorded click are marked in Slack, so that
any reader (a triggerer, a worker, the API server) finds them again. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from airflow_slack_gate.core.policy import ApprovalPolicy, is_group_id, is_user_id
from airflow_slack_gate.core.votes import SLACK_TS, VOTE_KINDS, Vote, VoteKind

#: Slack message metadata event type of a button click recorded in the gate's thread by the gate's bot.
VOTE_EVENT_TYPE = "airflow_slack_gate_vote"
#: Where a recorded vote was cast: a button in Slack, or Airflow's Required actions page.
RecordedVia = Literal["button", "airflow_ui"]
_RECORDED_VIAS: tuple[RecordedVia, ...] = ("button", "airflow_ui")


def vote_record_metadata(
    *,
    voter: str,
    vote: VoteKind,
    reason: str | None,
    gate_ts: str,
    click_id: str,
    via: RecordedVia = "button",
) -> dict[str, Any]:
    """Slack message metadata of a vote cast outside the thread (a button click, or an answer in
    Airflow's Required actions: ``via="airflow_ui"``), posted by the gate's bot as a reply in the gate's
    thread.

    Slack delivers a click to ONE of the app's connections, so the receiver writes it into Slack, where
    every reader of the thread (any triggerer, the worker) finds it: :func:`recorded_votes` reads it
    back. ``click_id`` identifies the click (or the Airflow answer), so a redelivery is recorded once.
    """
    if vote not in VOTE_KINDS:
        raise ValueError(f"vote must be one of {VOTE_KINDS}, got {vote!r}")
    if via not in _RECORDED_VIAS:
        raise ValueError(f"via must be one of {_RECORDED_VIAS}, got {via!r}")
    payload = {"voter": voter, "vote": vote, "reason": reason or "", "gate_ts": gate_ts, "click_id": click_id}
    if via != "button":  # records written before "via" existed are button clicks
        payload["via"] = via
    return {"event_type": VOTE_EVENT_TYPE, "event_payload": payload}


def recorded_votes(replies: Sequence[Mapping[str, Any]], *, ask_ts: str, bot_id: str | None) -> list[Vote]:
    """The votes recorded in a gate's thread (``via="button"``, or ``"airflow_ui"`` for answers given in
    Airflow's Required actions), timed by the record's ``ts``.

    Only the gate's own bot can record a click: a record counts when it is a reply in the ask's thread
    posted by ``bot_id`` (the bot that posted the ask; ``None`` trusts nothing) carrying
    :data:`VOTE_EVENT_TYPE` metadata for this gate (``gate_ts`` equal to ``ask_ts``). A person's copy of
    the record's text or look, another app's message with the same metadata, or a record naming another
    gate is never a vote. Conversations.replies returns metadata only with ``include_all_metadata``.
    Whether the voter may vote is decided afterwards, by the same rules as every vote
    (pass these as ``extra_votes`` to :func:`decide`).
    """
    if not bot_id:
        return []
    votes: list[Vote] = []
    for reply in replies:
        ts = reply.get("ts")
        metadata = reply.get("metadata")
        if not (
            reply.get("bot_id") == bot_id
            and reply.get("thread_ts") == ask_ts
            and isinstance(ts, str)
            and SLACK_TS.fullmatch(ts)
            and ts != ask_ts
            and isinstance(metadata, Mapping)
            and metadata.get("event_type") == VOTE_EVENT_TYPE
        ):
            continue
        payload = metadata.get("event_payload")
        if not isinstance(payload, Mapping) or payload.get("gate_ts") != ask_ts:
            continue
        voter, kind, reason = payload.get("voter"), payload.get("vote"), payload.get("reason")
        if not isinstance(voter, str) or not is_user_id(voter) or kind not in VOTE_KINDS:
            continue
        via = payload.get("via", "button")
        if via not in _RECORDED_VIAS:
            continue
        text = reason.strip() if isinstance(reason, str) else ""
        votes.append(Vote(user=voter, vote=kind, via=via, reason=text or None, ts=ts))
    return votes


#: Slack message metadata event type of a reminder or an escalation announcement in a gate's thread.
FOLLOW_UP_EVENT_TYPE = "airflow_slack_gate_follow_up"


def follow_up_metadata(*, gate_ts: str, key: str) -> dict[str, Any]:
    """Slack message metadata of a gate's reminder or escalation announcement: the gate's ask (one per
    try) and which one it is (``key``: ``reminder:<index>`` or ``escalation``), so it is posted once."""
    return {"event_type": FOLLOW_UP_EVENT_TYPE, "event_payload": {"gate_ts": gate_ts, "key": key}}


def posted_follow_ups(
    replies: Sequence[Mapping[str, Any]], *, ask_ts: str, bot_id: str | None
) -> frozenset[str]:
    """The keys of the reminders and announcements already in a gate's thread: replies in the ask's
    thread posted by ``bot_id`` (the bot that posted the ask; ``None`` trusts nothing) carrying
    :data:`FOLLOW_UP_EVENT_TYPE` metadata for this gate. A person's or another app's message with the
    same metadata neither suppresses nor fakes one."""
    if not bot_id:
        return frozenset()
    keys = set()
    for reply in replies:
        metadata = reply.get("metadata")
        if not (
            reply.get("bot_id") == bot_id
            and reply.get("thread_ts") == ask_ts
            and isinstance(metadata, Mapping)
            and metadata.get("event_type") == FOLLOW_UP_EVENT_TYPE
        ):
            continue
        payload = metadata.get("event_payload")
        if (
            isinstance(payload, Mapping)
            and payload.get("gate_ts") == ask_ts
            and isinstance(payload.get("key"), str)
        ):
            keys.add(payload["key"])
    return frozenset(keys)


#: Slack message metadata event type that marks an ask message posted by this package.
ASK_EVENT_TYPE = "airflow_slack_gate_ask"


_RULES_KEY = "rules"


_RULES_VERSION = 2  # version 1 was the rules in the buttons' value, which a long approver list overflowed


def ask_metadata(
    identity: Mapping[str, Any],
    state: str,
    *,
    policy: ApprovalPolicy | None = None,
    approver_groups: Iterable[str] = (),
    escalation_groups: Iterable[str] = (),
) -> dict[str, Any]:
    """Slack message metadata that lets any later run of the task find this gate's message.

    With ``policy`` (user approvers only), ``approver_groups`` and ``escalation_groups`` (the user
    groups of ``escalate_to``) it also carries the gate's rules
    (:func:`ask_rules` reads them back), so whoever receives a click can judge it from the ask itself:
    only the gate's bot can write its message's metadata. ``identity`` may be an earlier payload:
    rules it carries are kept.
    """
    payload: dict[str, Any] = {**identity, "state": state}
    if policy is not None:
        rules: dict[str, Any] = {"policy": policy.to_dict(), "approver_groups": sorted(set(approver_groups))}
        if escalation_groups:
            rules["escalation_groups"] = sorted(set(escalation_groups))
        # one string value: Slack's metadata payload takes flat values, not lists
        payload[_RULES_KEY] = json.dumps({"version": _RULES_VERSION, **rules}, separators=(",", ":"))
    return {"event_type": ASK_EVENT_TYPE, "event_payload": payload}


@dataclass(frozen=True)
class AskRules:
    """The rules an ask's metadata carries: ``policy`` (user approvers) and the groups to expand."""

    policy: ApprovalPolicy
    approver_groups: frozenset[str] = frozenset()
    escalation_groups: frozenset[str] = frozenset()


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
        escalation_groups = data.get("escalation_groups") or []
        for listed in (groups, escalation_groups):
            if not isinstance(listed, list) or not all(isinstance(group, str) for group in listed):
                return None
        return AskRules(
            ApprovalPolicy.from_dict(data["policy"]), frozenset(groups), frozenset(escalation_groups)
        )
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


#: ``ti_id`` (Airflow's id of the try) tells apart two deployments' runs of one DAG with the same names.
_TRY_KEYS = ("dag_id", "run_id", "task_id", "map_index", "try_number", "ti_id")


def try_key(payload: Mapping[str, Any]) -> tuple[Any, ...]:
    """The task instance and try an ask message belongs to, as one hashable value (a question posted
    before questions carried ``ti_id`` matches no try that has one)."""
    return tuple(payload.get(key) for key in _TRY_KEYS)


def same_try(payload: Mapping[str, Any], identity: Mapping[str, Any]) -> bool:
    """True when an ask message belongs to the same try of the same task instance."""
    return try_key(payload) == try_key(identity)


#: The key of an ask's metadata payload holding what the question asks to approve (absent: nothing named).
REVIEW_DIGEST_KEY = "review_digest"


def asked_digest(payload: Mapping[str, Any]) -> str | None:
    """The review digest an ask's metadata says the question was about (``None``: none)."""
    digest = payload.get(REVIEW_DIGEST_KEY)
    return digest if isinstance(digest, str) and digest else None


def outcome_marks(
    decided_at: float,
    decided_by: Sequence[str],
    review_digest: str | None,
    allowed_by: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """What a decided question's metadata adds to its try's identity: when the worker recorded the
    outcome (Unix time, as text), who decided (user IDs, comma-separated: metadata values are flat),
    the review digest asked about and, with ``allowed_by``, how each decider was allowed to vote (see
    :func:`allowed_by_mark`). An audit reads them back with :func:`decided_marks` and
    :func:`decided_allowed_by`."""
    marks: dict[str, Any] = {"decided_at": f"{decided_at:.6f}", "decided_by": ",".join(decided_by)}
    if review_digest:
        marks[REVIEW_DIGEST_KEY] = review_digest
    if allowed_by is not None:
        marks[ALLOWED_BY_KEY] = allowed_by_mark(allowed_by)
    return marks


def decided_marks(payload: Mapping[str, Any]) -> tuple[float | None, tuple[str, ...]]:
    """When (Unix time) and by whom a question's metadata says it was decided (``None``, ``()``: not
    said, e.g. a question decided before questions carried it)."""
    at, by = payload.get("decided_at"), payload.get("decided_by")
    try:
        decided_at = float(at) if isinstance(at, str) and SLACK_TS.fullmatch(at) else None
    except ValueError:
        decided_at = None
    users = tuple(user for user in (by if isinstance(by, str) else "").split(",") if is_user_id(user))
    return decided_at, users


#: The key of a decided question's metadata saying how each decider was allowed to vote then.
ALLOWED_BY_KEY = "allowed_by"
#: How a decider was allowed: listed in ``approvers``, anyone in the channel (no approvers rule), or
#: listed in ``escalate_to``; else a user group ID (``S...``: a member of that approvers' group) or
#: ``escalate_to:S...`` (a member of that group the gate escalated to).
ALLOWED_AS_APPROVER = "approvers"
ALLOWED_AS_ANYONE = "anyone"
ALLOWED_AS_ESCALATION = "escalate_to"


def allowed_by_mark(allowed_by: Mapping[str, Sequence[str]]) -> str:
    """``{user: ways}`` as one flat metadata value: ``user:way`` pairs, comma-separated
    (``"U1:approvers,U2:S123,U2:escalate_to:S456"``); :func:`decided_allowed_by` reads it back."""
    return ",".join(f"{user}:{way}" for user in sorted(allowed_by) for way in allowed_by[user])


def decided_allowed_by(payload: Mapping[str, Any]) -> dict[str, tuple[str, ...]] | None:
    """How each decider was allowed to vote when the gate recorded its outcome, as a question's metadata
    says (:func:`allowed_by_mark`); ``None`` when it does not say (decided before questions carried it)
    or says it malformed: one pair that is not a user ID and a known way voids the whole value."""
    text = payload.get(ALLOWED_BY_KEY)
    if not isinstance(text, str):
        return None
    allowed: dict[str, tuple[str, ...]] = {}
    for pair in text.split(",") if text else ():
        user, _, way = pair.partition(":")
        if not (is_user_id(user) and _is_allowed_way(way)):
            return None
        if way not in allowed.get(user, ()):
            allowed[user] = (*allowed.get(user, ()), way)
    return allowed


def _is_allowed_way(way: str) -> bool:
    escalation_group = way.removeprefix(f"{ALLOWED_AS_ESCALATION}:")
    return (
        way in (ALLOWED_AS_APPROVER, ALLOWED_AS_ANYONE, ALLOWED_AS_ESCALATION)
        or is_group_id(way)
        or (escalation_group != way and is_group_id(escalation_group))
    )


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


#: Slack message metadata event type of a SlackPostOperator message (its payload names the task).
POST_EVENT_TYPE = "airflow_slack_gate_post"


def post_metadata(identity: Mapping[str, Any], post_id: str) -> dict[str, Any]:
    """Slack message metadata of a SlackPostOperator message: the task that posted it and its id."""
    return {"event_type": POST_EVENT_TYPE, "event_payload": {**identity, "post_id": post_id}}


def message_with_post_id(
    messages: Iterable[Mapping[str, Any]], post_id: str, bot_id: str | None
) -> str | None:
    """The ts of this bot's message carrying ``post_id`` in its metadata, if any."""
    for message in messages:
        metadata = message.get("metadata") or {}
        posted = metadata.get("event_type") in (POST_EVENT_TYPE, HITL_EVENT_TYPE)
        payload = metadata.get("event_payload") if posted else None
        if (
            isinstance(payload, dict)
            and payload.get("post_id") == post_id
            and message.get("bot_id") == bot_id
        ):
            return str(message["ts"])
    return None


#: Slack message metadata event type of a message that asks an Airflow HITL request (HITLOperator and its
#: subclasses) through :class:`~airflow_slack_gate.notifiers.slack.SlackHITLNotifier`.
HITL_EVENT_TYPE = "airflow_slack_gate_hitl"


def options_digest(options: Sequence[str]) -> str:
    """A short digest of a HITL request's options, in order: the buttons' values are indexes into this
    list, so a click counts only while Airflow's request still has exactly these options."""
    text = json.dumps(list(options), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def hitl_metadata(
    identity: Mapping[str, Any],
    *,
    ti_id: str,
    options: Sequence[str],
    post_id: str,
    state: str = "open",
    form: bool = False,
) -> dict[str, Any]:
    """Slack message metadata of a HITL request's message: the task instance and try it asks for (its
    ``dag_id``, ``run_id``, ``task_id``, ``map_index``, ``try_number`` and Airflow's ``ti_id``), the
    digest of its options, a random ``post_id`` (to find a post whose answer was lost) and its
    ``state`` (``open``, ``answered``), and whether the request has a ``form`` (params of its own,
    answered in Airflow only). Only the bot can write it: a click is judged by it, never by
    the button's value alone."""
    payload = {
        **{key: identity[key] for key in ("dag_id", "run_id", "task_id", "map_index", "try_number")},
        "ti_id": ti_id,
        "options": options_digest(options),
        "post_id": post_id,
        "state": state,
        "form": form,
    }
    return {"event_type": HITL_EVENT_TYPE, "event_payload": payload}


def hitl_outcome_metadata(payload: Mapping[str, Any], *, state: str, answer: str) -> dict[str, Any]:
    """The metadata of a HITL request's message once it ended: its payload with the new ``state``
    (``answered``, ``closed``) and ``answer``, a line naming the outcome for later clicks' notes."""
    return {"event_type": HITL_EVENT_TYPE, "event_payload": {**payload, "state": state, "answer": answer}}


@dataclass(frozen=True)
class HITLRequest:
    """The Airflow HITL request a message of this package asks, as its metadata names it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    ti_id: str
    options: str
    post_id: str
    state: str
    form: bool = False
    answer: str = ""

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "map_index": self.map_index,
            "try_number": self.try_number,
        }

    def asks_for(self, identity: Mapping[str, Any]) -> bool:
        """Whether this is the request of ``identity``'s try (its names, try number and ``ti_id``)."""
        return try_key({**self.identity, "ti_id": self.ti_id}) == try_key(identity)


def hitl_request(message: Mapping[str, Any], *, bot_id: str | None) -> HITLRequest | None:
    """The HITL request a message asks, when ``bot_id`` (the connection's bot) posted it with
    :data:`HITL_EVENT_TYPE` metadata of the right shape; else ``None`` (anyone's look-alike, another
    app's message with the same metadata, or a malformed payload)."""
    metadata = message.get("metadata")
    if not bot_id or message.get("bot_id") != bot_id or not isinstance(metadata, Mapping):
        return None
    payload = metadata.get("event_payload")
    if metadata.get("event_type") != HITL_EVENT_TYPE or not isinstance(payload, Mapping):
        return None
    texts = {key: payload.get(key) for key in ("dag_id", "run_id", "task_id", "ti_id", "options", "post_id")}
    numbers = {key: payload.get(key) for key in ("map_index", "try_number")}
    if not all(isinstance(value, str) and value for value in texts.values()):
        return None
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in numbers.values()):
        return None
    form = payload.get("form", True) is not False  # unreadable: treated as a form (answered in Airflow)
    answer = payload.get("answer")
    return HITLRequest(
        **texts,  # type: ignore[arg-type]
        **numbers,  # type: ignore[arg-type]
        state=str(payload.get("state") or ""),
        form=form,
        answer=answer if isinstance(answer, str) else "",
    )
