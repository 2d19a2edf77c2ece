""":class:`EmulatorClient`: drive a running emulator from another process through its admin HTTP API."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from airflow_slack_gate.testing.emulator.interactivity import AppSettings
from airflow_slack_gate.testing.emulator.state import EmulatorError

MessageDict = dict[str, Any]


class EmulatorClient:
    """The people's side and fault injection of a running emulator, over HTTP (stdlib only).

    ``url`` is the emulator's root (``http://127.0.0.1:PORT/``) or its Web API base URL (``.../api/``).
    Channels and users may be given by id or name. Failures raise :class:`EmulatorError`.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        root = url.rstrip("/").removesuffix("/api")
        self.admin_url = f"{root}/_emulator"
        self.timeout = timeout

    def _request(
        self, verb: str, path: str, body: dict[str, Any] | None = None, **query: Any
    ) -> dict[str, Any]:
        url = self.admin_url + path
        filtered = {k: v for k, v in query.items() if v is not None}
        if filtered:
            url += "?" + urllib.parse.urlencode(filtered)
        data = (
            json.dumps({k: v for k, v in body.items() if v is not None}).encode()
            if body is not None
            else None
        )
        request = urllib.request.Request(url, data=data, method=verb)  # noqa: S310 - http(s) URL of the emulator
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise EmulatorError(_error_text(exc)) from None
        except urllib.error.URLError as exc:
            raise EmulatorError(f"cannot reach the emulator at {self.admin_url}: {exc.reason}") from None

    def health(self) -> bool:
        """Whether the emulator answers."""
        return bool(self._request("GET", "/health")["ok"])

    def workspace(self) -> dict[str, Any]:
        """The seeded workspace's ids (``alice``, ``approvals``, ``bot_token``...)."""
        return self._request("GET", "/workspace")["workspace"]

    def post_as_user(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[Any] | None = None,
        broadcast: bool = False,
    ) -> str:
        """Post as a person (into a thread when ``thread_ts`` is given; ``broadcast``: also to the
        channel); return the new ts."""
        body = {
            "channel": channel,
            "user": user,
            "text": text,
            "thread_ts": thread_ts,
            "blocks": blocks,
            "broadcast": broadcast,
        }
        return self._request("POST", "/messages", body)["ts"]

    def reply(self, channel: str, thread_ts: str, user: str, text: str, *, broadcast: bool = False) -> str:
        """A person replies in the thread of ``thread_ts`` (``broadcast``: also to the channel); return
        the reply's ts."""
        body = {
            "channel": channel,
            "thread_ts": thread_ts,
            "user": user,
            "text": text,
            "broadcast": broadcast,
        }
        return self._request("POST", "/replies", body)["ts"]

    def add_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        """A person reacts to a message with emoji ``name``."""
        self._request("POST", "/reactions", {"channel": channel, "ts": ts, "user": user, "name": name})

    def remove_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        """A person takes back a reaction."""
        self._request("DELETE", "/reactions", {"channel": channel, "ts": ts, "user": user, "name": name})

    def edit_message(self, channel: str, ts: str, text: str) -> None:
        """Edit a message's text."""
        self._request("PATCH", "/messages", {"channel": channel, "ts": ts, "text": text})

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message."""
        self._request("DELETE", "/messages", {"channel": channel, "ts": ts})

    def messages(self, channel: str) -> list[MessageDict]:
        """The channel's parent messages, oldest first."""
        return self._request("GET", "/messages", channel=channel)["messages"]

    def replies(self, channel: str, ts: str) -> list[MessageDict]:
        """A thread: the parent first, then the replies oldest first."""
        return self._request("GET", "/replies", channel=channel, ts=ts)["messages"]

    def get_message(self, channel: str, ts: str) -> MessageDict:
        """One message."""
        return self._request("GET", "/message", channel=channel, ts=ts)["message"]

    def wait_for_message(
        self,
        channel: str,
        *,
        user: str | None = None,
        text_contains: str | None = None,
        thread_ts: str | None = None,
        timeout: float = 10.0,
    ) -> MessageDict:
        """Wait (server-side) for the first message matching all filters; EmulatorError on timeout."""
        return self._request(
            "GET",
            "/wait",
            channel=channel,
            user=user,
            text_contains=text_contains,
            thread_ts=thread_ts,
            timeout=timeout,
        )["message"]

    def inject_fault(
        self,
        method: str,
        *,
        status: int = 429,
        count: int = 1,
        retry_after: int = 1,
        error: str | None = None,
        carried_out: bool = False,
    ) -> None:
        """Fail the next ``count`` calls of ``method`` (see :meth:`EmulatorApi.inject_fault`)."""
        body = {
            "method": method,
            "status": status,
            "count": count,
            "retry_after": retry_after,
            "error": error,
            "carried_out": carried_out,
        }
        self._request("POST", "/faults", body)

    def set_latency(self, method: str, seconds: float) -> None:
        """Delay every answer of ``method`` by ``seconds``."""
        self._request("POST", "/latency", {"method": method, "seconds": seconds})

    def delay_calls(self, method: str, seconds: float, count: int = 1) -> None:
        """Delay only the next ``count`` calls of ``method`` by ``seconds`` (each is still carried out)."""
        self._request("POST", "/delays", {"method": method, "seconds": seconds, "count": count})

    def drop_connections(self, method: str, count: int = 1) -> None:
        """Close the connection without answering for the next ``count`` calls of ``method``."""
        self._request("POST", "/drops", {"method": method, "count": count})

    def clear_faults(self) -> None:
        """Forget queued faults, drops and latency."""
        self._request("DELETE", "/faults")

    def enable_rate_limits(self, enabled: bool = True, *, overrides: dict[str, int] | None = None) -> None:
        """Turn Slack's rate limits on or off."""
        self._request("POST", "/rate_limits", {"enabled": enabled, "overrides": overrides})

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded Web API calls (``method``, ``params``, ``status``, ``error``), maybe of one method."""
        return self._request("GET", "/calls", method=method)["calls"]

    def call_count(self, method: str) -> int:
        """How many calls of ``method`` arrived."""
        return self._request("GET", "/calls", method=method)["count"]

    def reset_counters(self) -> None:
        """Forget recorded calls."""
        self._request("DELETE", "/calls")

    # -- buttons, modals, Socket Mode ------------------------------------------------------------

    def app_settings(
        self,
        bot: str | None = None,
        *,
        socket_mode: bool | None = None,
        request_url: str | None = None,
    ) -> AppSettings:
        """An app's settings, as :meth:`EmulatorApi.app_settings` gives them (``app_id``, ``bot``,
        ``app_token``, ``signing_secret``, ``socket_mode``, ``request_url``; by attribute or by key)
        (default: the seeded bot's app); ``socket_mode`` / ``request_url`` change them first."""
        if socket_mode is None and request_url is None:
            return AppSettings.from_dict(self._request("GET", "/app", bot=bot)["app"])
        body = {"bot": bot, "socket_mode": socket_mode, "request_url": request_url}
        return AppSettings.from_dict(self._request("POST", "/app", body)["app"])

    def click_button(
        self,
        channel: str,
        ts: str,
        user: str,
        action_id: str | None = None,
        *,
        text: str | None = None,
        connection: str | None = None,
        wait: bool = True,
        timeout: float = 10.0,
        ticked: list[str] | None = None,
    ) -> dict[str, Any]:
        """A person clicks a button (after ticking the checkbox options whose values are ``ticked``);
        returns the delivery (``ok``, ``status``, ``connection_id``...), after the app answered when
        ``wait``."""
        body = {
            "ticked": ticked,
            "channel": channel,
            "ts": ts,
            "user": user,
            "action_id": action_id,
            "text": text,
            "connection": connection,
            "wait": wait,
            "timeout": timeout,
        }
        return self._request("POST", "/clicks", body)["delivery"]

    def submit_view(
        self,
        user: str,
        values: dict[str, Any] | None = None,
        *,
        view_id: str | None = None,
        wait: bool = True,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """A person types ``values`` into their open modal and submits it; returns the delivery."""
        body = {"user": user, "values": values or {}, "view_id": view_id, "wait": wait, "timeout": timeout}
        return self._request("POST", "/views/submit", body)["delivery"]

    def open_views(self, user: str | None = None) -> list[dict[str, Any]]:
        """Modals people have open (``id``, ``user``, ``view``, and ``errors``: the app's last
        ``response_action: errors``, ``block_id`` -> message)."""
        return self._request("GET", "/views", user=user)["views"]

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages apps showed (to ``user``, in ``channel``)."""
        return self._request("GET", "/ephemerals", user=user, channel=channel)["ephemerals"]

    def socket_connections(self, bot: str | None = None) -> list[dict[str, Any]]:
        """Open Socket Mode connections (of a bot's app)."""
        return self._request("GET", "/socket_connections", bot=bot)["connections"]

    def refresh_socket_connections(self, connection: str | None = None) -> list[str]:
        """Ask one or every Socket Mode connection to reconnect (``refresh_requested``)."""
        return self._request("POST", "/socket_connections/refresh", {"connection": connection})["connections"]

    def drop_socket_connections(self, connection: str | None = None) -> list[str]:
        """Close one or every Socket Mode connection without warning."""
        return self._request("POST", "/socket_connections/drop", {"connection": connection})["connections"]


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read())["error"]
    except (ValueError, KeyError):
        return f"HTTP {exc.code} from the emulator"
