"""Slack's interactive side in the emulator: apps' settings, button clicks and modals as a person makes
them, ephemeral messages, and delivering payloads and events to an app.

A click is delivered the way Slack delivers it: over Socket Mode to ONE of the app's open connections
when the app has Socket Mode on (see :mod:`airflow_slack_gate.testing.emulator.socket_mode`), else as a signed
``POST`` (``X-Slack-Signature``, ``X-Slack-Request-Timestamp``, form field ``payload``) to the app's
Request URL, which must answer within 3 seconds. Message and ``reaction_added`` events go to one
Socket Mode connection of each app whose bot is in the channel (the emulator has no Events API URL).

One :class:`Interactivity` belongs to each :class:`~airflow_slack_gate.testing.emulator.state.Workspace`
(:func:`interactivity_of`); it shares the workspace lock, and notifies the workspace's ``changed``
condition, so tests can wait for an ephemeral message or a modal like for any message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
import urllib.parse
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from airflow_slack_gate.testing.emulator import render
from airflow_slack_gate.testing.emulator.state import Bot, EmulatorError, Message, SlackError, Workspace

if TYPE_CHECKING:
    from airflow_slack_gate.testing.emulator.methods import Call, Response
    from airflow_slack_gate.testing.emulator.socket_mode import SocketModeHub

#: Seconds an app has to acknowledge a payload (Slack's limit).
ACK_TIMEOUT = 3.0
#: Seconds a ``trigger_id`` can be exchanged for a modal (Slack's limit).
TRIGGER_TTL = 3.0

DeliveryKind = Literal["events_api", "interactive"]


@dataclass
class AppSettings:
    """A Slack app's interactivity settings (Basic Information and Interactivity pages).

    The same type comes from the in-process API (the live settings) and from ``EmulatorClient``
    (a copy). Read it by attribute (``app.app_token``) or, like a dict, by key (``app["app_token"]``).
    """

    app_id: str
    bot: Bot
    app_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    socket_mode: bool = True
    request_url: str | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in fields(self)}:
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-able dict (the bot as a dict too)."""
        return {**asdict(self), "bot": {**asdict(self.bot), "scopes": list(self.bot.scopes)}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppSettings:
        """The settings :meth:`to_dict` gave."""
        bot = Bot(**{**data["bot"], "scopes": tuple(data["bot"]["scopes"])})
        return cls(**{**data, "bot": bot})


@dataclass
class Delivery:
    """One payload Slack sent to an app, and what the app answered.

    ``via`` is ``socket_mode`` (``connection_id``, ``envelope_id``, the ack's ``ack_payload``) or
    ``request_url`` (``url``, the HTTP ``status`` and response ``body``, and the exact request sent:
    ``request_body`` and ``request_headers``). ``attempts`` counts deliveries (Slack retries events not
    acknowledged in time); ``error`` says why the app did not answer in time.
    """

    kind: DeliveryKind
    payload: dict[str, Any]
    app_id: str
    via: Literal["socket_mode", "request_url"]
    created: float = field(default_factory=time.monotonic)
    envelope_id: str | None = None
    connection_id: str | None = None
    connection_ids: list[str] = field(default_factory=list)
    attempts: int = 0
    url: str | None = None
    request_body: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    body: str | None = None
    ack_payload: dict[str, Any] | None = None
    error: str | None = None
    elapsed: float | None = None
    answered: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the app acknowledged (Socket Mode) or answered HTTP 200 (Request URL) in time."""
        return self.answered.is_set() and self.error is None

    def wait(self, timeout: float = 10.0) -> Delivery:
        """Block until the app answered or gave up; ``TimeoutError`` after ``timeout`` seconds."""
        if not self.answered.wait(timeout):
            raise TimeoutError(f"the app did not answer the {self.kind} payload within {timeout}s")
        return self

    def finish(self, *, error: str | None = None) -> None:
        """Mark the delivery answered (or failed with ``error``)."""
        if not self.answered.is_set():
            self.error = error
            self.elapsed = time.monotonic() - self.created
            self.answered.set()


@dataclass
class OpenedView:
    """A modal a person has open: its view object as ``views.open`` returned it."""

    id: str
    user: str
    app_id: str
    view: dict[str, Any]
    opened: float = field(default_factory=time.time)
    closed: bool = False
    #: the app's last ``response_action: errors`` (``block_id`` -> message), shown under the inputs
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ephemeral:
    """A message only ``user`` sees (``chat.postEphemeral``); Slack never stores it in the channel."""

    channel: str
    user: str
    text: str
    ts: str
    app_id: str
    thread_ts: str | None = None
    blocks: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """As a JSON-able dict."""
        return {
            "channel": self.channel,
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "app_id": self.app_id,
            "thread_ts": self.thread_ts,
            "blocks": self.blocks,
        }


@dataclass
class _Trigger:
    user: str
    app_id: str
    issued: float
    used: bool = False


_SURFACES: weakref.WeakKeyDictionary[Workspace, Interactivity] = weakref.WeakKeyDictionary()
_SURFACES_LOCK = threading.Lock()


def interactivity_of(workspace: Workspace) -> Interactivity:
    """The workspace's :class:`Interactivity` (created on first use)."""
    with _SURFACES_LOCK:
        found = _SURFACES.get(workspace)
        if found is None:
            found = _SURFACES[workspace] = Interactivity(workspace)
        return found


class Interactivity:
    """Apps, clicks, modals, ephemeral messages and deliveries of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.apps: dict[str, AppSettings] = {}
        self.views: dict[str, OpenedView] = {}
        self.ephemerals: list[Ephemeral] = []
        self.deliveries: list[Delivery] = []
        self.responses: list[dict[str, Any]] = []
        self.trigger_ttl = TRIGGER_TTL
        self.ack_timeout = ACK_TIMEOUT
        self.rng = random.Random()  # noqa: S311 - choosing a connection, not cryptography
        self.hub: SocketModeHub | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.base_url: str | None = None
        self._triggers: dict[str, _Trigger] = {}
        self._session: aiohttp.ClientSession | None = None

    # -- apps ----------------------------------------------------------------------------------

    def app(self, bot: Bot | str) -> AppSettings:
        """The settings of the app behind a bot (:class:`Bot`, its user id, name or ``A...`` app id)."""
        with self.workspace.lock:
            found = self._find_bot(bot)
            settings = self.apps.get(found.app_id)
            if settings is None:
                settings = self.apps[found.app_id] = AppSettings(
                    app_id=found.app_id,
                    bot=found,
                    app_token=f"xapp-1-{found.app_id}-{secrets.token_hex(4)}-{secrets.token_hex(16)}",
                    signing_secret=secrets.token_hex(16),
                )
            return settings

    def configure_app(
        self, bot: Bot | str, *, socket_mode: bool | None = None, request_url: str | None = None
    ) -> AppSettings:
        """Turn Socket Mode on or off, or set the Request URL, of the app behind ``bot``.

        Turning Socket Mode off closes the app's connections (``disconnect`` with ``link_disabled``).
        """
        settings = self.app(bot)
        with self.workspace.lock:
            if request_url is not None:
                settings.request_url = request_url or None
            if socket_mode is not None:
                settings.socket_mode = socket_mode
        if socket_mode is False and self.hub is not None:
            self.hub.disconnect_app(settings.app_id, reason="link_disabled")
        return settings

    def app_by_token(self, token: str | None) -> AppSettings | None:
        """The app an app-level token (``xapp-...``) belongs to."""
        with self.workspace.lock:
            return next((app for app in self.apps.values() if token and app.app_token == token), None)

    def _find_bot(self, bot: Bot | str) -> Bot:
        if isinstance(bot, Bot):
            return bot
        for known in self.workspace.bots.values():
            if bot in (known.app_id, known.user_id, known.name, known.bot_id):
                return known
        raise EmulatorError(f"no app or bot {bot!r}")

    # -- the person's side ---------------------------------------------------------------------

    def click(
        self,
        channel: str,
        ts: str,
        user: str,
        *,
        action_id: str | None = None,
        text: str | None = None,
        connection: str | None = None,
        ticked: list[str] | None = None,
    ) -> Delivery:
        """``user`` presses a button of the message at ``ts`` (by ``action_id`` or its label ``text``),
        after ticking the checkbox options whose values are ``ticked`` (sent as the payload's ``state``).

        The app that posted the message receives a ``block_actions`` payload with a fresh
        ``trigger_id``; returns the :class:`Delivery` (``wait()`` for the app's answer).
        ``connection`` picks the Socket Mode connection (default: one of the app's, as Slack does).
        """
        with self.workspace.lock:
            target = self.workspace.channel(channel)
            person = self.workspace.user(user)
            message = self.workspace.message(target.id, ts)
            if person.id not in target.members:
                raise EmulatorError(f"{user} is not in #{target.name}, so cannot see the message")
            block, button = _find_button(message, action_id, text)
            if not message.app_id or message.app_id not in {b.app_id for b in self.workspace.bots.values()}:
                raise EmulatorError("only an app's message has buttons that reach an app")
            app = self.app(message.app_id)
            trigger_id = self.new_trigger_id(person.id, app.app_id)
            action_ts = self.workspace.next_ts()
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_field(person.id),
                "api_app_id": app.app_id,
                "token": "emulator-verification-token",
                "container": {
                    "type": "message",
                    "message_ts": message.ts,
                    "channel_id": target.id,
                    "is_ephemeral": False,
                },
                "trigger_id": trigger_id,
                "team": {"id": self.workspace.team_id, "domain": self.workspace.domain},
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": target.id, "name": target.name},
                "message": render.message(self.workspace, target, message),
                "state": {"values": _checkbox_state(message.blocks or [], ticked or [])},
                "response_url": self._response_url(trigger_id),
                "actions": [_button_action(block, button, action_ts)],
            }
        return self.deliver(app, "interactive", payload, connection=connection)

    def submit_view(
        self,
        user: str,
        values: Mapping[str, Any] | None = None,
        *,
        view_id: str | None = None,
        connection: str | None = None,
    ) -> Delivery:
        """``user`` fills in their open modal (the latest, or ``view_id``) and presses its submit button.

        ``values`` maps an input's ``block_id`` (or ``action_id``) to the text typed, the option chosen
        (its value or text) or the options ticked (a list); untouched inputs keep their initial values
        (see :func:`_input_values`). The view closes when the app answers without
        ``response_action: errors``.
        """
        with self.workspace.lock:
            person = self.workspace.user(user)
            opened = self._open_view(person.id, view_id)
            view = json.loads(json.dumps(opened.view))
            view["state"] = {"values": _input_values(view.get("blocks") or [], values or {})}
            app = self.app(opened.app_id)
            payload = {
                "type": "view_submission",
                "team": {"id": self.workspace.team_id, "domain": self.workspace.domain},
                "user": self._user_field(person.id),
                "api_app_id": app.app_id,
                "token": "emulator-verification-token",
                "trigger_id": self.new_trigger_id(person.id, app.app_id),
                "view": view,
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": None,
            }
        delivery = self.deliver(app, "interactive", payload, connection=connection)
        threading.Thread(target=self._close_view_after, args=(opened, delivery), daemon=True).start()
        return delivery

    def _close_view_after(self, opened: OpenedView, delivery: Delivery) -> None:
        if not delivery.answered.wait(self.ack_timeout + 5):
            return
        answer = delivery.ack_payload
        if answer is None and delivery.body:
            try:
                answer = json.loads(delivery.body)
            except ValueError:
                answer = None
        if not delivery.ok:
            return
        with self.workspace.changed:
            if isinstance(answer, dict) and answer.get("response_action") == "errors":
                errors = answer.get("errors")
                opened.errors = dict(errors) if isinstance(errors, dict) else {}  # the modal stays open
            else:
                opened.closed = True
            self.workspace.changed.notify_all()

    def open_views(self, user: str | None = None) -> list[OpenedView]:
        """Modals people have open (of ``user`` when given), oldest first."""
        with self.workspace.lock:
            user_id = self.workspace.user(user).id if user else None
            return [v for v in self.views.values() if not v.closed and user_id in (None, v.user)]

    def _open_view(self, user_id: str, view_id: str | None) -> OpenedView:
        views = [v for v in self.views.values() if not v.closed and v.user == user_id]
        if view_id is not None:
            views = [v for v in views if v.id == view_id]
        if not views:
            raise EmulatorError(f"{user_id} has no open modal" + (f" {view_id}" if view_id else ""))
        return views[-1]

    def ephemerals_for(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages shown so far (to ``user``, in ``channel``), oldest first."""
        with self.workspace.lock:
            user_id = self.workspace.user(user).id if user else None
            channel_id = self.workspace.channel(channel).id if channel else None
            return [
                e for e in self.ephemerals if user_id in (None, e.user) and channel_id in (None, e.channel)
            ]

    # -- deliveries ----------------------------------------------------------------------------

    def deliver(
        self,
        app: AppSettings,
        kind: DeliveryKind,
        payload: dict[str, Any],
        *,
        connection: str | None = None,
    ) -> Delivery:
        """Send ``payload`` to the app: Socket Mode when it is on, else its Request URL."""
        if self.loop is None or self.hub is None:
            raise EmulatorError("start the emulator's server (SlackEmulator) to deliver payloads to apps")
        if app.socket_mode:
            delivery = Delivery(kind=kind, payload=payload, app_id=app.app_id, via="socket_mode")
            self.hub.send(delivery, connection=connection)
        else:
            if not app.request_url:
                raise EmulatorError(
                    f"app {app.app_id} has Socket Mode off and no Request URL: Slack cannot deliver the click"
                )
            delivery = Delivery(
                kind=kind, payload=payload, app_id=app.app_id, via="request_url", url=app.request_url
            )
            asyncio.run_coroutine_threadsafe(self._post(app, delivery), self.loop)
        with self.workspace.lock:
            self.deliveries.append(delivery)
        return delivery

    async def _post(self, app: AppSettings, delivery: Delivery) -> None:
        """POST the payload to the Request URL, signed as Slack signs it; 3 seconds to answer."""
        body = urllib.parse.urlencode({"payload": json.dumps(delivery.payload)})
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **sign(app.signing_secret, body),
        }
        delivery.request_body, delivery.request_headers = body, headers
        delivery.attempts = 1
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                str(delivery.url),
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.ack_timeout),
            ) as response:
                delivery.status, delivery.body = response.status, await response.text()
        except (TimeoutError, aiohttp.ClientError) as error:
            delivery.finish(
                error=f"{type(error).__name__}: the app did not answer within {self.ack_timeout}s"
            )
            return
        delivery.finish(error=None if delivery.status == 200 else f"HTTP {delivery.status}")

    async def close(self) -> None:
        """Close the HTTP session used for Request URL deliveries (the server's shutdown)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- events --------------------------------------------------------------------------------

    def message_posted(self, channel: str, ts: str) -> None:
        """Send the ``message`` event to the apps in the channel (Socket Mode only)."""
        with self.workspace.lock:
            target = self.workspace.channel(channel)
            message = target.messages.get(ts)
            if message is None:
                return
            event = render.message(self.workspace, target, message)
            event.pop("reactions", None)
            event.update(
                {"channel": target.id, "event_ts": message.ts, "channel_type": _channel_type(target)}
            )
            if "thread_ts" in event and event["thread_ts"] == message.ts:
                event.pop("thread_ts")
            for key in ("reply_count", "reply_users_count", "latest_reply", "reply_users", "subscribed"):
                event.pop(key, None)
        self._send_event(target.id, event)

    def message_shown(self, channel: str, ts: str) -> dict[str, Any] | None:
        """A message as a ``message_changed`` / ``message_deleted`` event shows it (``None``: none)."""
        with self.workspace.lock:
            target = self.workspace.channel(channel)
            message = target.messages.get(ts)
            if message is None:
                return None
            shown = render.message(self.workspace, target, message, with_root=False)
        for key in ("reply_count", "reply_users_count", "latest_reply", "reply_users", "subscribed"):
            shown.pop(key, None)
        return shown

    def message_changed(self, channel: str, ts: str, previous: dict[str, Any] | None) -> None:
        """Send ``message`` / ``message_changed`` (an edit, or a bot's chat.update): the message as it is
        now and, as Slack does, as it was."""
        current = self.message_shown(channel, ts)
        if current is None:
            return
        with self.workspace.lock:
            target, event_ts = self.workspace.channel(channel), self.workspace.next_ts()
        event = {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": target.id,
            "message": current,
            "previous_message": previous or current,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": _channel_type(target),
        }
        self._send_event(target.id, event)

    def message_deleted(self, channel: str, ts: str, previous: dict[str, Any] | None) -> None:
        """Send ``message`` / ``message_deleted``: which message went (``deleted_ts``) and what it was."""
        with self.workspace.lock:
            target, event_ts = self.workspace.channel(channel), self.workspace.next_ts()
        event: dict[str, Any] = {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": target.id,
            "deleted_ts": ts,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": _channel_type(target),
        }
        if previous is not None:
            event["previous_message"] = previous
        self._send_event(target.id, event)

    def reaction_changed(self, channel: str, ts: str, user: str, name: str, *, added: bool) -> None:
        """Send ``reaction_added`` / ``reaction_removed`` to the apps in the channel (Socket Mode only)."""
        with self.workspace.lock:
            target = self.workspace.channel(channel)
            message = self.workspace.message(target.id, ts)
            event = {
                "type": "reaction_added" if added else "reaction_removed",
                "user": self.workspace.user(user).id,
                "reaction": name.strip(":"),
                "item_user": message.user,
                "item": {"type": "message", "channel": target.id, "ts": message.ts},
                "event_ts": self.workspace.next_ts(),
            }
        self._send_event(target.id, event)

    def before_web_call(self, method: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """What a ``message_changed`` event will show as ``previous_message`` (for ``chat.update``)."""
        channel, ts = params.get("channel"), params.get("ts")
        if method != "chat.update" or not isinstance(channel, str) or not isinstance(ts, str):
            return None
        try:
            return self.message_shown(channel, ts)
        except (EmulatorError, SlackError, KeyError):
            return None

    def after_web_call(
        self, method: str, body: Mapping[str, Any], before: dict[str, Any] | None = None
    ) -> None:
        """Events caused by a Web API call (a bot's ``chat.postMessage`` or ``chat.update``)."""
        if method == "chat.postMessage" and body.get("ok"):
            self.message_posted(body["channel"], body["ts"])
        elif method == "chat.update" and body.get("ok"):
            self.message_changed(body["channel"], body["ts"], before)

    def _send_event(self, channel_id: str, event: dict[str, Any]) -> None:
        if self.hub is None:
            return
        with self.workspace.lock:
            members = self.workspace.channels[channel_id].members
            apps = [self.app(bot) for bot in self.workspace.bots.values() if bot.user_id in members]
        for app in apps:
            if not app.socket_mode or not self.hub.has_connection(app.app_id):
                continue
            payload = {
                "token": "emulator-verification-token",
                "team_id": self.workspace.team_id,
                "context_team_id": self.workspace.team_id,
                "api_app_id": app.app_id,
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": self.workspace.team_id,
                        "user_id": app.bot.user_id,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": False,
            }
            delivery = Delivery(kind="events_api", payload=payload, app_id=app.app_id, via="socket_mode")
            with self.workspace.lock:
                self.deliveries.append(delivery)
            self.hub.send(delivery)

    # -- Web API methods -----------------------------------------------------------------------

    def post_ephemeral(self, call: Call) -> Response:
        """chat.postEphemeral: a message in a channel that only one member sees."""
        call.require_scope("chat:write")
        channel = call.channel()
        if not call.is_member(channel):
            raise SlackError("channel_not_found")
        user_id = call.params.get_str("user")
        person = self.workspace.find_user(user_id) if user_id else None
        if person is None or person.id not in channel.members:
            raise SlackError("user_not_in_channel")
        text, blocks = call.content()
        ephemeral = Ephemeral(
            channel=channel.id,
            user=person.id,
            text=text,
            ts=self.workspace.next_ts(),
            app_id=call.bot.app_id,
            thread_ts=call.params.get_str("thread_ts"),
            blocks=blocks,
        )
        self.ephemerals.append(ephemeral)
        self.workspace.changed.notify_all()
        return {"ok": True, "message_ts": ephemeral.ts}

    def views_open(self, call: Call) -> Response:
        """views.open: exchange a fresh ``trigger_id`` (3 seconds, once) for a modal."""
        trigger_id = call.params.get_str("trigger_id")
        trigger = self._triggers.get(trigger_id or "")
        if trigger is None or trigger.app_id != call.bot.app_id:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if time.time() - trigger.issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        view = call.params.get_json("view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "modal" or not view.get("title"):
            raise SlackError("invalid_arguments")
        trigger.used = True
        view_id = f"V{uuid.uuid4().hex[:10].upper()}"
        shown = {
            "id": view_id,
            "team_id": self.workspace.team_id,
            "type": "modal",
            "blocks": view.get("blocks") or [],
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view["title"],
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": call.bot.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.workspace.team_id,
            "bot_id": call.bot.bot_id,
        }
        self.views[view_id] = OpenedView(id=view_id, user=trigger.user, app_id=call.bot.app_id, view=shown)
        self.workspace.changed.notify_all()
        return {"ok": True, "view": shown}

    # -- helpers -------------------------------------------------------------------------------

    def new_trigger_id(self, user: str, app: Bot | str) -> str:
        """A ``trigger_id`` as Slack issues with an interaction of ``user`` with ``app`` (valid for
        :attr:`trigger_ttl` seconds, once)."""
        user_id, app_id = self.workspace.user(user).id, self.app(app).app_id
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(user=user_id, app_id=app_id, issued=time.time())
        return trigger_id

    def _response_url(self, trigger_id: str) -> str:
        base = (self.base_url or "http://127.0.0.1/").rstrip("/")
        return f"{base}/_emulator/response_url/{trigger_id.split('.')[-1]}"

    def _user_field(self, user_id: str) -> dict[str, Any]:
        person = self.workspace.users[user_id]
        return {
            "id": person.id,
            "username": person.name,
            "name": person.name,
            "team_id": self.workspace.team_id,
        }


def sign(signing_secret: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack signs a request with: ``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    raw = body if isinstance(body, bytes) else body.encode()
    digest = hmac.new(signing_secret.encode(), f"v0:{stamp}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def _find_button(
    message: Message, action_id: str | None, text: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in message.blocks or ():
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        for element in block.get("elements") or ():
            if not isinstance(element, dict) or element.get("type") != "button":
                continue
            label = (element.get("text") or {}).get("text")
            if (action_id is None or element.get("action_id") == action_id) and (
                text is None or label == text
            ):
                return block, element
    wanted = action_id or text or "any"
    raise EmulatorError(f"message {message.ts} has no button {wanted!r}")


def _button_action(block: Mapping[str, Any], button: Mapping[str, Any], action_ts: str) -> dict[str, Any]:
    """The clicked button as a block_actions action: ``value`` and ``style`` only when the button has
    them (Slack omits what the button lacks, never sends ``null``)."""
    action = {
        "action_id": button.get("action_id"),
        "block_id": block.get("block_id"),
        "text": button.get("text"),
        "type": "button",
        "action_ts": action_ts,
    }
    action.update({key: button[key] for key in ("value", "style") if key in button})
    return action


def _checkbox_state(blocks: list[Any], ticked: list[str]) -> dict[str, Any]:
    """The ``state.values`` of a message's checkboxes, with the options whose values are ``ticked``
    selected (Slack sends every stateful element of the message with a click)."""
    state: dict[str, Any] = {}
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in ("actions", "section", "input"):
            continue
        elements = [*list(block.get("elements") or []), block.get("accessory"), block.get("element")]
        for element in elements:
            if not isinstance(element, dict) or element.get("type") != "checkboxes":
                continue
            chosen = [o for o in element.get("options") or [] if o.get("value") in ticked]
            state.setdefault(str(block.get("block_id") or ""), {})[str(element.get("action_id") or "")] = {
                "type": "checkboxes",
                "selected_options": chosen,
            }
    return state


def _input_values(blocks: list[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A modal's ``state.values`` as Slack sends them with ``view_submission``: per input block, per
    element, what the person left in it (typed, else the element's initial value). Keys of ``values``
    are a block's ``block_id`` or its element's ``action_id``; ``None`` empties a field.

    - ``plain_text_input`` and ``number_input``: ``value``, a string (a number too), ``None`` when empty;
    - ``static_select``: ``selected_option`` (the option whose value or text was given), else ``None``;
    - ``checkboxes``: ``selected_options`` (those whose values or texts were given, a list).

    A required input (not ``optional``) left empty cannot be submitted (Slack's client refuses).
    """
    state: dict[str, Any] = {}
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element") or {}
        action_id, block_id = str(element.get("action_id") or ""), str(block.get("block_id") or "")
        kind = element.get("type", "plain_text_input")
        given = block_id in values or action_id in values
        typed = values[block_id] if block_id in values else values.get(action_id)
        entry: dict[str, Any] = {"type": kind}
        options = [o for o in element.get("options") or [] if isinstance(o, dict)]

        def picked(wanted: Any, options: list[dict[str, Any]] = options) -> list[dict[str, Any]]:
            names = {str(w) for w in (wanted if isinstance(wanted, list) else [wanted])}
            return [
                o for o in options if o.get("value") in names or (o.get("text") or {}).get("text") in names
            ]

        if kind == "static_select":
            chosen = (
                picked(typed)
                if given
                else [element["initial_option"]]
                if element.get("initial_option")
                else []
            )
            entry["selected_option"] = chosen[0] if chosen else None
            empty = not chosen
        elif kind == "checkboxes":
            chosen = picked(typed or []) if given else list(element.get("initial_options") or [])
            entry["selected_options"] = chosen
            empty = not chosen
        else:
            text = (None if typed is None else str(typed)) if given else element.get("initial_value")
            entry["value"] = text if text != "" else None
            empty = entry["value"] is None
        if empty and not block.get("optional", False):
            raise EmulatorError(f"the modal's input {block_id!r} is required: Slack does not submit it empty")
        state[block_id] = {action_id: entry}
    return state


def _channel_type(channel: Any) -> str:
    return "group" if channel.is_private else "channel"
