"""What makes a click count: the gate's own rules, read from the ask's metadata (which only the gate's bot
can write), never from what the button carries; a click that is not a vote is answered privately and
never shown in the thread; a question that is not open takes no clicks; and a click is recorded at most
once, however many API servers Slack's request reaches."""

from __future__ import annotations

import httpx
import pytest

from airflow_slack_gate.core.messages import ANSWER_BLOCK, ask_message
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import ask_metadata
from tests.interactive.conftest import click, post_ask, records

MANY = frozenset(f"U{number:010d}" for number in range(150))  # more than fit in a button value


def approvers_and(*users: str) -> ApprovalPolicy:
    return ApprovalPolicy(approvers=MANY | set(users))


@pytest.mark.parametrize("approvers", [3, 150])
def test_the_button_value_never_carries_the_approvers(approvers):
    ask = ask_message(
        text="Deploy?",
        blocks=None,
        policy=ApprovalPolicy(approvers=frozenset(sorted(MANY)[:approvers])),
        approver_groups=("S0123ABCD",),
        deadline=None,
        requested_by=None,
        context_line=None,
    )
    (buttons,) = [block for block in ask["blocks"] if block.get("block_id") == ANSWER_BLOCK]
    values = {button["value"] for button in buttons["elements"]}
    assert len(values) == 1
    (value,) = values
    assert len(value) < 64
    assert not any(user in value for user in MANY)
    assert "S0123ABCD" not in value


def test_a_non_approver_click_on_a_gate_with_150_approvers_is_never_shown_as_a_vote(slack, request_url):
    ws = slack.workspace
    ts = post_ask(slack, approvers_and(ws.alice))
    click(slack, ts, ws.mallory)
    told = slack.wait_for_ephemeral(ws.mallory, timeout=15)
    assert told.text.startswith("You are not an approver of this gate")
    assert records(slack, ts) == []
    assert not any("approved with the button" in m.get("text", "") for m in slack.replies("approvals", ts))


def test_an_approver_among_150_is_recorded(slack, request_url):
    ws = slack.workspace
    ts = post_ask(slack, approvers_and(ws.alice))
    click(slack, ts, ws.alice)
    (record,) = slack.wait_for(lambda: records(slack, ts), 15)
    assert record["metadata"]["event_payload"]["voter"] == ws.alice


@pytest.mark.parametrize("state", ["superseded", "approved", "rejected", "timed_out", None])
def test_a_click_on_a_question_that_is_not_open_is_answered_privately(slack, request_url, state):
    ws = slack.workspace
    identity = {"dag_id": "deploy", "run_id": "r1", "task_id": "gate", "map_index": -1, "try_number": 1}
    metadata = ask_metadata(identity, state or "open")
    if state is None:
        del metadata["event_payload"]["state"]
    ts = post_ask(slack, metadata=metadata)  # the buttons are still live
    click(slack, ts, ws.alice)
    told = slack.wait_for_ephemeral(ws.alice, timeout=15)
    assert "changed nothing" in told.text or "Nothing changed" in told.text
    assert records(slack, ts) == []


def test_a_click_on_a_bot_message_that_is_no_ask_is_refused(slack, request_url):
    ws = slack.workspace
    ts = post_ask(slack, metadata={})  # the bot's message with the gate's buttons, but no ask metadata
    click(slack, ts, ws.alice)
    told = slack.wait_for_ephemeral(ws.alice, timeout=15)
    assert "changed nothing" in told.text
    assert records(slack, ts) == []


def test_a_click_delivered_to_two_api_servers_is_recorded_once(slack, api_servers):
    """A captured request replayed to another API server process (which never saw it) within the five
    minutes its signature is fresh: both handle it, one record."""
    first, second = api_servers(), api_servers()
    slack.configure_app(socket_mode=False, request_url=first.url)
    ws = slack.workspace
    ts = post_ask(slack, ApprovalPolicy(required_approvals=2))
    delivery = click(slack, ts, ws.alice)
    slack.wait_for(lambda: records(slack, ts), 15)
    again = httpx.post(
        second.url, content=delivery.request_body, headers=delivery.request_headers, timeout=10
    )
    assert again.status_code == 200
    handler = second.receiver.connection_handler("slack_gate_default")
    (click_id,) = [r["metadata"]["event_payload"]["click_id"] for r in records(slack, ts)]
    slack.wait_for(lambda: handler.verdict_of(click_id), 15)
    assert handler.verdict_of(click_id).why == "duplicate"
    assert len(records(slack, ts)) == 1


def test_a_click_on_a_question_asked_by_the_previous_version_is_refused_privately(slack, request_url):
    """Its metadata has no rules (they were in the buttons' value, which is never trusted now)."""
    ws = slack.workspace
    identity = {"dag_id": "deploy", "run_id": "r1", "task_id": "gate", "map_index": -1, "try_number": 1}
    ts = post_ask(slack, metadata=ask_metadata(identity, "open"))
    click(slack, ts, ws.alice)
    told = slack.wait_for_ephemeral(ws.alice, timeout=15)
    assert "older version" in told.text
    assert "answer it in its thread instead" in told.text
    assert records(slack, ts) == []
