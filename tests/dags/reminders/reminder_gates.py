"""DAGs for the reminder and escalation tests (dag.test() needs them inside the DAGs folder).

Approvers and escalation IDs come from the emulator at test time, so the DAGs read them from Airflow
Variables in the DAG's code (the tests set ``AIRFLOW_VAR_...``), never from a run's params or conf.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Variable

from airflow_slack_gate.sensors.slack import SlackApprovalSensor

IN_POKE_MODE = {"deferrable": False, "mode": "poke"}
IN_RESCHEDULE_MODE = {"deferrable": False, "mode": "reschedule"}


def gate(dag_id: str, **settings: object) -> DAG:
    """A DAG of one gate (reading Slack every 0.2 s, timing out after a minute) with these settings."""
    with DAG(dag_id, schedule=None) as dag:
        SlackApprovalSensor(
            **{
                "task_id": "ask",
                "text": "Deploy model {{ dag_run.run_id }}?",
                "poke_interval": 0.2,
                "timeout": 60,
            }
            | settings
        )
    return dag


#: Two approvals needed; reminds 0.8 s after asking.
REMINDED = {
    "approvers": Variable.get("gate_reminded_approvers", default="U0NOBODY U0NOONE"),
    "required_approvals": 2,
    "remind_after": [timedelta(seconds=0.8)],
}
#: One approver; escalates 3 s after asking.
ESCALATING = {
    "approvers": Variable.get("gate_escalating_approvers", default="U0NOBODY"),
    "escalate_to": Variable.get("gate_escalate_to", default="U0NOBODY"),
    "escalate_after": timedelta(seconds=3),
}

reminded = gate("gate_reminded", **REMINDED)
reminded_in_poke_mode = gate("gate_reminded_in_poke_mode", **REMINDED, **IN_POKE_MODE)
reminded_in_reschedule_mode = gate("gate_reminded_in_reschedule_mode", **REMINDED, **IN_RESCHEDULE_MODE)
escalating = gate("gate_escalating", **ESCALATING)
escalating_in_reschedule_mode = gate("gate_escalating_in_reschedule_mode", **ESCALATING, **IN_RESCHEDULE_MODE)
