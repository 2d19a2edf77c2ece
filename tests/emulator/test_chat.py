"""chat.postMessage, chat.update and chat.getPermalink: content, membership, scopes and their errors."""

from __future__ import annotations

import json

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.emulator import DEFAULT_BOT_SCOPES, DemoWorkspace, SlackEmulator

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "Deploy?"}}]


def _error(call: object, **kwargs: object) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call(**kwargs)  # type: ignore[operator]
    return raised.value


@pytest.mark.parametrize("channel", ["approvals", "#approvals"])
def test_post_by_name_answers_with_channel_id(client: WebClient, ws: DemoWorkspace, channel: str) -> None:
    assert client.chat_postMessage(channel=channel, text="hi")["channel"] == ws.approvals


def test_ts_strictly_increasing_and_unique(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    stamps = [client.chat_postMessage(channel=ws.approvals, text=str(i))["ts"] for i in range(5)]
    stamps.append(slack_emulator.post_as_user(ws.approvals, "alice", "me too"))

    assert all(len(ts) == 17 and ts[10] == "." for ts in stamps)
    assert stamps == sorted(stamps, key=lambda ts: tuple(map(int, ts.split("."))))
    assert len(set(stamps)) == len(stamps)


def test_blocks_only_and_form_encoded_blocks(client: WebClient, ws: DemoWorkspace) -> None:
    json_body = client.chat_postMessage(channel=ws.approvals, blocks=BLOCKS)
    form_body = client.api_call(
        "chat.postMessage", data={"channel": ws.approvals, "text": "x", "blocks": json.dumps(BLOCKS)}
    )

    assert json_body["message"]["blocks"] == BLOCKS
    assert json_body["message"]["text"] == ""
    assert form_body["message"]["blocks"] == BLOCKS


def test_no_text(client: WebClient, ws: DemoWorkspace) -> None:
    assert _error(client.chat_postMessage, channel=ws.approvals).response["error"] == "no_text"


def test_unknown_channel(client: WebClient) -> None:
    assert (
        _error(client.chat_postMessage, channel="#nowhere", text="x").response["error"] == "channel_not_found"
    )


def test_public_channel_without_membership(client: WebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.create_channel("general", members=["alice"])

    assert _error(client.chat_postMessage, channel="general", text="x").response["error"] == "not_in_channel"


def test_chat_write_public_posts_without_membership(slack_emulator: SlackEmulator) -> None:
    bot = slack_emulator.create_bot("loud", [*DEFAULT_BOT_SCOPES, "chat:write.public"])
    channel = slack_emulator.create_channel("general", members=["alice"])
    client = WebClient(token=bot.token, base_url=slack_emulator.base_url)

    assert client.chat_postMessage(channel="general", text="x")["channel"] == channel


def test_private_channel_without_membership_is_not_found(
    client: WebClient, slack_emulator: SlackEmulator
) -> None:
    slack_emulator.create_channel("secret", members=["alice"], is_private=True)

    assert (
        _error(client.chat_postMessage, channel="secret", text="x").response["error"] == "channel_not_found"
    )


def test_private_channel_with_membership(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    channel = slack_emulator.create_channel("secret", members=["alice", ws.bot_user_id], is_private=True)

    assert client.chat_postMessage(channel=channel, text="x")["ok"]


def test_archived_channel(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    slack_emulator.archive_channel(ws.approvals)

    assert _error(client.chat_postMessage, channel=ws.approvals, text="x").response["error"] == "is_archived"


def test_missing_chat_write_scope(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    bot = slack_emulator.create_bot("reader", ["channels:history"])
    client = WebClient(token=bot.token, base_url=slack_emulator.base_url)

    response = _error(client.chat_postMessage, channel=ws.approvals, text="x").response
    assert (response["error"], response["needed"], response["provided"]) == (
        "missing_scope",
        "chat:write",
        "channels:history",
    )


def test_reply_into_thread_and_reply_to_a_reply(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]
    reply = slack_emulator.reply(ws.approvals, parent, "alice", "approve")

    posted = client.chat_postMessage(channel=ws.approvals, text="Noted", thread_ts=reply)["message"]

    assert posted["thread_ts"] == parent
    assert posted["parent_user_id"] == ws.bot_user_id
    assert slack_emulator.get_message(ws.approvals, parent)["reply_count"] == 2


def test_reply_to_unknown_thread(client: WebClient, ws: DemoWorkspace) -> None:
    error = _error(client.chat_postMessage, channel=ws.approvals, text="x", thread_ts="1000000000.000001")
    assert error.response["error"] == "thread_not_found"


def test_metadata_returned_only_when_asked(client: WebClient, ws: DemoWorkspace) -> None:
    metadata = {"event_type": "approval_requested", "event_payload": {"gate": "deploy", "run": 7}}
    client.chat_postMessage(channel=ws.approvals, text="Deploy?", metadata=metadata)

    plain = client.conversations_history(channel=ws.approvals)["messages"][0]
    full = client.conversations_history(channel=ws.approvals, include_all_metadata=True)["messages"][0]

    assert "metadata" not in plain
    assert full["metadata"] == metadata


def test_invalid_metadata(client: WebClient, ws: DemoWorkspace) -> None:
    error = _error(client.chat_postMessage, channel=ws.approvals, text="x", metadata={"event_payload": {}})
    assert error.response["error"] == "invalid_metadata_format"


def test_update_own_message_marks_it_edited(client: WebClient, ws: DemoWorkspace) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?", blocks=BLOCKS)["ts"]

    response = client.chat_update(channel=ws.approvals, ts=ts, text="Approved by alice")

    assert (response["channel"], response["ts"], response["text"]) == (ws.approvals, ts, "Approved by alice")
    message = client.conversations_history(channel=ws.approvals)["messages"][0]
    assert message["text"] == "Approved by alice"
    assert message["blocks"] == BLOCKS  # omitted blocks are kept
    assert message["edited"]["user"] == ws.bot_user_id
    assert message["edited"]["ts"] > ts


def test_update_replaces_blocks(client: WebClient, ws: DemoWorkspace) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?", blocks=BLOCKS)["ts"]
    done = [{"type": "section", "text": {"type": "mrkdwn", "text": "Done"}}]

    assert (
        client.chat_update(channel=ws.approvals, ts=ts, text="Done", blocks=done)["message"]["blocks"] == done
    )


def test_update_someone_elses_message(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    by_person = slack_emulator.post_as_user(ws.approvals, "alice", "approve")
    other_bot = slack_emulator.create_bot("other")
    slack_emulator.add_member(ws.approvals, other_bot.user_id)
    by_bot = slack_emulator.post_as_bot(ws.approvals, other_bot, "approve")

    for ts in (by_person, by_bot):
        error = _error(client.chat_update, channel=ws.approvals, ts=ts, text="x")
        assert error.response["error"] == "cant_update_message"


def test_update_unknown_message(client: WebClient, ws: DemoWorkspace) -> None:
    error = _error(client.chat_update, channel=ws.approvals, ts="1000000000.000001", text="x")
    assert error.response["error"] == "message_not_found"


def test_update_without_content(client: WebClient, ws: DemoWorkspace) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]

    assert _error(client.chat_update, channel=ws.approvals, ts=ts).response["error"] == "no_text"


def test_update_needs_chat_write(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    bot = slack_emulator.create_bot("reader", ["channels:history"])
    client = WebClient(token=bot.token, base_url=slack_emulator.base_url)

    error = _error(client.chat_update, channel=ws.approvals, ts="1000000000.000001", text="x")
    assert (error.response["error"], error.response["needed"]) == ("missing_scope", "chat:write")


def test_permalinks(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]
    reply = slack_emulator.reply(ws.approvals, ts, "alice", "approve")

    parent_link = client.chat_getPermalink(channel=ws.approvals, message_ts=ts)["permalink"]
    reply_link = client.chat_getPermalink(channel=ws.approvals, message_ts=reply)["permalink"]

    assert parent_link == f"https://emulator.slack.com/archives/{ws.approvals}/p{ts.replace('.', '')}"
    assert reply_link.endswith(f"?thread_ts={ts}&cid={ws.approvals}")


def test_permalink_errors(client: WebClient, ws: DemoWorkspace) -> None:
    unknown_message = _error(client.chat_getPermalink, channel=ws.approvals, message_ts="1000000000.000001")
    unknown_channel = _error(client.chat_getPermalink, channel="CNOPE00000", message_ts="1000000000.000001")

    assert unknown_message.response["error"] == "message_not_found"
    assert unknown_channel.response["error"] == "channel_not_found"
