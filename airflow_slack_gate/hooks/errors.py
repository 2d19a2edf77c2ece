"""The exception every failed Slack call raises: its message names the Slack error code, the connection and
the fix (from the pure catalogue in :mod:`airflow_slack_gate.core.errors`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException

from airflow_slack_gate.core.errors import PERMANENT_ERRORS, fix_for


class SlackGateError(AirflowException):
    """A Slack call failed; the message names the Slack error code, the connection and the fix."""

    def __init__(self, message: str, *, error_code: str, conn_id: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.conn_id = conn_id

    @property
    def is_permanent(self) -> bool:
        """True when retrying the same call cannot succeed (bad token, missing channel, ...)."""
        return self.error_code in PERMANENT_ERRORS


def explain(
    error_code: str,
    *,
    conn_id: str,
    method: str,
    response: Mapping[str, Any] | None = None,
    detail: str | None = None,
) -> SlackGateError:
    """Build the exception for a Slack error returned by ``method`` (``detail``: what the client saw)."""
    seen = f" [{detail}]" if detail else ""
    message = (
        f"Slack {method} failed with error {error_code!r}{seen} (connection {conn_id!r}): "
        f"{fix_for(error_code, conn_id, response, method=method)}."
    )
    return SlackGateError(message, error_code=error_code, conn_id=conn_id)
