"""The Request URL endpoint: Slack POSTs button clicks and modal submissions here when the app does not
use Socket Mode. The plugin (:mod:`airflow_slack_gate.interactive.plugin`) mounts it on the Airflow API
server as ``/slack-gate/interactions``; ``?conn_id=`` names the Airflow connection (default
``slack_gate_default``), whose ``signing_secret`` extra verifies every request.

A request is answered at once (Slack gives up after 3 seconds) and only when it is Slack's:

- ``X-Slack-Signature`` must be the HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the signing secret
  (:class:`slack_sdk.signature.SignatureVerifier`), else **401**: a forged or tampered request;
- ``X-Slack-Request-Timestamp`` must be within 5 minutes of now, else **401**: a replay of an old
  request (the signature covers the timestamp, so it cannot be refreshed);
- the same signed request seen again within those 5 minutes is refused (**401**) too.

Then the click is handled in the background (the response does not wait for Slack): judged, and
recorded in the gate's thread, a modal opened, or the person told why nothing changed (see
:mod:`airflow_slack_gate.interactive.clicks`). An empty 200 closes a submitted modal.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowNotFoundException
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import Clock, SignatureVerifier

from airflow_slack_gate.hooks.slack import DEFAULT_CONN_ID, SlackGateHook
from airflow_slack_gate.interactive.clicks import ClickHandler
from airflow_slack_gate.interactive.payloads import parse_interaction
from airflow_slack_gate.interactive.settings import interaction_settings

log = logging.getLogger(__name__)

#: Requests signed longer ago than this are refused (Slack's recommendation).
MAX_AGE = 300
#: Where the plugin mounts the app, and the route in it.
URL_PREFIX = "/slack-gate"
ROUTE = "/interactions"


class InteractionReceiver:
    """Verifies Slack's requests and hands clicks to one :class:`ClickHandler` per connection."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._handlers: dict[str, ClickHandler] = {}

    def verify(self, signing_secret: str, body: bytes, headers: Mapping[str, str]) -> str | None:
        """Why the request is not Slack's (``None`` when it is); remembers it to refuse a replay."""
        stamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not stamp.isdigit() or not signature:
            return "missing or malformed X-Slack-Request-Timestamp / X-Slack-Signature headers"
        now = self.clock()
        if abs(now - int(stamp)) > MAX_AGE:
            return "the request's timestamp is more than 5 minutes away from now (a replayed request?)"
        verifier = SignatureVerifier(signing_secret, clock=_Clock(self.clock))
        if not verifier.is_valid(body=body, timestamp=stamp, signature=signature):
            return "the signature does not match the connection's signing secret (forged or tampered)"
        self._seen = {key: seen for key, seen in self._seen.items() if now - seen <= 2 * MAX_AGE}
        if signature in self._seen:
            return "this signed request was already received (a replayed request)"
        self._seen[signature] = now
        return None

    def handler(self, conn_id: str) -> ClickHandler:
        """The click handler of a connection (it remembers recent clicks, to drop repeats)."""
        handler = self._handlers.get(conn_id)
        if handler is None:
            handler = self._handlers[conn_id] = ClickHandler(SlackGateHook(slack_conn_id=conn_id))
        return handler

    async def receive(
        self, request: Request, background: BackgroundTasks, conn_id: str = DEFAULT_CONN_ID
    ) -> Response:
        """``POST /interactions``: verify, answer at once, handle the click in the background."""
        body = await request.body()
        handler = self.handler(conn_id)
        try:
            settings = await interaction_settings(handler.hook)
        except AirflowNotFoundException as error:
            log.error("Slack interaction for connection %r: %s", conn_id, error)
            return _error(404, f"no usable Airflow connection {conn_id!r} (?conn_id= in the Request URL)")
        if not settings.signing_secret:
            log.error("Slack interaction for connection %r, which has no signing_secret extra", conn_id)
            return _error(
                403,
                f"Airflow connection {conn_id!r} has no signing secret: copy it from the Slack app's "
                "Basic Information > App Credentials into the connection's Signing Secret field",
            )
        problem = self.verify(settings.signing_secret, body, request.headers)
        if problem is not None:
            log.warning("Refused a request to %s for connection %r: %s", request.url.path, conn_id, problem)
            return _error(401, problem)
        payload = _payload(body)
        if payload is None:
            return _error(400, "expected a form body with a JSON 'payload' field, as Slack sends")
        click = parse_interaction(payload)
        if click is not None:
            background.add_task(handler.handle, click)
        return Response(status_code=200)


def create_app(receiver: InteractionReceiver | None = None) -> FastAPI:
    """The FastAPI app with the interactions route (mounted by the plugin under ``/slack-gate``)."""
    app = FastAPI(
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


class _Clock(Clock):
    """slack_sdk's clock over a plain function (so tests can move time)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def _payload(body: bytes) -> dict[str, Any] | None:
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError):
        return None
    return payload if isinstance(payload, dict) else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)
