"""HITL requests nobody answers, in the shared e2e Airflow (a DAG bundle of its own next to the
examples): one with defaults, which Airflow takes at the timeout, and one without, which fails."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG

from airflow_slack_gate.notifiers.slack import SlackHITLNotifier

#: Short enough for a test; the scheduler's sweep resolves it within its check interval.
TIMEOUT = timedelta(seconds=3)

with DAG("e2e_hitl_timeout", schedule=None, catchup=False):
    ApprovalOperator(
        task_id="approve_with_default",
        subject="Deploy (Reject unless someone approves in time)?",
        defaults="Reject",
        response_timeout=TIMEOUT,
        notifiers=[SlackHITLNotifier()],
    ) >> EmptyOperator(task_id="deploy")
    ApprovalOperator(
        task_id="approve_or_fail",
        subject="Migrate (fails unless someone answers in time)?",
        response_timeout=TIMEOUT,
        notifiers=[SlackHITLNotifier()],
    )
