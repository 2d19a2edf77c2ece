"""Whole gates (dag.test(): a real Airflow task, deferral and trigger) while Slack misbehaves on writes:
the question and the outcome are posted once, even when Slack answers too slowly or not at all, and a
decision stands even when Slack cannot show it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.reliability.conftest import CLIENT_TIMEOUT, Logs, connection_json
from tests.support import SUCCESS, calls_of, load_dag, people, task_states, xcom

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


def _between(slack: SlackEmulator, method: str, first: Any, last: Any) -> list[Any]:
    """Calls of ``method`` recorded after the call record ``first`` and before ``last``."""
    calls = slack.calls
    start, end = calls.index(first), calls.index(last)
    return [call for call in calls[start + 1 : end] if call.method == method]


def test_looking_for_a_lost_question_reads_slack_a_few_paced_times(
    slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post that failed is looked for over the client's whole timeout before it is posted again; the
    look reads the channel a handful of times spaced by conversations.history's Tier 3 share (~1.2 s),
    not every quarter second (64 reads in 15 s drew a 429 and delayed the question by a minute)."""
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack, timeout=3))
    slack.inject_fault("chat.postMessage", status=503)
    with people(approve(slack), slack):
        run = load_dag("reliability_gate").test()

    assert xcom(run, "ask") is True
    failed, posted = calls_of(slack, "chat.postMessage")[:2]
    looks = _between(slack, "conversations.history", failed, posted)
    assert 2 <= len(looks) <= 3, f"{len(looks)} reads of the channel in one 3 s look-up"
    assert len(bot_messages(slack)) == 1


def _questions(slack: SlackEmulator) -> list[dict[str, Any]]:
    return [m for m in bot_messages(slack) if (m.get("metadata") or {}).get("event_payload")]


def _state(message: dict[str, Any]) -> str:
    return str(message["metadata"]["event_payload"]["state"])


def _has_buttons(message: dict[str, Any]) -> bool:
    return any(block.get("type") == "actions" for block in message.get("blocks") or [])


def _metadata_sent(call: Any) -> dict[str, Any]:
    metadata = call.params.get("metadata") or {"event_payload": {}}  # the outcome reply has none
    return metadata if isinstance(metadata, dict) else json.loads(metadata)


def test_a_question_slack_posts_later_than_twice_the_client_timeout_is_closed_as_a_duplicate(
    slack: SlackEmulator,
) -> None:
    """The first post times out, the look-up finds nothing, the question is posted again, and only then
    does Slack carry out the first post: two open questions of one try. The trigger's watcher closes
    the late copy (no buttons, state superseded); a vote on it does not count, the gate decides on the
    question it waits on."""
    slack.delay_calls("chat.postMessage", 3 * CLIENT_TIMEOUT + 1)

    def vote_on_both(_first: dict[str, Any]) -> None:
        both = slack.wait_for(lambda: len(_questions(slack)) == 2 and _questions(slack), timeout=30)
        kept, late = both  # the repost landed first, the slow first post after it
        slack.reply("approvals", late["ts"], slack.workspace.alice, "approve")
        slack.wait_for(lambda: _state(_questions(slack)[1]) == "superseded", timeout=30)
        slack.reply("approvals", kept["ts"], slack.workspace.bob, "reject: not now")

    with people(vote_on_both, slack):
        run = load_dag("reliability_gate").test()

    assert xcom(run, "ask") is False
    decision = xcom(run, "ask", "slack_decision")
    assert (decision["outcome"], decision["decided_by"]) == ("rejected", [slack.workspace.bob])
    kept, late = _questions(slack)
    assert decision["ts"] == kept["ts"]
    assert (_state(kept), _state(late)) == ("rejected", "superseded")
    assert not _has_buttons(late)
    assert not _has_buttons(kept)
    sent = [_metadata_sent(call)["event_payload"] for call in calls_of(slack, "chat.postMessage")]
    reposts = [payload["replaces"] for payload in sent if "replaces" in payload]
    assert reposts == [late["metadata"]["event_payload"]["ask_id"]], "the repost names what it replaces"


def test_in_poke_mode_the_sensor_closes_the_late_copy_before_it_shows_the_outcome(
    slack: SlackEmulator,
) -> None:
    """No trigger watches a poke-mode gate: the sensor, which posted the question twice, closes the late
    copy itself when the gate ends. A vote on the copy does not count."""
    slack.delay_calls("chat.postMessage", 3 * CLIENT_TIMEOUT + 1)

    def vote_on_both(_first: dict[str, Any]) -> None:
        kept, late = slack.wait_for(lambda: len(_questions(slack)) == 2 and _questions(slack), timeout=30)
        slack.reply("approvals", late["ts"], slack.workspace.alice, "approve")
        slack.reply("approvals", kept["ts"], slack.workspace.bob, "reject: not now")

    with people(vote_on_both, slack):
        run = load_dag("reliability_gate_poke").test()

    assert xcom(run, "ask") is False
    kept, late = _questions(slack)
    assert xcom(run, "ask", "slack_decision")["ts"] == kept["ts"]
    assert (_state(kept), _state(late)) == ("rejected", "superseded")
    assert not _has_buttons(late)


@pytest.mark.parametrize(
    "burst",
    [
        lambda slack: slack.inject_fault("conversations.history", status=503, count=4),
        lambda slack: slack.drop_connections("conversations.history", count=4),
        lambda slack: slack.inject_fault("conversations.list", status=500, count=4),
        lambda slack: slack.inject_fault("chat.postMessage", status=503, count=4),
    ],
    ids=["503-on-the-look-up", "dropped-look-ups", "500-on-the-channel-name", "503-on-the-post"],
)
def test_a_short_outage_before_the_question_is_asked_is_waited_out(
    slack: SlackEmulator, gate_logs: Logs, burst: Any
) -> None:
    """More 5xx or dropped connections than one call's retries absorb, before the question exists:
    the gate retries with backoff (for up to a minute), asks once, and decides."""
    burst(slack)
    with people(approve(slack), slack):
        run = load_dag("reliability_gate").test()

    assert xcom(run, "ask") is True
    assert xcom(run, "ask", "slack_decision")["outcome"] == "approved"
    assert len(_questions(slack)) == 1
    assert "asking again in" in gate_logs.text


def test_post_operator_posts_once_when_slack_posts_the_message_but_answers_5xx(
    slack: SlackEmulator, airflow_db: Any, gate_logs: Logs
) -> None:
    """Slack carries the post out but answers 503, so the answer is lost although the message landed.
    A blind retry posted it twice; the operator finds its message by the post id in its metadata and
    does not post again: one message, one chat.postMessage, and the task says it posted."""
    slack.inject_fault("chat.postMessage", status=503, carried_out=True)
    run = load_dag("post_message").test()

    assert xcom(run, "post") is True
    [message] = slack.messages("approvals")
    assert xcom(run, "post", "slack_message")["ts"] == message["ts"]
    assert len(calls_of(slack, "chat.postMessage")) == 1
    assert gate_logs.count("did arrive in Slack") == 1


def test_post_operator_posts_once_when_slack_is_slower_than_the_client_timeout_then_fails(
    slack: SlackEmulator, airflow_db: Any
) -> None:
    """The first post times out on the client's side but Slack carries it out late; the next post meets
    a 503. A blind retry posted the message twice; the operator looks for its message (by the post id
    in its metadata) before each new post: one message, and the task says it posted."""
    slack.delay_calls("chat.postMessage", 2.5 * CLIENT_TIMEOUT)
    slack.inject_fault("chat.postMessage", status=503)
    run = load_dag("post_message").test()

    assert xcom(run, "post") is True
    [message] = slack.messages("approvals")
    assert xcom(run, "post", "slack_message")["ts"] == message["ts"]
    payload = message["metadata"]["event_payload"]
    assert (payload["dag_id"], payload["task_id"], payload["try_number"]) == ("post_message", "post", 1)
