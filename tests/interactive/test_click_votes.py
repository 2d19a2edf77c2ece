"""Button clicks recorded in the thread are votes under the same rules as replies and reactions.

Pure: Slack-shaped thread data in, decisions out. Only the gate's own bot can record a click; a
person's copy of a record, another app's record, or a record naming another gate never counts.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_slack_gate.core.gate import GateRef, read_step
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import VOTE_EVENT_TYPE, recorded_votes, vote_record_metadata
from airflow_slack_gate.core.votes import decide, why_not_voter

BOT_ID, BOT_USER = "B0GATE", "U0GATEBOT"
ASK_TS = "1700000000.000100"
GATE = GateRef(channel="C0APPROVE", ts=ASK_TS)
ALICE, BOB, CAROL, MALLORY = "U0ALICE", "U0BOB", "U0CAROL", "U0MALLORY"
#: Everyone here is a person as far as users.info goes (tests/reliability cover bots and leavers).
PEOPLE = frozenset({ALICE, BOB, CAROL, MALLORY})


def ask(**extra: Any) -> dict[str, Any]:
    return {"type": "message", "ts": ASK_TS, "user": BOT_USER, "bot_id": BOT_ID, "text": "Deploy?", **extra}


def record(
    voter: str,
    vote: str,
    ts: str,
    *,
    reason: str | None = None,
    bot_id: str | None = BOT_ID,
    user: str = BOT_USER,
    gate_ts: str = ASK_TS,
    thread_ts: str = ASK_TS,
    click_id: str = "c",
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "message",
        "ts": ts,
        "user": user,
        "thread_ts": thread_ts,
        "text": f"<@{voter}> {vote}d with the button.",
        "metadata": vote_record_metadata(
            voter=voter, vote=vote, reason=reason, gate_ts=gate_ts, click_id=click_id
        ),
    }
    if bot_id:
        message["bot_id"] = bot_id
    return message


def reply(user: str, text: str, ts: str) -> dict[str, Any]:
    return {"type": "message", "ts": ts, "user": user, "text": text, "thread_ts": ASK_TS}


def test_a_record_by_the_gates_bot_is_a_button_vote():
    votes = recorded_votes(
        [record(ALICE, "reject", "1700000001.0", reason=" too risky ")], ask_ts=ASK_TS, bot_id=BOT_ID
    )
    assert [(v.user, v.vote, v.via, v.reason, v.ts) for v in votes] == [
        (ALICE, "reject", "button", "too risky", "1700000001.0")
    ]


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(
            record(ALICE, "approve", "1700000001.0", bot_id=None, user=MALLORY), id="a-person-posts-it"
        ),
        pytest.param(record(ALICE, "approve", "1700000001.0", bot_id="B0OTHERAPP"), id="another-app"),
        pytest.param(record(ALICE, "approve", "1700000001.0", gate_ts="1600000000.000001"), id="other-gate"),
        pytest.param(
            record(ALICE, "approve", "1700000001.0", thread_ts="1600000000.000001"), id="other-thread"
        ),
        pytest.param(record("alice", "approve", "1700000001.0"), id="voter-not-an-id"),
        pytest.param({**record(ALICE, "approve", "1700000001.0"), "metadata": None}, id="text-only"),
        pytest.param(
            {
                **record(ALICE, "approve", "1700000001.0"),
                "metadata": {"event_type": "x", "event_payload": {}},
            },
            id="other-metadata",
        ),
    ],
)
def test_nothing_but_the_gates_bot_can_record_a_click(forged):
    assert recorded_votes([forged], ask_ts=ASK_TS, bot_id=BOT_ID) == []
    assert read_step([ask(), forged], GATE, ApprovalPolicy(), expired=False, people=PEOPLE) is None


def test_without_a_trusted_bot_nothing_counts():
    assert recorded_votes([record(ALICE, "approve", "1700000001.0")], ask_ts=ASK_TS, bot_id=None) == []


def test_the_ask_messages_bot_is_the_trusted_recorder():
    payload = read_step(
        [ask(), record(ALICE, "approve", "1700000001.0")],
        GATE,
        ApprovalPolicy(),
        expired=False,
        people=PEOPLE,
    )
    assert payload["decision"]["outcome"] == "approved"
    assert payload["decision"]["votes"][0]["via"] == "button"
    not_ours = read_step(
        [ask(bot_id="B0OTHERAPP"), record(ALICE, "approve", "1700000001.0")],
        GATE,
        ApprovalPolicy(),
        expired=False,
        people=PEOPLE,
    )
    assert not_ours is None


def test_clicks_follow_the_allow_list_and_self_approval():
    policy = ApprovalPolicy(approvers=frozenset({ALICE, BOB}), requested_by=ALICE)
    replies = [record(MALLORY, "approve", "1700000001.0"), record(ALICE, "approve", "1700000002.0")]
    assert (
        decide(
            ask(), replies, policy, extra_votes=recorded_votes(replies, ask_ts=ASK_TS, bot_id=BOT_ID)
        ).outcome
        == "pending"
    )
    assert why_not_voter(policy, MALLORY, "approve") == "not_approver"
    assert why_not_voter(policy, ALICE, "approve") == "self_approval"
    assert why_not_voter(policy, ALICE, "reject") is None
    assert why_not_voter(policy, BOB, "approve", bots=[BOB]) == "bot"


def test_clicks_and_replies_count_toward_the_same_quorum():
    policy = ApprovalPolicy(required_approvals=2)
    thread = [ask(), reply(ALICE, "lgtm", "1700000001.0"), record(BOB, "approve", "1700000002.0")]
    payload = read_step(thread, GATE, policy, expired=False, people=PEOPLE)
    assert payload["decision"]["outcome"] == "approved"
    assert {(v["user"], v["via"]) for v in payload["decision"]["votes"]} == {
        (ALICE, "reply"),
        (BOB, "button"),
    }


def test_the_latest_vote_of_a_person_counts_whatever_its_way():
    policy = ApprovalPolicy(required_approvals=2)
    changed_to_approve = [ask(), reply(ALICE, "no", "1700000001.0"), record(ALICE, "approve", "1700000002.0")]
    # a reject is terminal for whoever observes it; the rules still say which vote is the latest
    votes = decide(
        ask(),
        changed_to_approve[1:],
        policy,
        extra_votes=recorded_votes(changed_to_approve[1:], ask_ts=ASK_TS, bot_id=BOT_ID),
    ).votes
    assert [(v.user, v.vote, v.via) for v in votes] == [(ALICE, "approve", "button")]
    clicked_then_replied = [
        record(ALICE, "approve", "1700000001.0"),
        reply(ALICE, "reject: found a bug", "1700000002.0"),
    ]
    decision = decide(
        ask(),
        clicked_then_replied,
        policy,
        extra_votes=recorded_votes(clicked_then_replied, ask_ts=ASK_TS, bot_id=BOT_ID),
    )
    assert (decision.outcome, decision.reason) == ("rejected", "found a bug")


def test_a_redelivered_click_recorded_twice_is_one_vote():
    policy = ApprovalPolicy(required_approvals=2)
    twice = [record(ALICE, "approve", "1700000001.0"), record(ALICE, "approve", "1700000002.0")]
    decision = decide(ask(), twice, policy, extra_votes=recorded_votes(twice, ask_ts=ASK_TS, bot_id=BOT_ID))
    assert decision.outcome == "pending"
    assert len(decision.votes) == 1


def test_the_record_itself_is_never_read_as_a_reply_vote():
    # the record's text starts like a vote word would not, but even "approve ..." by the bot is no reply vote
    bot_text = {**record(ALICE, "approve", "1700000001.0"), "text": "approve", "metadata": None}
    assert decide(ask(), [bot_text], ApprovalPolicy()).outcome == "pending"


def test_record_metadata_shape():
    metadata = vote_record_metadata(voter=ALICE, vote="approve", reason=None, gate_ts=ASK_TS, click_id="42")
    assert metadata == {
        "event_type": VOTE_EVENT_TYPE,
        "event_payload": {
            "voter": ALICE,
            "vote": "approve",
            "reason": "",
            "gate_ts": ASK_TS,
            "click_id": "42",
        },
    }
    with pytest.raises(ValueError, match="vote must be one of"):
        vote_record_metadata(voter=ALICE, vote="maybe", reason=None, gate_ts=ASK_TS, click_id="42")  # type: ignore[arg-type]
