"""
### Deploy a model only if someone approves it in Slack

The seed's flow: `train_model` → `format_message` → `ask_for_approval` (`SlackApprovalSensor`) →
`decide` (`@task.branch`) → `deploy_model`, or `notify_skipped` when the answer was no.

`ask_for_approval` posts the question to Slack and then waits in the triggerer (state *deferred*),
so no worker slot is held while people think. Anyone in the channel answers in the question's thread
(`approve`, `lgtm`, `reject: <reason>`...) or with a reaction (:white_check_mark: / :x:). Its XCom
`return_value` is `True` only if the question was posted *and* approved; `slack_decision` holds the
outcome, the votes, who decided and the reason. After 4 hours without an answer the gate rejects.

**Configure without editing this file:** the Airflow connection `slack_gate_default` (type
`slack_gate`) holds the bot token and the default channel; the Airflow Variable `slack_gate_channel`
(a channel ID or `#name`), if set, asks there instead. A run's params or conf cannot move the
question: with anyone in the channel allowed to answer, the person who triggers a run could
otherwise send it to a private channel of their own and approve it there. The person who triggered
the run cannot approve it (map Airflow users to Slack users in the connection, see the docs).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, get_current_context, task

from airflow_slack_gate.operators.slack import SlackPostOperator
from airflow_slack_gate.sensors.slack import SlackApprovalSensor

with DAG(
    dag_id="slack_gate_approve_deploy",
    schedule=None,
    catchup=False,
    tags=["slack-gate", "example"],
    doc_md=__doc__,
):
    # Rendered with Variables and connections only, never with the run's params or conf.
    channel = "{{ var.value.get('slack_gate_channel', '') }}"

    @task
    def train_model() -> dict:
        """Stand-in for training: returns the new model's identity and test metrics."""
        run_after = get_current_context()["dag_run"].run_after
        return {
            "model": "churn-classifier",
            "version": f"{run_after:%Y%m%d.%H%M%S}",
            "auc": 0.912,
            "production_auc": 0.897,
        }

    @task
    def format_message(model: dict) -> str:
        """The question people see in Slack (mrkdwn)."""
        change = model["auc"] - model["production_auc"]
        return (
            f"Deploy *{model['model']}* `{model['version']}` to production?\n"
            f"Test AUC *{model['auc']:.3f}* (production {model['production_auc']:.3f}, {change:+.3f})"
        )

    ask_for_approval = SlackApprovalSensor(
        task_id="ask_for_approval",
        channel=channel,
        text="{{ ti.xcom_pull(task_ids='format_message') }}",
        timeout=timedelta(hours=4),
        on_timeout="reject",
    )

    @task.branch
    def decide(approved: bool) -> str:
        return "deploy_model" if approved else "notify_skipped"

    @task
    def deploy_model(model: dict) -> str:
        """Stand-in for the real deployment."""
        deployed = f"{model['model']} {model['version']}"
        print(f"Deploying {deployed}")
        return deployed

    notify_skipped = SlackPostOperator(
        task_id="notify_skipped",
        channel=channel,
        text=(
            "{% set m = ti.xcom_pull(task_ids='train_model') %}"
            "{% set d = ti.xcom_pull(task_ids='ask_for_approval', key='slack_decision') or {} %}"
            ":no_entry_sign: *{{ m.model }}* `{{ m.version }}` was not deployed: "
            "{{ d.outcome | default('no decision') | replace('_', ' ') }}"
            "{% if d.reason %} ({{ d.reason }}){% endif %}."
        ),
    )

    model = train_model()
    format_message(model) >> ask_for_approval
    decide(ask_for_approval.output) >> [deploy_model(model), notify_skipped]
