"""SlackPostOperator: post a message to Slack, return whether Slack accepted it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_slack_gate.hooks.asking import Asking, task_identity
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import DEFAULT_CONN_ID, PostedMessage, SlackGateHook
from airflow_slack_gate.links import SLACK_MESSAGE_XCOM_KEY, SlackMessageLink
from airflow_slack_gate.templating import BLOCKS_TEMPLATE_HELP, SlackTextTemplating, blocks_template

if TYPE_CHECKING:
    from airflow.sdk import Context


class SlackPostOperator(SlackTextTemplating, BaseOperator):
    """
    Post a message to a Slack channel; the task's return value (XCom) is ``True`` if Slack accepted it.

    A Slack error is logged at ERROR with its fix and the task returns ``False`` (after bounded retries
    of transient errors), so a downstream branch can react; when Slack's answer to the post is lost
    (a timeout, a dropped connection, a 5xx), the task looks for its message in Slack before posting
    again, so a slow Slack does not get it twice; set ``fail_on_error=True`` to fail the task
    instead and let Airflow's own retries apply. On success the XCom key ``slack_message`` holds
    ``{"channel", "ts", "permalink"}`` and the task shows a "Slack message" link.

    :param slack_conn_id: Airflow connection of type ``slack_gate`` (or the official ``slack``). (templated)
    :param channel: Channel ID (``C0123ABCD``) or name (``#deploys``); defaults to the connection's
        ``default_channel``. (templated)
    :param text: Message text in Slack mrkdwn; the notification text when ``blocks`` are given. (templated)
        Values that templates insert into ``text`` and ``blocks`` are escaped whatever their type (a
        list shows as its text), so data cannot ping a channel, mention someone or disguise a link, and
        a value inside your ``<{{ url }}|label>`` cannot change the label (its ``|`` is sent as
        ``%7C``); ``<!here>`` or ``<@U...>`` written literally are sent as written. Always rendered as
        text, also when the DAG renders templates as native objects.
    :param blocks: Optional Block Kit blocks: a list of dicts whose strings may hold templates, or a JSON
        string of that list whose templates sit inside its string values (it is read as JSON before
        rendering, so a value can never add blocks). A message over Slack's Block Kit limits (50 blocks;
        a section's text 3000 characters; a header's 150; a button's value 2000; ...) or with text over
        40,000 characters fails the task before anything is posted, whatever ``fail_on_error`` says
        (when the DAG is parsed if nothing is templated). (templated)
    :param thread_ts: Post as a reply in this message's thread. (templated)
    :param fail_on_error: Raise on a Slack error instead of returning ``False``.
    """

    template_fields: Sequence[str] = ("slack_conn_id", "channel", "text", "blocks", "thread_ts")
    template_fields_renderers = {"blocks": "json", "text": "md"}
    ui_color = "#ECB22E"
    operator_extra_links = (SlackMessageLink(),)

    def __init__(
        self,
        *,
        slack_conn_id: str = DEFAULT_CONN_ID,
        channel: str | None = None,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        fail_on_error: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slack_conn_id = slack_conn_id
        self.channel = channel
        self.text = text
        self.blocks = blocks
        self.thread_ts = thread_ts
        self.fail_on_error = fail_on_error
        self.check_slack_message(rendered=False)

    @cached_property
    def hook(self) -> SlackGateHook:
        return SlackGateHook(slack_conn_id=self.slack_conn_id)

    @cached_property
    def asking(self) -> Asking:
        """Posts at most once (:mod:`airflow_slack_gate.hooks.asking`)."""
        return Asking(self.hook, log=self.log)

    def execute(self, context: Context) -> bool:
        channel = self.hook.task_channel(self.channel, task_id=self.task_id)
        blocks = parse_blocks(self.blocks, task_id=self.task_id)
        self.check_slack_message()
        try:
            posted = self.asking.post(
                task_identity(context),
                channel=channel,
                text=self.text,
                blocks=blocks,
                thread_ts=self.thread_ts,
            )
        except SlackGateError as error:
            if self.fail_on_error:
                raise
            self.log.error("%s", error)
            context["ti"].xcom_push(key=SLACK_MESSAGE_XCOM_KEY, value=None)  # nothing to link to
            return False
        reference = message_reference(self.hook, posted, log=self.log)
        context["ti"].xcom_push(key=SLACK_MESSAGE_XCOM_KEY, value=reference)
        self.log.info("Posted to Slack: %s", reference["permalink"])
        return True


def parse_blocks(blocks: list[dict[str, Any]] | str | None, *, task_id: str) -> list[dict[str, Any]] | None:
    """Blocks as a list; a JSON string (not rendered: rendering reads it as JSON first) is parsed."""
    if blocks is None or isinstance(blocks, list):
        return blocks
    if isinstance(blocks, str):
        return blocks_template(blocks, task_id=task_id)
    raise ValueError(f"Task {task_id!r}: {BLOCKS_TEMPLATE_HELP}")


def message_reference(hook: SlackGateHook, posted: PostedMessage, *, log: Any) -> dict[str, str]:
    """The ``slack_message`` XCom value; the message is posted even if its permalink cannot be read."""
    try:
        permalink = hook.get_permalink(channel=posted.channel, ts=posted.ts)
    except SlackGateError as error:
        log.warning("Posted, but could not read the message's permalink: %s", error)
        permalink = ""
    return {"channel": posted.channel, "ts": posted.ts, "permalink": permalink}
