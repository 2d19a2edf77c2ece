"""Turn workspace objects into the JSON shapes Slack's Web API returns."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from airflow_slack_gate.testing.emulator.state import Bot, Channel, Message, User, Workspace

_ICON = "https://a.slack-edge.com/80588/img/plugins/app/bot_{size}.png"


def bot_profile(workspace: Workspace, bot: Bot) -> dict[str, Any]:
    """The ``bot_profile`` Slack attaches to a bot's messages."""
    return {
        "id": bot.bot_id,
        "deleted": workspace.users[bot.user_id].deleted,
        "name": bot.name,
        "updated": 1700000000,
        "app_id": bot.app_id,
        "icons": {f"image_{size}": _ICON.format(size=size) for size in (36, 48, 72)},
        "team_id": workspace.team_id,
    }


def message(
    workspace: Workspace,
    channel: Channel,
    msg: Message,
    *,
    include_metadata: bool = False,
    with_root: bool = True,
) -> dict[str, Any]:
    """A message as conversations.history / conversations.replies / chat.postMessage show it.

    A reply also sent to the channel has ``subtype: thread_broadcast`` and, unless ``with_root`` is
    false, the thread's parent as ``root`` (Slack's ``thread_broadcast`` message reference).
    Emulator choice: conversations.replies, which lists the parent first anyway, shows no ``root``.
    """
    out: dict[str, Any] = {"type": "message", "user": msg.user, "text": msg.text, "ts": msg.ts}
    if msg.broadcast:
        out["subtype"] = "thread_broadcast"
    if msg.client_msg_id:
        out["client_msg_id"] = msg.client_msg_id
    if msg.blocks is not None:
        out["blocks"] = msg.blocks
    elif not msg.bot_id:
        out["blocks"] = rich_text_blocks(msg)
    out["team"] = workspace.team_id
    if msg.bot_id:
        out.update(_bot_fields(workspace, msg.bot_id))
    out.update(_thread_fields(channel, msg))
    if msg.edited:
        out["edited"] = {"user": msg.edited[0], "ts": msg.edited[1]}
    if msg.reactions:
        out["reactions"] = [
            {"name": name, "users": list(users), "count": len(users)} for name, users in msg.reactions.items()
        ]
    if include_metadata and msg.metadata:
        out["metadata"] = msg.metadata
    if msg.broadcast and with_root and msg.thread_ts in channel.messages:
        out["root"] = message(
            workspace, channel, channel.messages[msg.thread_ts], include_metadata=include_metadata
        )
    return out


def rich_text_blocks(msg: Message) -> list[dict[str, Any]]:
    """The ``rich_text`` block Slack adds to what a person types (as in Slack's documented ``message``
    events): one ``rich_text_section`` with the text. Its ``block_id`` follows the message's ts and
    text, so a message reads the same every time and an edit gets a new one.

    Emulator choice: the text is one ``text`` element; Slack also splits out mentions, links, emoji
    and styles, which nothing here reads.
    """
    digest = hashlib.sha1(f"{msg.ts}\n{msg.text}".encode(), usedforsecurity=False).digest()
    return [
        {
            "type": "rich_text",
            "block_id": base64.urlsafe_b64encode(digest).decode()[:4],
            "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": msg.text}]}],
        }
    ]


def _bot_fields(workspace: Workspace, bot_id: str) -> dict[str, Any]:
    bot = workspace.bot_by_id(bot_id)
    fields: dict[str, Any] = {"bot_id": bot_id}
    if bot is not None:
        fields["app_id"] = bot.app_id
        fields["bot_profile"] = bot_profile(workspace, bot)
    return fields


def _thread_fields(channel: Channel, msg: Message) -> dict[str, Any]:
    if msg.thread_ts and msg.thread_ts != msg.ts:
        return {"thread_ts": msg.thread_ts, "parent_user_id": channel.messages[msg.thread_ts].user}
    if not msg.replies:
        return {}
    reply_users = list(dict.fromkeys(channel.messages[ts].user for ts in msg.replies))
    return {
        "thread_ts": msg.ts,
        "reply_count": len(msg.replies),
        "reply_users_count": len(reply_users),
        "latest_reply": msg.replies[-1],
        "reply_users": reply_users,
        "subscribed": False,
    }


def thread_parent(workspace: Workspace, channel: Channel, msg: Message, **kwargs: Any) -> dict[str, Any]:
    """The parent as the first item of conversations.replies.

    The published schema requires ``thread_ts``, ``reply_count`` and ``subscribed`` on it, so a
    message without replies also carries ``thread_ts`` (its own ts) and ``reply_count: 0`` here.
    """
    out = message(workspace, channel, msg, **kwargs)
    out.setdefault("thread_ts", msg.ts)
    out.setdefault("reply_count", 0)
    out.setdefault("subscribed", False)
    return out


def conversation(
    workspace: Workspace, channel: Channel, viewer: str, *, num_members: bool = False
) -> dict[str, Any]:
    """A channel as conversations.info / conversations.list show it to ``viewer`` (a user id)."""
    out: dict[str, Any] = {
        "id": channel.id,
        "name": channel.name,
        "is_channel": not channel.is_private,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel.is_private,
        "created": channel.created,
        "is_archived": channel.is_archived,
        "is_general": False,
        "unlinked": 0,
        "name_normalized": channel.name,
        "is_shared": False,
        "is_org_shared": False,
        "is_pending_ext_shared": False,
        "pending_shared": [],
        "parent_conversation": None,
        "creator": channel.creator,
        "is_ext_shared": False,
        "shared_team_ids": [workspace.team_id],
        "pending_connected_team_ids": [],
        "is_member": viewer in channel.members,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "previous_names": [],
    }
    if num_members:
        out["num_members"] = len(channel.members)
    return out


def user(workspace: Workspace, member: User) -> dict[str, Any]:
    """A user as users.info shows it."""
    profile: dict[str, Any] = {
        "real_name": member.real_name,
        "display_name": member.name,
        "avatar_hash": "g0000000000",
        "real_name_normalized": member.real_name,
        "display_name_normalized": member.name,
        "title": "",
        "phone": "",
        "skype": "",
        "status_text": "",
        "status_emoji": "",
        "fields": None,
        "first_name": member.real_name.split(" ")[0],
        "last_name": "",
        "image_72": f"https://secure.gravatar.com/avatar/{member.id}.jpg?s=72",
        "team": workspace.team_id,
    }
    if member.bot_id:
        profile.update({"bot_id": member.bot_id, "api_app_id": member.app_id, "always_active": True})
    return {
        "id": member.id,
        "team_id": workspace.team_id,
        "name": member.name,
        "deleted": member.deleted,
        "real_name": member.real_name,
        "tz": "Europe/Amsterdam",
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_primary_owner": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": member.is_bot,
        "is_app_user": False,
        "updated": 1700000000,
    }


def permalink(workspace: Workspace, channel: Channel, msg: Message) -> str:
    """The message's permalink, in Slack's format (replies carry ``thread_ts`` and ``cid``)."""
    link = f"https://{workspace.domain}.slack.com/archives/{channel.id}/p{msg.ts.replace('.', '')}"
    if msg.thread_ts and msg.thread_ts != msg.ts:
        link += f"?thread_ts={msg.thread_ts}&cid={channel.id}"
    return link
