"""The "Slack message" button on a task: a link to the message the task posted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import XCom
from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

#: XCom key of ``{"channel", "ts", "permalink"}`` for the message a task posted.
SLACK_MESSAGE_XCOM_KEY = "slack_message"


class SlackMessageLink(BaseOperatorLink):
    """Opens the Slack message that the task posted (empty until it has posted)."""

    name = "Slack message"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        reference = XCom.get_value(ti_key=ti_key, key=SLACK_MESSAGE_XCOM_KEY)
        if isinstance(reference, dict):
            return str(reference.get("permalink") or "")
        return ""
