"""The Request URL endpoint: Slack POSTs button clicks and modal submissions here when the app does not
use Socket Mode. The plugin (:mod:`airflow_slack_gate.interactive.plugin`) mounts it on the Airflow API
server as ``/slack-gate/interactions``; ``?conn_id=`` names the Airflow connection (default
``slack_gate_default``), whose ``signing_secret`` extra verifies every request.

The route is public (Slack cannot log in), so it treats every request as a stranger's until Slack's
signature proves otherwise, and does bounded work before that:

1. ``X-Slack-Request-Timestamp`` must be a short decimal within 5 minutes of now and
   ``X-Slack-Signature`` ``v0=`` and 64 hex digits; nothing else is looked at before;
2. the body is read up to :data:`MAX_BODY` (1 MiB), never more: a longer one is **413**;
3. only a ``slack_gate`` or ``slack`` connection with a signing secret can verify a request, and the
   signature must be the HMAC-SHA256 of ``v0:<timestamp>:<body>`` with that secret (compared in
   constant time); a request seen within those 5 minutes is a replay.

Whatever failed (headers, age, unknown connection, another type of connection, no signing secret,
wrong signature, replay), the answer is the same **401** with the same body, so a stranger learns
nothing about the Airflow connections; the log says what failed. Only a request signed by Slack gets
further: a body that is not Slack's form with a JSON ``payload`` is **400**, no request is ever
answered 500, and nothing is cached for a request that did not authenticate.

Then the click is handled in the background (the response does not wait for Slack): judged, and
recorded in the gate's thread, a modal opened, or the person told why nothing changed (see
:mod:`airflow_slack_gate.runtime.clicks`). A click on an Airflow HITL request's message becomes
Airflow's answer to it (:mod:`airflow_slack_gate.interactive.hitl`). An empty 200 closes a submitted
modal. The submission of a HITL request's form is the exception: it is answered before the
response, which carries the form's invalid inputs (``response_action: errors``) for Slack to show in
the modal. A replay that reaches another API server process (whose memory of signatures is its own) is
harmless: the click's record is found in the thread and not posted again.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from airflow_slack_gate.core.payloads import (
    REQUEST_URL_PREFIX,
    REQUEST_URL_ROUTE,
    HITLFormSubmission,
    parse_interaction,
    slack_signature,
)
from airflow_slack_gate.hooks.connection import ConnectionSettings, aread_settings
from airflow_slack_gate.hooks.slack import CONN_TYPE, DEFAULT_CONN_ID, SlackGateHook
from airflow_slack_gate.interactive.hitl import AirflowHITLAnswerer
from airflow_slack_gate.runtime.clicks import ClickHandler, handle_form_submission
from airflow_slack_gate.runtime.socket_mode import socket_mode, wait_closed

log = logging.getLogger(__name__)

#: Requests signed longer ago than this are refused (Slack's recommendation).
MAX_AGE = 300
#: The longest body read (Slack's interaction payloads are a few KiB); a longer one is answered 413.
MAX_BODY = 1024 * 1024
#: Connections whose click handler (and its memory of recent clicks) is kept; the least recent goes.
MAX_CONNECTIONS = 16
#: Signatures remembered to refuse replays (each for :data:`MAX_AGE`); the oldest go first.
MAX_REMEMBERED_SIGNATURES = 10_000
#: Where the plugin mounts the app, and the route in it.
URL_PREFIX = REQUEST_URL_PREFIX
ROUTE = REQUEST_URL_ROUTE
#: The Airflow option naming the connections whose Socket Mode the API server holds while it runs.
SOCKET_MODE_OPTION = ("slack_gate", "api_server_socket_mode")
#: The connection types that can verify Slack's requests.
SIGNING_CONN_TYPES = frozenset({CONN_TYPE, "slack"})

_SHORT_DECIMAL = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_CONN_ID = re.compile(r"[A-Za-z0-9_.-]{1,250}")  # Airflow's own rule for connection ids
_REFUSED = {
    "ok": False,
    "error": (
        "not a request signed by Slack for this URL: Slack signs it with the app's signing secret, which "
        "must be the signing_secret of the slack_gate connection named by ?conn_id= in the Request URL"
    ),
}


class _Refused(Exception):
    """The request is not known to be Slack's (the one 401); ``why`` goes to the log only."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _TooLarge(Exception):
    pass


class InteractionReceiver:
    """Verifies Slack's requests and hands clicks to one :class:`ClickHandler` per connection."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._handlers: OrderedDict[str, ClickHandler] = OrderedDict()
        #: form submissions judged too late for Slack's answer, handled on in the background
        self._late_forms: set[asyncio.Task[Any]] = set()
        # Unknown connections are checked with a secret nobody knows, so they cost what a known one does.
        self._nobodys_secret = secrets.token_hex(16)

    @property
    def connections(self) -> list[str]:
        """The connections whose click handler is kept (each had a request signed by Slack)."""
        return list(self._handlers)

    def connection_handler(self, conn_id: str) -> ClickHandler | None:
        """The kept click handler of a connection, if it had a request signed by Slack lately."""
        return self._handlers.get(conn_id)

    def check_headers(self, headers: Mapping[str, str]) -> tuple[str, str]:
        """The timestamp and signature when well-formed and fresh; raises :class:`_Refused` if not."""
        stamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not (_SHORT_DECIMAL.fullmatch(stamp) and _SIGNATURE.fullmatch(signature)):
            raise _Refused("missing or malformed X-Slack-Request-Timestamp / X-Slack-Signature headers")
        if abs(self.clock() - int(stamp)) > MAX_AGE:
            raise _Refused(
                "the request's timestamp is more than 5 minutes away from now (a replayed request?)"
            )
        return stamp, signature

    def check_signature(
        self, settings: ConnectionSettings | str, stamp: str, signature: str, body: bytes
    ) -> None:
        """Raise :class:`_Refused` unless the connection can verify requests and the signature is its.

        ``settings`` are the connection's, or why it cannot verify requests (from :meth:`signing_settings`).
        """
        secret = settings.signing_secret if isinstance(settings, ConnectionSettings) else None
        expected = slack_signature(secret or self._nobodys_secret, stamp, body)
        matches = hmac.compare_digest(expected, signature)
        if isinstance(settings, str):
            raise _Refused(settings)
        if not secret:
            raise _Refused(
                "the connection has no signing_secret: copy the Slack app's Basic Information > App "
                "Credentials > Signing Secret into the connection's Signing Secret field"
            )
        if not matches:
            raise _Refused(
                "the signature does not match the connection's signing secret (forged or tampered)"
            )
        now = self.clock()
        while self._seen and (
            now - next(iter(self._seen.values())) > 2 * MAX_AGE
            or len(self._seen) >= MAX_REMEMBERED_SIGNATURES
        ):
            self._seen.popitem(last=False)
        if signature in self._seen:
            raise _Refused("this signed request was already received (a replayed request)")
        self._seen[signature] = now

    def handler(self, conn_id: str) -> ClickHandler:
        """The click handler of a connection (it remembers recent clicks, to drop repeats)."""
        handler = self._handlers.get(conn_id)
        if handler is None:
            hook = SlackGateHook(slack_conn_id=conn_id)
            # one Slack app serves gates and Airflow's HITL requests: this API server answers both
            handler = self._handlers[conn_id] = ClickHandler(hook, hitl=AirflowHITLAnswerer())
            while len(self._handlers) > MAX_CONNECTIONS:
                self._handlers.popitem(last=False)
        self._handlers.move_to_end(conn_id)
        return handler

    async def receive(
        self, request: Request, background: BackgroundTasks, conn_id: str = DEFAULT_CONN_ID
    ) -> Response:
        """``POST /interactions``: verify, answer at once, handle the click in the background."""
        try:
            return await self._receive(request, background, conn_id)
        except _Refused as refused:
            log.warning(
                "Refused a request to %s for connection %r: %s", request.url.path, conn_id[:250], refused.why
            )
            return JSONResponse(_REFUSED, status_code=401)
        except _TooLarge:
            return _error(413, f"the body is longer than {MAX_BODY} bytes; Slack's requests are far shorter")
        except Exception:  # a stranger's junk must not make a 500 (nor a trace in its answer)
            log.exception("A request to %s for connection %r failed", request.url.path, conn_id[:250])
            return _error(400, "the request could not be read as a Slack interaction")

    async def _receive(self, request: Request, background: BackgroundTasks, conn_id: str) -> Response:
        stamp, signature = self.check_headers(request.headers)
        body = await _read_body(request)
        settings = await self.signing_settings(conn_id)
        self.check_signature(settings, stamp, signature, body)
        handler = self.handler(conn_id)
        if (
            request.headers.get("content-type", "").split(";")[0].strip()
            != "application/x-www-form-urlencoded"
        ):
            return _error(400, "expected an application/x-www-form-urlencoded body, as Slack sends")
        payload = _payload(body)
        if payload is None:
            return _error(400, "expected a form body with a JSON 'payload' field, as Slack sends")
        click = parse_interaction(payload)
        if isinstance(click, HITLFormSubmission):
            # Slack shows a form's invalid inputs only in the answer to its submission: judge it now
            # (one thread read, one users.info, Airflow's row), within Slack's 3 seconds
            verdict = await handle_form_submission(handler, click, self._late_forms)
            if verdict is not None and verdict.errors:
                return JSONResponse({"response_action": "errors", "errors": dict(verdict.errors)})
        elif click is not None:
            background.add_task(handler.handle, click)
        return Response(status_code=200)

    async def signing_settings(self, conn_id: str) -> ConnectionSettings | str:
        """The settings of a connection that may verify Slack's requests (a ``slack_gate`` or ``slack``
        one), else why it may not (for the log)."""
        if not _CONN_ID.fullmatch(conn_id):
            return "?conn_id= is no valid Airflow connection id"
        try:
            settings = await aread_settings(conn_id)  # at each request: a new secret counts at once
            settings.bot_token()  # clicks are recorded with it
        except AirflowNotFoundException as error:  # unknown, or no bot token: says which, no secret
            return f"no usable Airflow connection of that id: {error}"
        except Exception as error:  # a connection the hook cannot read; its text might hold a secret
            return f"the connection could not be read as a slack_gate connection ({type(error).__name__})"
        if settings.conn_type not in SIGNING_CONN_TYPES:
            return (
                f"the connection is of type {settings.conn_type!r}; only slack_gate or slack "
                "connections verify Slack's requests"
            )
        return settings


def socket_mode_connections() -> list[str]:
    """The connections named by ``[slack_gate] api_server_socket_mode`` (comma-separated)."""
    from airflow.configuration import conf

    names = (conf.get(*SOCKET_MODE_OPTION, fallback="") or "").split(",")
    return [name.strip() for name in names if name.strip()]


@asynccontextmanager
async def api_server_socket_mode(app: FastAPI) -> AsyncIterator[None]:
    """While the API server runs, hold the Socket Mode connection of each connection named by
    ``[slack_gate] api_server_socket_mode``, answering clicks as the Request URL route does (gates'
    and Airflow HITL requests'). Airflow runs a plugin app's lifespan with the API server's."""
    async with AsyncExitStack() as stack:
        for conn_id in socket_mode_connections():
            if not _CONN_ID.fullmatch(conn_id):
                log.error("[slack_gate] api_server_socket_mode: %r is no Airflow connection id", conn_id)
                continue
            hook = SlackGateHook(slack_conn_id=conn_id)
            listener = await stack.enter_async_context(socket_mode(hook, hitl=AirflowHITLAnswerer()))
            if listener is None:
                log.error(
                    "[slack_gate] api_server_socket_mode names connection %r, which has no app_token "
                    "(xapp-...): the API server does not use Socket Mode for it",
                    conn_id,
                )
            else:
                log.info("The API server takes Slack clicks for connection %r over Socket Mode", conn_id)
        yield
    await wait_closed()


def create_app(receiver: InteractionReceiver | None = None) -> FastAPI:
    """The FastAPI app with the interactions route (mounted by the plugin under ``/slack-gate``), and
    the API server's Socket Mode connections (:func:`api_server_socket_mode`)."""
    app = FastAPI(
        lifespan=api_server_socket_mode,
        title="airflow-slack-gate: Slack interactions",
        description="Slack's Request URL for the Approve / Reject buttons of approval gates.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    receiver = receiver or InteractionReceiver()
    app.state.receiver = receiver
    app.add_api_route(ROUTE, receiver.receive, methods=["POST"], name="slack_interactions")
    return app


async def _read_body(request: Request) -> bytes:
    """The body, read up to :data:`MAX_BODY`; raises :class:`_TooLarge` as soon as it is longer."""
    length = request.headers.get("content-length")
    if length is not None and (not _SHORT_DECIMAL.fullmatch(length) or int(length) > MAX_BODY):
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _TooLarge
    return bytes(body)


def _payload(body: bytes) -> dict[str, Any] | None:
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)
