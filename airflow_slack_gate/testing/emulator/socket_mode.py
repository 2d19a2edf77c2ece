"""Socket Mode in the emulator: ``apps.connections.open``, the websocket, envelopes, acks and retries.

As Slack does it:

- ``apps.connections.open`` takes the app-level token (``xapp-...``; a bot token is
  ``not_allowed_token_type``) and returns a single-use ``ws://`` URL on the emulator (``/link/``).
- A new connection first receives ``hello``; an app may hold up to 10 connections at once.
- Each event or interaction goes to ONE open connection of the app, in an envelope
  (``envelope_id``, ``type`` ``events_api``/``interactive``, ``payload``, ``accepts_response_payload``,
  and for events ``retry_attempt``/``retry_reason``); the app acknowledges with
  ``{"envelope_id": ..., "payload": ...}`` within 3 seconds.
- An event not acknowledged in time is sent again (up to 3 retries, ``retry_reason: "timeout"``),
  to another connection when there is one; an unacknowledged interaction fails (the person sees an
  error in Slack) and is not retried.
- ``disconnect`` messages: ``refresh_requested`` asks the app to open a new connection (the old one
  is closed after a grace period), ``link_disabled`` when Socket Mode is turned off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from airflow_slack_gate.testing.emulator.interactivity import Delivery, Interactivity
from airflow_slack_gate.testing.emulator.state import EmulatorError, SlackError

#: Methods that take the app-level token rather than a bot token, with their rate-limit tier.
APP_LEVEL_METHODS: dict[str, int] = {"apps.connections.open": 1}
#: Connections one app may hold at once.
MAX_CONNECTIONS = 10
#: Seconds the URL from apps.connections.open stays valid.
TICKET_TTL = 30.0
#: Times an unacknowledged event is sent again.
EVENT_RETRIES = 3
#: Seconds a connection asked to refresh may stay open before the emulator closes it.
REFRESH_GRACE = 10.0
LINK_PATH = "/link/"


@dataclass
class SocketConnection:
    """One open websocket of an app."""

    id: str
    app_id: str
    ws: web.WebSocketResponse = field(repr=False)
    opened: float = field(default_factory=time.time)
    draining: bool = False
    delivered: int = 0
    acked: int = 0


@dataclass(frozen=True)
class ConnectionInfo:
    """What a test sees of a connection."""

    id: str
    app_id: str
    opened: float
    draining: bool
    delivered: int
    acked: int

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-able dict."""
        return {
            "id": self.id,
            "app_id": self.app_id,
            "opened": self.opened,
            "draining": self.draining,
            "delivered": self.delivered,
            "acked": self.acked,
        }


@dataclass
class _Pending:
    delivery: Delivery
    connection: SocketConnection
    timer: asyncio.TimerHandle


class SocketModeHub:
    """The Socket Mode endpoint of one emulator: connections, tickets and envelopes awaiting an ack.

    Runs in the server's event loop; the methods tests call from other threads (:meth:`send`,
    :meth:`refresh`, :meth:`drop`, :meth:`connections`) hand their work to that loop.
    """

    def __init__(self, surface: Interactivity) -> None:
        self.surface = surface
        self.refresh_grace = REFRESH_GRACE
        self.loop: asyncio.AbstractEventLoop | None = None
        self._connections: dict[str, SocketConnection] = {}
        self._tickets: dict[str, tuple[str, float]] = {}
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve in ``loop`` (the server's)."""
        self.loop = loop
        self.surface.hub, self.surface.loop = self, loop

    # -- opening -------------------------------------------------------------------------------

    def open_url(self, token: str | None, host: str) -> dict[str, Any]:
        """apps.connections.open: a single-use websocket URL for the app of an app-level token."""
        if not token:
            raise SlackError("not_authed")
        app = self.surface.app_by_token(token)
        if app is None:
            bot_token = token in self.surface.workspace.bots
            raise SlackError("not_allowed_token_type" if bot_token else "invalid_auth")
        if not app.socket_mode:
            raise SlackError("socket_mode_not_enabled")
        ticket = uuid.uuid4().hex
        with self._lock:
            now = time.time()
            self._tickets = {k: v for k, v in self._tickets.items() if now - v[1] < TICKET_TTL}
            self._tickets[ticket] = (app.app_id, now)
        return {"ok": True, "url": f"ws://{host}{LINK_PATH}?ticket={ticket}&app_id={app.app_id}"}

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """The websocket behind the URL: hello, then envelopes out and acks in until either side closes."""
        with self._lock:
            entry = self._tickets.pop(request.query.get("ticket", ""), None)
        if entry is None or time.time() - entry[1] >= TICKET_TTL:
            return web.Response(
                status=401, text="invalid or expired ticket: call apps.connections.open again"
            )
        app_id = entry[0]
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = SocketConnection(id=f"conn-{next(self._ids)}", app_id=app_id, ws=ws)
        with self._changed:
            too_many = len(self._of(app_id)) >= MAX_CONNECTIONS
            if not too_many:
                self._connections[connection.id] = connection
                self._changed.notify_all()
        self._notify_workspace()
        if too_many:
            await self._send_json(ws, _disconnect("too_many_websockets"))
            await ws.close(code=WSCloseCode.POLICY_VIOLATION)
            return ws
        await self._send_json(
            ws,
            {
                "type": "hello",
                "num_connections": len(self._of(app_id)),
                "debug_info": {"host": f"emulator-{connection.id}", "build_number": 1},
                "connection_info": {"app_id": app_id},
            },
        )
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(connection, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            with self._changed:
                self._connections.pop(connection.id, None)
                self._changed.notify_all()
            self._notify_workspace()
        return ws

    def _notify_workspace(self) -> None:
        """Wake tests waiting on the workspace (``wait_for``) for a change of connections."""
        with self.surface.workspace.changed:
            self.surface.workspace.changed.notify_all()

    def _on_text(self, connection: SocketConnection, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            return
        envelope_id = data.get("envelope_id") if isinstance(data, dict) else None
        pending = self._pending.pop(envelope_id, None) if isinstance(envelope_id, str) else None
        if pending is None:
            return
        pending.timer.cancel()
        connection.acked += 1
        payload = data.get("payload")
        pending.delivery.ack_payload = payload if isinstance(payload, dict) else None
        pending.delivery.finish()

    # -- sending -------------------------------------------------------------------------------

    def has_connection(self, app_id: str) -> bool:
        """Whether the app has a connection that takes envelopes."""
        with self._lock:
            return bool(self._usable(app_id))

    def send(self, delivery: Delivery, *, connection: str | None = None) -> None:
        """Deliver to one of the app's connections (``connection`` to choose it); thread-safe."""
        if self.loop is None:
            raise RuntimeError("the Socket Mode hub is not attached to a running server")
        with self._lock:
            if connection is not None and connection not in self._connections:
                raise EmulatorError(f"no open Socket Mode connection {connection!r}")
            if not self._usable(delivery.app_id):
                raise EmulatorError(
                    f"app {delivery.app_id} has no open Socket Mode connection: Slack cannot deliver this"
                )
        self.loop.call_soon_threadsafe(self._send, delivery, connection)

    def _send(self, delivery: Delivery, chosen: str | None) -> None:
        with self._lock:
            usable = self._usable(delivery.app_id)
            if chosen is not None and chosen in self._connections:
                connection: SocketConnection | None = self._connections[chosen]
            elif usable:
                fresh = [c for c in usable if c.id not in delivery.connection_ids] or usable
                connection = self.surface.rng.choice(fresh)
            else:
                connection = None
        if connection is None:
            delivery.finish(error="no open Socket Mode connection")
            return
        retry = delivery.attempts
        delivery.attempts += 1
        delivery.envelope_id = uuid.uuid4().hex
        delivery.connection_id = connection.id
        delivery.connection_ids.append(connection.id)
        envelope: dict[str, Any] = {
            "envelope_id": delivery.envelope_id,
            "payload": delivery.payload,
            "type": delivery.kind,
            "accepts_response_payload": delivery.payload.get("type") == "view_submission",
        }
        if delivery.kind == "events_api":
            envelope.update({"retry_attempt": retry, "retry_reason": "timeout" if retry else ""})
        assert self.loop is not None
        timer = self.loop.call_later(self.surface.ack_timeout, self._not_acked, delivery.envelope_id)
        self._pending[delivery.envelope_id] = _Pending(delivery, connection, timer)
        connection.delivered += 1
        self.loop.create_task(self._send_json(connection.ws, envelope))

    def _not_acked(self, envelope_id: str) -> None:
        pending = self._pending.pop(envelope_id, None)
        if pending is None:
            return
        delivery = pending.delivery
        if delivery.kind == "events_api" and delivery.attempts <= EVENT_RETRIES:
            self._send(delivery, None)
        else:
            delivery.finish(error=f"not acknowledged within {self.surface.ack_timeout}s")

    @staticmethod
    async def _send_json(ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if ws.closed:
            return
        # when the connection went away, an unacknowledged envelope is retried or fails
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps(data))

    # -- closing -------------------------------------------------------------------------------

    def refresh(self, connection_id: str | None = None) -> list[str]:
        """Ask connections (one, or all) to reconnect (``disconnect`` / ``refresh_requested``), as Slack
        does every few hours; they get no more envelopes and are closed after :attr:`refresh_grace`."""
        return self._disconnect(connection_id, None, "refresh_requested", self.refresh_grace)

    def drop(self, connection_id: str | None = None) -> list[str]:
        """Close connections (one, or all) without warning, like a network failure."""
        return self._disconnect(connection_id, None, None, 0.0)

    def disconnect_app(self, app_id: str, *, reason: str) -> list[str]:
        """Tell every connection of an app to go away (``link_disabled``: Socket Mode turned off)."""
        return self._disconnect(None, app_id, reason, 0.0)

    def _disconnect(
        self, connection_id: str | None, app_id: str | None, reason: str | None, grace: float
    ) -> list[str]:
        with self._lock:
            chosen = [
                c
                for c in self._connections.values()
                if connection_id in (None, c.id) and app_id in (None, c.app_id)
            ]
            for connection in chosen:
                connection.draining = True
            self._changed.notify_all()
        self._notify_workspace()
        if self.loop is not None:
            for connection in chosen:
                asyncio.run_coroutine_threadsafe(self._close(connection, reason, grace), self.loop)
        return [c.id for c in chosen]

    async def _close(self, connection: SocketConnection, reason: str | None, grace: float) -> None:
        if reason is not None:
            await self._send_json(connection.ws, _disconnect(reason))
        if grace:
            await asyncio.sleep(grace)
        if not connection.ws.closed:
            await connection.ws.close(code=WSCloseCode.GOING_AWAY)

    async def close_all(self) -> None:
        """Close every connection (the server's shutdown)."""
        with self._lock:
            connections = list(self._connections.values())
            pending, self._pending = list(self._pending.values()), {}
        for item in pending:
            item.timer.cancel()
            item.delivery.finish(error="the emulator stopped")
        for connection in connections:
            if not connection.ws.closed:
                await connection.ws.close(code=WSCloseCode.GOING_AWAY)

    # -- looking -------------------------------------------------------------------------------

    def connections(self, app_id: str | None = None) -> list[ConnectionInfo]:
        """The open connections (of ``app_id``), oldest first."""
        with self._lock:
            return [
                ConnectionInfo(c.id, c.app_id, c.opened, c.draining, c.delivered, c.acked)
                for c in self._connections.values()
                if app_id in (None, c.app_id)
            ]

    def wait_for_connections(
        self, count: int, app_id: str | None = None, timeout: float = 10.0
    ) -> list[ConnectionInfo]:
        """Block until at least ``count`` connections (of ``app_id``) take envelopes; return them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._usable(app_id)) >= count, timeout):
                raise TimeoutError(f"fewer than {count} Socket Mode connections within {timeout}s")
        return [c for c in self.connections(app_id) if not c.draining]

    def _of(self, app_id: str | None) -> list[SocketConnection]:
        return [c for c in self._connections.values() if app_id in (None, c.app_id)]

    def _usable(self, app_id: str | None) -> list[SocketConnection]:
        return [c for c in self._of(app_id) if not c.draining and not c.ws.closed]


def _disconnect(reason: str) -> dict[str, Any]:
    return {"type": "disconnect", "reason": reason, "debug_info": {"host": "emulator"}}
