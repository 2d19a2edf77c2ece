"""Only people vote, and only with a clear reply: each test runs a real trigger against the emulator.

Reactions carry no ``bot_id``, so with ``approvers=None`` (the default) another app's bot user could
decide a gate with a reaction; users.info says who is a person. Replies that look like votes but are
not counted (``ok?``, ``~approve~``...) get an ephemeral note in the gate's thread.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks.ratelimit import loop_rate_limiter, token_key
from airflow_slack_gate.testing.emulator import DEFAULT_BOT_SCOPES, SlackEmulator
from tests.reliability.conftest import Logs, connection_json
from tests.support import ask, calls_of, fast_budgets, first_event, trigger, until

pytestmark = pytest.mark.usefixtures("clean_loop")

HEDGES = ["ok?", "Approve?", "~approve~", "ok, but the AUC looks wrong - hold on"]


def soon(seconds: float = 1.5) -> float:
    return time.time() + seconds


def budgets(slack: SlackEmulator) -> None:
    fast_budgets(slack.workspace.bot_token)
    limiter = loop_rate_limiter()
    for method in ("users.info", "chat.postEphemeral"):
        limiter.set_budget(token_key(slack.workspace.bot_token), method, 60_000)


def reacting_bot(slack: SlackEmulator, name: str = "other-app") -> str:
    """Another app installed in the workspace, in #approvals: its bot user's id."""
    bot = slack.create_bot(name)
    slack.add_member(slack.workspace.approvals, bot.user_id)
    return bot.user_id


async def test_another_apps_bot_reaction_does_not_decide_a_gate(slack: SlackEmulator) -> None:
    budgets(slack)
    ts = ask(slack)
    slack.add_reaction(slack.workspace.approvals, ts, reacting_bot(slack), "white_check_mark")

    payload = await first_event(trigger(slack, ts, deadline=soon()))

    assert (payload["status"], payload["decision"]["votes"]) == ("timed_out", [])


async def test_another_apps_bot_reject_reaction_does_not_reject_but_a_persons_approval_counts(
    slack: SlackEmulator,
) -> None:
    ws = slack.workspace
    budgets(slack)
    ts = ask(slack)
    slack.add_reaction(ws.approvals, ts, reacting_bot(slack), "x")
    slack.add_reaction(ws.approvals, ts, ws.carol, "+1")

    payload = await first_event(trigger(slack, ts))

    decision = payload["decision"]
    assert (decision["outcome"], decision["decided_by"]) == ("approved", [ws.carol])


async def test_a_deactivated_users_reaction_does_not_count(slack: SlackEmulator) -> None:
    ws = slack.workspace
    budgets(slack)
    ts = ask(slack)
    leaver = slack.create_user("leaver")
    slack.add_member(ws.approvals, leaver)
    slack.add_reaction(ws.approvals, ts, leaver, "white_check_mark")
    slack.deactivate_user(leaver)

    payload = await first_event(trigger(slack, ts, deadline=soon()))

    assert (payload["status"], payload["decision"]["votes"]) == ("timed_out", [])


async def test_a_listed_approver_is_checked_too(slack: SlackEmulator) -> None:
    """approvers names the people; a deactivated one among them still does not vote."""
    ws = slack.workspace
    budgets(slack)
    ts = ask(slack)
    slack.add_reaction(ws.approvals, ts, ws.alice, "white_check_mark")
    slack.deactivate_user(ws.alice)
    policy = ApprovalPolicy(approvers=frozenset({ws.alice, ws.bob})).to_dict()

    payload = await first_event(trigger(slack, ts, policy=policy, deadline=soon()))

    assert payload["status"] == "timed_out"


async def test_a_vote_waits_while_slack_cannot_say_who_cast_it(slack: SlackEmulator, gate_logs: Logs) -> None:
    """users.info failing (503 after the client's retries) never counts the vote: the gate keeps
    waiting, says so in its log, and decides once Slack answers again."""
    ws = slack.workspace
    budgets(slack)
    ts = ask(slack)
    slack.inject_fault("users.info", status=503, count=6)  # two rounds of the client's 1 + 2 attempts
    slack.add_reaction(ws.approvals, ts, ws.carol, "white_check_mark")

    payload = await first_event(trigger(slack, ts))

    assert (payload["decision"]["outcome"], payload["decision"]["decided_by"]) == ("approved", [ws.carol])
    assert len(calls_of(slack, "users.info")) == 7
    assert "http_503" in gate_logs.text


async def test_at_the_deadline_a_vote_nobody_could_check_does_not_count(slack: SlackEmulator) -> None:
    ws = slack.workspace
    budgets(slack)
    ts = ask(slack)
    slack.inject_fault("users.info", status=503, count=1000)
    slack.add_reaction(ws.approvals, ts, ws.carol, "white_check_mark")

    payload = await first_event(trigger(slack, ts, deadline=soon()))

    assert (payload["status"], payload["decision"]["votes"]) == ("timed_out", [])
    slack.clear_faults()


async def test_a_token_without_users_read_ends_the_gate_naming_the_scope(
    slack: SlackEmulator, monkeypatch
) -> None:
    ws = slack.workspace
    bot = slack.create_bot("no-users-read", scopes=[s for s in DEFAULT_BOT_SCOPES if s != "users:read"])
    slack.add_member(ws.approvals, bot.user_id)
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack, bot.token))
    ts = slack.post_as_bot(ws.approvals, bot, "Deploy?")
    slack.add_reaction(ws.approvals, ts, ws.carol, "white_check_mark")

    payload = await first_event(trigger(slack, ts))

    assert (payload["status"], payload["error_code"]) == ("error", "missing_scope")
    assert "add the OAuth scope users:read" in payload["error"]


async def test_gates_of_one_loop_ask_slack_once_about_a_person(slack: SlackEmulator) -> None:
    ws = slack.workspace
    budgets(slack)
    first, second = ask(slack, "Deploy eu?"), ask(slack, "Deploy us?")
    for ts in (first, second):
        slack.add_reaction(ws.approvals, ts, ws.carol, "white_check_mark")

    payloads = await asyncio.gather(first_event(trigger(slack, first)), first_event(trigger(slack, second)))
    again = ask(slack, "Deploy ap?")
    slack.reply(ws.approvals, again, ws.carol, "approve")
    payloads.append(await first_event(trigger(slack, again)))

    assert [p["decision"]["decided_by"] for p in payloads] == [[ws.carol]] * 3
    assert [call.params.get("user") for call in calls_of(slack, "users.info")] == [ws.carol]


# -- hedges and questions -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", HEDGES)
async def test_hedges_and_questions_do_not_approve_and_the_person_is_told_why(
    slack: SlackEmulator, text: str
) -> None:
    ws = slack.workspace
    budgets(slack)
    ts = ask(slack)
    slack.reply(ws.approvals, ts, ws.alice, text)

    payload = await first_event(trigger(slack, ts, deadline=soon()))

    assert (payload["status"], payload["decision"]["votes"]) == ("timed_out", [])
    [note] = slack.ephemerals(ws.alice)
    assert (note.channel, note.thread_ts) == (ws.approvals, ts)
    assert "not counted as a vote" in note.text
    assert "`approve`" in note.text


async def test_a_reply_is_noted_once_and_only_to_people_who_may_vote(slack: SlackEmulator) -> None:
    ws = slack.workspace
    budgets(slack)
    ts = ask(slack)
    slack.reply(ws.approvals, ts, ws.alice, "ok?")
    slack.reply(ws.approvals, ts, ws.mallory, "ok?")  # not an approver: not told how to vote
    slack.reply(ws.approvals, ts, ws.bob, "what about case 12?")  # not vote-like
    running = asyncio.ensure_future(
        first_event(
            trigger(slack, ts, policy=ApprovalPolicy(approvers=frozenset({ws.alice, ws.bob})).to_dict())
        )
    )
    await until(lambda: slack.ephemerals(ws.alice), what="alice's note")
    reads = len(calls_of(slack, "conversations.history"))
    await until(lambda: len(calls_of(slack, "conversations.history")) >= reads + 3, what="more reads")
    slack.reply(ws.approvals, ts, ws.alice, "approve")

    payload = await running

    assert payload["decision"]["decided_by"] == [ws.alice]
    assert len(slack.ephemerals(ws.alice)) == 1
    assert slack.ephemerals(ws.mallory) == slack.ephemerals(ws.bob) == []


async def test_a_note_that_cannot_be_sent_changes_nothing(slack: SlackEmulator, gate_logs: Logs) -> None:
    ws = slack.workspace
    budgets(slack)
    ts = ask(slack)
    slack.inject_fault("chat.postEphemeral", error="user_not_in_channel", count=10)
    slack.reply(ws.approvals, ts, ws.alice, "ok?")
    running = asyncio.ensure_future(first_event(trigger(slack, ts)))
    await until(lambda: calls_of(slack, "chat.postEphemeral"), what="a try to note")
    slack.reply(ws.approvals, ts, ws.alice, "approve")

    payload: dict[str, Any] = await running

    assert payload["decision"]["decided_by"] == [ws.alice]
    assert "user_not_in_channel" in gate_logs.text
