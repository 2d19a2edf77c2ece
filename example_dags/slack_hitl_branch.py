"""
### Choose the rollout in Slack, with Airflow's own branch operator

`choose_rollout` is Airflow's `HITLBranchOperator` (Airflow 3.1+): a person picks *Canary only* or
*Everywhere*, and only that branch runs (the other is skipped). `SlackHITLNotifier` asks it in Slack
with one button per option; a click is Airflow's answer, given as the clicking person's Airflow user.
Answered in Airflow instead (its Required actions page or REST API), the Slack message shows who chose
what, and its buttons go, as soon as the task has run its branch.

**Configure without editing this file:** the Airflow Variable `slack_gate_release_managers` lists the
Airflow users who may choose (their ids: user names with Airflow's simple auth manager; separated by
commas or spaces); unset, every Airflow user allowed to answer the DAG's requests may. It is read in
the DAG's code, so a run cannot change it. The connection `slack_gate_default` holds the bot token,
the default channel and the Slack app's signing secret; the app's Request URL is the API server's
`/slack-gate/interactions` (see docs/hitl.md).
"""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import HITLBranchOperator
from airflow.sdk import DAG, Variable, task

from airflow_slack_gate.notifiers.slack import SlackHITLNotifier

RELEASE_MANAGERS = (Variable.get("slack_gate_release_managers", default=None) or "").replace(",", " ").split()


with DAG(
    dag_id="slack_gate_hitl_branch",
    schedule=None,
    catchup=False,
    tags=["slack-gate", "example"],
    doc_md=__doc__,
):

    @task
    def deploy_canary() -> str:
        return "canary"

    @task
    def deploy_everywhere() -> str:
        return "everywhere"

    choose_rollout = HITLBranchOperator(
        task_id="choose_rollout",
        subject="Roll out churn-classifier v7 (run {{ run_id }})?",
        options=["Canary only", "Everywhere"],
        options_mapping={"Canary only": "deploy_canary", "Everywhere": "deploy_everywhere"},
        assigned_users=[{"id": name, "name": name} for name in RELEASE_MANAGERS] or None,
        notifiers=[SlackHITLNotifier(text="A rollout waits for a release manager.")],
    )
    choose_rollout >> [deploy_canary(), deploy_everywhere()]
