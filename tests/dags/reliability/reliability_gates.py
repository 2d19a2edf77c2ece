"""DAGs of the reliability tests (tests/reliability): dag.test() runs them from this folder, and the
end-to-end tests copy this file alone into their Airflow's DAGs folder."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Variable, task

from airflow_slack_gate.sensors.slack import SlackApprovalSensor

FAST: dict[str, Any] = {"poke_interval": 0.2, "timeout": 60}


def gate_dag(dag_id: str, params: dict[str, Any] | None = None, **sensor_kwargs: Any) -> DAG:
    """ask >> choose >> (deploy | skip_deploy): the gate's answer picks the branch."""
    with DAG(dag_id, schedule=None, params={"model": "churn", **(params or {})}) as dag:
        ask = SlackApprovalSensor(
            task_id="ask", **{"text": "Deploy {{ params.model }}?", **FAST, **sensor_kwargs}
        )

        @task.branch
        def choose(approved: bool) -> str:
            return "deploy" if approved else "skip_deploy"

        @task
        def deploy() -> str:
            return "deployed"

        @task
        def skip_deploy() -> str:
            return "not deployed"

        choose(ask.output) >> [deploy(), skip_deploy()]
    return dag


anyone = gate_dag("reliability_gate")
strict = gate_dag("reliability_gate_strict", fail_on_error=True)
restricted = gate_dag(
    "reliability_gate_restricted",
    approvers=Variable.get("reliability_gate_approvers", default="U0NOBODY"),
)
poke_mode = gate_dag("reliability_gate_poke", deferrable=False, mode="poke")
poke_mode_strict = gate_dag("reliability_gate_poke_strict", deferrable=False, mode="poke", fail_on_error=True)
at_the_deadline = gate_dag("reliability_gate_deadline", timeout=1.5, on_timeout="reject")

# End-to-end (a real scheduler and triggerer; their poke interval is set by the runner's policy).
e2e = gate_dag("reliability_e2e", timeout=3600)
e2e_doomed = gate_dag(
    "reliability_e2e_doomed", slack_conn_id="slack_gate_doomed", fail_on_error=True, timeout=3600
)
