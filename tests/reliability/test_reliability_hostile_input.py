"""People (and other bots) trying to fool a gate, and threads far larger than usual. Each test talks
HTTP to the emulator through a real trigger: what counts is what Slack returns, not what a unit
test feeds the pure rules (tests/test_decisions.py covers those exhaustively)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_slack_gate.core.messages import outcome_thread_reply
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.reliability.conftest import Logs
from tests.support import ask, calls_of, fast_budgets, first_event, load_dag, people, posts, trigger, xcom

pytestmark = pytest.mark.usefixtures("clean_loop")


def only(*users: str, required: int = 1) -> dict[str, Any]:
    return ApprovalPolicy(approvers=frozenset(users), required_approvals=required).to_dict()


def soon(seconds: float = 1.5) -> float:
    return time.time() + seconds


async def test_imitating_the_bots_outcome_text_decides_nothing(slack: SlackEmulator) -> None:
    """Mallory (not an approver) and another app post the exact text the gate's bot would post for an
    approval, in the thread and in the channel; the gate still waits, then times out with no votes."""
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    ts = ask(slack)
    fake = outcome_thread_reply(outcome="approved", decided_by=[ws.alice], reason=None)
    other_app = slack.create_bot("impostor-app")
    slack.add_member(ws.approvals, other_app.user_id)
    slack.reply(ws.approvals, ts, ws.mallory, fake)
    slack.reply(ws.approvals, ts, ws.mallory, "approve")  # not an approver
    slack.post_as_bot(ws.approvals, other_app, fake, thread_ts=ts)
    slack.post_as_bot(ws.approvals, other_app, "approve", thread_ts=ts)
    slack.post_as_user(ws.approvals, ws.mallory, fake)

    payload = await first_event(trigger(slack, ts, policy=only(ws.alice), deadline=soon()))

    assert payload["status"] == "timed_out"
    assert payload["decision"]["votes"] == []


async def test_votes_in_another_thread_or_channel_do_not_count(slack: SlackEmulator) -> None:
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    ts, other = ask(slack, "Deploy?"), ask(slack, "Another question")
    elsewhere = slack.create_channel("elsewhere", members=[ws.bot_user_id, ws.alice])
    slack.reply(ws.approvals, other, ws.alice, "approve")  # the other gate's thread
    slack.add_reaction(ws.approvals, other, ws.alice, "white_check_mark")
    slack.post_as_user(ws.approvals, ws.alice, "approve")  # the channel, not the thread
    elsewhere_ask = ask(slack, "Deploy?", channel=elsewhere)  # same text, other channel
    slack.reply(elsewhere, elsewhere_ask, ws.alice, "approve")
    first_reply = slack.reply(ws.approvals, ts, ws.bob, "looks fine to me")  # a reply, no vote
    slack.add_reaction(ws.approvals, first_reply, ws.alice, "white_check_mark")  # on a reply, not the ask

    payload = await first_event(trigger(slack, ts, deadline=soon()))

    assert (payload["status"], payload["decision"]["votes"]) == ("timed_out", [])


@pytest.mark.parametrize(
    "text",
    [
        "\u0430pprove",
        "app\u200brove",
        "\uff41\uff50\uff50\uff52\uff4f\uff56\uff45",
        "\uff2c\uff27\uff34\uff2d",
    ],
    ids=["cyrillic-a", "zero-width-space", "fullwidth-approve", "fullwidth-LGTM"],
)
async def test_unicode_look_alike_words_are_not_votes(slack: SlackEmulator, text: str) -> None:
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    ts = ask(slack)
    slack.reply(ws.approvals, ts, ws.alice, text)

    payload = await first_event(trigger(slack, ts, deadline=soon()))

    assert (payload["status"], payload["decision"]["votes"]) == ("timed_out", [])


async def test_an_edited_reply_counts_as_it_reads_now_and_a_deleted_one_not_at_all(
    slack: SlackEmulator,
) -> None:
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    ts = ask(slack)
    running = asyncio.ensure_future(
        first_event(trigger(slack, ts, policy=only(ws.alice, ws.bob, required=2)))
    )
    alice = slack.reply(ws.approvals, ts, ws.alice, "approve")
    bob = slack.reply(ws.approvals, ts, ws.bob, "reject: too early")
    slack.delete_message(ws.approvals, bob)  # bob takes his reject back
    slack.edit_message(ws.approvals, alice, "reject: wrong model")  # alice changes her mind in place

    payload = await running

    decision = payload["decision"]
    assert (decision["outcome"], decision["decided_by"], decision["reason"]) == (
        "rejected",
        [ws.alice],
        "wrong model",
    )


@pytest.mark.usefixtures("airflow_db")
def test_editing_or_deleting_the_vote_after_the_decision_changes_nothing(slack: SlackEmulator) -> None:
    """The decision is made once: the run's XCom, the question's outcome and the one outcome reply stay
    as they were when the vote decided, whatever happens to the vote afterwards."""
    ws = slack.workspace

    def approve(question: dict[str, Any]) -> None:
        slack.reply("approvals", question["ts"], ws.alice, "approve")

    with people(approve, slack):
        run = load_dag("reliability_gate").test()
    decision = xcom(run, "ask", "slack_decision")
    [vote] = slack.replies("approvals", decision["ts"])[1:2]
    posted = len(posts(slack))

    slack.edit_message("approvals", vote["ts"], "reject: changed my mind")
    slack.delete_message("approvals", vote["ts"])

    assert xcom(run, "ask") is True
    assert xcom(run, "ask", "slack_decision") == decision
    assert "Approved" in slack.get_message("approvals", decision["ts"])["text"]
    assert len(posts(slack)) == posted == 2  # the question and the one outcome reply
    replies = slack.replies("approvals", decision["ts"])[1:]
    assert [m.get("bot_id") for m in replies] == [ws.bot_id]


async def test_a_huge_thread_and_many_reactions_are_read_in_full(
    slack: SlackEmulator, gate_logs: Logs
) -> None:
    """5,000 chatty replies before the deciding one, and 300 people reacting with other emoji: the
    vote at the end is found, reading the thread takes pages of Slack's size, it stays fast, and
    users.info is asked only about the two voters."""
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    ts = ask(slack)
    for i in range(5_000):
        slack.reply(ws.approvals, ts, ws.mallory if i % 2 else ws.dave, f"what about case {i}?")
    for i in range(300):
        slack.add_reaction(ws.approvals, ts, slack.create_user(f"watcher{i}"), "eyes")
    slack.add_reaction(ws.approvals, ts, ws.bob, "white_check_mark")
    slack.reply(ws.approvals, ts, ws.alice, "approve")
    policy = only(ws.alice, ws.bob, required=2)
    started = time.monotonic()

    payload = await first_event(trigger(slack, ts, policy=policy), timeout=60)

    took = time.monotonic() - started
    decision = payload["decision"]
    assert decision["outcome"] == "approved"
    assert sorted(decision["decided_by"]) == sorted([ws.alice, ws.bob])
    pages = len(calls_of(slack, "conversations.replies"))
    assert 26 <= pages <= 2 * 26, f"{pages} pages for 5,002 messages at 200 a page"
    assert took < 30, f"deciding took {took:.1f}s"
    # only the two whose votes could count are looked up, not the 300 watchers or the 5,000 chatters
    assert sorted(call.params.get("user") for call in calls_of(slack, "users.info")) == sorted(
        [ws.alice, ws.bob]
    )
