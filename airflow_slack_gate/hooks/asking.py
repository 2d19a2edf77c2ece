"""Posting to Slack at most once, though Slack's answer to a post may be lost.

Slack has no idempotency key for ``chat.postMessage``: after a timeout, a dropped connection or a 5xx
the message may be in Slack already, so a blind retry can post it twice. Every post of this package
(the sensor's question and outcome reply, :class:`~airflow_slack_gate.operators.slack.SlackPostOperator`'s
message) goes through :func:`post_once`: a client that retries only 429s (Slack refused, so nothing
was posted), and after a lost answer a few paced looks in Slack for the message, by an identity it
carries, before posting again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from airflow_slack_gate.core.pacing import look_times
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.ratelimit import TIER_BUDGETS
from airflow_slack_gate.hooks.slack import MAX_RATE_LIMIT_RETRIES, SlackGateHook

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Attempts to post one message when Slack times out, drops the connection or answers 5xx.
POST_ATTEMPTS = 3
#: Seconds between the first two looks for a lost post: conversations.history's share of Slack's
#: Tier 3 limit (later looks are spaced further apart: :func:`~airflow_slack_gate.core.pacing.look_times`).
LOOK_GAP = 60.0 / TIER_BUDGETS["conversations.history"]
#: Seconds a look reaches back before the post was sent, for clocks that disagree with Slack's.
CLOCK_SKEW = 60.0


def posting_hook(conn_id: str) -> SlackGateHook:
    """A hook for posts: its client retries only 429s; :func:`post_once` handles lost answers."""
    return SlackGateHook(
        slack_conn_id=conn_id,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=MAX_RATE_LIMIT_RETRIES)],
    )


def new_post_id() -> str:
    """A random id for one message, carried in its metadata so a lost post can be found."""
    return uuid.uuid4().hex


def task_identity(context: Context) -> dict[str, Any]:
    """The task instance and try posting: what a later look (or run) finds the message by."""
    ti = context["ti"]
    return {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
    }


def post_once(
    post: Callable[[], str],
    landed: Callable[[], str | None],
    *,
    what: str,
    window: float,
    log: Any,
    attempts: int = POST_ATTEMPTS,
) -> str:
    """Post with ``post()`` (returns the ts); when the answer is lost, find it with ``landed()`` before
    trying again, so a slow or failing Slack does not get the message twice.

    ``window`` is how long (seconds) a post whose answer was lost may still land: the client's timeout.
    """
    for attempt in range(1, attempts + 1):
        try:
            return post()
        except SlackGateError as error:
            if error.is_permanent or error.error_code == "ratelimited" or attempt == attempts:
                raise
            log.warning(
                "Posting %s failed (%s); looking in Slack whether it arrived before posting again.",
                what,
                error,
            )
            try:
                found = look_for(landed, window)
            except SlackGateError as look_error:
                log.error("Could not look in Slack either (%s): not posting %s again.", look_error, what)
                raise error from None
            if found:
                log.info("%s did arrive in Slack (message %s): not posting it again.", what, found)
                return found
            log.warning("%s is not in Slack: posting it again (attempt %d).", what, attempt + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def look_for(landed: Callable[[], str | None], window: float) -> str | None:
    """Call ``landed()`` a few times over ``window`` seconds (a post that timed out may still be
    processed by Slack meanwhile), paced to the read method's share of Slack's rate limit."""
    started = time.monotonic()
    for at in look_times(max(1.0, window), LOOK_GAP):
        time.sleep(max(0.0, started + at - time.monotonic()))
        found = landed()
        if found:
            return found
    return None
