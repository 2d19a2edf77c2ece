"""The approval gate in a real Airflow run (dag.test()): people answer in the emulator, DAGs branch."""

from __future__ import annotations

import pytest

from tests.support import SUCCESS, load_dag, people, task_states, wait_for_reads, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")


def run_gate(slack, dag_id, action, **run_conf):
    with people(action, slack):
        return load_dag(dag_id).test(run_conf=run_conf or None)


def test_approve_reply_runs_the_deploy_branch(slack_emulator):
    alice = slack_emulator.workspace.alice
    run = run_gate(
        slack_emulator,
        "gate_anyone",
        lambda ask: slack_emulator.reply("approvals", ask["ts"], alice, "approve"),
    )

    assert run.state == SUCCESS
    assert task_states(run) == {
        "ask": "success",
        "choose": "success",
        "deploy": "success",
        "skip_deploy": "skipped",
    }
    assert xcom(run, "ask") is True
    decision = xcom(run, "ask", "slack_decision")
    assert decision["approved"] is True
    assert decision["outcome"] == "approved"
    assert decision["decided_by"] == [alice]
    assert [(v["user"], v["vote"], v["via"]) for v in decision["votes"]] == [(alice, "approve", "reply")]
    reference = xcom(run, "ask", "slack_message")
    assert (decision["channel"], decision["ts"], decision["permalink"]) == (
        reference["channel"],
        reference["ts"],
        reference["permalink"],
    )
    assert decision["permalink"].startswith("https://")


def test_reject_with_reason_runs_the_skip_branch_and_keeps_the_reason(slack_emulator):
    bob = slack_emulator.workspace.bob
    run = run_gate(
        slack_emulator,
        "gate_anyone",
        lambda ask: slack_emulator.reply("approvals", ask["ts"], bob, "Reject: metrics regressed"),
    )

    assert task_states(run)["deploy"] == "skipped"
    assert task_states(run)["skip_deploy"] == "success"
    assert xcom(run, "ask") is False
    decision = xcom(run, "ask", "slack_decision")
    assert decision["outcome"] == "rejected"
    assert decision["reason"] == "metrics regressed"
    assert decision["decided_by"] == [bob]


def test_the_question_is_updated_with_the_outcome_and_answered_once_in_its_thread(slack_emulator):
    alice = slack_emulator.workspace.alice
    run = run_gate(
        slack_emulator,
        "gate_anyone",
        lambda ask: slack_emulator.reply("approvals", ask["ts"], alice, "lgtm ship it"),
    )

    ts = xcom(run, "ask", "slack_message")["ts"]
    question = slack_emulator.get_message("approvals", ts)
    assert "Approved" in question["text"]
    assert "Reply approve or reject" not in question["text"]
    assert question["metadata"]["event_payload"]["state"] == "approved"
    bot_replies = [m for m in slack_emulator.replies("approvals", ts)[1:] if m.get("bot_id")]
    assert len(bot_replies) == 1
    assert "ship it" in bot_replies[0]["text"]
    assert slack_emulator.call_count("chat.postMessage") == 2  # the question and the one reply


def test_the_question_tells_people_how_to_answer(slack_emulator, monkeypatch):
    alice = slack_emulator.workspace.alice
    monkeypatch.setenv("AIRFLOW_VAR_GATE_APPROVERS", alice)
    asked: list[dict] = []

    def look_then_approve(ask):
        asked.append(ask)
        slack_emulator.reply("approvals", ask["ts"], alice, "approve")

    run_gate(slack_emulator, "gate_restricted", look_then_approve)
    shown = str(asked[0]["blocks"])
    assert "approve" in shown
    assert "reject" in shown
    assert ":white_check_mark:" in shown
    assert f"<@{alice}>" in shown
    assert "<!date^" in shown


def test_approval_by_reaction(slack_emulator):
    carol = slack_emulator.workspace.carol
    run = run_gate(
        slack_emulator,
        "gate_anyone",
        lambda ask: slack_emulator.add_reaction("approvals", ask["ts"], carol, "white_check_mark"),
    )
    decision = xcom(run, "ask", "slack_decision")
    assert decision["outcome"] == "approved"
    assert decision["votes"] == [
        {"user": carol, "vote": "approve", "via": "reaction", "reason": None, "ts": None}
    ]


def test_rejection_by_reaction(slack_emulator):
    dave = slack_emulator.workspace.dave
    run = run_gate(
        slack_emulator,
        "gate_anyone",
        lambda ask: slack_emulator.add_reaction("approvals", ask["ts"], dave, "x"),
    )
    assert xcom(run, "ask") is False
    assert xcom(run, "ask", "slack_decision")["decided_by"] == [dave]


def test_two_of_three_through_a_user_group(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_QUORUM_APPROVERS", ws.deployers)

    def two_people_approve(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        slack_emulator.add_reaction("approvals", ask["ts"], ws.carol, "+1")

    run = run_gate(slack_emulator, "gate_quorum", two_people_approve)
    decision = xcom(run, "ask", "slack_decision")
    assert decision["outcome"] == "approved"
    assert sorted(decision["decided_by"]) == sorted([ws.alice, ws.carol])
    assert task_states(run)["deploy"] == "success"


def test_one_approval_of_two_is_not_enough(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_QUORUM_APPROVERS", ws.deployers)

    def one_approves_then_one_rejects(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "no: not yet")

    run = run_gate(slack_emulator, "gate_quorum", one_approves_then_one_rejects)
    decision = xcom(run, "ask", "slack_decision")
    assert decision["outcome"] == "rejected"
    assert decision["decided_by"] == [ws.bob]


def test_votes_of_people_outside_approvers_are_ignored(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_APPROVERS", f"{ws.alice},{ws.bob}")

    def outsider_then_approver(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.mallory, "approve")
        slack_emulator.add_reaction("approvals", ask["ts"], ws.mallory, "white_check_mark")
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve")

    run = run_gate(slack_emulator, "gate_restricted", outsider_then_approver)
    decision = xcom(run, "ask", "slack_decision")
    assert decision["decided_by"] == [ws.bob]
    assert {v["user"] for v in decision["votes"]} == {ws.bob}


def test_bot_messages_that_say_approve_are_never_votes(slack_emulator):
    ws = slack_emulator.workspace
    other_bot = slack_emulator.create_bot("ci-bot")

    def bots_then_person(ask):
        slack_emulator.post_as_bot("approvals", other_bot, "approve", thread_ts=ask["ts"])
        slack_emulator.post_as_bot("approvals", ws.bot_user_id, "approve", thread_ts=ask["ts"])
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.dave, "reject: bots cannot approve")

    run = run_gate(slack_emulator, "gate_anyone", bots_then_person)
    decision = xcom(run, "ask", "slack_decision")
    assert decision["outcome"] == "rejected"
    assert [v["user"] for v in decision["votes"]] == [ws.dave]


def test_the_requester_cannot_approve_their_own_request(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_APPROVERS", f"{ws.alice} {ws.bob}")
    monkeypatch.setenv("AIRFLOW_VAR_GATE_REQUESTED_BY", ws.alice)

    def requester_then_peer(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve")

    run = run_gate(slack_emulator, "gate_restricted", requester_then_peer)
    decision = xcom(run, "ask", "slack_decision")
    assert decision["decided_by"] == [ws.bob]
    assert ws.alice not in {v["user"] for v in decision["votes"]}


def test_a_person_may_change_their_mind_while_the_gate_is_open(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_QUORUM_APPROVERS", ws.deployers)

    def approve_then_reject(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "reject: found a bug")

    run = run_gate(slack_emulator, "gate_quorum", approve_then_reject)
    decision = xcom(run, "ask", "slack_decision")
    assert decision["outcome"] == "rejected"
    assert decision["reason"] == "found a bug"
    assert [(v["user"], v["vote"]) for v in decision["votes"]] == [(ws.alice, "reject")]


def test_votes_cast_before_the_gate_reads_count(slack_emulator):
    """A vote in the thread before the first read (e.g. while the task moved to the triggerer) counts."""
    ws = slack_emulator.workspace
    slack_emulator.set_latency("conversations.replies", 0.5)  # the vote lands before the first read answers
    run = run_gate(
        slack_emulator, "gate_anyone", lambda ask: slack_emulator.reply("approvals", ask["ts"], ws.bob, "yes")
    )
    assert xcom(run, "ask") is True
