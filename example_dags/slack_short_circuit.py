"""
### Publish a data release only if approved, with `ShortCircuitOperator`

`build_release` prepares the release; `ask_data_stewards` asks the listed people in Slack;
`continue_if_approved` (`ShortCircuitOperator`) lets the rest of the DAG run only if the gate
returned `True`, and otherwise skips everything downstream (`publish_release`,
`announce_release`). With a `ShortCircuitOperator` there is no "no" branch: a rejection or a timeout
simply stops the DAG, and the run still ends in success.

**Configure without editing this file:** the DAG param `approvers` lists the Slack user IDs
(`U...`) or user group IDs (`S...`) who may approve, separated by commas or spaces; `channel`
overrides the connection's default channel.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG, Param, task

from airflow_slack_gate.operators.slack import SlackPostOperator
from airflow_slack_gate.sensors.slack import SlackApprovalSensor

with DAG(
    dag_id="slack_gate_short_circuit",
    schedule=None,
    catchup=False,
    tags=["slack-gate", "example"],
    doc_md=__doc__,
    params={
        "approvers": Param(
            type="string",
            pattern=r"^\s*[UWS][A-Z0-9]+([\s,]+[UWS][A-Z0-9]+)*\s*$",
            title="Approvers",
            description="Slack user IDs (U...) or user group IDs (S...), separated by commas or spaces.",
        ),
        "channel": Param(
            "",
            type="string",
            title="Slack channel",
            description="Channel ID or #name; empty: the connection's default channel.",
        ),
    },
):

    @task
    def build_release() -> dict:
        """Stand-in for building a data release."""
        return {"name": "customer-metrics", "version": "2.4.0", "rows": 1_284_112}

    ask_data_stewards = SlackApprovalSensor(
        task_id="ask_data_stewards",
        channel="{{ params.channel }}",
        text=(
            "{% set r = ti.xcom_pull(task_ids='build_release') %}"
            "Publish data release *{{ r.name }}* `{{ r.version }}` ({{ r.rows }} rows)?"
        ),
        approvers="{{ params.approvers }}",
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
        channel="{{ params.channel }}",
        text=":tada: Published {{ ti.xcom_pull(task_ids='publish_release') }}.",
    )

    release = build_release()
    release >> ask_data_stewards >> continue_if_approved
    continue_if_approved >> publish_release(release) >> announce_release
