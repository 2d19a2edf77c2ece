"""Reminders and escalation in a real Airflow run (dag.test()): the gate defers, its trigger reminds
the approvers still missing and announces the escalation, and the decision record marks escalated votes."""

from __future__ import annotations

import pytest

from airflow_slack_gate.core.protocol import FOLLOW_UP_EVENT_TYPE
from tests.support import SUCCESS, load_dag, people, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")


def follow_up(slack, ts, key):
    """The gate's bot's reply with this follow-up key, once it is in the thread."""
    for message in slack.replies("approvals", ts)[1:]:
        metadata = message.get("metadata") or {}
        if (
            message.get("bot_id") == slack.workspace.bot_id
            and metadata.get("event_type") == FOLLOW_UP_EVENT_TYPE
            and metadata["event_payload"]["key"] == key
        ):
            return message
    return None


@pytest.mark.parametrize(
    "dag_id", ["gate_reminded", "gate_reminded_in_poke_mode", "gate_reminded_in_reschedule_mode"]
)
def test_the_reminder_mentions_exactly_the_approvers_still_missing(slack_emulator, monkeypatch, dag_id):
    ws = slack_emulator.workspace
    leads = slack_emulator.create_usergroup("leads", [ws.dave])
    monkeypatch.setenv("AIRFLOW_VAR_GATE_REMINDED_APPROVERS", f"{ws.alice},{ws.bob},{leads}")
    reminders = []

    def approve_then_wait_for_the_reminder(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        reminders.append(
            slack_emulator.wait_for(lambda: follow_up(slack_emulator, ask["ts"], "reminder:0"), 30)
        )
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve")

    with people(approve_then_wait_for_the_reminder, slack_emulator):
        run = load_dag(dag_id).test()

    assert run.state == SUCCESS
    assert xcom(run, "ask") is True
    (reminder,) = reminders
    assert reminder["text"].startswith(f":bell: <@{ws.bob}>, <!subteam^{leads}>: ")
    assert f"<@{ws.alice}>" not in reminder["text"]
    assert "This question still needs 1 more approval" in reminder["text"]
    ts = xcom(run, "ask", "slack_message")["ts"]
    bot_replies = [m for m in slack_emulator.replies("approvals", ts)[1:] if m.get("bot_id")]
    assert [m["ts"] for m in bot_replies] == [reminder["ts"], bot_replies[1]["ts"]]  # then the outcome
    assert "Approved" in bot_replies[1]["text"]


def test_an_escalated_approver_counts_only_after_escalate_after(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_ESCALATING_APPROVERS", ws.alice)
    monkeypatch.setenv("AIRFLOW_VAR_GATE_ESCALATE_TO", ws.dave)
    votes = []

    def vote_early_then_after_the_escalation(ask):
        assert f"<@{ws.dave}> may answer too, by a reply or a button." in str(ask["blocks"])
        votes.append(slack_emulator.reply("approvals", ask["ts"], ws.dave, "approve"))
        slack_emulator.wait_for(lambda: follow_up(slack_emulator, ask["ts"], "escalation"), 30)
        votes.append(slack_emulator.reply("approvals", ask["ts"], ws.dave, "approve: alice is away"))

    with people(vote_early_then_after_the_escalation, slack_emulator):
        run = load_dag("gate_escalating").test()

    ts = xcom(run, "ask", "slack_message")["ts"]
    early, late = votes
    assert float(early) < float(ts) + 3 <= float(late)
    assert xcom(run, "ask") is True
    decision = xcom(run, "ask", "slack_decision")
    assert decision["decided_by"] == [ws.dave]
    assert decision["votes"] == [
        {
            "user": ws.dave,
            "vote": "approve",
            "via": "reply",
            "reason": "alice is away",
            "ts": late,
            "escalated": True,
        }
    ]
    announcement = follow_up(slack_emulator, ts, "escalation")
    assert f"<@{ws.dave}>" in announcement["text"]
    outcome = slack_emulator.replies("approvals", ts)[-1]
    assert (
        outcome["text"]
        == f":white_check_mark: *Approved* by <@{ws.dave}> (<@{ws.dave}> through escalation): alice is away"
    )
    (note,) = slack_emulator.ephemerals(user=ws.dave)
    assert "not counted" in note.text


def test_an_escalated_reaction_neither_counts_nor_breaks_a_gate_waiting_in_reschedule_mode(
    slack_emulator, monkeypatch
):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_ESCALATING_APPROVERS", ws.alice)
    monkeypatch.setenv("AIRFLOW_VAR_GATE_ESCALATE_TO", ws.dave)

    def react_then_reply_after_the_escalation(ask):
        slack_emulator.add_reaction("approvals", ask["ts"], ws.dave, "white_check_mark")
        slack_emulator.wait_for(lambda: follow_up(slack_emulator, ask["ts"], "escalation"), 30)
        slack_emulator.reply("approvals", ask["ts"], ws.dave, "approve")

    with people(react_then_reply_after_the_escalation, slack_emulator):
        run = load_dag("gate_escalating_in_reschedule_mode").test()

    assert run.state == SUCCESS
    decision = xcom(run, "ask", "slack_decision")
    assert [(vote["via"], vote.get("escalated")) for vote in decision["votes"]] == [("reply", True)]
