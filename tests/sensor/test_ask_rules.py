"""The sensor writes the gate's rules into its question's metadata (where a click is judged from) and
keeps them when it shows the outcome."""

from __future__ import annotations

import pytest

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import ask_rules, gate_metadata
from tests.support import load_dag, people, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")


def test_the_question_carries_the_gates_rules_from_asking_to_outcome(slack_emulator):
    alice = slack_emulator.workspace.alice
    asked = {}

    def read_rules_then_approve(ask):
        asked["rules"] = ask_rules(gate_metadata(ask) or {})
        slack_emulator.reply("approvals", ask["ts"], alice, "approve")

    with people(read_rules_then_approve, slack_emulator):
        run = load_dag("gate_anyone").test()

    assert asked["rules"] is not None
    assert asked["rules"].policy == ApprovalPolicy()  # the DAG's gate: anyone, one approval
    assert asked["rules"].approver_groups == frozenset()
    question = slack_emulator.get_message("approvals", xcom(run, "ask", "slack_message")["ts"])
    assert gate_metadata(question)["state"] == "approved"
    assert ask_rules(gate_metadata(question)) == asked["rules"]
