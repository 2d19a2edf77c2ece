"""The aiohttp application: Slack's Web API under ``/api/<method>``, Socket Mode's websocket under
``/link/``, the admin API under ``/_emulator/``, and Slack in the browser at ``/``.

Per call: parse arguments (query string, then urlencoded/multipart form or JSON body), record the call,
apply injected latency, drops and faults, authenticate the token, enforce rate limits when enabled,
then run the method's handler under the workspace lock.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from airflow_slack_gate.testing.emulator.admin import add_admin_routes
from airflow_slack_gate.testing.emulator.api import EmulatorApi
from airflow_slack_gate.testing.emulator.controls import CallRecord, Fault
from airflow_slack_gate.testing.emulator.methods import METHODS, Call, Method
from airflow_slack_gate.testing.emulator.page import add_page_route
from airflow_slack_gate.testing.emulator.params import Params
from airflow_slack_gate.testing.emulator.socket_mode import APP_LEVEL_METHODS, LINK_PATH, SocketModeHub
from airflow_slack_gate.testing.emulator.state import SlackError

_JSON = "application/json"
#: The scope of an app-level token (``xapp-...``), all that apps.connections.open accepts.
APP_LEVEL_SCOPES = ("connections:write",)
#: The names the emulator answers to (it listens on 127.0.0.1 only).
LOCAL_NAMES = ("127.0.0.1", "localhost")


def build_app(api: EmulatorApi) -> web.Application:
    """The emulator's aiohttp application for ``api``'s workspace and controls."""
    app = web.Application(middlewares=[_addressed_to_this_machine])
    hub = SocketModeHub(api.interactivity)
    app.router.add_route("*", "/api/{method}", _WebApi(api, hub).handle)
    app.router.add_get(LINK_PATH, hub.handle_websocket)
    add_admin_routes(app, api)
    add_page_route(app)

    async def attach(_: web.Application) -> None:
        hub.attach(asyncio.get_running_loop())

    async def close(_: web.Application) -> None:
        await hub.close_all()
        await api.interactivity.close()

    app.on_startup.append(attach)
    app.on_shutdown.append(close)
    return app


@web.middleware
async def _addressed_to_this_machine(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer only requests addressed to 127.0.0.1 or localhost. A website whose name was made to
    resolve to 127.0.0.1 (DNS rebinding) is the page's origin as far as a browser can tell, and could
    otherwise read the workspace and act as its people; its requests name it in ``Host``."""
    if (request.host or "").rsplit(":", 1)[0] not in LOCAL_NAMES:
        return web.json_response(
            {
                "ok": False,
                "error": f"the emulator answers requests addressed to {' or '.join(LOCAL_NAMES)} only, "
                f"not {request.host!r}: use http://127.0.0.1:<port>/",
            },
            status=421,
        )
    return await handler(request)


def slack_json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response the way Slack sends it."""
    return web.Response(
        text=json.dumps(body), status=status, headers=headers, content_type=_JSON, charset="utf-8"
    )


class _WebApi:
    """Serves Slack Web API methods."""

    def __init__(self, api: EmulatorApi, hub: SocketModeHub) -> None:
        self.api = api
        self.hub = hub

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        method = METHODS.get(name)
        if method is None and name not in APP_LEVEL_METHODS:
            # Slack answers a method it does not have like any failed call: HTTP 200, ok false.
            return self._answer(name, dict(request.query), {"ok": False, "error": "unknown_method"})
        try:
            values = await _read_arguments(request)
        except SlackError as exc:
            return self._answer(name, {}, _error_body(exc))
        token = _token(request, values)
        params = {k: v for k, v in values.items() if k != "token"}
        controls = self.api.controls
        if delay := controls.latency(name):
            await asyncio.sleep(delay)
        if controls.take_drop(name):
            controls.record(CallRecord(name, params, 0, "connection_dropped"))
            return _drop(request)
        fault = controls.take_fault(name)
        if fault is not None and not fault.carried_out:
            return self._fault(name, params, fault)
        if method is None:
            return self._app_level_call(name, token, params, request.host, fault)
        return self._call(name, method, token, params, fault)

    def _app_level_call(
        self, name: str, token: str | None, params: dict[str, Any], host: str, fault: Fault | None
    ) -> web.Response:
        """A method that takes the app-level token (``xapp-...``): apps.connections.open."""
        try:
            retry_after = self.api.controls.check_rate_limit(token or "", name, APP_LEVEL_METHODS[name], None)
            if retry_after is not None:
                return self._rate_limited(name, params, retry_after)
            body = self.hub.open_url(token, host)
        except SlackError as exc:
            body = _error_body(exc)
        app = self.api.interactivity.app_by_token(token)
        headers = scope_headers(APP_LEVEL_SCOPES, APP_LEVEL_SCOPES) if app is not None else None
        if fault is not None:
            return self._fault(name, params, fault)
        return self._answer(name, params, body, headers)

    def _call(
        self, name: str, method: Method, token: str | None, params: dict[str, Any], fault: Fault | None
    ) -> web.Response:
        """Authenticate, enforce rate limits, run the handler: Slack's answer as a response (or, after
        the handler ran, a ``carried_out`` fault instead)."""
        headers: dict[str, str] | None = None
        try:
            bot = self.api.state.authenticate(token)
            headers = scope_headers(bot.scopes, method.scopes)
            channel = self._channel_id(params.get("channel"))
            retry_after = self.api.controls.check_rate_limit(bot.token, name, method.tier, channel)
            if retry_after is not None:
                return self._rate_limited(name, params, retry_after)
            with self.api.state.lock:
                before = self.api.interactivity.before_web_call(name, params)
                body = method.handler(Call(self.api.state, bot, Params(params)))
        except SlackError as exc:
            body, before = _error_body(exc), None
        self.api.interactivity.after_web_call(name, body, before)
        if fault is not None:
            return self._fault(name, params, fault)
        return self._answer(name, params, body, headers)

    def _channel_id(self, ref: Any) -> str | None:
        """The channel a call names, as an id when known (``#approvals`` and its id share a limit)."""
        if not isinstance(ref, str) or not ref:
            return None
        found = self.api.state.find_channel(ref)
        return found.id if found else ref

    def _answer(
        self, name: str, params: dict[str, Any], body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        self.api.controls.record(CallRecord(name, params, 200, body.get("error")))
        return slack_json(body, headers=headers)

    def _rate_limited(self, name: str, params: dict[str, Any], retry_after: int) -> web.Response:
        self.api.controls.record(CallRecord(name, params, 429, "ratelimited"))
        return slack_json(
            {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)}
        )

    def _fault(self, name: str, params: dict[str, Any], fault: Fault) -> web.Response:
        if fault.error is not None:
            return self._answer(name, params, {"ok": False, "error": fault.error})
        if fault.status == 429:
            return self._rate_limited(name, params, fault.retry_after)
        self.api.controls.record(CallRecord(name, params, fault.status, "fatal_error"))
        return slack_json({"ok": False, "error": "fatal_error"}, status=fault.status)


def scope_headers(granted: tuple[str, ...], accepted: tuple[str, ...]) -> dict[str, str]:
    """Slack's scope headers on a call whose token it knows: ``x-oauth-scopes`` lists the token's
    scopes, ``x-accepted-oauth-scopes`` the scopes the method checks for (Slack's OAuth scopes page:
    ``x-oauth-scopes: files:read, chat:write, chat:write.public``, ``x-accepted-oauth-scopes:
    files:read``).

    Emulator choice: a method that checks no scope (auth.test) sends no ``x-accepted-oauth-scopes``;
    Slack does not document that case.
    """
    headers = {"x-oauth-scopes": ", ".join(granted)}
    if accepted:
        headers["x-accepted-oauth-scopes"] = ", ".join(accepted)
    return headers


def _error_body(exc: SlackError) -> dict[str, Any]:
    return {"ok": False, "error": exc.code, **exc.fields}


async def _read_arguments(request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return values
    if request.content_type == _JSON:
        try:
            body = await request.json()
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("json_not_object")
        values.update(body)
    else:
        form = await request.post()
        values.update({key: value for key, value in form.items() if isinstance(value, str)})
    return values


def _token(request: web.Request, values: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    token = values.get("token")
    return token if isinstance(token, str) and token else None


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without writing a response."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response()
