"""Every emulated method's answers, success and error, validate against Slack's published schema.

Each case calls the emulator over HTTP with slack_sdk. A response must validate against the published
schema as is, unless the case is listed in ``NEEDS_DEVIATION``: those responses match today's Slack where
the 2020 schema is out of date, and must validate against the schema with the documented deviations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.testing.emulator import METHODS, DemoWorkspace, SlackEmulator

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "Deploy?"}}]
METADATA = {"event_type": "approval_requested", "event_payload": {"gate": "deploy"}}
LONG_HEADER = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Reject"}, "blocks": BLOCKS}


@dataclass(frozen=True)
class Case:
    """One call: which method, with what arguments, as which bot (``None``: the seeded bot)."""

    method: str
    arguments: Callable[[SlackEmulator, DemoWorkspace], dict[str, Any]]
    token: Callable[[SlackEmulator, DemoWorkspace], str] | None = None


def _thread(slack: SlackEmulator, ws: DemoWorkspace) -> str:
    ts = slack.post_as_bot(ws.approvals, ws.bot_user_id, "Deploy?", blocks=BLOCKS, metadata=METADATA)
    slack.reply(ws.approvals, ts, "alice", "approve")
    slack.reply(ws.approvals, ts, "bob", "reject: not yet")
    slack.add_reaction(ws.approvals, ts, "carol", "white_check_mark")
    slack.edit_message(ws.approvals, ts, "Deploy? (edited)")
    return ts


def _person_message(slack: SlackEmulator, ws: DemoWorkspace) -> str:
    return slack.post_as_user(ws.approvals, "alice", "hello")


def _bot_without(*missing: str) -> Callable[[SlackEmulator, DemoWorkspace], str]:
    def make(slack: SlackEmulator, ws: DemoWorkspace) -> str:
        from airflow_slack_gate.testing.emulator import DEFAULT_BOT_SCOPES

        bot = slack.create_bot(
            f"limited-{len(slack.state.bots)}", [s for s in DEFAULT_BOT_SCOPES if s not in missing]
        )
        slack.add_member(ws.approvals, bot.user_id)
        return bot.token

    return make


def _revoked(slack: SlackEmulator, ws: DemoWorkspace) -> str:
    bot = slack.create_bot("revoked")
    slack.revoke_token(bot.token)
    return bot.token


def _inactive(slack: SlackEmulator, ws: DemoWorkspace) -> str:
    bot = slack.create_bot("inactive")
    slack.deactivate_user(bot.user_id)
    return bot.token


def _outside(slack: SlackEmulator, ws: DemoWorkspace) -> str:
    return slack.create_channel("outside", members=["alice"])


def _deactivated(slack: SlackEmulator, ws: DemoWorkspace) -> str:
    leaver = slack.create_user("leaver")
    slack.deactivate_user(leaver)
    return leaver


def _archived(slack: SlackEmulator, ws: DemoWorkspace) -> str:
    return slack.create_channel("old", members=[ws.bot_user_id], is_archived=True)


def _empty(slack: SlackEmulator, ws: DemoWorkspace) -> str:
    return slack.create_channel("empty", members=[ws.bot_user_id])


def _paged_history(slack: SlackEmulator, ws: DemoWorkspace) -> dict[str, Any]:
    for text in ("one", "two", "three"):
        slack.post_as_user(ws.approvals, "alice", text)
    return {"channel": ws.approvals, "limit": 2}


def _history_with_thread(slack: SlackEmulator, ws: DemoWorkspace) -> dict[str, Any]:
    _thread(slack, ws)
    return {"channel": ws.approvals, "include_all_metadata": True}


def _history_with_broadcast(slack: SlackEmulator, ws: DemoWorkspace) -> dict[str, Any]:
    slack.reply(ws.approvals, _thread(slack, ws), "carol", "approve", broadcast=True)
    return {"channel": ws.approvals}


CASES: dict[str, Case] = {
    "auth.test ok": Case("auth.test", lambda s, w: {}),
    "auth.test not_authed": Case("auth.test", lambda s, w: {}, token=lambda s, w: ""),
    "auth.test invalid_auth": Case("auth.test", lambda s, w: {}, token=lambda s, w: "xoxb-unknown"),
    "auth.test token_revoked": Case("auth.test", lambda s, w: {}, token=_revoked),
    "auth.test account_inactive": Case("auth.test", lambda s, w: {}, token=_inactive),
    "chat.postMessage ok": Case(
        "chat.postMessage", lambda s, w: {"channel": "#approvals", "text": "Deploy?", "blocks": BLOCKS}
    ),
    "chat.postMessage ok reply": Case(
        "chat.postMessage", lambda s, w: {"channel": w.approvals, "text": "ok", "thread_ts": _thread(s, w)}
    ),
    "chat.postMessage ok broadcast": Case(
        "chat.postMessage",
        lambda s, w: {
            "channel": w.approvals,
            "text": "ok",
            "thread_ts": _thread(s, w),
            "reply_broadcast": True,
        },
    ),
    "chat.postMessage channel_not_found": Case(
        "chat.postMessage", lambda s, w: {"channel": "nope", "text": "x"}
    ),
    "chat.postMessage not_in_channel": Case(
        "chat.postMessage", lambda s, w: {"channel": _outside(s, w), "text": "x"}
    ),
    "chat.postMessage is_archived": Case(
        "chat.postMessage", lambda s, w: {"channel": _archived(s, w), "text": "x"}
    ),
    "chat.postMessage no_text": Case("chat.postMessage", lambda s, w: {"channel": w.approvals}),
    "chat.postMessage invalid_blocks": Case(
        "chat.postMessage", lambda s, w: {"channel": w.approvals, "text": "x", "blocks": [LONG_HEADER]}
    ),
    "chat.postMessage msg_too_long": Case(
        "chat.postMessage", lambda s, w: {"channel": w.approvals, "text": "x" * 40_001}
    ),
    "chat.postMessage missing_scope": Case(
        "chat.postMessage",
        lambda s, w: {"channel": w.approvals, "text": "x"},
        token=_bot_without("chat:write"),
    ),
    "chat.postMessage token_revoked": Case("chat.postMessage", lambda s, w: {"channel": "x"}, token=_revoked),
    "chat.update ok": Case(
        "chat.update",
        lambda s, w: {"channel": w.approvals, "ts": _thread(s, w), "text": "Approved", "blocks": BLOCKS},
    ),
    "chat.update message_not_found": Case(
        "chat.update", lambda s, w: {"channel": w.approvals, "ts": "1000000000.000001", "text": "x"}
    ),
    "chat.update cant_update_message": Case(
        "chat.update", lambda s, w: {"channel": w.approvals, "ts": _person_message(s, w), "text": "x"}
    ),
    "chat.update invalid_blocks": Case(
        "chat.update",
        lambda s, w: {"channel": w.approvals, "ts": _thread(s, w), "text": "x", "blocks": [LONG_HEADER]},
    ),
    "chat.update msg_too_long": Case(
        "chat.update", lambda s, w: {"channel": w.approvals, "ts": _thread(s, w), "text": "x" * 40_001}
    ),
    "chat.update missing_scope": Case(
        "chat.update",
        lambda s, w: {"channel": w.approvals, "ts": "1.1", "text": "x"},
        token=_bot_without("chat:write"),
    ),
    "chat.getPermalink ok": Case(
        "chat.getPermalink", lambda s, w: {"channel": w.approvals, "message_ts": _thread(s, w)}
    ),
    "chat.getPermalink message_not_found": Case(
        "chat.getPermalink", lambda s, w: {"channel": w.approvals, "message_ts": "1000000000.000001"}
    ),
    "chat.getPermalink channel_not_found": Case(
        "chat.getPermalink", lambda s, w: {"channel": "CNOPE0000", "message_ts": "1000000000.000001"}
    ),
    "conversations.history ok": Case("conversations.history", _history_with_thread),
    "conversations.history ok paginated": Case("conversations.history", _paged_history),
    "conversations.history ok broadcast": Case("conversations.history", _history_with_broadcast),
    "conversations.history ok empty": Case("conversations.history", lambda s, w: {"channel": _empty(s, w)}),
    "conversations.history channel_not_found": Case(
        "conversations.history", lambda s, w: {"channel": "CNOPE0000"}
    ),
    "conversations.history not_in_channel": Case(
        "conversations.history", lambda s, w: {"channel": _outside(s, w)}
    ),
    "conversations.history missing_scope": Case(
        "conversations.history", lambda s, w: {"channel": w.approvals}, token=_bot_without("channels:history")
    ),
    "conversations.history invalid_ts_oldest": Case(
        "conversations.history", lambda s, w: {"channel": w.approvals, "oldest": "yesterday"}
    ),
    "conversations.replies ok": Case(
        "conversations.replies", lambda s, w: {"channel": w.approvals, "ts": _thread(s, w)}
    ),
    "conversations.replies ok paginated": Case(
        "conversations.replies", lambda s, w: {"channel": w.approvals, "ts": _thread(s, w), "limit": 2}
    ),
    "conversations.replies ok no replies": Case(
        "conversations.replies", lambda s, w: {"channel": w.approvals, "ts": _person_message(s, w)}
    ),
    "conversations.replies thread_not_found": Case(
        "conversations.replies", lambda s, w: {"channel": w.approvals, "ts": "1000000000.000001"}
    ),
    "conversations.replies not_in_channel": Case(
        "conversations.replies", lambda s, w: {"channel": _outside(s, w), "ts": "1000000000.000001"}
    ),
    "conversations.replies missing_scope": Case(
        "conversations.replies",
        lambda s, w: {"channel": w.approvals, "ts": "1.1"},
        token=_bot_without("channels:history"),
    ),
    "conversations.info ok": Case(
        "conversations.info", lambda s, w: {"channel": w.approvals, "include_num_members": 1}
    ),
    "conversations.info channel_not_found": Case("conversations.info", lambda s, w: {"channel": "CNOPE0000"}),
    "conversations.info missing_scope": Case(
        "conversations.info", lambda s, w: {"channel": w.approvals}, token=_bot_without("channels:read")
    ),
    "conversations.list ok": Case(
        "conversations.list", lambda s, w: {"types": "public_channel,private_channel"}
    ),
    "conversations.list missing_scope": Case(
        "conversations.list", lambda s, w: {"types": "private_channel"}, token=_bot_without("groups:read")
    ),
    "reactions.get ok": Case(
        "reactions.get", lambda s, w: {"channel": w.approvals, "timestamp": _thread(s, w)}
    ),
    "reactions.get message_not_found": Case(
        "reactions.get", lambda s, w: {"channel": w.approvals, "timestamp": "1000000000.000001"}
    ),
    "reactions.get no_item_specified": Case("reactions.get", lambda s, w: {}),
    "reactions.get channel_not_found": Case(
        "reactions.get", lambda s, w: {"channel": "CNOPE0000", "timestamp": "1000000000.000001"}
    ),
    "reactions.get missing_scope": Case(
        "reactions.get",
        lambda s, w: {"channel": w.approvals, "timestamp": "1.1"},
        token=_bot_without("reactions:read"),
    ),
    "users.info ok": Case("users.info", lambda s, w: {"user": w.alice}),
    "users.info ok bot": Case("users.info", lambda s, w: {"user": w.bot_user_id}),
    "users.info ok deactivated": Case("users.info", lambda s, w: {"user": _deactivated(s, w)}),
    "users.info user_not_found": Case("users.info", lambda s, w: {"user": "UNOPE0000"}),
    "users.info missing_scope": Case(
        "users.info", lambda s, w: {"user": w.alice}, token=_bot_without("users:read")
    ),
    "users.lookupByEmail ok": Case("users.lookupByEmail", lambda s, w: {"email": "Alice@Example.com"}),
    "users.lookupByEmail users_not_found": Case(
        "users.lookupByEmail", lambda s, w: {"email": "nobody@example.com"}
    ),
    "users.lookupByEmail missing_scope": Case(
        "users.lookupByEmail",
        lambda s, w: {"email": "alice@example.com"},
        token=_bot_without("users:read.email"),
    ),
    "chat.postEphemeral ok": Case(
        "chat.postEphemeral", lambda s, w: {"channel": w.approvals, "user": w.alice, "text": "only you"}
    ),
    "chat.postEphemeral user_not_in_channel": Case(
        "chat.postEphemeral",
        lambda s, w: {"channel": w.approvals, "user": s.create_user(f"u{len(s.state.users)}"), "text": "x"},
    ),
    "chat.postEphemeral channel_not_found": Case(
        "chat.postEphemeral", lambda s, w: {"channel": "CNOPE0000", "user": w.alice, "text": "x"}
    ),
    "views.open ok": Case(
        "views.open",
        lambda s, w: {"trigger_id": s.interactivity.new_trigger_id(w.alice, w.app_id), "view": MODAL},
    ),
    "views.open invalid_trigger_id": Case("views.open", lambda s, w: {"trigger_id": "1.2.3", "view": MODAL}),
    "usergroups.users.list ok": Case("usergroups.users.list", lambda s, w: {"usergroup": w.deployers}),
    "usergroups.users.list invalid_auth": Case(
        "usergroups.users.list", lambda s, w: {"usergroup": w.deployers}, token=lambda s, w: "xoxb-unknown"
    ),
    "usergroups.users.list no_such_subteam": Case(
        "usergroups.users.list", lambda s, w: {"usergroup": "SNOPE0000"}
    ),
    "usergroups.users.list missing_scope": Case(
        "usergroups.users.list",
        lambda s, w: {"usergroup": w.deployers},
        token=_bot_without("usergroups:read"),
    ),
}

#: Cases whose (Slack-true) response the published 2020 schema rejects; see tests/schema/conftest.py.
NEEDS_DEVIATION = {
    "chat.postMessage ok",  # app_id on bot messages
    "chat.postMessage ok reply",
    "chat.postMessage ok broadcast",  # root on a thread_broadcast reply
    "chat.postMessage missing_scope",  # error code and needed/provided not in the 2020 enum
    "chat.postMessage token_revoked",
    "chat.postMessage invalid_blocks",  # error code, errors and response_metadata not in the 2020 schema
    "chat.update ok",  # blocks as an array
    "chat.update invalid_blocks",
    "chat.update missing_scope",
    "conversations.history ok",  # app_id, edited, metadata on messages
    "conversations.history ok paginated",  # response_metadata
    "conversations.history ok broadcast",  # root on a thread_broadcast reply
    "conversations.history ok empty",  # messages: []
    "conversations.history not_in_channel",
    "conversations.replies ok paginated",
    "conversations.replies not_in_channel",
    "reactions.get channel_not_found",
    "reactions.get missing_scope",
    "users.info missing_scope",
    "users.lookupByEmail missing_scope",
    "usergroups.users.list no_such_subteam",
    "usergroups.users.list missing_scope",
}


def _call(slack: SlackEmulator, ws: DemoWorkspace, case: Case) -> dict[str, Any]:
    token = case.token(slack, ws) if case.token else ws.bot_token
    client = WebClient(token=token or None, base_url=slack.base_url, retry_handlers=[])
    arguments = case.arguments(slack, ws)
    try:
        return getattr(client, case.method.replace(".", "_"))(**arguments).data
    except SlackApiError as exc:
        return exc.response.data


@pytest.mark.parametrize("name", list(CASES))
def test_response_validates(
    name: str, slack_emulator: SlackEmulator, slack_schema: Any, published_schema: Any
) -> None:
    case = CASES[name]
    body = _call(slack_emulator, slack_emulator.workspace, case)

    expected = name.split(" ", 1)[1]
    assert body["ok"] is expected.startswith("ok"), body
    if not body["ok"]:
        assert body["error"] == expected
    slack_schema.validate(case.method, body)
    published_ok = published_schema.validator(
        published_schema.success(case.method) if body["ok"] else published_schema.error(case.method)
    ).is_valid(body)
    assert published_ok is (name not in NEEDS_DEVIATION), "NEEDS_DEVIATION is out of date"


def test_every_method_has_success_and_error_cases() -> None:
    for method in METHODS:
        outcomes = {name.split(" ", 1)[1].startswith("ok") for name in CASES if name.split(" ")[0] == method}
        assert outcomes == {True, False}, method


@pytest.mark.parametrize(
    ("name", "path", "definition"),
    [
        ("conversations.info ok", ("channel",), "objs_conversation"),
        ("users.info ok", ("user",), "objs_user"),
        ("users.info ok bot", ("user",), "objs_user"),
        ("users.info ok deactivated", ("user",), "objs_user"),
        ("users.lookupByEmail ok", ("user",), "objs_user"),
    ],
)
def test_objects_match_first_schema_variant(
    name: str, path: tuple[str, ...], definition: str, slack_emulator: SlackEmulator, published_schema: Any
) -> None:
    """objs_conversation and objs_user are tuple-``items`` on objects, which validate nothing; check the
    first (channel / person) variant strictly instead."""
    body = _call(slack_emulator, slack_emulator.workspace, CASES[name])
    for key in path:
        body = body[key]
    variant = published_schema.definition(definition)["items"][0]
    published_schema.validator(variant).validate(body)


def test_listed_channels_and_reacted_message_match_strict_variants(
    slack_emulator: SlackEmulator, published_schema: Any, slack_schema: Any
) -> None:
    ws = slack_emulator.workspace
    channels = _call(slack_emulator, ws, CASES["conversations.list ok"])["channels"]
    reactions = _call(slack_emulator, ws, CASES["reactions.get ok"])

    conversation = published_schema.validator(published_schema.definition("objs_conversation")["items"][0])
    for channel in channels:
        conversation.validate(channel)
    # reactions.get's 200 schema is a tuple of variants on an object (validates nothing): use the first.
    slack_schema.validator(slack_schema.success("reactions.get")["items"][0]).validate(reactions)


def test_thread_messages_match_parent_and_reply_variants(
    slack_emulator: SlackEmulator, published_schema: Any, slack_schema: Any
) -> None:
    """conversations.replies' schema nests its (parent, reply) tuple one level too deep, so it checks no
    message; check each message against its intended variant instead."""
    parent, *replies = _call(slack_emulator, slack_emulator.workspace, CASES["conversations.replies ok"])[
        "messages"
    ]

    def variants(schema: Any) -> list[Any]:
        return [
            schema.validator(v)
            for v in schema.success("conversations.replies")["properties"]["messages"]["items"]["items"]
        ]

    parent_variant, reply_variant = variants(slack_schema)
    parent_variant.validate(parent)
    for reply in replies:
        reply_variant.validate(reply)
    published_parent, published_reply = variants(published_schema)
    # The deviations are needed: a bot's parent has blocks and bot fields, a person's reply a client_msg_id.
    assert not published_parent.is_valid(parent)
    assert not any(published_reply.is_valid(reply) for reply in replies)
