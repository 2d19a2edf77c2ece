"""
### Post a model's test metric to Slack

`evaluate_model` stands in for a real evaluation and returns the model's test metrics;
`post_metric` (`SlackPostOperator`) posts them to Slack. Its XCom `return_value` is `True` when Slack
accepted the message, and `slack_message` holds the message's channel, ts and permalink (also shown as
the task's "Slack message" link).

**Configure without editing this file:** the Airflow connection `slack_gate_default` (type
`slack_gate`) holds the bot token and the default channel; the Airflow Variable `slack_gate_channel`
(a channel ID or `#name`), if set, posts there instead.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from airflow_slack_gate.operators.slack import SlackPostOperator

with DAG(
    dag_id="slack_gate_post_metric",
    schedule=None,
    catchup=False,
    tags=["slack-gate", "example"],
    doc_md=__doc__,
):

    @task
    def evaluate_model() -> dict:
        """Stand-in for evaluating a trained model on the test set."""
        return {"model": "churn-classifier", "metric": "AUC", "value": 0.912, "baseline": 0.897}

    post_metric = SlackPostOperator(
        task_id="post_metric",
        channel="{{ var.value.get('slack_gate_channel', '') }}",
        text=(
            "{% set m = ti.xcom_pull(task_ids='evaluate_model') %}"
            ":bar_chart: *{{ m.model }}* test {{ m.metric }}: *{{ '%.3f' | format(m.value) }}* "
            "(production: {{ '%.3f' | format(m.baseline) }}, run `{{ run_id }}`)"
        ),
    )

    evaluate_model() >> post_metric
