"""What a Socket Mode event says about a gate's thread: a pure step, so a watcher that holds the thread
it last read can bring it up to date from the event alone, and judge it with the same rules as a read
(:func:`~airflow_slack_gate.core.gate.read_step`). No I/O.

An event says enough when it is one of:

- a new plain reply in the gate's thread (a ``message`` event without a subtype whose ``thread_ts`` is
  the gate's): it is appended, exactly as conversations.replies would list it; a reply by the gate's
  own bot is taken only when it carries a readable click record
  (:func:`~airflow_slack_gate.core.protocol.recorded_votes`), since Slack may send message events
  without the metadata payload;
- a reaction added to or removed from the gate's question: the question's ``reactions`` change as
  conversations.history would show them.

Everything else that concerns the gate (an edit, a deletion, a reply with a subtype, the removal of a
reaction the thread does not show) cannot say enough: :data:`READ` asks for a read of the thread.
Reactions on replies are never votes, so they change nothing (:data:`UNCHANGED`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from airflow_slack_gate.core.protocol import recorded_votes
from airflow_slack_gate.core.votes import SLACK_TS

Thread = list[dict[str, Any]]
#: The event concerns the gate but cannot say enough: read its thread from Slack.
READ: Literal["read"] = "read"
#: The event concerns the gate but changes nothing it is judged on.
UNCHANGED: Literal["unchanged"] = "unchanged"
#: Message subtypes that change nothing in a thread: Slack's notice that a thread got a reply (the reply
#: comes as its own event).
_IGNORED_SUBTYPES = frozenset({"message_replied"})
#: Fields an event adds that conversations.replies does not show on a message.
_EVENT_ONLY_FIELDS = ("channel", "event_ts", "channel_type")


def event_channel(event: Mapping[str, Any]) -> str | None:
    """The channel an event happened in (a message's ``channel``, a reaction's ``item.channel``)."""
    item = event.get("item")
    channel = event.get("channel") if event.get("type") == "message" else None
    if channel is None and isinstance(item, Mapping) and item.get("type") == "message":
        channel = item.get("channel")
    return channel if isinstance(channel, str) else None


def event_messages(event: Mapping[str, Any]) -> tuple[str, ...]:
    """The ts of the messages an event concerns: a reply's thread, an edited or deleted message and its
    thread, a reaction's message. A gate is concerned when its question or one of its replies is here."""
    kind = event.get("type")
    if kind in ("reaction_added", "reaction_removed"):
        item = event.get("item")
        found = [item.get("ts")] if isinstance(item, Mapping) else []
    elif kind == "message":
        inner = event.get("message") or event.get("previous_message") or {}
        inner = inner if isinstance(inner, Mapping) else {}
        found = [
            event.get("thread_ts"),
            event.get("ts"),
            event.get("deleted_ts"),
            inner.get("ts"),
            inner.get("thread_ts"),
        ]
    else:
        found = []
    return tuple(dict.fromkeys(ts for ts in found if isinstance(ts, str) and SLACK_TS.fullmatch(ts)))


def thread_after_event(
    thread: Sequence[Mapping[str, Any]], event: Mapping[str, Any]
) -> Thread | Literal["read", "unchanged"]:
    """The gate's thread after ``event`` (a new list: the question first, then its replies by ts), or
    :data:`READ` / :data:`UNCHANGED` (see the module's docstring).

    ``thread`` is the last snapshot of the gate (as conversations.replies returns it, the question as
    conversations.history does) and ``event`` one of :func:`event_messages`' events for it; the caller
    has checked the channel.
    """
    if not thread:
        return READ
    ask = thread[0]
    ask_ts = ask.get("ts")
    kind = event.get("type")
    if kind in ("reaction_added", "reaction_removed"):
        item = event.get("item")
        if not isinstance(item, Mapping) or item.get("ts") != ask_ts:
            return UNCHANGED  # a reaction on a reply: never a vote
        return _reacted(thread, event, added=kind == "reaction_added")
    if kind != "message":
        return READ
    subtype = event.get("subtype")
    if subtype in _IGNORED_SUBTYPES:
        return UNCHANGED
    ts = event.get("ts")
    if subtype is not None or event.get("thread_ts") != ask_ts or not isinstance(ts, str) or ts == ask_ts:
        return READ
    if not SLACK_TS.fullmatch(ts) or not isinstance(event.get("user") or event.get("bot_id"), str):
        return READ
    if any(reply.get("ts") == ts for reply in thread[1:]):
        return UNCHANGED  # delivered again, or already read
    reply = {key: value for key, value in event.items() if key not in _EVENT_ONLY_FIELDS}
    own_bot = ask.get("bot_id")
    own_record = recorded_votes([reply], ask_ts=str(ask_ts), bot_id=own_bot)
    if own_bot and reply.get("bot_id") == own_bot and not own_record:
        return READ  # the bot's own reply, without a click record the event shows in full
    replies = sorted([*thread[1:], reply], key=lambda message: Decimal(str(message.get("ts"))))
    latest = max(str(ask.get("latest_reply") or "0"), ts, key=Decimal)
    question = {**ask, "reply_count": int(ask.get("reply_count") or 0) + 1, "latest_reply": latest}
    return [question, *(dict(message) for message in replies)]


def _reacted(
    thread: Sequence[Mapping[str, Any]], event: Mapping[str, Any], *, added: bool
) -> Thread | Literal["read", "unchanged"]:
    name, user = event.get("reaction"), event.get("user")
    if not isinstance(name, str) or not name or not isinstance(user, str) or not user:
        return READ
    reactions = [dict(reaction) for reaction in thread[0].get("reactions") or ()]
    entry = next((reaction for reaction in reactions if reaction.get("name") == name), None)
    users = list(entry.get("users") or ()) if entry is not None else []
    if added == (user in users):
        # adding what is there: delivered again; removing what is not: the snapshot missed something
        return UNCHANGED if added else READ
    users = [*users, user] if added else [other for other in users if other != user]
    if entry is None:
        reactions.append({"name": name, "users": users, "count": len(users)})
    elif users:
        entry.update(users=users, count=len(users))
    else:
        reactions.remove(entry)
    question = {key: value for key, value in thread[0].items() if key != "reactions"}
    if reactions:
        question["reactions"] = reactions
    return [question, *(dict(message) for message in thread[1:])]
