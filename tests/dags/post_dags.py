"""DAGs for the SlackPostOperator tests (run with dag.test(); dag.test() needs them inside the DAGs folder).

Channels and thread timestamps come from the emulator at test time, so they are templated params.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_slack_gate.operators.slack import SlackPostOperator

BLOCKS_JSON = """[
  {"type": "section", "text": {"type": "mrkdwn", "text": "*Run* {{ dag_run.run_id }} in {{ params.env }}"}}
]"""

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

with DAG("post_bad_blocks", schedule=None, params={"blocks": '{"type": "section"}'}) as bad_blocks:
    SlackPostOperator(task_id="post", channel="approvals", text="hello", blocks="{{ params.blocks }}")
