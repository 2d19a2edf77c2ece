"""When nobody decides in time, on_timeout says what the task does, and Slack says the gate expired."""

from __future__ import annotations

import threading

import pytest

from tests.support import load_dag, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")


def expire(dag_id):
    return load_dag(dag_id).test()


def assert_expired_in_slack(slack, run):
    ts = xcom(run, "ask", "slack_message")["ts"]
    question = slack.get_message("approvals", ts)
    assert question["metadata"]["event_payload"]["state"] == "timed_out"
    assert "Reply approve or reject" not in question["text"]
    assert "no decision" in question["text"].lower() or "expired" in question["text"].lower()


def test_on_timeout_reject_returns_false(slack_emulator):
    run = expire("gate_timeout_reject")
    assert xcom(run, "ask") is False
    decision = xcom(run, "ask", "slack_decision")
    assert (decision["outcome"], decision["approved"]) == ("timed_out", False)
    assert task_states(run)["skip_deploy"] == "success"
    assert_expired_in_slack(slack_emulator, run)


def test_on_timeout_approve_returns_true(slack_emulator):
    run = expire("gate_timeout_approve")
    assert xcom(run, "ask") is True
    decision = xcom(run, "ask", "slack_decision")
    assert (decision["outcome"], decision["approved"]) == ("timed_out", True)
    assert task_states(run)["deploy"] == "success"
    assert_expired_in_slack(slack_emulator, run)


def test_on_timeout_skip_skips_the_task(slack_emulator):
    run = expire("gate_timeout_skip")
    states = task_states(run)
    assert states["ask"] == "skipped"
    assert states["deploy"] == states["skip_deploy"] == "skipped"
    assert xcom(run, "ask", "slack_decision")["outcome"] == "timed_out"
    assert_expired_in_slack(slack_emulator, run)


def test_on_timeout_fail_fails_the_task(slack_emulator):
    run = expire("gate_timeout_fail")
    assert task_states(run)["ask"] == "failed"
    assert run.state == "failed"
    assert_expired_in_slack(slack_emulator, run)


def test_a_vote_found_at_the_deadline_is_honoured_not_reported_as_timeout(slack_emulator):
    """The last read at the deadline decides: a vote already in Slack wins over the timeout."""
    ws = slack_emulator.workspace
    # The first read of the thread only answers after the 1 s deadline; the vote is there by then.
    slack_emulator.set_latency("conversations.replies", 1.5)

    def vote_when_asked():
        ask = slack_emulator.wait_for_message("approvals", user=ws.bot_user_id, timeout=30)
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")

    voter = threading.Thread(target=vote_when_asked, daemon=True)
    voter.start()
    run = expire("gate_timeout_reject")
    voter.join(timeout=30)
    decision = xcom(run, "ask", "slack_decision")
    assert decision["outcome"] == "approved"
    assert xcom(run, "ask") is True
