"""Check, right before acting, that a gate approved exactly what is about to be acted on."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_slack_gate.core.review import approval_problem

__all__ = ["require_approved"]


def require_approved(decision: Any, digest: str) -> None:
    """Raise ``AirflowFailException`` unless ``decision`` approved exactly ``digest``.

    ``decision`` is the gate's decision record (XCom ``slack_decision`` of a
    :class:`~airflow_slack_gate.sensors.slack.SlackApprovalSensor` with ``review_digest`` set);
    ``digest`` is the digest of what the task is about to act on. Call it right before acting::

        decision = ti.xcom_pull(task_ids="ask", key="slack_decision")
        require_approved(decision, digest_about_to_deploy)

    It fails (without retries) when there is no decision record, when the gate was not approved (a
    timeout with ``on_timeout="approve"`` approved nothing), when the approval carries no digest, and
    when the approved digest is not exactly ``digest``.
    """
    problem = approval_problem(decision, digest)
    if problem:
        raise AirflowFailException(f"Not approved to act: {problem}.")
