"""One handler per Slack Web API method: arguments in, workspace calls, Slack-shaped response out.

Handlers run under the workspace lock and raise :class:`SlackError` for Slack's ``ok: false`` answers.
The order of checks follows Slack: auth (done by the server), channel lookup, scope, membership.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_slack_gate.core.messages import check_block_kit_limits
from airflow_slack_gate.testing.emulator import render
from airflow_slack_gate.testing.emulator.interactivity import interactivity_of
from airflow_slack_gate.testing.emulator.pagination import (
    Page,
    Window,
    decode_cursor,
    encode_cursor,
    paginate,
    parse_ts,
)
from airflow_slack_gate.testing.emulator.params import Params
from airflow_slack_gate.testing.emulator.state import Bot, Channel, Message, SlackError, Workspace

Response = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One authenticated call: the workspace, the calling bot and its arguments."""

    workspace: Workspace
    bot: Bot
    params: Params

    def require_scope(self, scope: str) -> None:
        """``missing_scope`` (with ``needed`` and ``provided``) unless the bot has ``scope``."""
        if scope not in self.bot.scopes:
            raise SlackError("missing_scope", needed=scope, provided=",".join(self.bot.scopes))

    def channel(self, name: str = "channel") -> Channel:
        """The channel argument, as far as the bot can see it (private channels need membership)."""
        ref = self.params.get_str(name)
        found = self.workspace.find_channel(ref) if ref else None
        if found is None or (found.is_private and not self.is_member(found)):
            raise SlackError("channel_not_found")
        return found

    def is_member(self, channel: Channel) -> bool:
        """Whether the calling bot's user is in the channel."""
        return self.bot.user_id in channel.members

    def readable_channel(self, public_scope: str, private_scope: str) -> Channel:
        """The channel argument for reading history: scope by channel type, then membership."""
        channel = self.channel()
        self.require_scope(private_scope if channel.is_private else public_scope)
        if not self.is_member(channel):
            raise SlackError("not_in_channel")
        return channel

    def message(self, channel: Channel, name: str, error: str = "message_not_found") -> Message:
        """The message whose ts is in argument ``name``; Slack's ``error`` when there is none."""
        ts = self.params.get_str(name)
        found = channel.messages.get(ts) if ts else None
        if found is None:
            raise SlackError(error)
        return found

    def content(self) -> tuple[str, list[Any] | None]:
        """``text`` and ``blocks``; ``no_text`` when both are missing; Slack's errors for content over
        Block Kit's limits (:func:`check_limits`)."""
        text, blocks = self.params.get_str("text"), self.params.get_json("blocks", "invalid_blocks")
        if blocks is not None and not isinstance(blocks, list):
            raise SlackError("invalid_blocks")
        if not text and not blocks:
            raise SlackError("no_text")
        check_limits(text, blocks)
        return text or "", blocks

    def window(self) -> Window:
        """The ``oldest``/``latest``/``inclusive`` arguments."""
        return Window(
            parse_ts(self.params.get_str("oldest"), "invalid_ts_oldest"),
            parse_ts(self.params.get_str("latest"), "invalid_ts_latest"),
            self.params.get_bool("inclusive"),
        )

    def render(self, channel: Channel, msg: Message) -> Response:
        """A message as this call should show it (metadata only when ``include_all_metadata``)."""
        include = self.params.get_bool("include_all_metadata")
        return render.message(self.workspace, channel, msg, include_metadata=include)


def check_limits(text: str | None, blocks: list[Any] | None) -> None:
    """Refuse content over Slack's limits as Slack does: ``invalid_blocks`` with each problem in
    ``errors`` and ``response_metadata.messages`` (``must be less than 3001 characters
    [json-pointer:/blocks/0/text/text]``), else ``msg_too_long`` for text over 40,000 characters.

    Emulator choice: Slack documents truncating text over 40,000 characters with a warning, but answers
    ``msg_too_long`` (a documented error of chat.postMessage, chat.update and chat.postEphemeral) for
    text it will not take; failing loudly keeps tests from relying on silent truncation.
    """
    problems = check_block_kit_limits(text, blocks)
    invalid = [
        f"{p.slack_message} [json-pointer:{p.pointer}]" for p in problems if p.error == "invalid_blocks"
    ]
    if invalid:
        raise SlackError(
            "invalid_blocks",
            errors=invalid,
            response_metadata={"messages": [f"[ERROR] {message}" for message in invalid]},
        )
    if problems:
        raise SlackError("msg_too_long")


def auth_test(call: Call) -> Response:
    """auth.test: who the token belongs to."""
    ws, bot = call.workspace, call.bot
    return {
        "ok": True,
        "url": f"https://{ws.domain}.slack.com/",
        "team": ws.team_name,
        "user": bot.name,
        "team_id": ws.team_id,
        "user_id": bot.user_id,
        "bot_id": bot.bot_id,
        "is_enterprise_install": False,
    }


def chat_post_message(call: Call) -> Response:
    """chat.postMessage: post as the bot, to a channel or into a thread."""
    call.require_scope("chat:write")
    channel = call.channel()
    if channel.is_archived:
        raise SlackError("is_archived")
    if not call.is_member(channel) and "chat:write.public" not in call.bot.scopes:
        raise SlackError("not_in_channel")
    text, blocks = call.content()
    thread_ts = call.params.get_str("thread_ts")
    if thread_ts and thread_ts not in channel.messages:
        # Emulator choice: real Slack's answer to an unknown thread_ts is undocumented; fail loudly.
        raise SlackError("thread_not_found")
    msg = call.workspace.post(
        channel.id,
        call.bot.user_id,
        text,
        blocks=blocks,
        thread_ts=thread_ts,
        metadata=_metadata(call.params),
        broadcast=call.params.get_bool("reply_broadcast"),
    )
    return {"ok": True, "channel": channel.id, "ts": msg.ts, "message": call.render(channel, msg)}


def _metadata(params: Params) -> dict[str, Any] | None:
    metadata = params.get_json("metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
        raise SlackError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata.get("event_payload", {})}


def chat_update(call: Call) -> Response:
    """chat.update: change one of the bot's own messages."""
    call.require_scope("chat:write")
    channel = call.channel()
    msg = call.message(channel, "ts")
    if msg.bot_id != call.bot.bot_id:
        raise SlackError("cant_update_message")
    text, blocks = call.content()
    msg = call.workspace.edit(channel.id, msg.ts, text, blocks=blocks)
    if (metadata := _metadata(call.params)) is not None:
        msg.metadata = metadata
    return {
        "ok": True,
        "channel": channel.id,
        "ts": msg.ts,
        "text": msg.text,
        "message": call.render(channel, msg),
    }


def chat_get_permalink(call: Call) -> Response:
    """chat.getPermalink: a message's link (Slack needs no scope for this)."""
    channel = call.channel()
    msg = call.message(channel, "message_ts")
    return {"ok": True, "channel": channel.id, "permalink": render.permalink(call.workspace, channel, msg)}


def conversations_history(call: Call) -> Response:
    """conversations.history: the channel's messages (parents, and replies also sent to the channel),
    newest first, windowed and paginated."""
    channel = call.readable_channel("channels:history", "groups:history")
    window = call.window()
    parents = [
        msg for msg in reversed(channel.messages.values()) if msg.in_channel and window.contains(msg.ts)
    ]
    page = _page(call, parents, default_limit=100)
    response: Response = {
        "ok": True,
        "messages": [call.render(channel, msg) for msg in page.items],
        "has_more": page.next_value is not None,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
    }
    return _with_cursor(response, page.next_value)


def conversations_replies(call: Call) -> Response:
    """conversations.replies: the parent first, then its replies oldest first, paginated."""
    channel = call.readable_channel("channels:history", "groups:history")
    msg = call.message(channel, "ts", error="thread_not_found")
    parent = channel.messages[msg.thread_ts] if msg.thread_ts else msg
    window = call.window()
    thread = [parent, *(m for m in call.workspace.thread(channel, parent)[1:] if window.contains(m.ts))]
    page = _page(call, thread, default_limit=1000)
    include = call.params.get_bool("include_all_metadata")
    messages = [
        render.thread_parent(call.workspace, channel, m, include_metadata=include)
        if m is parent
        else render.message(call.workspace, channel, m, include_metadata=include, with_root=False)
        for m in page.items
    ]
    return _with_cursor(
        {"ok": True, "messages": messages, "has_more": page.next_value is not None}, page.next_value
    )


def _page(call: Call, messages: list[Message], default_limit: int) -> Page:
    cursor = call.params.get_str("cursor")
    start = decode_cursor("next_ts", cursor) if cursor else None
    return paginate(messages, [m.ts for m in messages], start, call.params.get_int("limit", default_limit))


def _with_cursor(response: Response, next_value: str | None) -> Response:
    if next_value is not None:
        # Conflict: the 2020 schema forbids response_metadata here; Slack sends it to paginate.
        response["response_metadata"] = {"next_cursor": encode_cursor("next_ts", next_value)}
    return response


def conversations_info(call: Call) -> Response:
    """conversations.info: one channel."""
    channel = call.channel()
    call.require_scope("groups:read" if channel.is_private else "channels:read")
    return {
        "ok": True,
        "channel": render.conversation(
            call.workspace,
            channel,
            call.bot.user_id,
            num_members=call.params.get_bool("include_num_members"),
        ),
    }


_TYPE_SCOPES = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "mpim": "mpim:read",
    "im": "im:read",
}


def conversations_list(call: Call) -> Response:
    """conversations.list: channels of the requested ``types`` the bot may see, paginated."""
    types = (call.params.get_str("types") or "public_channel").split(",")
    for kind in types:
        if kind not in _TYPE_SCOPES:
            raise SlackError("invalid_types")
        call.require_scope(_TYPE_SCOPES[kind])
    exclude_archived = call.params.get_bool("exclude_archived")
    channels = [
        channel
        for channel in call.workspace.channels.values()
        if ("private_channel" if channel.is_private else "public_channel") in types
        and (call.is_member(channel) or not channel.is_private)
        and not (exclude_archived and channel.is_archived)
    ]
    cursor = call.params.get_str("cursor")
    start = decode_cursor("team", cursor) if cursor else None
    page = paginate(channels, [c.id for c in channels], start, call.params.get_int("limit", 100))
    return {
        "ok": True,
        "channels": [render.conversation(call.workspace, c, call.bot.user_id) for c in page.items],
        "response_metadata": {
            "next_cursor": encode_cursor("team", page.next_value) if page.next_value else ""
        },
    }


def reactions_get(call: Call) -> Response:
    """reactions.get: a message with its reactions."""
    call.require_scope("reactions:read")
    if not call.params.get_str("channel") or not call.params.get_str("timestamp"):
        raise SlackError("no_item_specified")
    channel = call.channel()
    msg = call.message(channel, "timestamp")
    message = call.render(channel, msg)
    message["permalink"] = render.permalink(call.workspace, channel, msg)
    return {"ok": True, "type": "message", "channel": channel.id, "message": message}


def users_info(call: Call) -> Response:
    """users.info: one user (people and bot users)."""
    call.require_scope("users:read")
    user_id = call.params.get_str("user")
    member = call.workspace.users.get(user_id) if user_id else None
    if member is None:
        raise SlackError("user_not_found")
    user = render.user(call.workspace, member)
    if member.email and "users:read.email" in call.bot.scopes:  # Slack shows it with this scope only
        user["profile"]["email"] = member.email
    return {"ok": True, "user": user}


def users_lookup_by_email(call: Call) -> Response:
    """users.lookupByEmail: the active person with this profile email (scope users:read.email).

    Slack grants users:read.email only together with users:read, so a token has both or neither.
    """
    call.require_scope("users:read.email")
    call.require_scope("users:read")
    email = call.params.get_str("email")
    member = call.workspace.find_user_by_email(email) if email else None
    if member is None or member.deleted or member.is_bot:
        raise SlackError("users_not_found")
    user = render.user(call.workspace, member)
    user["profile"]["email"] = member.email
    return {"ok": True, "user": user}


def usergroups_users_list(call: Call) -> Response:
    """usergroups.users.list: the user ids in a user group."""
    call.require_scope("usergroups:read")
    group_id = call.params.get_str("usergroup")
    group = call.workspace.usergroups.get(group_id) if group_id else None
    if group is None:
        raise SlackError("no_such_subteam")
    return {"ok": True, "users": list(group.users)}


def chat_post_ephemeral(call: Call) -> Response:
    """chat.postEphemeral: a message in a channel only one member sees (never stored in the channel)."""
    return interactivity_of(call.workspace).post_ephemeral(call)


def views_open(call: Call) -> Response:
    """views.open: open a modal for the person whose interaction issued the ``trigger_id``."""
    return interactivity_of(call.workspace).views_open(call)


@dataclass(frozen=True)
class Method:
    """A Slack method: its handler, its rate-limit tier (``None``: the per-channel posting limit) and
    the bot-token scopes it accepts (Slack's method page; sent as ``x-accepted-oauth-scopes``)."""

    handler: Callable[[Call], Response]
    tier: int | None
    scopes: tuple[str, ...] = ()


_HISTORY = ("channels:history", "groups:history", "im:history", "mpim:history")
_READ = ("channels:read", "groups:read", "im:read", "mpim:read")

#: Every method the emulator implements, by Slack name.
METHODS: dict[str, Method] = {
    "auth.test": Method(auth_test, 4),
    "chat.postMessage": Method(chat_post_message, None, ("chat:write",)),
    "chat.postEphemeral": Method(chat_post_ephemeral, 4, ("chat:write",)),
    "chat.update": Method(chat_update, 3, ("chat:write",)),
    "chat.getPermalink": Method(chat_get_permalink, 4),
    "conversations.history": Method(conversations_history, 3, _HISTORY),
    "conversations.replies": Method(conversations_replies, 3, _HISTORY),
    "conversations.info": Method(conversations_info, 3, _READ),
    "conversations.list": Method(conversations_list, 2, _READ),
    "reactions.get": Method(reactions_get, 3, ("reactions:read",)),
    "users.info": Method(users_info, 4, ("users:read",)),
    "users.lookupByEmail": Method(users_lookup_by_email, 3, ("users:read.email",)),
    "usergroups.users.list": Method(usergroups_users_list, 2, ("usergroups:read",)),
    "views.open": Method(views_open, 4),
}
