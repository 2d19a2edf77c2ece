"""core/events.py: what a Socket Mode event says about a gate's thread, without Slack."""

from __future__ import annotations

from airflow_slack_gate.core.events import READ, UNCHANGED, event_channel, event_messages, thread_after_event
from airflow_slack_gate.core.protocol import vote_record_metadata

ASK = {"type": "message", "ts": "100.000001", "user": "UBOT", "bot_id": "BGATE", "text": "Deploy?"}
C = "CGATES"


def reply(ts: str, user: str, text: str, **fields) -> dict:
    return {"type": "message", "ts": ts, "thread_ts": ASK["ts"], "user": user, "text": text, **fields}


def message_event(message: dict, **fields) -> dict:
    return {**message, "channel": C, "event_ts": message["ts"], "channel_type": "channel", **fields}


def reaction_event(kind: str, user: str, name: str, ts: str = ASK["ts"]) -> dict:
    return {"type": kind, "user": user, "reaction": name, "item": {"type": "message", "channel": C, "ts": ts}}


def test_a_new_reply_is_appended_as_conversations_replies_lists_it_and_the_question_counts_it():
    first = reply("100.000002", "UALICE", "hm")
    later = reply("100.000004", "UBOB", "approve")
    thread = [{**ASK, "reply_count": 1, "latest_reply": first["ts"]}, first]

    after = thread_after_event(thread, message_event(later))
    assert after == [{**ASK, "reply_count": 2, "latest_reply": later["ts"]}, first, later]
    earlier = reply("100.000003", "UCAROL", "reject")
    assert isinstance(after, list)
    after_both = thread_after_event(after, message_event(earlier))
    assert [m["ts"] for m in after_both] == [ASK["ts"], first["ts"], earlier["ts"], later["ts"]]
    assert after_both[0]["latest_reply"] == later["ts"]  # an older reply delivered late keeps the latest
    assert thread_after_event(after, message_event(later)) == UNCHANGED  # delivered again


def test_reactions_on_the_question_change_its_reactions_and_on_a_reply_change_nothing():
    thread = [dict(ASK), reply("100.000002", "UALICE", "hm")]
    added = thread_after_event(thread, reaction_event("reaction_added", "UBOB", "white_check_mark"))
    assert isinstance(added, list)
    assert added[0]["reactions"] == [{"name": "white_check_mark", "users": ["UBOB"], "count": 1}]
    assert (
        thread_after_event(added, reaction_event("reaction_added", "UBOB", "white_check_mark")) == UNCHANGED
    )
    removed = thread_after_event(added, reaction_event("reaction_removed", "UBOB", "white_check_mark"))
    assert removed == thread
    on_reply = reaction_event("reaction_added", "UBOB", "white_check_mark", ts="100.000002")
    assert thread_after_event(thread, on_reply) == UNCHANGED


def test_what_an_event_cannot_say_is_read():
    thread = [dict(ASK), reply("100.000002", "UALICE", "approve")]
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": C,
        "ts": "100.000009",
        "message": reply("100.000002", "UALICE", "reject", edited={"user": "UALICE", "ts": "1"}),
    }
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": C,
        "ts": "100.000009",
        "deleted_ts": "100.000002",
    }
    broadcast = message_event(reply("100.000003", "UBOB", "approve"), subtype="thread_broadcast")
    bot_message = message_event(reply("100.000003", "UOTHER", "approve"), subtype="bot_message")
    missing = reaction_event("reaction_removed", "UBOB", "x")
    for event in (edited, deleted, broadcast, bot_message, missing):
        assert thread_after_event(thread, event) == READ, event
    replied = {"type": "message", "subtype": "message_replied", "channel": C, "ts": "100.000009"}
    assert thread_after_event(thread, replied) == UNCHANGED
    assert thread_after_event([], message_event(reply("100.000003", "UBOB", "approve"))) == READ


def test_the_gates_own_bot_reply_is_taken_only_with_a_click_record_the_event_shows_in_full():
    thread = [dict(ASK)]
    metadata = vote_record_metadata(
        voter="UALICE", vote="approve", reason=None, gate_ts=ASK["ts"], click_id="c1"
    )
    record = reply("100.000002", "UBOT", "Alice approved", bot_id="BGATE", metadata=metadata)
    assert isinstance(thread_after_event(thread, message_event(record)), list)
    stripped = {**record, "metadata": {"event_type": metadata["event_type"], "event_payload": {}}}
    assert thread_after_event(thread, message_event(stripped)) == READ
    without = {key: value for key, value in record.items() if key != "metadata"}
    assert thread_after_event(thread, message_event(without)) == READ
    # another app's bot: taken as it is (a read would show it too); it never counts as a vote
    other_app = {**record, "bot_id": "BOTHER", "user": "UOTHERBOT"}
    assert isinstance(thread_after_event(thread, message_event(other_app)), list)


def test_which_channel_and_messages_an_event_concerns():
    edit = {
        "type": "message",
        "subtype": "message_changed",
        "channel": C,
        "ts": "9.0",
        "message": {"ts": "100.000002", "thread_ts": ASK["ts"]},
    }
    assert event_channel(edit) == C
    assert event_messages(edit) == ("9.0", "100.000002", ASK["ts"])
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "channel": C,
        "ts": "9.0",
        "deleted_ts": "100.000002",
        "previous_message": {"ts": "100.000002", "thread_ts": ASK["ts"]},
    }
    assert set(event_messages(deleted)) == {"9.0", "100.000002", ASK["ts"]}
    reaction = reaction_event("reaction_added", "UBOB", "x", ts="100.000002")
    assert (event_channel(reaction), event_messages(reaction)) == (C, ("100.000002",))
    assert event_channel({"type": "app_mention", "channel": C}) is None
    assert event_messages({"type": "message", "channel": C, "ts": "not a ts"}) == ()
