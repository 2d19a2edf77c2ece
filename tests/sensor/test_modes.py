"""Poke and reschedule modes, a new try superseding the old question, and failing to ask."""

from __future__ import annotations

import pytest

from tests.support import load_dag, people, task_states, wait_until, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")


@pytest.mark.parametrize("dag_id", ["gate_poke_mode", "gate_reschedule_mode"])
def test_waiting_in_the_worker_decides_by_the_same_rules(slack_emulator, dag_id):
    ws = slack_emulator.workspace

    def vote(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.mallory, "approve")
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "reject: not on a Friday")

    with people(vote, slack_emulator):
        run = load_dag(dag_id).test()
    assert xcom(run, "ask") is False
    decision = xcom(run, "ask", "slack_decision")
    assert (decision["outcome"], decision["reason"]) == ("rejected", "not on a Friday")
    assert task_states(run)["skip_deploy"] == "success"
    asks = [m for m in slack_emulator.messages("approvals") if m.get("bot_id") == ws.bot_id]
    assert len(asks) == 1, "the gate must ask once, however many times it pokes or is rescheduled"


def test_poke_mode_expands_an_approver_group_once_per_cache_window_not_per_read(slack_emulator, monkeypatch):
    """usergroups.users.list is Tier 2 (about 20 calls a minute): a gate poking every 0.2 s reads its
    group's members once per GROUP_TTL (5 minutes), as the triggerer does, not on every poke."""
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_QUORUM_APPROVERS", ws.deployers)

    def reads() -> int:
        return slack_emulator.call_count("conversations.replies") + slack_emulator.call_count(
            "conversations.history"
        )

    def approve_after_some_pokes(ask):
        read_before = reads()
        wait_until(lambda: reads() >= read_before + 5, what="five more reads of the thread")
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        slack_emulator.add_reaction("approvals", ask["ts"], ws.carol, "+1")

    with people(approve_after_some_pokes, slack_emulator):
        run = load_dag("gate_quorum_poke_mode").test()
    decision = xcom(run, "ask", "slack_decision")
    assert sorted(decision["decided_by"]) == sorted([ws.alice, ws.carol])
    assert slack_emulator.call_count("usergroups.users.list") == 1


def test_a_new_try_asks_again_and_marks_the_old_question_superseded(slack_emulator):
    ws = slack_emulator.workspace

    def questions():
        return [m for m in slack_emulator.messages("approvals") if m.get("bot_id") == ws.bot_id]

    def approve_the_second_question(_first_ask):
        # try 1's next read of Slack fails for good, so the task fails and Airflow retries it
        slack_emulator.inject_fault("conversations.history", error="missing_scope", count=1)
        second = slack_emulator.wait_for(lambda: len(questions()) == 2 and questions()[-1], timeout=30)
        slack_emulator.reply("approvals", second["ts"], ws.alice, "approve")

    with people(approve_the_second_question, slack_emulator):
        run = load_dag("gate_retry").test()

    assert xcom(run, "ask") is True
    oldest, newest = questions()
    assert oldest["metadata"]["event_payload"]["state"] == "superseded"
    assert "Superseded by try 2" in oldest["text"]
    assert newest["metadata"]["event_payload"]["try_number"] == 2
    assert newest["metadata"]["event_payload"]["state"] == "approved"


def test_a_cleared_run_closes_the_question_of_its_earlier_try(slack_emulator):
    """A run cleared an hour after its gate asked (see tests/dags ClearedAnHourLater): the new try finds
    the earlier try's question by its metadata, not from the run's reset start date, and closes it,
    buttons removed, so nobody can click an old question while the new one waits."""
    ws = slack_emulator.workspace

    def questions():
        return [m for m in slack_emulator.messages("approvals") if m.get("bot_id") == ws.bot_id]

    def clear_then_approve_the_new_question(first_ask):
        slack_emulator.inject_fault("conversations.history", error="missing_scope", count=1)  # try 1 ends
        second = slack_emulator.wait_for(lambda: len(questions()) == 2 and questions()[-1], timeout=30)
        slack_emulator.reply("approvals", second["ts"], ws.alice, "approve")

    with people(clear_then_approve_the_new_question, slack_emulator):
        run = load_dag("gate_cleared").test()

    assert xcom(run, "ask") is True
    oldest, newest = questions()
    assert oldest["metadata"]["event_payload"]["state"] == "superseded"
    assert not [block for block in oldest["blocks"] if block["type"] == "actions"], "no buttons left"
    assert newest["metadata"]["event_payload"]["state"] == "approved"


def test_a_question_that_cannot_be_posted_returns_false(slack_emulator):
    run = load_dag("gate_bad_channel").test()
    assert task_states(run)["ask"] == "success"
    assert xcom(run, "ask") is False
    assert task_states(run)["skip_deploy"] == "success"
    assert slack_emulator.call_count("chat.postMessage") == 0


def test_a_question_that_cannot_be_posted_fails_the_task_with_fail_on_error(slack_emulator, capsys):
    run = load_dag("gate_bad_channel_strict").test()
    assert task_states(run)["ask"] == "failed"
    task_log = capsys.readouterr().out
    assert "SlackGateError" in task_log
    assert "channel_not_found" in task_log
    assert "/invite" in task_log
