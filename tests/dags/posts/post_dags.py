"""DAGs for the SlackPostOperator tests (run with dag.test(); dag.test() needs them inside the DAGs folder).

Channels and thread timestamps come from the emulator at test time, so they are templated params.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_slack_gate.operators.slack import SlackPostOperator

BLOCKS_JSON = """[
  {"type": "section", "text": {"type": "mrkdwn", "text": "*Run* {{ dag_run.run_id }} in {{ params.env }}"}}
]"""

with DAG("post_message", schedule=None, params={"channel": "approvals"}) as post_dag:
    SlackPostOperator(
        task_id="post", channel="{{ params.channel }}", text="Model {{ dag_run.run_id }}: AUC 0.91"
    )

with DAG("post_message_strict", schedule=None, params={"channel": "approvals"}) as post_strict_dag:
    SlackPostOperator(task_id="post", channel="{{ params.channel }}", text="hello", fail_on_error=True)

with DAG("post_templated", schedule=None, params={"channel": "approvals", "env": "prod"}) as templated:
    SlackPostOperator(
        task_id="post",
        channel="{{ params.channel }}",
        text="Release {{ dag_run.run_id }} to {{ params.env }}",
        blocks=BLOCKS_JSON,
    )

with DAG("post_blocks_list", schedule=None, params={"env": "prod"}) as blocks_list:
    SlackPostOperator(
        task_id="post",
        channel="approvals",
        text="Release",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "to {{ params.env }}"}}],
    )

with DAG("post_in_thread", schedule=None, params={"thread_ts": ""}) as in_thread:
    SlackPostOperator(
        task_id="post", channel="#approvals", text="Follow-up", thread_ts="{{ params.thread_ts }}"
    )

with DAG("post_to_default_channel", schedule=None) as to_default_channel:
    SlackPostOperator(task_id="post", text="To the connection's channel")

# -- values that templates insert are data (tests/test_templating.py) -----------------------------

with DAG(
    "post_hostile_values",
    schedule=None,
    params={"models": ["churn"], "url": "https://example.com/run", "model": "churn"},
) as hostile_values:
    SlackPostOperator(
        task_id="post",
        channel="approvals",
        text="Models {{ params.models }} <{{ params.url }}|Open> <{{ params.url }}>",
        blocks=(
            '[{"type": "section", "text": {"type": "mrkdwn", "text": "Model {{ params.model }}", '
            '"verbatim": false}}]'
        ),
    )

with DAG(
    "post_native_values",
    schedule=None,
    params={"models": ["churn"], "model": "churn"},
    render_template_as_native_obj=True,
) as native_values:
    SlackPostOperator(
        task_id="post",
        channel="approvals",
        text="{{ params.models }}",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "{{ params.models }}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "{{ params.model }}"}},
        ],
    )

with DAG("post_mapped_values", schedule=None, params={"model": "churn"}) as mapped_values:
    SlackPostOperator.partial(task_id="post", text="Deploy {{ params.model }}").expand(channel=["approvals"])

with DAG("post_header", schedule=None, params={"title": "Release"}) as header:
    SlackPostOperator(
        task_id="post",
        channel="approvals",
        text="Release notes",
        blocks=[{"type": "header", "text": {"type": "plain_text", "text": "{{ params.title }}"}}],
    )

with DAG("post_escaped", schedule=None, params={"model": "churn"}) as post_escaped_dag:
    SlackPostOperator(
        task_id="post",
        text="<!here> model {{ params.model }} is ready",
        blocks='[{"type": "section", "text": {"type": "mrkdwn", "text": "{{ params.model }}"}}]',
    )
