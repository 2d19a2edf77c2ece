"""Socket Mode for a triggerer: ONE connection per app-level token per event loop, shared by every gate.

A gate's trigger holds the loop's listener for its connection while it waits::

    async with socket_mode(hook):
        ...  # wait for the decision

The first holder opens the connection (slack_sdk's asyncio ``SocketModeClient``, aiohttp flavour) in
the background, so nothing waits for Slack; later holders share it; the last one out closes it in the
background, after letting clicks in flight finish. Without an ``app_token`` in the connection it does nothing.

The listener acknowledges every envelope at once (Slack wants it within 3 seconds), then:

- ``message`` and ``reaction_added``/``reaction_removed`` events go to the loop's channel watchers
  (:func:`~airflow_slack_gate.runtime.watcher.apply_event`) before the acknowledgement, in the order
  they came: a new reply or a reaction on a held gate's question changes its snapshot in memory and the
  gate is judged from it without reading Slack; an event that cannot say enough (an edit, a deletion,
  a retried delivery...) makes the watcher read that one gate's thread. When the connection (re)opens,
  the watchers read every gate again, since events may have been missed meanwhile;
- a click on a gate's button is judged and recorded in the gate's thread
  (:class:`~airflow_slack_gate.runtime.clicks.ClickHandler`), so the gate's trigger decides even
  when it runs in another process whose connection did not get the click;
- a click on an Airflow HITL request's message is Airflow's to answer: where the listener has Airflow's
  side (``hitl``: the API server's listener, see :mod:`airflow_slack_gate.interactive.http`) it is
  answered here; elsewhere (a triggerer) it is forwarded to the API server's Request URL route, signed
  with the connection's signing secret as Slack signs it there, so the API server answers it as any
  Request URL click. Without a signing secret, or when the API server cannot be reached, the person is
  told to answer in Airflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.parse
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_slack_gate.core import pacing
from airflow_slack_gate.core.errors import TOKEN_ERRORS, fix_for
from airflow_slack_gate.core.pacing import FailureStreak, socket_mode_backoff
from airflow_slack_gate.core.payloads import (
    REQUEST_URL_PREFIX,
    REQUEST_URL_ROUTE,
    HITLClick,
    HITLFormSubmission,
    parse_interaction,
    slack_signature,
)
from airflow_slack_gate.hooks.connection import ConnectionSettings
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.loops import PerLoop
from airflow_slack_gate.hooks.ratelimit import token_key
from airflow_slack_gate.hooks.sessions import holding_shared_sessions, shared_session
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.runtime.clicks import (
    REMEMBERED_CLICKS,
    ClickHandler,
    handle_form_submission,
    handle_in_background,
)
from airflow_slack_gate.runtime.hitl import HITLAnswerer
from airflow_slack_gate.runtime.watcher import apply_event, reopen_events

log = logging.getLogger(__name__)

#: Events that mean a gate's thread or reactions may have changed.
THREAD_EVENTS = frozenset({"message", "reaction_added", "reaction_removed"})


@dataclass(frozen=True)
class ListenerInfo:
    """What a test or a metric sees of a listener."""

    conn_id: str
    holders: int
    connected: bool


class SocketModeListener:
    """The Socket Mode connection of one app-level token in one event loop."""

    def __init__(
        self, settings: ConnectionSettings, hook: SlackGateHook, *, hitl: HITLAnswerer | None = None
    ) -> None:
        if not settings.app_token:
            raise ValueError("a Socket Mode listener needs the connection's app_token")
        self.settings = settings
        self.hook = hook
        self.handler = ClickHandler(hook, hitl=hitl)
        self._forwarded: OrderedDict[str, None] = OrderedDict()
        self.holders = 0
        #: the connections whose gates hear this listener's events (all share its app-level token)
        self.conn_ids: Counter[str] = Counter()
        #: monotonic time of the last hello: events before it may be missing until the next read
        self.session_started = 0.0
        self.client: Any = None  # slack_sdk.socket_mode.aiohttp.SocketModeClient, once started
        self._connecting: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._clicks: set[asyncio.Task[Any]] = set()

    @staticmethod
    def poke_interval(poke_interval: float) -> float:
        """How often a gate reads Slack on its own while events wake it: the safety net."""
        return pacing.safety_net_interval(poke_interval)

    def start(self) -> None:
        """Open the connection in the background (retried by slack_sdk until it works or we close)."""
        self._connecting = asyncio.get_running_loop().create_task(
            self._connect(), name=f"slack-gate socket mode {self.settings.conn_id}"
        )

    async def _connect(self) -> None:
        from slack_sdk.errors import SlackApiError
        from slack_sdk.socket_mode.aiohttp import SocketModeClient
        from slack_sdk.web.async_client import AsyncWebClient

        web_client = AsyncWebClient(
            base_url=self.settings.base_url or AsyncWebClient.BASE_URL,
            proxy=self.settings.proxy,
            timeout=self.settings.timeout,
        )
        self.client = SocketModeClient(
            app_token=str(self.settings.app_token),
            web_client=web_client,
            proxy=self.settings.proxy,
            ping_interval=pacing.PING_INTERVAL,
            logger=log,
        )
        self.client.message_listeners.append(self._on_message)
        self.client.socket_mode_request_listeners.append(self._on_request)
        # The first URL is asked for here, so a wrong setup is logged once per retry with its fix
        # (slack_sdk would log a stack trace every few seconds); reconnects are slack_sdk's.
        failures = FailureStreak()  # attempts to open, retried with core.pacing.socket_mode_backoff
        while True:
            try:
                response = await web_client.apps_connections_open(app_token=str(self.settings.app_token))
                break
            except SlackApiError as error:
                code = str(error.response.get("error") or "unknown_error")
            except (OSError, asyncio.TimeoutError) as error:
                code = "connection_error"
                log.debug("apps.connections.open: %r", error)
            delay = socket_mode_backoff(failures.fail(asyncio.get_running_loop().time()))
            log.error(
                "Socket Mode is not connected for connection %r (gates still read Slack, more slowly; "
                "retrying in %.0f s): %s",
                self.settings.conn_id,
                delay,
                open_failure(code, self.settings.conn_id),
            )
            await asyncio.sleep(delay)
        self.client.wss_uri = response["url"]
        await self.client.connect()
        self._ready.set()

    async def _on_message(self, client: Any, message: dict[str, Any], raw_message: str | None) -> None:
        """Slack's ``hello`` on every (re)connection: read every gate again, since events may have
        been missed while it was closed."""
        if message.get("type") != "hello":
            return
        self.session_started = time.monotonic()
        reopen_events(self.conn_ids)

    async def _on_request(self, client: Any, request: Any) -> None:
        """Acknowledge first, then look: an ack never waits for Slack. Events change the gates' snapshots
        in memory before the ack (no I/O, in the order Slack sent them). The one exception is a HITL
        form's submission, whose ack carries its invalid inputs (Slack shows them only there)."""
        from slack_sdk.socket_mode.response import SocketModeResponse

        if request.type == "events_api":
            self.on_event((request.payload or {}).get("event") or {}, retried=bool(request.retry_attempt))

        if request.type == "interactive":
            submission = parse_interaction(request.payload or {})
            if isinstance(submission, HITLFormSubmission):
                # a HITL form's invalid inputs are shown only in the ack: judge it first (Slack's 3 s),
                # here or, where Airflow's requests cannot be answered, by the API server
                ack = await self._judge_form(submission, request.payload or {})
                await client.send_socket_mode_response(
                    SocketModeResponse(envelope_id=request.envelope_id, payload=ack)
                )
                return
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        if request.type == "interactive":
            payload = request.payload or {}
            click = parse_interaction(payload)
            if isinstance(click, (HITLClick, HITLFormSubmission)) and self.handler.hitl is None:
                self._forward_in_background(click, payload)
            elif click is not None:
                handle_in_background(self.handler, click, self._clicks)

    async def _judge_form(
        self, submission: HITLFormSubmission, payload: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The ack's payload of a HITL form's submission: its invalid inputs (``response_action:
        errors``), or ``None`` (the modal closes). A triggerer hands it to the API server and acks with
        the API server's answer; if that cannot be done, the person is told to answer in Airflow."""
        if self.handler.hitl is not None:
            verdict = await handle_form_submission(self.handler, submission, self._clicks)
            if verdict is None or not verdict.errors:
                return None
            return {"response_action": "errors", "errors": dict(verdict.errors)}
        url = request_url(self.settings.conn_id)
        why, body = await post_interaction(self.settings, payload, url)
        if why is None:
            try:
                answer = json.loads(body) if body else None
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("response_action") == "errors":
                return {"response_action": "errors", "errors": answer.get("errors") or {}}
            return None
        log.error(
            "Could not hand a HITL form's submission to the API server at %s: %s. The person is told to "
            "answer in Airflow.",
            url,
            why,
        )
        await self.handler.handle(submission)
        return None

    def _forward_in_background(
        self, click: HITLClick | HITLFormSubmission, payload: Mapping[str, Any]
    ) -> None:
        if click.click_id in self._forwarded:
            return  # Slack delivered it again; the API server has it
        self._forwarded[click.click_id] = None
        while len(self._forwarded) > REMEMBERED_CLICKS:
            self._forwarded.popitem(last=False)
        task = asyncio.get_running_loop().create_task(
            self._forward(click, payload), name=f"slack-gate forward click {click.ts}"
        )
        self._clicks.add(task)
        task.add_done_callback(self._clicks.discard)

    async def _forward(self, click: HITLClick | HITLFormSubmission, payload: Mapping[str, Any]) -> None:
        """Hand a HITL click to the API server's Request URL route; if that cannot be done, the
        handler (which has no Airflow side here) tells the person to answer in Airflow."""
        url = request_url(self.settings.conn_id)
        why, _ = await post_interaction(self.settings, payload, url)
        if why is None:
            log.info("Forwarded a click on an Airflow HITL request to the API server (%s)", url)
            return
        log.error(
            "Could not hand a click on an Airflow HITL request to the API server at %s: %s. The person "
            "is told to answer in Airflow.",
            url,
            why,
        )
        await self.handler.handle(click)

    def on_event(self, event: Mapping[str, Any], *, retried: bool = False) -> bool:
        """Hand an event to the loop's watchers of its channel (see
        :func:`~airflow_slack_gate.runtime.watcher.apply_event`); True when it concerned a gate held
        here. ``retried``: Slack's ``retry_attempt`` was not 0."""
        if event.get("type") not in THREAD_EVENTS:
            return False
        if event.get("type") == "message" and event.get("ts") in self.handler.recorded:
            return False  # a click record this listener posted: its gate has it already
        return apply_event(set(self.conn_ids), event, retried=retried)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the first connection is open (``TimeoutError`` after ``timeout`` seconds)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    @property
    def connected(self) -> bool:
        """Whether the websocket is open."""
        session = getattr(self.client, "current_session", None)
        return session is not None and not session.closed

    async def close(self, grace: float = pacing.CLOSE_GRACE) -> None:
        """Stop receiving, let clicks in flight finish (up to ``grace`` seconds), close the connection."""
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self.client is not None:
            await self.client.close()
        if self._clicks:
            await asyncio.wait(list(self._clicks), timeout=grace)
        for task in list(self._clicks):
            task.cancel()


def open_failure(error_code: str, conn_id: str) -> str:
    """Why apps.connections.open failed and the fix (token errors there concern the app-level token)."""
    fix_code = "not_allowed_token_type" if error_code in TOKEN_ERRORS else error_code
    return f"Slack apps.connections.open failed with error {error_code!r}: {fix_for(fix_code, conn_id)}"


def api_server_root() -> str:
    """The Airflow API server's root URL as this process knows it: the execution API's URL without
    ``/execution/`` (workers and triggerers reach the API server there), else ``[api] base_url``."""
    from airflow.configuration import conf

    execution_url = conf.get("core", "execution_api_server_url", fallback=None)
    if execution_url:
        return execution_url.rstrip("/").removesuffix("/execution")
    base_url = conf.get("api", "base_url", fallback="/") or "/"
    if base_url.startswith("/"):
        base_url = f"http://localhost:8080{base_url}"  # Airflow's own default, as its executors use
    return base_url.rstrip("/")


def request_url(conn_id: str) -> str:
    """The API server's Request URL route for a connection (the plugin mounts it there)."""
    query = urllib.parse.urlencode({"conn_id": conn_id}, quote_via=urllib.parse.quote)
    return f"{api_server_root()}{REQUEST_URL_PREFIX}{REQUEST_URL_ROUTE}?{query}"


async def post_interaction(
    settings: ConnectionSettings, payload: Mapping[str, Any], url: str
) -> tuple[str | None, str]:
    """POST an interaction payload to a Request URL as Slack does, signed with the connection's signing
    secret; ``(None, the answer's body)`` when it was taken (200), else ``(why not, "")``."""
    if not settings.signing_secret:
        return (
            f"the connection {settings.conn_id!r} has no signing_secret (copy the Slack app's Basic "
            "Information > App Credentials > Signing Secret into it)"
        ), ""
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()  # as Slack sends it
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(settings.signing_secret, stamp, body),
    }
    try:
        async with shared_session(float(settings.timeout or pacing.FORWARD_TIMEOUT)).post(
            url, data=body, headers=headers
        ) as response:
            text = await response.text()
            if response.status == 200:
                return None, text
            return f"HTTP {response.status} {text[:200]}", ""
    except (OSError, asyncio.TimeoutError) as error:
        return f"{type(error).__name__}: {error}", ""


#: Listeners being closed (a reference keeps their task alive until it is done).
_CLOSING: set[asyncio.Task[None]] = set()
_LISTENERS: PerLoop[dict[str, SocketModeListener]] = PerLoop(dict)


@contextlib.asynccontextmanager
async def socket_mode(
    hook: SlackGateHook, *, hitl: HITLAnswerer | None = None
) -> AsyncIterator[SocketModeListener | None]:
    """Hold the loop's Socket Mode listener of the hook's app-level token for the block's duration.

    Yields the listener, or ``None`` when the connection has no ``app_token`` (nothing happens then).
    ``hitl`` is Airflow's side of HITL answers, where this process has it (the API server).
    Never blocks the loop: the connection opens in the background, and a Slack or connection problem
    is logged, never raised: the gate still reads Slack on its own.
    """
    try:
        settings = await hook.asettings()
        settings.bot_token()  # clicks are recorded with it
    except (AirflowNotFoundException, SlackGateError, ValueError) as error:
        log.warning("Socket Mode is off for connection %r: %s", hook.slack_conn_id, error)
        settings = ConnectionSettings(conn_id=hook.slack_conn_id)
    if not settings.app_token:
        yield None
        return
    listeners = _LISTENERS.get()
    key = token_key(settings.app_token)
    listener = listeners.get(key)
    if listener is None:
        listener = listeners[key] = SocketModeListener(settings, hook, hitl=hitl)
        listener.start()
    elif hitl is not None:
        listener.handler.hitl = hitl
    listener.holders += 1
    listener.conn_ids[hook.slack_conn_id] += 1
    async with holding_shared_sessions():  # clicks are written through the loop's shared session
        try:
            yield listener
        finally:
            listener.holders -= 1
            listener.conn_ids[hook.slack_conn_id] -= 1
            if listener.conn_ids[hook.slack_conn_id] <= 0:
                del listener.conn_ids[hook.slack_conn_id]
            if listener.holders == 0:
                if listeners.get(key) is listener:
                    del listeners[key]
                # closed in the background: the gate's event must not wait for clicks in flight
                closing = asyncio.get_running_loop().create_task(
                    listener.close(), name=f"slack-gate socket mode close {settings.conn_id}"
                )
                _CLOSING.add(closing)
                closing.add_done_callback(_CLOSING.discard)


async def wait_closed(timeout: float = pacing.CLOSE_GRACE + 5) -> None:
    """Wait until the running loop's listeners being closed are closed (before a server's loop ends)."""
    loop = asyncio.get_running_loop()
    closing = [task for task in _CLOSING if task.get_loop() is loop]
    if closing:
        await asyncio.wait(closing, timeout=timeout)


def open_listeners() -> list[ListenerInfo]:
    """The running loop's Socket Mode listeners (for tests and metrics)."""
    listeners = _LISTENERS.peek() or {}
    return [ListenerInfo(item.settings.conn_id, item.holders, item.connected) for item in listeners.values()]
