"""Whole gates (dag.test(): a real Airflow task, deferral and trigger) while Slack misbehaves on writes:
the question and the outcome are posted once, even when Slack answers too slowly or not at all, and a
decision stands even when Slack cannot show it."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_slack_gate.emulator import SlackEmulator
from tests.gate_helpers import SUCCESS, load_dag, people, task_states, xcom
from tests.reliability.conftest import CLIENT_TIMEOUT, Logs
from tests.reliability.support import calls_of

pytestmark = pytest.mark.usefixtures("airflow_db")


def bot_messages(slack: SlackEmulator) -> list[dict[str, Any]]:
    """The gate bot's top-level messages in #approvals (its questions)."""
    return [m for m in slack.messages("approvals") if m.get("bot_id") == slack.workspace.bot_id]


def bot_replies(slack: SlackEmulator, ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.replies("approvals", ts)[1:] if m.get("bot_id") == slack.workspace.bot_id]


def approve(slack: SlackEmulator) -> Any:
    return lambda ask: slack.reply("approvals", ask["ts"], slack.workspace.alice, "approve")


def test_slack_slower_than_the_client_timeout_gets_the_question_and_the_outcome_once(
    slack: SlackEmulator, gate_logs: Logs
) -> None:
    """Every post times out on the client's side but is processed by Slack: the sensor finds each one
    in Slack instead of posting it again."""
    slack.set_latency("chat.postMessage", CLIENT_TIMEOUT + 0.5)
    with people(approve(slack), slack):
        run = load_dag("reliability_gate").test()

    assert run.state == SUCCESS
    assert xcom(run, "ask") is True
    assert task_states(run)["deploy"] == "success"
    [question] = bot_messages(slack)
    assert "Approved" in question["text"]
    assert len(bot_replies(slack, question["ts"])) == 1
    assert len(calls_of(slack, "chat.postMessage")) == 2  # each post was sent once, none repeated
    assert gate_logs.count("did arrive in Slack") == 2


@pytest.mark.parametrize(
    "fail_once",
    [
        lambda slack: slack.inject_fault("chat.postMessage", status=503),
        lambda slack: slack.inject_fault("chat.postMessage", status=500),
        lambda slack: slack.drop_connections("chat.postMessage"),
    ],
    ids=["503", "500", "dropped-connection"],
)
def test_a_post_that_failed_without_arriving_is_posted_again_once(
    slack: SlackEmulator, gate_logs: Logs, fail_once: Any
) -> None:
    fail_once(slack)
    with people(approve(slack), slack):
        run = load_dag("reliability_gate").test()

    assert xcom(run, "ask") is True
    assert len(bot_messages(slack)) == 1
    assert "is not in Slack: posting it again" in gate_logs.text


def test_a_429_on_the_post_is_retried_after_retry_after_and_posts_once(slack: SlackEmulator) -> None:
    slack.inject_fault("chat.postMessage", status=429, retry_after=1, count=2)
    with people(approve(slack), slack):
        run = load_dag("reliability_gate").test()
    assert xcom(run, "ask") is True
    [question] = bot_messages(slack)
    assert len(bot_replies(slack, question["ts"])) == 1


def test_the_decision_stands_when_slack_cannot_show_it(slack: SlackEmulator, gate_logs: Logs) -> None:
    def approve_then_break_writes(ask: dict[str, Any]) -> None:
        slack.inject_fault("chat.update", status=500, count=10)
        slack.inject_fault("chat.postMessage", status=503, count=10)
        slack.reply("approvals", ask["ts"], slack.workspace.bob, "approve: ship it")

    with people(approve_then_break_writes, slack):
        run = load_dag("reliability_gate").test()

    assert run.state == SUCCESS
    assert xcom(run, "ask") is True
    decision = xcom(run, "ask", "slack_decision")
    assert (decision["outcome"], decision["decided_by"], decision["reason"]) == (
        "approved",
        [slack.workspace.bob],
        "ship it",
    )
    assert task_states(run)["deploy"] == "success"
    assert "The decision stands, but Slack could not show it" in gate_logs.text
