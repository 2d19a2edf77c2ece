"""
### Publish a data release only if approved, with `ShortCircuitOperator`

`build_release` prepares the release; `ask_data_stewards` asks the listed people in Slack;
`continue_if_approved` (`ShortCircuitOperator`) lets the rest of the DAG run only if the gate
returned `True`, and otherwise skips everything downstream (`publish_release`,
`announce_release`). With a `ShortCircuitOperator` there is no "no" branch: a rejection or a timeout
simply stops the DAG, and the run still ends in success.

**Configure without editing this file:** the Airflow Variable `slack_gate_data_stewards` lists the
Slack user IDs (`U...`) or user group IDs (`S...`) who may approve, separated by commas or spaces
(`airflow variables set slack_gate_data_stewards "U0123ABCD, S0456EFGH"`); the DAG does not load
without it. The Variable is read in the DAG's code, so the people who may trigger a run cannot
choose who approves it (a run's conf overrides its params). `slack_gate_channel`, if set, is the
channel to ask in instead of the connection's default.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG, Variable, task

from airflow_slack_gate.operators.slack import SlackPostOperator
from airflow_slack_gate.sensors.slack import SlackApprovalSensor

DATA_STEWARDS = Variable.get("slack_gate_data_stewards", default=None)
if not DATA_STEWARDS:
    raise ValueError(
        "Set the Airflow Variable slack_gate_data_stewards to the Slack user IDs (U...) or user group IDs "
        '(S...) who may approve releases, e.g. airflow variables set slack_gate_data_stewards "U0123ABCD"'
    )
CHANNEL = "{{ var.value.get('slack_gate_channel', '') }}"  # Variables only, never the run's params

with DAG(
    dag_id="slack_gate_short_circuit",
    schedule=None,
    catchup=False,
    tags=["slack-gate", "example"],
    doc_md=__doc__,
):

    @task
    def build_release() -> dict:
        """Stand-in for building a data release."""
        return {"name": "customer-metrics", "version": "2.4.0", "rows": 1_284_112}

    ask_data_stewards = SlackApprovalSensor(
        task_id="ask_data_stewards",
        channel=CHANNEL,
        text=(
            "{% set r = ti.xcom_pull(task_ids='build_release') %}"
            "Publish data release *{{ r.name }}* `{{ r.version }}` ({{ r.rows }} rows)?"
        ),
        approvers=DATA_STEWARDS,
        timeout=timedelta(hours=8),
        on_timeout="reject",
    )

    continue_if_approved = ShortCircuitOperator(
        task_id="continue_if_approved",
        python_callable=lambda approved: approved,
        op_args=[ask_data_stewards.output],
    )

    @task
    def publish_release(release: dict) -> str:
        """Stand-in for publishing."""
        return f"{release['name']} {release['version']}"

    announce_release = SlackPostOperator(
        task_id="announce_release",
        channel=CHANNEL,
        text=":tada: Published {{ ti.xcom_pull(task_ids='publish_release') }}.",
    )

    release = build_release()
    release >> ask_data_stewards >> continue_if_approved
    continue_if_approved >> publish_release(release) >> announce_release
