"""DAGs for the review-digest and audit tests: a gate bound to what was reviewed, and a deploy that checks
it right before acting (run with dag.test(); the tests set what the build produced through the run's conf
or a Variable)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Variable, get_current_context, task

from airflow_slack_gate.sensors.slack import SlackApprovalSensor
from airflow_slack_gate.verify import require_approved

FAST = {"poke_interval": 0.2, "timeout": 60}

with DAG("review_gate", schedule=None):

    @task
    def build() -> None:
        """Pushes the digest of what was built (the run's conf ``digest``); nothing when it has none."""
        context: Any = get_current_context()
        digest = context["dag_run"].conf.get("digest")
        if digest is not None:
            context["ti"].xcom_push(key="image_digest", value=digest)

    ask = SlackApprovalSensor(
        task_id="ask",
        text="Deploy the image built by {{ dag_run.run_id }}?",
        review_digest="{{ ti.xcom_pull('build', key='image_digest') }}",
        approvers=Variable.get("review_approvers", default=None),
        required_approvals=int(Variable.get("review_required_approvals", default="1")),
        **FAST,
    )

    @task
    def deploy() -> str:
        """Deploys the digest it finds now (the run's conf ``deploy``, else the build's), if approved."""
        context: Any = get_current_context()
        ti = context["ti"]
        digest = context["dag_run"].conf.get("deploy") or ti.xcom_pull("build", key="image_digest")
        require_approved(ti.xcom_pull(task_ids="ask", key="slack_decision"), digest)
        return f"deployed {digest}"

    build() >> ask >> deploy()

with DAG("review_retry", schedule=None):
    SlackApprovalSensor(
        task_id="ask",
        text="Deploy?",
        review_digest="{{ var.value.review_digest }}",
        fail_on_error=True,
        retries=1,
        retry_delay=0,
        **FAST,
    )
