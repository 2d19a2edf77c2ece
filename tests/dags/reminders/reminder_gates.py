"""DAGs for the reminder and escalation tests (dag.test() needs them inside the DAGs folder).

Approvers and escalation IDs come from the emulator at test time, so the DAGs read them from Airflow
Variables in the DAG's code (the tests set ``AIRFLOW_VAR_...``), never from a run's params or conf.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Variable

from airflow_slack_gate.sensors.slack import SlackApprovalSensor


def reminded(dag_id: str, **waiting: object) -> DAG:
    """A gate of two approvals that reminds 0.8 s after it asks, waiting deferred or in the worker."""
    with DAG(dag_id, schedule=None) as dag:
        SlackApprovalSensor(
            task_id="ask",
            text="Deploy model {{ dag_run.run_id }}?",
            approvers=Variable.get("gate_reminded_approvers", default="U0NOBODY U0NOONE"),
            required_approvals=2,
            remind_after=[timedelta(seconds=0.8)],
            poke_interval=0.2,
            timeout=60,
            **waiting,
        )
    return dag


deferred = reminded("gate_reminded")
in_poke_mode = reminded("gate_reminded_in_poke_mode", deferrable=False, mode="poke")
in_reschedule_mode = reminded("gate_reminded_in_reschedule_mode", deferrable=False, mode="reschedule")


def escalating(dag_id: str, **waiting: object) -> DAG:
    """A gate of one approver that escalates 3 s after it asks, waiting deferred or in the worker."""
    with DAG(dag_id, schedule=None) as dag:
        SlackApprovalSensor(
            task_id="ask",
            text="Publish the data release?",
            approvers=Variable.get("gate_escalating_approvers", default="U0NOBODY"),
            escalate_to=Variable.get("gate_escalate_to", default="U0NOBODY"),
            escalate_after=timedelta(seconds=3),
            poke_interval=0.2,
            timeout=60,
            **waiting,
        )
    return dag


escalating_deferred = escalating("gate_escalating")
escalating_in_reschedule_mode = escalating(
    "gate_escalating_in_reschedule_mode", deferrable=False, mode="reschedule"
)
