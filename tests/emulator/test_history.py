"""conversations.history and conversations.replies: ordering, windows, pagination, access and errors."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator


@pytest.fixture
def five(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> list[str]:
    """Five top-level messages by alice, oldest first."""
    return [slack_emulator.post_as_user(ws.approvals, "alice", f"m{i}") for i in range(5)]


def _error(call: object, **kwargs: object) -> str:
    with pytest.raises(SlackApiError) as raised:
        call(**kwargs)  # type: ignore[operator]
    return raised.value.response["error"]


def test_history_newest_first_without_replies(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace, five: list[str]
) -> None:
    slack_emulator.reply(ws.approvals, five[0], "bob", "in a thread")

    response = client.conversations_history(channel=ws.approvals)

    assert [m["ts"] for m in response["messages"]] == five[::-1]
    assert response["has_more"] is False
    assert "response_metadata" not in response


def test_history_pages_with_cursor(client: WebClient, ws: DemoWorkspace, five: list[str]) -> None:
    first = client.conversations_history(channel=ws.approvals, limit=2)
    second = client.conversations_history(
        channel=ws.approvals, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    third = client.conversations_history(
        channel=ws.approvals, limit=2, cursor=second["response_metadata"]["next_cursor"]
    )

    pages = [[m["ts"] for m in page["messages"]] for page in (first, second, third)]
    assert pages == [five[4:2:-1], five[2:0:-1], five[0:1]]
    assert [page["has_more"] for page in (first, second, third)] == [True, True, False]


def test_sdk_iterates_all_pages(client: WebClient, ws: DemoWorkspace, five: list[str]) -> None:
    # slack_sdk's iterator re-fills one response object, so read each page while on it.
    seen = [
        m["ts"]
        for page in client.conversations_history(channel=ws.approvals, limit=2)
        for m in page["messages"]
    ]

    assert seen == five[::-1]


def test_history_window_exclusive_by_default(client: WebClient, ws: DemoWorkspace, five: list[str]) -> None:
    response = client.conversations_history(channel=ws.approvals, oldest=five[1], latest=five[3])

    assert [m["ts"] for m in response["messages"]] == [five[2]]


def test_history_window_inclusive(client: WebClient, ws: DemoWorkspace, five: list[str]) -> None:
    response = client.conversations_history(
        channel=ws.approvals, oldest=five[1], latest=five[3], inclusive=True
    )

    assert [m["ts"] for m in response["messages"]] == [five[3], five[2], five[1]]


def test_history_oldest_with_pagination(client: WebClient, ws: DemoWorkspace, five: list[str]) -> None:
    first = client.conversations_history(channel=ws.approvals, oldest=five[1], limit=2)
    rest = client.conversations_history(
        channel=ws.approvals, oldest=five[1], limit=2, cursor=first["response_metadata"]["next_cursor"]
    )

    assert [m["ts"] for m in first["messages"] + rest["messages"]] == [five[4], five[3], five[2]]
    assert rest["has_more"] is False


def test_history_bad_arguments(client: WebClient, ws: DemoWorkspace) -> None:
    assert _error(client.conversations_history, channel=ws.approvals, oldest="soon") == "invalid_ts_oldest"
    assert _error(client.conversations_history, channel=ws.approvals, latest="later") == "invalid_ts_latest"
    assert _error(client.conversations_history, channel=ws.approvals, cursor="garbage!") == "invalid_cursor"


def test_history_access(client: WebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.create_channel("general", members=["alice"])
    slack_emulator.create_channel("secret", members=["alice"], is_private=True)

    assert _error(client.conversations_history, channel="CNOPE00000") == "channel_not_found"
    assert _error(client.conversations_history, channel="general") == "not_in_channel"
    assert _error(client.conversations_history, channel="secret") == "channel_not_found"


def test_history_scope_depends_on_channel_type(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    bot = slack_emulator.create_bot("public-only", ["channels:history"])
    private = slack_emulator.create_channel("secret", members=[bot.user_id], is_private=True)
    slack_emulator.add_member(ws.approvals, bot.user_id)
    client = WebClient(token=bot.token, base_url=slack_emulator.base_url)

    assert client.conversations_history(channel=ws.approvals)["ok"]
    with pytest.raises(SlackApiError) as raised:
        client.conversations_history(channel=private)
    assert (raised.value.response["error"], raised.value.response["needed"]) == (
        "missing_scope",
        "groups:history",
    )


def test_replies_parent_first_then_ascending(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]
    replies = [
        slack_emulator.reply(ws.approvals, parent, user, "approve") for user in ("alice", "bob", "carol")
    ]

    response = client.conversations_replies(channel=ws.approvals, ts=parent)

    assert [m["ts"] for m in response["messages"]] == [parent, *replies]
    assert response["has_more"] is False


def test_replies_by_reply_ts_returns_the_thread(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]
    reply = slack_emulator.reply(ws.approvals, parent, "alice", "approve")

    assert [m["ts"] for m in client.conversations_replies(channel=ws.approvals, ts=reply)["messages"]] == [
        parent,
        reply,
    ]


def test_replies_of_a_message_without_thread(client: WebClient, ws: DemoWorkspace) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]

    (only,) = client.conversations_replies(channel=ws.approvals, ts=ts)["messages"]
    assert (only["ts"], only["reply_count"]) == (ts, 0)


async def test_replies_paginate_and_window(
    async_client: AsyncWebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = (await async_client.chat_postMessage(channel=ws.approvals, text="Deploy?"))["ts"]
    replies = [slack_emulator.reply(ws.approvals, parent, "alice", str(i)) for i in range(4)]

    first = await async_client.conversations_replies(channel=ws.approvals, ts=parent, limit=3)
    second = await async_client.conversations_replies(
        channel=ws.approvals, ts=parent, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    windowed = await async_client.conversations_replies(channel=ws.approvals, ts=parent, oldest=replies[1])

    assert [m["ts"] for m in first["messages"]] == [parent, *replies[:2]]
    assert first["has_more"] is True
    assert [m["ts"] for m in second["messages"]] == replies[2:]
    assert second["has_more"] is False
    assert [m["ts"] for m in windowed["messages"]] == [parent, *replies[2:]]


def test_replies_errors(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    slack_emulator.create_channel("general", members=["alice"])

    assert (
        _error(client.conversations_replies, channel=ws.approvals, ts="1000000000.000001")
        == "thread_not_found"
    )
    assert _error(client.conversations_replies, channel="general", ts="1000000000.000001") == "not_in_channel"
    assert (
        _error(client.conversations_replies, channel="CNOPE00000", ts="1000000000.000001")
        == "channel_not_found"
    )


def test_replies_need_history_scope(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    bot = slack_emulator.create_bot("poster", ["chat:write"])
    slack_emulator.add_member(ws.approvals, bot.user_id)
    client = WebClient(token=bot.token, base_url=slack_emulator.base_url)

    assert (
        _error(client.conversations_replies, channel=ws.approvals, ts="1000000000.000001") == "missing_scope"
    )


def test_edits_deletes_and_reactions_show_in_history(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]
    reply = slack_emulator.reply(ws.approvals, parent, "alice", "aprove")
    slack_emulator.edit_message(ws.approvals, reply, "approve")
    doomed = slack_emulator.reply(ws.approvals, parent, "bob", "reject")
    slack_emulator.delete_message(ws.approvals, doomed)
    slack_emulator.add_reaction(ws.approvals, parent, "carol", "white_check_mark")
    slack_emulator.add_reaction(ws.approvals, parent, "dave", "x")
    slack_emulator.remove_reaction(ws.approvals, parent, "dave", "x")

    top = client.conversations_history(channel=ws.approvals)["messages"][0]
    thread = client.conversations_replies(channel=ws.approvals, ts=parent)["messages"]

    assert (top["reply_count"], top["reply_users"]) == (1, [ws.alice])
    assert top["reactions"] == [{"name": "white_check_mark", "users": [ws.carol], "count": 1}]
    assert thread[1]["text"] == "approve"
    assert thread[1]["edited"]["user"] == ws.alice
