"""The in-process test API of the emulator: the people's side of Slack plus fault injection.

:class:`~airflow_slack_gate.testing.emulator.SlackEmulator` extends this with the HTTP server; the admin HTTP
routes and :class:`~airflow_slack_gate.testing.emulator.EmulatorClient` expose the same operations remotely.
Channels and users may be given by id or by name (``"approvals"``, ``"#approvals"``, ``"alice"``).
Messages come back as the JSON dicts Slack's Web API would show (with ``metadata`` when present).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_slack_gate.testing.emulator import render
from airflow_slack_gate.testing.emulator.controls import CallRecord, Controls, Fault
from airflow_slack_gate.testing.emulator.interactivity import (
    AppSettings,
    Delivery,
    Ephemeral,
    Interactivity,
    OpenedView,
    interactivity_of,
)
from airflow_slack_gate.testing.emulator.seed import DemoWorkspace, seed_demo_workspace
from airflow_slack_gate.testing.emulator.socket_mode import ConnectionInfo, SocketModeHub
from airflow_slack_gate.testing.emulator.state import DEFAULT_BOT_SCOPES, Bot, EmulatorError, Workspace

MessageDict = dict[str, Any]


class EmulatorApi:
    """Everything a test can do to the emulated workspace, without HTTP."""

    def __init__(self, workspace: Workspace | None = None, controls: Controls | None = None) -> None:
        self.state = workspace or Workspace()
        self.controls = controls or Controls()
        self._demo: DemoWorkspace | None = None

    # -- workspace setup -----------------------------------------------------------------------

    def seed_demo_workspace(self) -> DemoWorkspace:
        """Create the standard workspace (see :class:`DemoWorkspace`); return its ids."""
        self._demo = seed_demo_workspace(self.state)
        return self._demo

    @property
    def workspace(self) -> DemoWorkspace:
        """Ids of the seeded workspace (after :meth:`seed_demo_workspace`)."""
        if self._demo is None:
            raise EmulatorError("the demo workspace is not seeded; call seed_demo_workspace() first")
        return self._demo

    def create_user(
        self, name: str, *, real_name: str | None = None, deleted: bool = False, email: str | None = None
    ) -> str:
        """Add a person (with the profile ``email``, if given); return their user id (``U...``)."""
        return self.state.create_user(name, real_name=real_name, deleted=deleted, email=email)

    def create_bot(
        self, name: str, scopes: Iterable[str] = DEFAULT_BOT_SCOPES, *, token: str | None = None
    ) -> Bot:
        """Install an app with a bot user; return its :class:`Bot` (token, user_id, bot_id, app_id)."""
        return self.state.create_bot(name, scopes, token=token)

    def revoke_token(self, token: str) -> None:
        """Revoke a token: calls with it fail with ``token_revoked``."""
        self.state.revoke_token(token)

    def deactivate_user(self, user: str) -> None:
        """Deactivate a person or a bot's user (a bot's calls then fail with ``account_inactive``)."""
        self.state.deactivate_user(user)

    def create_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        is_private: bool = False,
        is_archived: bool = False,
    ) -> str:
        """Add a channel with these members (ids or names, bots by their user); return its id (``C...``)."""
        return self.state.create_channel(
            name, members=members, is_private=is_private, is_archived=is_archived
        )

    def add_member(self, channel: str, user: str) -> None:
        """Add a user (or a bot's user) to a channel."""
        self.state.add_member(channel, user)

    def archive_channel(self, channel: str) -> None:
        """Archive a channel."""
        self.state.archive_channel(channel)

    def create_usergroup(self, handle: str, users: Iterable[str]) -> str:
        """Add a user group; return its id (``S...``)."""
        return self.state.create_usergroup(handle, users)

    def set_usergroup_users(self, group: str, users: Iterable[str]) -> None:
        """Change a user group's members (as an admin does in Slack): ``usergroups.users.list`` says so."""
        self.state.set_usergroup_users(group, users)

    @property
    def interactivity(self) -> Interactivity:
        """Apps' interactivity settings, clicks, modals, ephemeral messages and deliveries."""
        return interactivity_of(self.state)

    # -- people's side -------------------------------------------------------------------------

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
        ts = self.state.post(channel, user, text, thread_ts=thread_ts, blocks=blocks, broadcast=broadcast).ts
        self.interactivity.message_posted(channel, ts)
        return ts

    def reply(self, channel: str, thread_ts: str, user: str, text: str, *, broadcast: bool = False) -> str:
        """A person replies in the thread of ``thread_ts`` (``broadcast``: "Also send to #channel", so the
        reply shows in the channel too, as ``thread_broadcast``); return the reply's ts."""
        return self.post_as_user(channel, user, text, thread_ts=thread_ts, broadcast=broadcast)

    def post_as_bot(
        self,
        channel: str,
        bot: Bot | str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Post as a bot (a :class:`Bot`, or its user id or name) without going through HTTP."""
        user = bot.user_id if isinstance(bot, Bot) else bot
        if not self.state.user(user).is_bot:
            raise EmulatorError(f"{user!r} is not a bot")
        ts = self.state.post(channel, user, text, thread_ts=thread_ts, blocks=blocks, metadata=metadata).ts
        self.interactivity.message_posted(channel, ts)
        return ts

    def add_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        """A person reacts to a message with emoji ``name`` (``"white_check_mark"``, colons optional)."""
        self.state.add_reaction(channel, ts, user, name)
        self.interactivity.reaction_changed(channel, ts, user, name, added=True)

    def remove_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        """A person takes back a reaction."""
        self.state.remove_reaction(channel, ts, user, name)
        self.interactivity.reaction_changed(channel, ts, user, name, added=False)

    # -- buttons, modals and ephemeral messages --------------------------------------------------

    def app_settings(self, bot: Bot | str | None = None) -> AppSettings:
        """The interactivity settings of a bot's app (default: the seeded bot): its app-level token
        (``xapp-...``, for Socket Mode), signing secret, Socket Mode switch (on) and Request URL."""
        return self.interactivity.app(bot if bot is not None else self.workspace.bot_user_id)

    def configure_app(
        self,
        bot: Bot | str | None = None,
        *,
        socket_mode: bool | None = None,
        request_url: str | None = None,
    ) -> AppSettings:
        """Turn an app's Socket Mode on or off, or set its Request URL (where clicks go without it)."""
        target = bot if bot is not None else self.workspace.bot_user_id
        return self.interactivity.configure_app(target, socket_mode=socket_mode, request_url=request_url)

    def click_button(
        self,
        channel: str,
        ts: str,
        user: str,
        action_id: str | None = None,
        *,
        text: str | None = None,
        connection: str | None = None,
        ticked: list[str] | None = None,
    ) -> Delivery:
        """A person clicks a button (by ``action_id``, or by its label ``text``) of an app's message.

        The app receives a ``block_actions`` payload the way Slack sends it: over one of its Socket Mode
        connections (``connection`` to choose which), or signed to its Request URL. ``ticked`` are the
        values of the message's checkbox options the person ticked first (Slack sends the message's
        input state with the click). Returns the :class:`Delivery`; ``delivery.wait()`` blocks until the
        app answered.
        """
        self.interactivity.base_url = getattr(self, "url", None)
        return self.interactivity.click(
            channel, ts, user, action_id=action_id, text=text, connection=connection, ticked=ticked
        )

    def submit_view(
        self,
        user: str,
        values: Mapping[str, Any] | None = None,
        *,
        view_id: str | None = None,
        connection: str | None = None,
    ) -> Delivery:
        """A person types ``values`` (input ``action_id`` -> text) into their open modal and submits it."""
        return self.interactivity.submit_view(user, values, view_id=view_id, connection=connection)

    def open_views(self, user: str | None = None) -> list[OpenedView]:
        """Modals people have open (``user``'s when given)."""
        return self.interactivity.open_views(user)

    def wait_for_view(self, user: str, timeout: float = 10.0) -> OpenedView:
        """Wait until ``user`` has a modal open; return the latest."""
        return self.wait_for(lambda: next(reversed(self.open_views(user)), None), timeout)

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages apps showed (to ``user``, in ``channel``), oldest first."""
        return self.interactivity.ephemerals_for(user, channel)

    def wait_for_ephemeral(
        self, user: str, *, text_contains: str | None = None, timeout: float = 10.0
    ) -> Ephemeral:
        """Wait for an ephemeral message to ``user`` (containing ``text_contains``)."""
        return self.wait_for(
            lambda: next(
                (e for e in self.ephemerals(user) if text_contains is None or text_contains in e.text), None
            ),
            timeout,
        )

    def socket_connections(self, app: Bot | str | None = None) -> list[ConnectionInfo]:
        """Open Socket Mode connections (of a bot's app), oldest first."""
        hub = self.interactivity.hub
        app_id = None if app is None else self.interactivity.app(app).app_id
        return [] if hub is None else hub.connections(app_id)

    def wait_for_socket_connections(
        self, count: int, app: Bot | str | None = None, timeout: float = 10.0
    ) -> list[ConnectionInfo]:
        """Wait until at least ``count`` Socket Mode connections (of a bot's app) take envelopes."""
        hub = self._hub()
        app_id = None if app is None else self.interactivity.app(app).app_id
        return hub.wait_for_connections(count, app_id, timeout)

    def refresh_socket_connections(self, connection: str | None = None) -> list[str]:
        """Slack's periodic ``disconnect`` (``refresh_requested``) to one or every connection."""
        return self._hub().refresh(connection)

    def drop_socket_connections(self, connection: str | None = None) -> list[str]:
        """Close one or every Socket Mode connection without warning."""
        return self._hub().drop(connection)

    def set_ack_timeout(self, seconds: float) -> None:
        """How long apps have to acknowledge a payload before Slack retries or gives up (3s)."""
        self.interactivity.ack_timeout = seconds

    def _hub(self) -> SocketModeHub:
        hub = self.interactivity.hub
        if hub is None:
            raise EmulatorError("Socket Mode needs the emulator's server: use SlackEmulator")
        return hub

    def edit_message(self, channel: str, ts: str, text: str) -> None:
        """Edit a message's text, as its author would; it then carries ``edited`` (and the apps in the
        channel get ``message_changed``)."""
        before = self.interactivity.message_shown(channel, ts)
        self.state.edit(channel, ts, text)
        self.interactivity.message_changed(channel, ts, before)

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message (a parent takes its replies with it; the apps in the channel get
        ``message_deleted``)."""
        before = self.interactivity.message_shown(channel, ts)
        self.state.delete(channel, ts)
        self.interactivity.message_deleted(channel, ts, before)

    # -- reading -------------------------------------------------------------------------------

    def directory(self) -> dict[str, list[dict[str, Any]]]:
        """Who and what the workspace has, as the browser page lists them, each with id and name:
        ``people`` (active, not bots), ``bots`` (with their app's id) and ``channels`` (not archived,
        with their member ids)."""
        with self.state.lock:
            users = [u for u in self.state.users.values() if not u.deleted]
            return {
                "people": [{"id": u.id, "name": u.name} for u in users if not u.is_bot],
                "bots": [
                    {"id": u.id, "name": u.name, "bot_id": u.bot_id, "app_id": u.app_id}
                    for u in users
                    if u.is_bot
                ],
                "channels": [
                    {"id": c.id, "name": c.name, "members": sorted(c.members)}
                    for c in self.state.channels.values()
                    if not c.is_archived
                ],
            }

    def messages(self, channel: str) -> list[MessageDict]:
        """The channel's messages (parents, and replies also sent to the channel), oldest first, as
        Slack shows them."""
        with self.state.lock:
            target = self.state.channel(channel)
            return [
                render.message(self.state, target, msg, include_metadata=True)
                for msg in target.messages.values()
                if msg.in_channel
            ]

    def replies(self, channel: str, ts: str) -> list[MessageDict]:
        """A thread: the parent first, then the replies oldest first."""
        with self.state.lock:
            target = self.state.channel(channel)
            parent = self.state.message(target.id, ts)
            return [
                render.message(self.state, target, msg, include_metadata=True, with_root=False)
                for msg in self.state.thread(target, parent)
            ]

    def get_message(self, channel: str, ts: str) -> MessageDict:
        """One message, as Slack shows it."""
        with self.state.lock:
            target = self.state.channel(channel)
            return render.message(
                self.state, target, self.state.message(target.id, ts), include_metadata=True
            )

    def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until ``condition()`` returns something truthy, re-checking on every workspace change.

        Returns that value; raises ``TimeoutError`` after ``timeout`` seconds.
        """
        return self.state.wait_for(condition, timeout)

    def wait_for_message(
        self,
        channel: str,
        *,
        user: str | None = None,
        text_contains: str | None = None,
        thread_ts: str | None = None,
        timeout: float = 10.0,
    ) -> MessageDict:
        """Wait for the first message matching all filters (in thread ``thread_ts``, else among the
        channel's messages: parents and replies also sent to the channel)."""
        user_id = self.state.user(user).id if user else None

        def match() -> MessageDict | None:
            candidates = self.replies(channel, thread_ts)[1:] if thread_ts else self.messages(channel)
            return next(
                (
                    m
                    for m in candidates
                    if (user_id is None or m["user"] == user_id)
                    and (text_contains is None or text_contains in m["text"])
                ),
                None,
            )

        return self.wait_for(match, timeout)

    # -- faults and counters -------------------------------------------------------------------

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
        """Fail the next ``count`` calls of ``method`` (``"*"``: any method).

        ``status=429`` answers with ``Retry-After: retry_after`` and ``{"ok": false, "error":
        "ratelimited"}``; 500/503 answer with that HTTP status; ``error="..."`` answers HTTP 200
        ``{"ok": false, "error": ...}``. ``carried_out=True`` carries the call out first and fails
        only its answer: a ``chat.postMessage`` that answers 503 but is posted.
        """
        fault = Fault(status=status, retry_after=retry_after, error=error, carried_out=carried_out)
        self.controls.inject_fault(method, fault, count)

    def set_latency(self, method: str, seconds: float) -> None:
        """Delay every answer of ``method`` (``"*"``: any) by ``seconds``; 0 removes the delay."""
        self.controls.set_latency(method, seconds)

    def delay_calls(self, method: str, seconds: float, count: int = 1) -> None:
        """Delay only the next ``count`` calls of ``method`` by ``seconds`` (each is still carried out)."""
        self.controls.delay_calls(method, seconds, count)

    def drop_connections(self, method: str, count: int = 1) -> None:
        """Close the connection without any answer for the next ``count`` calls of ``method``."""
        self.controls.drop_connections(method, count)

    def clear_faults(self) -> None:
        """Forget queued faults, dropped connections and latency."""
        self.controls.clear_faults()

    def enable_rate_limits(self, enabled: bool = True, *, overrides: Mapping[str, int] | None = None) -> None:
        """Enforce Slack's rate limits (tiers per token and method per minute, with sporadic bursts;
        chat.postMessage about 1/s per channel, with short bursts; see ``controls.check_rate_limit``).
        ``overrides`` sets calls per minute for named methods, e.g. to test fast."""
        self.controls.enable_rate_limits(enabled, overrides)

    def call_count(self, method: str) -> int:
        """How many calls of a Slack method arrived (including failed and dropped ones)."""
        return self.controls.call_count(method)

    @property
    def calls(self) -> list[CallRecord]:
        """Every Web API call so far, oldest first."""
        return self.controls.calls

    def reset_counters(self) -> None:
        """Forget recorded calls."""
        self.controls.reset_counters()
