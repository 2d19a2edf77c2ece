"""DAGs with Airflow's own HITL operators asked in Slack by SlackHITLNotifier (run with dag.test())."""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLEntryOperator, HITLOperator
from airflow.sdk import DAG, Param

from airflow_slack_gate.notifiers.slack import SlackHITLNotifier

with DAG("hitl_approval", schedule=None, params={"model": "v7"}):
    approve = ApprovalOperator(
        task_id="approve",
        subject="Deploy {{ params.model }}?",
        body="Model {{ params.model }} passed its checks.",
        notifiers=[SlackHITLNotifier(channel="approvals", text="A deploy waits for you.")],
    )
    approve >> EmptyOperator(task_id="deploy")

with DAG("hitl_assigned", schedule=None):
    ApprovalOperator(
        task_id="approve",
        subject="Deploy?",
        assigned_users=[{"id": "alice", "name": "alice"}],
        notifiers=[SlackHITLNotifier(channel="approvals")],
    )

with DAG("hitl_multiple", schedule=None):
    HITLOperator(
        task_id="pick",
        subject="Which regions?",
        options=["eu", "us", "apac"],
        multiple=True,
        notifiers=[SlackHITLNotifier(channel="approvals")],
    )

with DAG("hitl_lost_post", schedule=None):
    ApprovalOperator(
        task_id="approve", subject="Deploy?", notifiers=[SlackHITLNotifier(channel="no-such-channel")]
    )

with DAG("hitl_entry", schedule=None):
    HITLEntryOperator(
        task_id="entry",
        subject="Why?",
        params={"reason": Param("", type="string")},
        notifiers=[SlackHITLNotifier(channel="approvals")],
    )

with DAG("hitl_own_form", schedule=None, params={"reason": "none given"}):
    HITLOperator(  # a form of the task's own, whose field the DAG's params also name
        task_id="pick",
        subject="Why?",
        options=["Approve", "Reject"],
        params={"reason": Param("a reason", type="string", description="Why you decided so")},
        notifiers=[SlackHITLNotifier(channel="approvals")],
    )

with DAG("hitl_form", schedule=None):
    entry = HITLEntryOperator(  # every param has a Slack input: answered in a modal
        task_id="entry",
        subject="Scale <!channel>?",
        assigned_users=[{"id": "alice", "name": "alice"}],
        params={
            "replicas": Param(2, type="integer", minimum=1, maximum=10, description="<!here> 1 to 10"),
            "region": Param("eu", type="string", enum=["eu", "us"], title="<@U0> Region"),
            "note": Param("", type="string"),
            "ratio": Param(0.5, type="number"),
        },
        notifiers=[SlackHITLNotifier(channel="approvals")],
    )
    entry >> EmptyOperator(task_id="scale")

with DAG("hitl_object_form", schedule=None):
    HITLEntryOperator(  # an object param has no Slack input: the whole form is answered in Airflow
        task_id="entry",
        subject="Which config?",
        params={"replicas": Param(2, type="integer"), "config": Param({"a": 1}, type="object")},
        notifiers=[SlackHITLNotifier(channel="approvals")],
    )
