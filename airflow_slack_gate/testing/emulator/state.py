"""The in-memory model of one Slack workspace: users, bots, channels, messages, threads, reactions.

Pure of HTTP. Every public method takes the workspace lock, so the HTTP server thread and test code
can use one :class:`Workspace` at the same time. Mutations notify :attr:`Workspace.changed`, so callers
can wait for a condition instead of sleeping.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

#: Scopes a bot made by :meth:`Workspace.create_bot` gets unless told otherwise.
DEFAULT_BOT_SCOPES: tuple[str, ...] = (
    "chat:write",
    "channels:history",
    "groups:history",
    "channels:read",
    "groups:read",
    "reactions:read",
    "users:read",
    "users:read.email",
    "usergroups:read",
)


class SlackError(Exception):
    """A Slack API error: ``code`` becomes ``error`` in the response, ``fields`` are added beside it."""

    def __init__(self, code: str, **fields: Any) -> None:
        super().__init__(code)
        self.code = code
        self.fields = fields


class EmulatorError(ValueError):
    """A test asked the emulator for something impossible (unknown user, channel or message)."""


@dataclass(frozen=True)
class Bot:
    """A Slack app's bot: the token to call the Web API with, and the ids Slack shows for it."""

    name: str
    token: str
    user_id: str
    bot_id: str
    app_id: str
    scopes: tuple[str, ...]


@dataclass
class User:
    """A workspace member; bot users carry ``bot_id`` and ``app_id``."""

    id: str
    name: str
    real_name: str
    deleted: bool = False
    bot_id: str | None = None
    app_id: str | None = None
    email: str | None = None

    @property
    def is_bot(self) -> bool:
        """Whether this is the user behind a bot."""
        return self.bot_id is not None


@dataclass
class Message:
    """One message; ``thread_ts`` is set on replies (the parent's ts), ``replies`` on parents."""

    ts: str
    user: str
    text: str
    blocks: list[Any] | None = None
    bot_id: str | None = None
    app_id: str | None = None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edited: tuple[str, str] | None = None
    client_msg_id: str | None = None
    broadcast: bool = False  # a reply also sent to the channel (subtype thread_broadcast)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)

    @property
    def in_channel(self) -> bool:
        """Whether the channel shows it (conversations.history): a parent, or a reply also sent to the
        channel."""
        return not self.thread_ts or self.thread_ts == self.ts or self.broadcast


@dataclass
class Channel:
    """A public or private channel; ``messages`` maps ts to message in ascending ts order."""

    id: str
    name: str
    creator: str
    created: int
    is_private: bool = False
    is_archived: bool = False
    members: set[str] = field(default_factory=set)
    messages: dict[str, Message] = field(default_factory=dict)


@dataclass
class Usergroup:
    """A user group (``@handle``)."""

    id: str
    handle: str
    users: list[str]


class Workspace:
    """One Slack workspace (team) held in memory."""

    def __init__(
        self, *, team_id: str = "TEMU0000001", team_name: str = "Emulator", domain: str = "emulator"
    ):
        self.team_id = team_id
        self.team_name = team_name
        self.domain = domain
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.users: dict[str, User] = {}
        self.bots: dict[str, Bot] = {}  # by token
        self.revoked_tokens: set[str] = set()
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, Usergroup] = {}
        self._counters: dict[str, int] = {}
        self._last_ts_us = 0

    # -- ids and clock -------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        self._counters[prefix] = self._counters.get(prefix, 0) + 1
        return f"{prefix}EMU{self._counters[prefix]:07d}"

    def next_ts(self) -> str:
        """A new message timestamp: unique and strictly increasing across the workspace."""
        with self.lock:
            now_us = int(time.time() * 1_000_000)
            self._last_ts_us = max(now_us, self._last_ts_us + 1)
            seconds, micros = divmod(self._last_ts_us, 1_000_000)
            return f"{seconds:010d}.{micros:06d}"

    def _notify(self) -> None:
        self.changed.notify_all()

    def wait_for(self, condition: Callable[[], T], timeout: float) -> T:
        """Block until ``condition()`` is truthy (re-checked on every change); return its value.

        Raises ``TimeoutError`` when ``timeout`` seconds pass first.
        """
        with self.changed:
            result = self.changed.wait_for(condition, timeout)
        if not result:
            raise TimeoutError(f"condition not met within {timeout}s")
        return result

    # -- directory ----------------------------------------------------------------------------

    def create_user(
        self, name: str, *, real_name: str | None = None, deleted: bool = False, email: str | None = None
    ) -> str:
        """Add a person (with the profile ``email``, if given); return their user id (``U...``)."""
        with self.lock:
            if self.find_user(name):
                raise EmulatorError(f"a user named {name!r} already exists")
            user = User(self._new_id("U"), name, real_name or name.title(), deleted=deleted, email=email)
            self.users[user.id] = user
            self._notify()
            return user.id

    def create_bot(
        self, name: str, scopes: Iterable[str] = DEFAULT_BOT_SCOPES, *, token: str | None = None
    ) -> Bot:
        """Install an app with a bot user; return its :class:`Bot` (token and ids)."""
        with self.lock:
            token = token or f"xoxb-emulator-{uuid.uuid4().hex}"
            if token in self.bots:
                raise EmulatorError("that token is already in use")
            bot_id, app_id = self._new_id("B"), self._new_id("A")
            user = User(self._new_id("U"), name, name, bot_id=bot_id, app_id=app_id)
            self.users[user.id] = user
            bot = Bot(name, token, user.id, bot_id, app_id, tuple(scopes))
            self.bots[token] = bot
            self._notify()
            return bot

    def bot_by_id(self, bot_id: str) -> Bot | None:
        """The bot with this ``B...`` id, if any."""
        with self.lock:
            return next((bot for bot in self.bots.values() if bot.bot_id == bot_id), None)

    def revoke_token(self, token: str) -> None:
        """Revoke a token: calls with it fail with ``token_revoked``."""
        with self.lock:
            self.revoked_tokens.add(token)

    def deactivate_user(self, user: str) -> None:
        """Deactivate a person or a bot's user: a bot's calls then fail with ``account_inactive``."""
        with self.lock:
            self.user(user).deleted = True
            self._notify()

    def authenticate(self, token: str | None) -> Bot:
        """The bot a token belongs to, or the Slack error Slack gives for that token."""
        with self.lock:
            if not token:
                raise SlackError("not_authed")
            bot = self.bots.get(token)
            if bot is None:
                raise SlackError("invalid_auth")
            if token in self.revoked_tokens:
                raise SlackError("token_revoked")
            if self.users[bot.user_id].deleted:
                raise SlackError("account_inactive")
            return bot

    def create_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        is_private: bool = False,
        is_archived: bool = False,
    ) -> str:
        """Add a channel with these members (user ids or names); return its id (``C...``)."""
        with self.lock:
            name = name.lstrip("#")
            if self.find_channel(name):
                raise EmulatorError(f"a channel named #{name} already exists")
            member_ids = {self.user(member).id for member in members}
            creator = min(member_ids) if member_ids else next(iter(self.users), "USLACKBOT")
            channel = Channel(
                self._new_id("C"), name, creator, int(time.time()), is_private, is_archived, member_ids
            )
            self.channels[channel.id] = channel
            self._notify()
            return channel.id

    def add_member(self, channel: str, user: str) -> None:
        """Add a user (or a bot's user) to a channel."""
        with self.lock:
            self.channel(channel).members.add(self.user(user).id)

    def archive_channel(self, channel: str) -> None:
        """Archive a channel: posting to it then fails with ``is_archived``."""
        with self.lock:
            self.channel(channel).is_archived = True

    def create_usergroup(self, handle: str, users: Iterable[str]) -> str:
        """Add a user group ``@handle`` with these users (ids or names); return its id (``S...``)."""
        with self.lock:
            group = Usergroup(self._new_id("S"), handle, [self.user(user).id for user in users])
            self.usergroups[group.id] = group
            return group.id

    def set_usergroup_users(self, group: str, users: Iterable[str]) -> None:
        """Make these users (ids or names) the members of user group ``group`` (its id)."""
        with self.lock:
            self.usergroups[group].users = [self.user(user).id for user in users]

    # -- lookups ------------------------------------------------------------------------------

    def find_user_by_email(self, email: str) -> User | None:
        """The person whose profile email is ``email`` (case-insensitive), if any."""
        with self.lock:
            wanted = email.casefold()
            return next((u for u in self.users.values() if u.email and u.email.casefold() == wanted), None)

    def find_user(self, ref: str) -> User | None:
        """A user by id or name (``alice`` or ``@alice``), or None."""
        with self.lock:
            if ref in self.users:
                return self.users[ref]
            name = ref.lstrip("@")
            return next((user for user in self.users.values() if user.name == name), None)

    def user(self, ref: str) -> User:
        """Like :meth:`find_user` but raises :class:`EmulatorError` when there is no such user."""
        found = self.find_user(ref)
        if found is None:
            raise EmulatorError(f"no user {ref!r}")
        return found

    def find_channel(self, ref: str) -> Channel | None:
        """A channel by id, ``#name`` or ``name``, or None."""
        with self.lock:
            if ref in self.channels:
                return self.channels[ref]
            name = ref.lstrip("#")
            return next((channel for channel in self.channels.values() if channel.name == name), None)

    def channel(self, ref: str) -> Channel:
        """Like :meth:`find_channel` but raises :class:`EmulatorError` when there is no such channel."""
        found = self.find_channel(ref)
        if found is None:
            raise EmulatorError(f"no channel {ref!r}")
        return found

    def message(self, channel: str, ts: str) -> Message:
        """The message at ``ts`` in a channel; raises :class:`EmulatorError` when there is none."""
        with self.lock:
            found = self.channel(channel).messages.get(ts)
            if found is None:
                raise EmulatorError(f"no message {ts} in {channel}")
            return found

    def thread(self, channel: Channel, parent: Message) -> list[Message]:
        """The parent followed by its replies, oldest first."""
        with self.lock:
            return [parent, *(channel.messages[ts] for ts in parent.replies)]

    # -- messages -----------------------------------------------------------------------------

    def post(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        blocks: list[Any] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        broadcast: bool = False,
    ) -> Message:
        """Post a message as a user or a bot's user (into a thread when ``thread_ts`` is given).

        ``thread_ts`` may name a reply; the message then joins that reply's thread, as in Slack.
        ``broadcast`` also sends a reply to the channel ("Also send to #channel"; ignored without a
        thread, as Slack ignores ``reply_broadcast`` there).
        """
        with self.lock:
            target, author = self.channel(channel), self.user(user)
            parent = self.message(target.id, thread_ts) if thread_ts else None
            if parent is not None and parent.thread_ts and parent.thread_ts != parent.ts:
                parent = target.messages[parent.thread_ts]
            message = Message(
                ts=self.next_ts(),
                user=author.id,
                text=text,
                blocks=blocks,
                bot_id=author.bot_id,
                app_id=author.app_id,
                metadata=metadata,
                client_msg_id=None if author.is_bot else str(uuid.uuid4()),
            )
            if parent is not None:
                message.thread_ts = parent.thread_ts = parent.ts
                message.broadcast = broadcast
                parent.replies.append(message.ts)
            target.messages[message.ts] = message
            self._notify()
            return message

    def edit(self, channel: str, ts: str, text: str, *, blocks: list[Any] | None = None) -> Message:
        """Change a message's text (and blocks when given); it then carries ``edited``."""
        with self.lock:
            message = self.message(channel, ts)
            message.text = text
            if blocks is not None:
                message.blocks = blocks
            message.edited = (message.user, self.next_ts())
            self._notify()
            return message

    def delete(self, channel: str, ts: str) -> None:
        """Delete a message; deleting a parent deletes its replies too."""
        with self.lock:
            target, message = self.channel(channel), self.message(channel, ts)
            for reply_ts in message.replies:
                target.messages.pop(reply_ts, None)
            del target.messages[ts]
            if message.thread_ts and message.thread_ts != ts:
                parent = target.messages[message.thread_ts]
                parent.replies.remove(ts)
                if not parent.replies:
                    parent.thread_ts = None
            self._notify()

    def add_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        """A user reacts to a message with emoji ``name`` (without colons)."""
        with self.lock:
            message, user_id = self.message(channel, ts), self.user(user).id
            users = message.reactions.setdefault(name.strip(":"), [])
            if user_id in users:
                raise EmulatorError(f"already_reacted: {user} already reacted with :{name}:")
            users.append(user_id)
            self._notify()

    def remove_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        """A user takes back their reaction ``name``."""
        with self.lock:
            message, user_id = self.message(channel, ts), self.user(user).id
            name = name.strip(":")
            users = message.reactions.get(name, [])
            if user_id not in users:
                raise EmulatorError(f"no_reaction: {user} has no :{name}: on {ts}")
            users.remove(user_id)
            if not users:
                del message.reactions[name]
            self._notify()
