"""DAGs for the sensor tests (run with dag.test(); dag.test() needs them inside the DAGs folder).

Approver IDs come from the emulator at test time, so restricted gates read them from Airflow Variables
in the DAG's code (the tests set ``AIRFLOW_VAR_GATE_APPROVERS``...), the way a DAG author keeps IDs
out of a DAG file; a run's params or conf never choose them. The params named like rule fields stay,
so tests can show that a run's conf changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Variable, task

from airflow_slack_gate.sensors.slack import SlackApprovalSensor

FAST = {"poke_interval": 0.2, "timeout": 60}


class ClearedAnHourLater(SlackApprovalSensor):
    """A gate whose run is cleared an hour after each try asked. From try 2 on, the task sees the run
    as Airflow's clear_task_instances leaves it: start_date is the time of the clear, run_after and
    logical_date are unchanged (dag.test() cannot clear a run it is running, nor wait an hour)."""

    def execute(self, context: Any) -> Any:
        if context["ti"].try_number > 1:
            cleared_at = datetime.now(timezone.utc) + timedelta(hours=1)
            context["dag_run"] = context["dag_run"].model_copy(update={"start_date": cleared_at})
        return super().execute(context)


def branch_dag(dag_id: str, params: dict | None = None, sensor=SlackApprovalSensor, **sensor_kwargs):
    """ask >> @task.branch >> (deploy | skip_deploy), the seed's flow."""
    with DAG(dag_id, schedule=None, params={"approvers": "", "requested_by": "", **(params or {})}) as dag:
        ask = sensor(task_id="ask", **{"text": "Deploy model {{ dag_run.run_id }}?", **FAST, **sensor_kwargs})

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


anyone = branch_dag("gate_anyone")
restricted = branch_dag(
    "gate_restricted",
    approvers=Variable.get("gate_approvers", default="U0NOBODY"),
    requested_by=Variable.get("gate_requested_by", default=None),
)
quorum = branch_dag(
    "gate_quorum",
    approvers=Variable.get("gate_quorum_approvers", default="S0NOBODY"),
    required_approvals=2,
)
known_requester = branch_dag("gate_known_requester", require_known_requester=True)
timeouts = {
    on_timeout: branch_dag(f"gate_timeout_{on_timeout}", timeout=1, on_timeout=on_timeout)
    for on_timeout in ("reject", "approve", "skip", "fail")
}
poke_mode = branch_dag("gate_poke_mode", deferrable=False, mode="poke")
reschedule_mode = branch_dag("gate_reschedule_mode", deferrable=False, mode="reschedule")
no_channel = branch_dag("gate_bad_channel", channel="#no-such-channel")
no_channel_strict = branch_dag("gate_bad_channel_strict", channel="#no-such-channel", fail_on_error=True)

retrying = branch_dag("gate_retry", fail_on_error=True, retries=1, retry_delay=0)
cleared = branch_dag(
    "gate_cleared", sensor=ClearedAnHourLater, fail_on_error=True, retries=1, retry_delay=0, buttons="always"
)

escaped_gate = branch_dag("gate_escaped", text="Deploy {{ params.model }}?", params={"model": "churn"})

header_gate = branch_dag(
    "gate_header",
    params={"title": "Release"},
    blocks=[{"type": "header", "text": {"type": "plain_text", "text": "{{ params.title }}"}}],
)

with DAG("gate_mapped_rules", schedule=None, params={"approvers": "", "channel": ""}) as mapped_rules_dag:
    # A mapped gate whose rules come from an upstream task: here the run's conf, through XCom.

    @task
    def rules_from_the_run(**context: Any) -> list[str]:
        return [context["params"]["approvers"]]

    @task
    def rule_sets_from_the_run(**context: Any) -> list[dict[str, Any]]:
        return [{"text": "Deploy?", "approvers": context["params"]["approvers"]}]

    SlackApprovalSensor.partial(task_id="ask_mapped", text="Deploy?", **FAST).expand(
        approvers=rules_from_the_run()
    )
    SlackApprovalSensor.partial(task_id="ask_mapped_kwargs", **FAST).expand_kwargs(rule_sets_from_the_run())

with DAG("gate_mapped_text", schedule=None, params={"model": "churn"}) as mapped_text_dag:
    # Mapping what the question says is fine: the rules stay the DAG's.
    SlackApprovalSensor.partial(
        task_id="ask", approvers=Variable.get("gate_approvers", default="U0NOBODY"), **FAST
    ).expand(text=["Deploy {{ params.model }} to staging?", "Deploy {{ params.model }} to prod?"])
quorum_poke_mode = branch_dag(
    "gate_quorum_poke_mode",
    approvers=Variable.get("gate_quorum_approvers", default="S0NOBODY"),
    required_approvals=2,
    deferrable=False,
    mode="poke",
)

# Gates answered in Airflow's Required actions too (airflow_ui=True is the default; tests/sensor/
# test_required_actions.py). The approvers come from Variables, as above.
in_airflow = branch_dag(
    "gate_in_airflow",
    approvers=Variable.get("gate_approvers", default="U0NOBODY"),
    requested_by=Variable.get("gate_requested_by", default=None),
)
in_airflow_quorum = branch_dag(
    "gate_in_airflow_quorum",
    approvers=Variable.get("gate_quorum_approvers", default="S0NOBODY"),
    required_approvals=2,
)
not_in_airflow = branch_dag("gate_not_in_airflow", airflow_ui=False)
buttons_always = branch_dag("gate_buttons_always", buttons="always")
buttons_never = branch_dag("gate_buttons_never", buttons="never")
