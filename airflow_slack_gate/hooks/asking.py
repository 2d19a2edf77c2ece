"""Asking in Slack: post at most once, though Slack's answer to a post may be lost, and keep one
question per try of a task.

Slack has no idempotency key for ``chat.postMessage``: after a timeout, a dropped connection or a 5xx
the message may be in Slack already, so a blind retry can post it twice. Every post of this package
(the sensor's question and outcome reply, :class:`~airflow_slack_gate.operators.slack.SlackPostOperator`'s
message) goes through :func:`post_once`: a client that retries only 429s (Slack refused, so nothing
was posted), and after a lost answer a few paced looks in Slack for the message, by an identity it
carries, before posting again.

:class:`Asking` is the one service both the operator and the sensor post through:
:meth:`Asking.post` (a message, found by its post id), :meth:`Asking.reply_once` (a thread reply) and
:meth:`Asking.ask` (the sensor's question: found again by its metadata when this try already asked,
else posted once, a late duplicate closed, and questions of earlier tries superseded).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from airflow_slack_gate.core.messages import duplicate_ask_message, superseded_message
from airflow_slack_gate.core.pacing import (
    ASK_RETRY_WINDOW,
    CLOCK_SKEW,
    FailureStreak,
    ask_backoff,
    look_times,
)
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import (
    REVIEW_DIGEST_KEY,
    ask_metadata,
    asked_digest,
    gate_metadata,
    hitl_request,
    kept_ask,
    message_with_post_id,
    post_metadata,
    same_task,
    same_try,
)
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.ratelimit import TIER_BUDGETS
from airflow_slack_gate.hooks.slack import MAX_RATE_LIMIT_RETRIES, PostedMessage, SlackGateHook

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Attempts to post one message when Slack times out, drops the connection or answers 5xx.
POST_ATTEMPTS = 3
#: Seconds between the first two looks for a lost post: conversations.history's share of Slack's
#: Tier 3 limit (later looks are spaced further apart: :func:`~airflow_slack_gate.core.pacing.look_times`).
LOOK_GAP = 60.0 / TIER_BUDGETS["conversations.history"]


def posting_hook(conn_id: str) -> SlackGateHook:
    """A hook for posts: its clients (sync and async) retry only 429s; :func:`post_once` (or, in a
    trigger, a look at the thread before the next attempt) handles lost answers."""
    return SlackGateHook(
        slack_conn_id=conn_id,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=MAX_RATE_LIMIT_RETRIES)],
        posting=True,
    )


def new_post_id() -> str:
    """A random id for one message, carried in its metadata so a lost post can be found."""
    return uuid.uuid4().hex


def task_identity(context: Context) -> dict[str, Any]:
    """The task instance and try posting: what a later look (or run) finds the message by.

    ``ti_id`` is Airflow's id of this try (a UUID, new for every try): two Airflow deployments that
    share a Slack app and channel can run the same dag_id, run_id, task_id and try, and neither may
    take the other's question for its own.
    """
    ti = context["ti"]
    return {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "try_number": ti.try_number,
        "ti_id": str(ti.id),
    }


def run_could_start(context: Context) -> datetime:
    """The earliest time a task of this DAG run can have run: its ``run_after`` (Airflow never starts a
    run before it, and a clear does not change it), or its start date if that is earlier. Messages of
    the run's tasks are looked for since then."""
    dag_run = context["dag_run"]
    dates = [date for date in (getattr(dag_run, "run_after", None), dag_run.start_date) if date is not None]
    return min(dates) if dates else datetime.now(tz=timezone.utc)


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


class FoundAsk(NamedTuple):
    """An ask message of this task instance found in Slack: its ts, metadata payload and blocks."""

    ts: str
    payload: dict[str, Any]
    blocks: list[dict[str, Any]]

    @property
    def is_open(self) -> bool:
        return self.payload.get("state") == "open"


@dataclass(frozen=True)
class Question:
    """What the sensor asks: its text (a superseded copy keeps it), the Block Kit message built when it
    is posted (``{"text", "blocks"}``), the rules its metadata carries, and the review digest it asks
    to approve (a question of the same try about another digest is never waited on again)."""

    text: str
    message: Callable[[], Mapping[str, Any]]
    policy: ApprovalPolicy
    approver_groups: list[str]
    review_digest: str | None = None
    escalation_groups: Sequence[str] = ()


class AskResult(NamedTuple):
    """The question a try waits on; ``reposted_since`` is when this process first sent it, if it had
    to send it again (a lost answer): a late copy may still appear, never older than that."""

    channel: str
    ts: str
    reposted_since: float | None = None


class Asking:
    """Posts at most once, and finds, supersedes and keeps one question per try of a task instance.

    ``hook`` reads and updates; posts go through :attr:`write_hook` (:func:`posting_hook`). ``log`` is
    the task's logger: what this service says shows in the task's log.
    """

    def __init__(self, hook: SlackGateHook, *, log: Any) -> None:
        self.hook = hook
        self.log = log

    @cached_property
    def write_hook(self) -> SlackGateHook:
        """The hook for posts: its client retries only 429s; :func:`post_once` handles lost answers."""
        return posting_hook(self.hook.slack_conn_id)

    def post_once(self, post: Callable[[], str], landed: Callable[[], str | None], what: str) -> str:
        """:func:`post_once`, looking for as long as the posting client waits for an answer."""
        return post_once(post, landed, what=what, window=float(self.write_hook.client.timeout), log=self.log)

    # -- a message (SlackPostOperator) ------------------------------------------------------------------

    def post(
        self,
        identity: Mapping[str, Any],
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None,
        metadata_for: Callable[[str], dict[str, Any]] | None = None,
    ) -> PostedMessage:
        """Post at most once; the message's metadata names the task and a post id to find it by.

        ``metadata_for(post_id)`` gives other metadata carrying that ``post_id`` (a HITL request's:
        :func:`~airflow_slack_gate.core.protocol.hitl_metadata`); by default the post's own.
        """
        post_id = new_post_id()
        metadata = metadata_for(post_id) if metadata_for else post_metadata(identity, post_id)
        sent_at = time.time()
        posted: list[PostedMessage] = []

        def post() -> str:
            posted.append(
                self.write_hook.post_message(
                    channel=channel,
                    text=text,
                    blocks=blocks,
                    thread_ts=thread_ts,
                    metadata=metadata,
                )
            )
            return posted[-1].ts

        def landed() -> str | None:
            channel_id = self.hook.channel_id(channel)
            if thread_ts:
                messages = self.hook.read_thread(channel=channel_id, ts=thread_ts)[1:]
            else:
                oldest = f"{sent_at - CLOCK_SKEW:.6f}"
                messages = self.hook.read_history(
                    channel=channel_id, oldest=oldest, include_all_metadata=True
                )
            return message_with_post_id(messages, post_id, self.hook.bot_identity().bot_id)

        ts = self.post_once(post, landed, "the message")
        if posted and posted[-1].ts == ts:
            return posted[-1]
        return PostedMessage(channel=self.hook.channel_id(channel), ts=ts, message={})

    def reply_once(self, *, channel: str, thread_ts: str, text: str, what: str) -> str:
        """Post ``text`` in a thread at most once (a lost answer: found by this bot and its text)."""
        return self.post_once(
            lambda: self.write_hook.post_message(channel=channel, thread_ts=thread_ts, text=text).ts,
            lambda: self._own_reply(channel, thread_ts, text),
            what,
        )

    def _own_reply(self, channel: str, thread_ts: str, text: str) -> str | None:
        """The ts of this bot's reply with ``text`` in the thread, if it is there."""
        bot_id = self.hook.bot_identity().bot_id
        for message in self.hook.read_thread(channel=channel, ts=thread_ts)[1:]:
            if message.get("bot_id") == bot_id and message.get("text") == text:
                return str(message["ts"])
        return None

    # -- the question of a try (SlackApprovalSensor) ----------------------------------------------------

    def ask(self, channel: str, identity: dict[str, Any], question: Question, *, since: float) -> AskResult:
        """Ask once per try, waiting out a short Slack outage (5xx, dropped connections, timeouts) for
        up to :data:`~airflow_slack_gate.core.pacing.ASK_RETRY_WINDOW` seconds; each new attempt first
        looks for the question in Slack, so the wait never posts it twice.

        ``channel`` is a channel id or name; questions of earlier tries are looked for since the Unix
        time ``since`` (the earliest this task's run can have started).
        """
        give_up_at = time.monotonic() + ASK_RETRY_WINDOW
        failures = FailureStreak()
        while True:
            try:
                return self._ask_once(channel, identity, question, since=since)
            except SlackGateError as error:
                pause = ask_backoff(failures.fail(time.monotonic()))
                if error.is_permanent or time.monotonic() + pause > give_up_at:
                    raise
                self.log.warning(
                    "Could not ask in Slack yet (%s); asking again in %.0fs (a question that did reach "
                    "Slack is found there, not posted twice).",
                    error,
                    pause,
                )
                time.sleep(pause)

    def _ask_once(
        self, channel_ref: str, identity: dict[str, Any], question: Question, *, since: float
    ) -> AskResult:
        """Post the question once per try (a rerun of the same try finds its message in Slack)."""
        channel = self.hook.channel_id(channel_ref)
        earlier = self.find_asks(channel, identity, since=since)
        digest = question.review_digest
        if asked := kept_ask(_open_of_this_try(earlier, identity, digest)):
            self.log.info("This try already asked in Slack (message %s); waiting on it.", asked)
            self._close_duplicates(channel, earlier, identity, asked)
            return AskResult(channel, asked)
        self._supersede_other_digests(channel, earlier, identity, question)
        ask = question.message()
        policy, groups = question.policy, question.approver_groups
        attempts: list[str] = []
        first_sent = time.time()  # no copy of this try's question can be older

        def post() -> str:
            marks: dict[str, Any] = {"ask_id": new_post_id()}
            if digest:
                marks[REVIEW_DIGEST_KEY] = digest
            if attempts:  # posting again after a lost answer: the earlier attempts may still land
                marks["replaces"] = ",".join(attempts)  # metadata values are flat
            attempts.append(marks["ask_id"])
            return self.write_hook.post_message(
                channel=channel,
                text=ask["text"],
                blocks=ask["blocks"],
                metadata=ask_metadata(
                    {**identity, **marks},
                    "open",
                    policy=policy,
                    approver_groups=groups,
                    escalation_groups=question.escalation_groups,
                ),
            ).ts

        def landed() -> str | None:
            asks = self.find_asks(channel, identity, since=first_sent)
            return kept_ask(_open_of_this_try(asks, identity, digest))

        result = AskResult(channel, self.post_once(post, landed, "the question"))
        if len(attempts) > 1:
            result = result._replace(reposted_since=first_sent)
            self.keep_one(channel, identity, result.ts, since=first_sent)
        self._supersede_earlier_tries(channel, earlier, identity, question.text)
        return result

    def keep_one(self, channel: str, identity: dict[str, Any], ts: str, *, since: float) -> None:
        """After a retried post, close any other open question of this try (Slack got it twice)."""
        try:
            asks = self.find_asks(channel, identity, since=since)
        except SlackGateError as error:
            self.log.warning("Could not check Slack for a duplicate question: %s", error)
            return
        self._close_duplicates(channel, asks, identity, ts)

    def _close_duplicates(
        self, channel: str, asks: list[FoundAsk], identity: dict[str, Any], kept: str
    ) -> None:
        for ask in asks:
            if ask.ts == kept or not ask.is_open or not same_try(ask.payload, identity):
                continue
            update = duplicate_ask_message(ask.blocks)
            if update is None:
                continue
            self.log.warning("Slack got the question twice (also %s); closing that copy.", ask.ts)
            self._update_ask(channel, ask.ts, update, ask_metadata(ask.payload, "superseded"))

    def find_asks(self, channel: str, identity: dict[str, Any], *, since: float) -> list[FoundAsk]:
        """This task instance's ask messages (any try) posted since the Unix time ``since``.

        Earlier tries' questions are looked for since the run's ``run_after``
        (:func:`run_could_start`: a clear resets the run's start date, and an earlier try's question
        may be older). Only messages of this connection's own bot count: metadata is readable by
        anyone, but only the bot can post as itself.
        """
        bot_id = self.hook.bot_identity().bot_id
        history = self.hook.read_history(
            channel=channel,
            oldest=f"{since - CLOCK_SKEW:.6f}",
            include_all_metadata=True,
        )
        found = []
        for message in history:
            payload = gate_metadata(message)
            if payload and message.get("bot_id") == bot_id and same_task(payload, identity):
                found.append(FoundAsk(str(message["ts"]), payload, list(message.get("blocks") or [])))
        return found

    def find_requests(
        self, channel: str, identity: Mapping[str, Any], *, since: float
    ) -> list[dict[str, Any]]:
        """The messages asking this try's Airflow HITL request (:class:`SlackHITLNotifier`'s), posted
        since the Unix time ``since``: only this connection's bot's messages whose metadata names this
        try and its ``ti_id`` (:func:`~airflow_slack_gate.core.protocol.hitl_request`)."""
        bot_id = self.hook.bot_identity().bot_id
        history = self.hook.read_history(
            channel=channel, oldest=f"{since - CLOCK_SKEW:.6f}", include_all_metadata=True
        )
        return [
            message
            for message in history
            if (request := hitl_request(message, bot_id=bot_id)) is not None and request.asks_for(identity)
        ]

    def _supersede_earlier_tries(
        self, channel: str, earlier: list[FoundAsk], identity: dict[str, Any], text: str
    ) -> None:
        for ask in earlier:
            if not ask.is_open or ask.payload.get("try_number") == identity["try_number"]:
                continue
            update = superseded_message(original_text=text, new_try=identity["try_number"])
            self._update_ask(channel, ask.ts, update, ask_metadata(ask.payload, "superseded"))

    def _supersede_other_digests(
        self, channel: str, earlier: list[FoundAsk], identity: dict[str, Any], question: Question
    ) -> None:
        """Close this try's open questions about another review digest: votes on them never count."""
        for ask in earlier:
            if ask.is_open and same_try(ask.payload, identity):
                self.log.warning(
                    "This try asked about review digest %r before (message %s), not %r: asking afresh.",
                    asked_digest(ask.payload),
                    ask.ts,
                    question.review_digest,
                )
                update = superseded_message(
                    original_text=question.text, new_try=identity["try_number"], digest_changed=True
                )
                self._update_ask(channel, ask.ts, update, ask_metadata(ask.payload, "superseded"))

    def _update_ask(self, channel: str, ts: str, update: Mapping[str, Any], metadata: dict[str, Any]) -> None:
        try:
            self.hook.update_message(
                channel=channel, ts=ts, text=update["text"], blocks=update["blocks"], metadata=metadata
            )
        except SlackGateError as error:
            self.log.warning("Could not mark the question %s as superseded: %s", ts, error)


def _open_of_this_try(
    asks: list[FoundAsk], identity: Mapping[str, Any], digest: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """This try's open questions about ``digest`` (a question about another digest is not this one)."""
    return [
        (ask.ts, ask.payload)
        for ask in asks
        if same_try(ask.payload, identity) and ask.is_open and asked_digest(ask.payload) == digest
    ]
