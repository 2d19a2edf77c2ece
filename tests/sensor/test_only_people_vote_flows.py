"""Only people vote, with a clear reply, in a real Airflow run (dag.test()) in every waiting mode.

Each test lets something that is not a vote happen first (another app's bot reacts, a deactivated
account's reaction, a hedged reply), waits until the gate has read it, then lets a person decide: had
the first thing counted, the gate would already have been decided otherwise.
"""

from __future__ import annotations

import pytest

from tests.support import load_dag, people, wait_for_reads, wait_until, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")

MODES = ["gate_anyone", "gate_poke_mode", "gate_reschedule_mode"]


def reads_of(dag_id: str) -> str:
    """What a gate of this DAG reads each round: the watcher the history, the worker the thread."""
    return "conversations.history" if dag_id == "gate_anyone" else "conversations.replies"


@pytest.mark.parametrize("dag_id", MODES)
def test_another_apps_bot_and_a_deactivated_user_cannot_approve(slack_emulator, dag_id):
    ws = slack_emulator.workspace
    other_app = slack_emulator.create_bot("other-app")
    slack_emulator.add_member("approvals", other_app.user_id)
    leaver = slack_emulator.create_user("leaver")
    slack_emulator.add_member("approvals", leaver)

    def not_people_then_a_person(ask):
        slack_emulator.add_reaction("approvals", ask["ts"], other_app.user_id, "white_check_mark")
        slack_emulator.add_reaction("approvals", ask["ts"], leaver, "+1")
        slack_emulator.deactivate_user(leaver)
        wait_for_reads(slack_emulator, 3, method=reads_of(dag_id))
        slack_emulator.reply("approvals", ask["ts"], ws.dave, "reject: only people decide")

    with people(not_people_then_a_person, slack_emulator):
        run = load_dag(dag_id).test()

    decision = xcom(run, "ask", "slack_decision")
    assert (decision["outcome"], decision["decided_by"]) == ("rejected", [ws.dave])
    assert [v["user"] for v in decision["votes"]] == [ws.dave]


HEDGES = ["ok?", "Approve?", "~approve~", "ok, but the AUC looks wrong - hold on"]


@pytest.mark.parametrize("dag_id", MODES)
def test_hedges_and_questions_do_not_approve(slack_emulator, dag_id):
    """Each hedge alone would have approved (one approval is needed): none does, in any mode."""
    ws = slack_emulator.workspace

    def hedge_then_reject(ask):
        for text in HEDGES:
            slack_emulator.reply("approvals", ask["ts"], ws.alice, text)
        wait_for_reads(slack_emulator, 3, method=reads_of(dag_id))
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "reject: AUC regressed")

    with people(hedge_then_reject, slack_emulator):
        run = load_dag(dag_id).test()

    assert xcom(run, "ask") is False
    assert xcom(run, "ask", "slack_decision")["decided_by"] == [ws.bob]


@pytest.mark.parametrize("dag_id", ["gate_anyone", "gate_poke_mode"])
def test_the_person_whose_reply_did_not_count_is_told_once_in_the_thread(slack_emulator, dag_id):
    ws = slack_emulator.workspace

    def hedge_then_approve(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "yes, ship it")
        wait_until(lambda: slack_emulator.ephemerals(ws.alice), what="the note to alice")
        wait_for_reads(slack_emulator, 3, method=reads_of(dag_id))
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve: ship it")

    with people(hedge_then_approve, slack_emulator):
        run = load_dag(dag_id).test()

    decision = xcom(run, "ask", "slack_decision")
    assert (decision["outcome"], decision["reason"]) == ("approved", "ship it")
    [note] = slack_emulator.ephemerals(ws.alice)
    assert (note.channel, note.thread_ts) == (ws.approvals, decision["ts"])
    assert "`yes` counts only on its own" in note.text
