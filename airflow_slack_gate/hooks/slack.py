"""SlackGateHook: the Slack connection behind every approval gate, for workers (sync) and triggers (async)."""

from __future__ import annotations

import re
import socket
import urllib.error
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cached_property, partial
from http.client import RemoteDisconnected
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from airflow.providers.slack.hooks.slack import SlackHook
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from airflow_slack_gate.core.bucket import ROUTINE
from airflow_slack_gate.core.errors import VOTER_ERRORS
from airflow_slack_gate.core.votes import UserKind, user_kind
from airflow_slack_gate.hooks.connection import (
    CONN_TYPE,
    ConnectionSettings,
    aread_settings,
    parse_settings,
    read_settings,
)
from airflow_slack_gate.hooks.errors import SlackGateError, explain
from airflow_slack_gate.hooks.ratelimit import AsyncSharedRateLimitRetryHandler, loop_rate_limiter, token_key
from airflow_slack_gate.hooks.sessions import shared_session

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Connection

DEFAULT_CONN_ID = "slack_gate_default"
#: How often one call is retried on 429 (honouring Retry-After), on 500/503 and on dropped connections.
MAX_RATE_LIMIT_RETRIES = 3
MAX_SERVER_ERROR_RETRIES = 2
MAX_CONNECTION_RETRIES = 2
PAGE_SIZE = 200
#: users.info errors that say nothing of a user but that Slack will not show them: they never vote.
UNKNOWN_USER_ERRORS = frozenset({"user_not_found"}) | VOTER_ERRORS
#: Slack's largest page for conversations.history (it may return fewer).
HISTORY_PAGE_SIZE = 999

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
T = TypeVar("T")


def is_channel_id(channel: str) -> bool:
    """Return True for a Slack conversation ID (C..., G..., D...) rather than a channel name."""
    return bool(_CHANNEL_ID.match(channel))


def normalize_channel_name(channel: str) -> str:
    """Strip the leading ``#`` of a channel name (Slack accepts names without it)."""
    return channel[1:] if channel.startswith("#") else channel


@dataclass(frozen=True)
class PostedMessage:
    """Where a message landed: the channel ID and the message ts (Slack's message key)."""

    channel: str
    ts: str
    message: dict[str, Any]


@dataclass(frozen=True)
class BotIdentity:
    """Who the connection's token speaks as (from auth.test)."""

    user_id: str
    bot_id: str | None
    team_id: str | None


def sync_retry_handlers() -> list[RetryHandler]:
    """Bounded retries for workers: 429 (Retry-After honoured), 500/503 and dropped connections."""
    return [
        RateLimitErrorRetryHandler(max_retry_count=MAX_RATE_LIMIT_RETRIES),
        ServerErrorRetryHandler(max_retry_count=MAX_SERVER_ERROR_RETRIES),
        ConnectionErrorRetryHandler(
            max_retry_count=MAX_CONNECTION_RETRIES,
            error_types=[urllib.error.URLError, ConnectionResetError, RemoteDisconnected, socket.timeout],
        ),
    ]


def async_retry_handlers(limiter_key: str, *, posting: bool = False) -> list[AsyncRetryHandler]:
    """The same bounded retries for triggers, without blocking the event loop; a 429 holds back
    every caller of that method in the loop (see :mod:`airflow_slack_gate.hooks.ratelimit`).

    ``posting``: 429s only (Slack refused, so nothing was posted); after a 5xx or a lost connection a
    post may be in Slack already, so the caller looks for it before posting again.
    """
    rate_limits = AsyncSharedRateLimitRetryHandler(limiter_key, max_retry_count=MAX_RATE_LIMIT_RETRIES)
    if posting:
        return [rate_limits]
    return [
        rate_limits,
        AsyncServerErrorRetryHandler(max_retry_count=MAX_SERVER_ERROR_RETRIES),
        AsyncConnectionErrorRetryHandler(
            max_retry_count=MAX_CONNECTION_RETRIES,
            error_types=[
                aiohttp.ServerConnectionError,
                aiohttp.ServerDisconnectedError,
                aiohttp.ClientOSError,
                aiohttp.ClientPayloadError,
                TimeoutError,  # asyncio.TimeoutError: Slack slower than the connection's timeout
            ],
        ),
    ]


class SlackGateHook(SlackHook):
    """
    Slack Web API access for approval gates, from a ``slack_gate`` (or official ``slack``) connection.

    The connection's password is the bot token (``xoxb-...``); extras: ``default_channel``,
    ``app_token`` (``xapp-...``, Socket Mode), ``signing_secret``, ``base_url``, ``timeout``, ``proxy``,
    and for finding a run's requester in Slack ``slack_users`` and ``email_domain``.
    Every Slack error is raised as :class:`~airflow_slack_gate.hooks.errors.SlackGateError` naming the error
    code, the connection and the fix. Transient errors (429, 5xx, dropped connections) are retried a
    bounded number of times first.

    :param slack_conn_id: Airflow connection of type ``slack_gate`` or ``slack``.
    """

    conn_name_attr = "slack_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Slack Approval Gate"

    def __init__(self, *, slack_conn_id: str = DEFAULT_CONN_ID, posting: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("retry_handlers", sync_retry_handlers())
        super().__init__(slack_conn_id=slack_conn_id, **kwargs)
        #: the async client retries 429s only (see :func:`async_retry_handlers`)
        self._posting = posting
        self._bot_identity: BotIdentity | None = None
        self._settings: ConnectionSettings | None = None
        self._async_client: AsyncWebClient | None = None
        self._limiter_key = ""

    # -- connection ---------------------------------------------------------------------------------

    def _get_conn_params(self, conn: Connection) -> dict[str, Any]:
        return self._client_args(parse_settings(conn, conn.extra_dejson))

    @property
    def settings(self) -> ConnectionSettings:
        """The connection's settings (:mod:`airflow_slack_gate.hooks.connection`), read once per hook,
        with this hook's own ``base_url``, ``proxy`` and ``timeout`` arguments over the connection's."""
        if self._settings is None:
            self._settings = self._overridden(read_settings(self.slack_conn_id, hook=self))
        return self._settings

    async def asettings(self) -> ConnectionSettings:
        """:attr:`settings`, read without blocking the event loop."""
        if self._settings is None:
            self._settings = self._overridden(await aread_settings(self.slack_conn_id, hook=self))
        return self._settings

    def _overridden(self, settings: ConnectionSettings) -> ConnectionSettings:
        return replace(
            settings,
            base_url=self.base_url or settings.base_url,
            proxy=self.proxy or settings.proxy,
            timeout=self.timeout or settings.timeout,
        )

    def _client_args(self, settings: ConnectionSettings) -> dict[str, Any]:
        """slack_sdk client arguments (sync or async) from the connection's settings."""
        settings = self._overridden(settings)
        params: dict[str, Any] = {
            "token": settings.bot_token(),
            "retry_handlers": self.retry_handlers,
            "timeout": settings.timeout,
            "base_url": settings.base_url,
            "proxy": settings.proxy,
        }
        params.update(self.extra_client_args)
        return {key: value for key, value in params.items() if value is not None}

    @property
    def default_channel(self) -> str | None:
        """The connection's ``default_channel`` extra, or None."""
        return self.settings.default_channel

    @cached_property
    def client(self) -> WebClient:
        """The sync slack_sdk WebClient (cached), with bounded retries."""
        return WebClient(**self._client_args(self.settings))

    async def get_async_client(self) -> AsyncWebClient:
        """The async client for triggers: a non-blocking connection look-up, one shared aiohttp session.

        The connection is read once per hook; the aiohttp session is shared by every client in the
        running event loop (see :mod:`airflow_slack_gate.hooks.sessions`).
        """
        if self._async_client is None:
            params = self._client_args(await self.asettings())
            self._limiter_key = token_key(params["token"])
            params["retry_handlers"] = async_retry_handlers(self._limiter_key, posting=self._posting)
            self._async_client = AsyncWebClient(**params)
        self._async_client.session = shared_session(self._async_client.timeout)
        return self._async_client

    def test_connection(self) -> tuple[bool, str]:
        """Call auth.test, so ``airflow connections test`` and the UI's Test button work."""
        try:
            identity = self.bot_identity()
        except (SlackGateError, AirflowNotFoundException) as error:
            return False, str(error)
        return True, f"Connected to Slack as user {identity.user_id} (bot {identity.bot_id})."

    # -- error translation -------------------------------------------------------------------------

    def _call(self, method: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except SlackApiError as error:
            raise self._explain(method, error) from None
        except (SlackClientError, OSError) as error:
            raise self._unreachable(method, error) from None

    async def _acall(self, method: str, call: Callable[[], Any]) -> Any:
        try:
            return await call()
        except SlackApiError as error:
            raise self._explain(method, error) from None
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise self._unreachable(method, error) from None

    def _explain(self, method: str, error: SlackApiError) -> SlackGateError:
        response = error.response
        data = response.data if isinstance(response.data, dict) else {}
        code = data.get("error") or ("ratelimited" if response.status_code == 429 else "unknown_error")
        if response.status_code >= 500:
            code = f"http_{response.status_code}"
        return explain(code, conn_id=self.slack_conn_id, method=method, response=data)

    def _unreachable(self, method: str, error: BaseException) -> SlackGateError:
        code = "timeout" if isinstance(error, (TimeoutError, socket.timeout)) else "connection_error"
        return explain(code, conn_id=self.slack_conn_id, method=method, detail=type(error).__name__)

    # -- identity ----------------------------------------------------------------------------------

    def bot_identity(self) -> BotIdentity:
        """The bot's user id, bot id and team (auth.test, cached)."""
        if self._bot_identity is None:
            data = self._call("auth.test", lambda: self.client.auth_test()).data
            self._bot_identity = _identity(data)
        return self._bot_identity

    async def abot_identity(self) -> BotIdentity:
        """Async :meth:`bot_identity`."""
        if self._bot_identity is None:
            client = await self.get_async_client()
            response = await self._alimited("auth.test", client.auth_test)
            self._bot_identity = _identity(response.data)
        return self._bot_identity

    # -- writing (workers only) --------------------------------------------------------------------

    def post_message(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> PostedMessage:
        """Post a message to a channel ID or name (``#name`` or ``name``); the name's ID is cached."""
        target = self._known_channel(channel) or normalize_channel_name(channel)
        response = self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=target, text=text, blocks=blocks, thread_ts=thread_ts, metadata=metadata
            ),
        )
        channel_id = response["channel"]
        if not is_channel_id(channel):
            self._channels_mapping[normalize_channel_name(channel)] = channel_id
        return PostedMessage(channel=channel_id, ts=response["ts"], message=response.get("message") or {})

    def update_message(
        self,
        *,
        channel: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Replace the text, blocks (and metadata) of a message this bot posted."""
        self._call(
            "chat.update",
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=text, blocks=blocks, metadata=metadata
            ),
        )

    def channel_id(self, channel: str) -> str:
        """The ID of a channel given by ID or name (names are looked up once with conversations.list)."""
        known = self._known_channel(channel)
        if known:
            return known
        name = normalize_channel_name(channel)
        if name not in self._channels_mapping:
            channels = self._collect(
                "conversations.list",
                "channels",
                lambda: self.client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=PAGE_SIZE
                ),
            )
            self._channels_mapping.update({item["name"]: item["id"] for item in channels})
        if name not in self._channels_mapping:
            raise explain(
                "channel_not_found", conn_id=self.slack_conn_id, method="conversations.list", detail=name
            )
        return self._channels_mapping[name]

    def _known_channel(self, channel: str) -> str | None:
        """The ID of a channel given by ID, or by a name this hook already resolved; else None."""
        if is_channel_id(channel):
            return channel
        return self._channels_mapping.get(normalize_channel_name(channel))

    def task_channel(self, channel: str | None, *, task_id: str) -> str:
        """A task's channel, else the connection's ``default_channel``; a clear ``ValueError``
        (before any Slack call) if neither says one."""
        resolved = channel or self.default_channel
        if not resolved:
            raise ValueError(
                f"Task {task_id!r} has no Slack channel: pass channel='#name' or a channel ID to the task, "
                f"or set the extra 'default_channel' on Airflow connection {self.slack_conn_id!r}."
            )
        return resolved

    def get_permalink(self, *, channel: str, ts: str) -> str:
        """The message's permanent URL."""
        response = self._call(
            "chat.getPermalink", lambda: self.client.chat_getPermalink(channel=channel, message_ts=ts)
        )
        return str(response["permalink"])

    # -- reading (workers and triggers) ------------------------------------------------------------

    def read_thread(
        self, *, channel: str, ts: str, include_all_metadata: bool = True
    ) -> list[dict[str, Any]]:
        """The thread's parent and all its replies, oldest first (every page).

        Messages carry their Slack message metadata (``include_all_metadata``), where button clicks are
        recorded.
        """
        return self._collect(
            "conversations.replies",
            "messages",
            lambda: self.client.conversations_replies(
                channel=channel, ts=ts, limit=PAGE_SIZE, include_all_metadata=include_all_metadata
            ),
        )

    def read_history(
        self,
        *,
        channel: str,
        oldest: str | None = None,
        inclusive: bool = True,
        include_all_metadata: bool = False,
    ) -> list[dict[str, Any]]:
        """The channel's parent messages since ``oldest`` (every page), newest first as Slack returns them."""
        return self._collect(
            "conversations.history",
            "messages",
            lambda: self.client.conversations_history(
                channel=channel,
                oldest=oldest,
                inclusive=inclusive,
                limit=PAGE_SIZE,
                include_all_metadata=include_all_metadata,
            ),
        )

    def channel_info(self, channel: str) -> dict[str, Any]:
        """The channel as conversations.info shows it (``is_archived``, ``is_member``...)."""
        response = self._call("conversations.info", lambda: self.client.conversations_info(channel=channel))
        return dict(response.get("channel") or {})

    def check_not_archived(self, channel: str) -> SlackGateError | None:
        """Raise ``is_archived`` if ``channel`` was archived: Slack keeps serving an archived channel's
        history, so a gate there would otherwise wait for votes nobody can cast. Other permanent errors
        (``channel_not_found``...) are raised too.

        :return: None if the channel was checked; else the error that kept it from being checked: a
            token without the ``channels:read``/``groups:read`` scope (``missing_scope``), or a
            transient failure (check again later).
        """
        try:
            info = self.channel_info(channel)
        except SlackGateError as error:
            return _unchecked(error)
        self._raise_if_archived(channel, info)
        return None

    def _raise_if_archived(self, channel: str, info: dict[str, Any]) -> None:
        if info.get("is_archived"):
            raise explain(
                "is_archived",
                conn_id=self.slack_conn_id,
                method="conversations.info",
                detail=f"channel {channel} was archived",
            )

    def lookup_user_by_email(self, email: str) -> str | None:
        """The ID of the Slack user with this email (users.lookupByEmail), or None if nobody has it.

        Needs the scope ``users:read.email``; Slack raises ``missing_scope`` without it.
        """
        try:
            response = self._call(
                "users.lookupByEmail", partial(self.client.users_lookupByEmail, email=email)
            )
        except SlackGateError as error:
            if error.error_code == "users_not_found":
                return None
            raise
        return str(response["user"]["id"])

    def expand_usergroups(self, group_ids: Iterable[str]) -> frozenset[str]:
        """The user IDs of every member of the given user groups (S...)."""
        users: set[str] = set()
        for group_id in group_ids:
            response = self._call(
                "usergroups.users.list", partial(self.client.usergroups_users_list, usergroup=group_id)
            )
            users.update(response.get("users") or [])
        return frozenset(users)

    def user_kinds(self, users: Iterable[str]) -> dict[str, UserKind]:
        """What each user is, from ``users.info``: ``person``, ``bot``, ``deleted`` or ``unknown``.

        Only a ``person`` votes: reactions and most replies carry no ``bot_id``, so another app's bot
        user or a deactivated account is told apart only this way. ``user_not_found`` and
        ``user_not_visible`` make a user ``unknown`` (logged); other errors are raised (a token without
        ``users:read`` gets ``missing_scope`` naming it).
        """
        return {user: self._user_kind(user, lambda u: self.client.users_info(user=u)) for user in users}

    def user_email(self, user: str) -> str | None:
        """The email on a Slack user's profile (``users.info``; Slack shows it only with the scope
        ``users:read.email``), or ``None`` (no email shown, or a user Slack will not describe)."""
        try:
            response = self._call("users.info", lambda: self.client.users_info(user=user))
        except SlackGateError as error:
            if error.error_code in UNKNOWN_USER_ERRORS:
                return None
            raise
        profile = (response.get("user") or {}).get("profile") or {}
        email = profile.get("email") if isinstance(profile, dict) else None
        return email if isinstance(email, str) and email else None

    def _user_kind(self, user: str, users_info: Callable[[str], Any]) -> UserKind:
        try:
            response = self._call("users.info", lambda: users_info(user))
        except SlackGateError as error:
            return self._unknown_user(user, error)
        return user_kind(response.get("user") or {})

    def _unknown_user(self, user: str, error: SlackGateError) -> UserKind:
        if error.error_code not in UNKNOWN_USER_ERRORS:
            raise error
        self.log.warning("The vote of user %s does not count: %s", user, error)
        return "unknown"

    async def auser_kinds(self, users: Iterable[str]) -> dict[str, UserKind]:
        """Async :meth:`user_kinds`, paced by the loop's shared rate limiter (``users.info`` is Tier 4).

        Triggers call it through :func:`airflow_slack_gate.runtime.watcher.user_kinds`, which caches the
        answers for every gate in the loop.
        """
        kinds: dict[str, UserKind] = {}
        for user in users:
            try:
                response = await self.acall("users.info", user=user)
            except SlackGateError as error:
                kinds[user] = self._unknown_user(user, error)
            else:
                kinds[user] = user_kind(response.get("user") or {})
        return kinds

    def post_ephemeral(self, *, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """Show ``text`` to ``user`` alone, in ``channel`` (in the thread of ``thread_ts``); Slack keeps
        no copy in the channel. The async form is ``acall("chat.postEphemeral", ...)``."""
        self._call(
            "chat.postEphemeral",
            lambda: self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            ),
        )

    async def aread_thread(
        self, *, channel: str, ts: str, include_all_metadata: bool = True, priority: int = ROUTINE
    ) -> list[dict[str, Any]]:
        """Async :meth:`read_thread`, paced by the loop's shared rate limiter; a read someone waits for
        asks for ``priority=URGENT`` (:mod:`airflow_slack_gate.core.bucket`)."""
        client = await self.get_async_client()
        return await self._apages(
            "conversations.replies",
            "messages",
            lambda cursor: client.conversations_replies(
                channel=channel,
                ts=ts,
                limit=PAGE_SIZE,
                cursor=cursor,
                include_all_metadata=include_all_metadata,
            ),
            priority,
        )

    async def aread_history(
        self,
        *,
        channel: str,
        oldest: str | None = None,
        inclusive: bool = True,
        include_all_metadata: bool = False,
        latest: str | None = None,
        priority: int = ROUTINE,
        on_turn: Callable[[], str | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Async :meth:`read_history`, paced by the loop's shared rate limiter (up to ``latest``, when
        given); a read someone waits for asks for ``priority=URGENT``.

        ``on_turn`` is called when the read has its turn in the limiter, just before the first page is
        requested, and its answer is the ``oldest`` read from: a caller can gather then what the read
        will serve (requests made while it waited on Slack's budget included).

        Pages are as large as Slack allows: the shared watcher reads a whole channel each round, and
        every page costs one call of the ~50 a minute Slack grants.
        """
        client = await self.get_async_client()
        since = oldest

        def page(cursor: str | None) -> Any:
            nonlocal since
            if cursor is None and on_turn is not None:
                since = on_turn()
            return client.conversations_history(
                channel=channel,
                oldest=since,
                latest=latest,
                inclusive=inclusive,
                limit=HISTORY_PAGE_SIZE,
                cursor=cursor,
                include_all_metadata=include_all_metadata,
            )

        return await self._apages("conversations.history", "messages", page, priority)

    async def achannel_info(self, channel: str) -> dict[str, Any]:
        """Async :meth:`channel_info`, paced by the loop's shared rate limiter."""
        client = await self.get_async_client()
        response = await self._alimited(
            "conversations.info", partial(client.conversations_info, channel=channel)
        )
        return dict(response.get("channel") or {})

    async def acheck_not_archived(self, channel: str) -> SlackGateError | None:
        """Async :meth:`check_not_archived`."""
        try:
            info = await self.achannel_info(channel)
        except SlackGateError as error:
            return _unchecked(error)
        self._raise_if_archived(channel, info)
        return None

    async def aexpand_usergroups(self, group_ids: Iterable[str]) -> frozenset[str]:
        """Async :meth:`expand_usergroups`."""
        client = await self.get_async_client()
        users: set[str] = set()
        for group_id in group_ids:
            response = await self._alimited(
                "usergroups.users.list", partial(client.usergroups_users_list, usergroup=group_id)
            )
            users.update(response.get("users") or [])
        return frozenset(users)

    async def acall(self, method: str, **arguments: Any) -> Any:
        """Call Slack Web API ``method`` (e.g. ``"views.open"``) with the async client, paced by the
        loop's rate limiter, its errors explained like those of every other call of this hook."""
        client = await self.get_async_client()
        return await self._alimited(method, partial(getattr(client, method.replace(".", "_")), **arguments))

    async def _alimited(self, method: str, call: Callable[[], Any], priority: int = ROUTINE) -> Any:
        limiter = loop_rate_limiter()
        await limiter.acquire(self._limiter_key, method, priority)
        response = await self._acall(method, call)
        limiter.succeeded(self._limiter_key, method)
        return response

    async def _apages(
        self, method: str, key: str, page: Callable[[str | None], Any], priority: int = ROUTINE
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            response = await self._alimited(method, partial(page, cursor), priority)
            items.extend(response.get(key) or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return items

    def _collect(self, method: str, key: str, first_page: Callable[[], Any]) -> list[dict[str, Any]]:
        return self._call(method, lambda: [item for page in first_page() for item in page.get(key) or []])

    # -- connection form (Airflow < 3.2 reads these; newer versions read provider info) -------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form, for Airflow versions that read them from the hook."""
        from airflow_slack_gate.hooks.connection_form import legacy_form_widgets

        return legacy_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden fields, labels and placeholders of the connection form."""
        from airflow_slack_gate.hooks.connection_form import legacy_ui_field_behaviour

        return legacy_ui_field_behaviour()


def _identity(data: Any) -> BotIdentity:
    return BotIdentity(user_id=data["user_id"], bot_id=data.get("bot_id"), team_id=data.get("team_id"))


def _unchecked(error: SlackGateError) -> SlackGateError:
    """The error of a channel check that proves nothing about the channel; raise the others."""
    if error.is_permanent and error.error_code != "missing_scope":
        raise error
    return error
