"""Posting, threads and reactions as slack_sdk sees them."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "Deploy?"}}]


def test_post_by_name_returns_channel_id_and_bot_message(client: WebClient, ws: DemoWorkspace) -> None:
    response = client.chat_postMessage(channel="#approvals", text="Deploy?", blocks=BLOCKS)

    assert response["channel"] == ws.approvals
    message = response["message"]
    assert message["type"] == "message"
    assert message["text"] == "Deploy?"
    assert message["blocks"] == BLOCKS
    assert message["ts"] == response["ts"]
    assert (message["user"], message["bot_id"], message["app_id"]) == (ws.bot_user_id, ws.bot_id, ws.app_id)
    assert message["bot_profile"]["id"] == ws.bot_id
    assert message["team"] == ws.team_id


def test_thread_fields_on_parent_and_replies(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]
    first = slack_emulator.reply("approvals", ts, "alice", "approve")
    slack_emulator.reply("approvals", ts, "bob", "reject: not today")
    last = slack_emulator.reply("approvals", ts, "alice", "approve")

    parent = client.conversations_history(channel=ws.approvals)["messages"][0]
    assert parent["thread_ts"] == ts
    assert parent["reply_count"] == 3
    assert parent["reply_users"] == [ws.alice, ws.bob]
    assert parent["reply_users_count"] == 2
    assert parent["latest_reply"] == last

    thread = client.conversations_replies(channel=ws.approvals, ts=ts)["messages"]
    assert [m["ts"] for m in thread][:2] == [ts, first]
    assert [m["text"] for m in thread[1:]] == ["approve", "reject: not today", "approve"]
    assert all(m["thread_ts"] == ts and m["parent_user_id"] == ws.bot_user_id for m in thread[1:])


async def test_reactions_seen_by_async_client(
    async_client: AsyncWebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    ts = (await async_client.chat_postMessage(channel=ws.approvals, text="Deploy?"))["ts"]
    slack_emulator.add_reaction(ws.approvals, ts, "alice", "white_check_mark")
    slack_emulator.add_reaction(ws.approvals, ts, "bob", ":white_check_mark:")
    slack_emulator.add_reaction(ws.approvals, ts, "carol", "x")

    response = await async_client.reactions_get(channel=ws.approvals, timestamp=ts)

    assert response["type"] == "message"
    assert response["message"]["reactions"] == [
        {"name": "white_check_mark", "users": [ws.alice, ws.bob], "count": 2},
        {"name": "x", "users": [ws.carol], "count": 1},
    ]
