"""The admin HTTP API under ``/_emulator/``: the people's side and fault injection, for other processes.

Every route takes and returns JSON (GET routes take query parameters; a body must be sent as
``Content-Type: application/json``, else HTTP 415, so no other website open in a browser can act as
the workspace's people). Failures answer HTTP 400 ``{"ok": false, "error": "<what is wrong>"}``.
:class:`~airflow_slack_gate.testing.emulator.EmulatorClient` is the Python client of these routes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from aiohttp import web

from airflow_slack_gate.testing.emulator.api import EmulatorApi
from airflow_slack_gate.testing.emulator.interactivity import Delivery
from airflow_slack_gate.testing.emulator.state import EmulatorError

Handler = Callable[[EmulatorApi, dict[str, Any]], Any]

PREFIX = "/_emulator"


def _post_message(api: EmulatorApi, a: dict[str, Any]) -> Any:
    ts = api.post_as_user(
        a["channel"],
        a["user"],
        a["text"],
        thread_ts=a.get("thread_ts"),
        blocks=a.get("blocks"),
        broadcast=bool(a.get("broadcast", False)),
    )
    return {"ts": ts}


def _reply(api: EmulatorApi, a: dict[str, Any]) -> Any:
    broadcast = bool(a.get("broadcast", False))
    return {"ts": api.reply(a["channel"], a["thread_ts"], a["user"], a["text"], broadcast=broadcast)}


def _inject_fault(api: EmulatorApi, a: dict[str, Any]) -> Any:
    api.inject_fault(
        a["method"],
        status=int(a.get("status", 429)),
        count=int(a.get("count", 1)),
        retry_after=int(a.get("retry_after", 1)),
        error=a.get("error"),
        carried_out=bool(a.get("carried_out", False)),
    )


def _calls(api: EmulatorApi, a: dict[str, Any]) -> Any:
    method = a.get("method")
    calls = [asdict(call) for call in api.calls if method is None or call.method == method]
    return {"calls": calls, "count": len(calls)}


def _delivery(delivery: Delivery) -> dict[str, Any]:
    return {
        "kind": delivery.kind,
        "via": delivery.via,
        "app_id": delivery.app_id,
        "connection_id": delivery.connection_id,
        "envelope_id": delivery.envelope_id,
        "attempts": delivery.attempts,
        "url": delivery.url,
        "status": delivery.status,
        "body": delivery.body,
        "ack_payload": delivery.ack_payload,
        "answered": delivery.answered.is_set(),
        "ok": delivery.ok,
        "error": delivery.error,
        "elapsed": delivery.elapsed,
        "payload": delivery.payload,
    }


def _answered(delivery: Delivery, a: dict[str, Any]) -> dict[str, Any]:
    if a.get("wait", True):
        delivery.wait(float(a.get("timeout", 10.0)))
    return {"delivery": _delivery(delivery)}


def _click(api: EmulatorApi, a: dict[str, Any]) -> Any:
    delivery = api.click_button(
        a["channel"],
        a["ts"],
        a["user"],
        a.get("action_id"),
        text=a.get("text"),
        connection=a.get("connection"),
        ticked=a.get("ticked"),
    )
    return _answered(delivery, a)


def _submit_view(api: EmulatorApi, a: dict[str, Any]) -> Any:
    delivery = api.submit_view(
        a["user"], a.get("values") or {}, view_id=a.get("view_id"), connection=a.get("connection")
    )
    return _answered(delivery, a)


def _app(api: EmulatorApi, a: dict[str, Any]) -> Any:
    if "socket_mode" in a or "request_url" in a:
        settings = api.configure_app(
            a.get("bot"),
            socket_mode=None if a.get("socket_mode") is None else bool(a["socket_mode"]),
            request_url=a.get("request_url"),
        )
    else:
        settings = api.app_settings(a.get("bot"))
    return {"app": settings.to_dict()}


#: (HTTP method, path under /_emulator) -> handler(api, arguments) returning a JSON-able value.
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/health"): lambda api, a: {},
    ("GET", "/workspace"): lambda api, a: {"workspace": api.workspace.to_dict()},
    ("GET", "/directory"): lambda api, a: api.directory(),
    ("GET", "/messages"): lambda api, a: {"messages": api.messages(a["channel"])},
    ("POST", "/messages"): _post_message,
    ("PATCH", "/messages"): lambda api, a: api.edit_message(a["channel"], a["ts"], a["text"]),
    ("DELETE", "/messages"): lambda api, a: api.delete_message(a["channel"], a["ts"]),
    ("GET", "/message"): lambda api, a: {"message": api.get_message(a["channel"], a["ts"])},
    ("GET", "/replies"): lambda api, a: {"messages": api.replies(a["channel"], a["ts"])},
    ("POST", "/replies"): _reply,
    ("POST", "/reactions"): lambda api, a: api.add_reaction(a["channel"], a["ts"], a["user"], a["name"]),
    ("DELETE", "/reactions"): lambda api, a: api.remove_reaction(a["channel"], a["ts"], a["user"], a["name"]),
    ("POST", "/faults"): _inject_fault,
    ("DELETE", "/faults"): lambda api, a: api.clear_faults(),
    ("POST", "/latency"): lambda api, a: api.set_latency(a["method"], float(a["seconds"])),
    ("POST", "/delays"): lambda api, a: api.delay_calls(
        a["method"], float(a["seconds"]), int(a.get("count", 1))
    ),
    ("POST", "/drops"): lambda api, a: api.drop_connections(a["method"], int(a.get("count", 1))),
    ("POST", "/rate_limits"): lambda api, a: api.enable_rate_limits(
        bool(a.get("enabled", True)), overrides=a.get("overrides")
    ),
    ("GET", "/calls"): _calls,
    ("DELETE", "/calls"): lambda api, a: api.reset_counters(),
    ("GET", "/app"): _app,
    ("POST", "/app"): _app,
    ("GET", "/ephemerals"): lambda api, a: {
        "ephemerals": [e.to_dict() for e in api.ephemerals(a.get("user"), a.get("channel"))]
    },
    ("GET", "/views"): lambda api, a: {
        "views": [
            {"id": v.id, "user": v.user, "view": v.view, "errors": v.errors}
            for v in api.open_views(a.get("user"))
        ]
    },
    ("GET", "/socket_connections"): lambda api, a: {
        "connections": [c.to_dict() for c in api.socket_connections(a.get("bot"))]
    },
    ("POST", "/socket_connections/refresh"): lambda api, a: {
        "connections": api.refresh_socket_connections(a.get("connection"))
    },
    ("POST", "/socket_connections/drop"): lambda api, a: {
        "connections": api.drop_socket_connections(a.get("connection"))
    },
}

#: Routes that wait for an app's answer; they run off the event loop (which delivers the payload).
BLOCKING_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/clicks"): _click,
    ("POST", "/views/submit"): _submit_view,
}

#: Routes that block until something happens; they run off the event loop.
WAIT_ROUTE = ("GET", "/wait")


def _wait(api: EmulatorApi, a: dict[str, Any]) -> Any:
    message = api.wait_for_message(
        a["channel"],
        user=a.get("user"),
        text_contains=a.get("text_contains"),
        thread_ts=a.get("thread_ts"),
        timeout=float(a.get("timeout", 10.0)),
    )
    return {"message": message}


def add_admin_routes(app: web.Application, api: EmulatorApi) -> None:
    """Register every admin route on ``app``."""
    for (verb, path), handler in ROUTES.items():
        app.router.add_route(verb, PREFIX + path, _endpoint(api, handler, blocking=False))
    for (verb, path), handler in BLOCKING_ROUTES.items():
        app.router.add_route(verb, PREFIX + path, _endpoint(api, handler, blocking=True))
    app.router.add_route(WAIT_ROUTE[0], PREFIX + WAIT_ROUTE[1], _endpoint(api, _wait, blocking=True))
    app.router.add_post(PREFIX + "/response_url/{trigger}", _response_url(api))


def _response_url(api: EmulatorApi) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The ``response_url`` of an interaction: apps may post a message back to it."""

    async def endpoint(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_json"}, status=400)
        with api.state.lock:
            api.interactivity.responses.append({"trigger": request.match_info["trigger"], "body": body})
        return web.json_response({"ok": True})

    return endpoint


def _endpoint(
    api: EmulatorApi, handler: Handler, *, blocking: bool
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        try:
            arguments = await _arguments(request)
            if blocking:
                result = await asyncio.get_running_loop().run_in_executor(None, handler, api, arguments)
            else:
                result = handler(api, arguments)
        except KeyError as exc:
            return _error(f"missing argument {exc.args[0]!r}")
        except _NotJson as exc:
            return _error(str(exc), status=415)
        except (EmulatorError, TimeoutError, ValueError, TypeError) as exc:
            return _error(str(exc) or type(exc).__name__)
        return web.json_response({"ok": True, **(result or {})})

    return endpoint


class _NotJson(ValueError):
    """A body that is not ``application/json``."""


async def _arguments(request: web.Request) -> dict[str, Any]:
    arguments: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        # Any website can make a browser send a form's content types here without asking first; a
        # JSON body needs the emulator's CORS consent, which it never gives.
        if request.content_type != "application/json":
            raise _NotJson("send the arguments as JSON, with Content-Type: application/json")
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        arguments.update(body)
    return arguments


def _error(message: str, status: int = 400) -> web.Response:
    return web.Response(
        text=json.dumps({"ok": False, "error": message}), status=status, content_type="application/json"
    )
