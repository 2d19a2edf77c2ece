"""
### Answer Airflow's own approval in Slack

`approve_deploy` is Airflow's `ApprovalOperator` (Airflow 3.1+): it waits for a person to choose
*Approve* or *Reject* in Airflow's Required actions page. `SlackHITLNotifier` also asks it in Slack,
with one button per option and a link to the page; a click on a button is Airflow's answer, given as the
clicking person's Airflow user (the connection's `slack_users` map, or their Slack email). *Reject*
skips `deploy`.

**Configure without editing this file:** the Airflow connection `slack_gate_default` (type
`slack_gate`) holds the bot token, the default channel and the Slack app's signing secret; the app's
Request URL is the API server's `/slack-gate/interactions` (see docs/hitl.md).
"""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, task

from airflow_slack_gate.notifiers.slack import SlackHITLNotifier

with DAG(
    dag_id="slack_gate_hitl_approval",
    schedule=None,
    catchup=False,
    tags=["slack-gate", "example"],
    doc_md=__doc__,
):

    @task
    def train_model() -> str:
        """Stand-in for training: the model's version."""
        return "churn-classifier v7"

    @task
    def deploy(model: str) -> None:
        print(f"Deploying {model}")

    model = train_model()
    approve_deploy = ApprovalOperator(
        task_id="approve_deploy",
        subject="Deploy {{ ti.xcom_pull(task_ids='train_model') }} to production?",
        body="The model passed its offline checks (run {{ run_id }}).",
        notifiers=[SlackHITLNotifier(text="A deploy waits for an approval.")],
    )
    model >> approve_deploy >> deploy(model)
