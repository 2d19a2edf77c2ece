"""chat.postMessage, chat.update and chat.getPermalink: content, membership, scopes and their errors."""

from __future__ import annotations

import json

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.testing.emulator import DEFAULT_BOT_SCOPES, DemoWorkspace, SlackEmulator

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


# -- Block Kit limits: Slack refuses what it would not show (issue 11, hole 5) -------------------------

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "ok"}}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(**fields: object) -> dict:
    return {
        "type": "actions",
        "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}, **fields}],
    }


OVER_LIMITS = {
    "too-many-blocks": ([{"type": "divider"}] * 51, "no more than 50 items allowed", "/blocks"),
    "long-section": ([_section("x" * 3001)], "must be less than 3001 characters", "/blocks/0/text/text"),
    "long-field": (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}],
        "must be less than 2001 characters",
        "/blocks/0/fields/0/text",
    ),
    "too-many-fields": (
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}],
        "no more than 10 items allowed",
        "/blocks/0/fields",
    ),
    "long-header": (
        [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
        "must be less than 151 characters",
        "/blocks/0/text/text",
    ),
    "long-button-value": (
        [SECTION, _button(value="x" * 2001)],
        "must be less than 2001 characters",
        "/blocks/1/elements/0/value",
    ),
    "long-action-id": (
        [_button(action_id="x" * 256)],
        "must be less than 256 characters",
        "/blocks/0/elements/0/action_id",
    ),
    "too-many-context-elements": (
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}],
        "no more than 10 items allowed",
        "/blocks/0/elements",
    ),
}


@pytest.mark.parametrize(("blocks", "message", "pointer"), list(OVER_LIMITS.values()), ids=list(OVER_LIMITS))
def test_post_over_block_kit_limits_is_invalid_blocks(
    client: WebClient,
    slack_emulator: SlackEmulator,
    ws: DemoWorkspace,
    blocks: list,
    message: str,
    pointer: str,
) -> None:
    response = _error(client.chat_postMessage, channel=ws.approvals, text="x", blocks=blocks).response

    assert response["error"] == "invalid_blocks"
    assert response["errors"] == [f"{message} [json-pointer:{pointer}]"]
    assert response["response_metadata"]["messages"] == [f"[ERROR] {message} [json-pointer:{pointer}]"]
    assert slack_emulator.messages("approvals") == []


def test_blocks_at_the_limits_post(client: WebClient, ws: DemoWorkspace) -> None:
    blocks = [_section("x" * 3000), {"type": "header", "text": {"type": "plain_text", "text": "x" * 150}}]
    blocks += [{"type": "divider"}] * 48

    assert (
        client.chat_postMessage(channel=ws.approvals, text="x", blocks=blocks)["message"]["blocks"] == blocks
    )


def test_update_and_ephemeral_over_block_kit_limits_are_invalid_blocks(
    client: WebClient, ws: DemoWorkspace
) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?", blocks=BLOCKS)["ts"]
    too_long = [_section("x" * 3001)]

    update = _error(client.chat_update, channel=ws.approvals, ts=ts, text="x", blocks=too_long)
    ephemeral = _error(
        client.chat_postEphemeral, channel=ws.approvals, user=ws.alice, text="x", blocks=too_long
    )

    assert update.response["error"] == ephemeral.response["error"] == "invalid_blocks"
    assert client.conversations_history(channel=ws.approvals)["messages"][0]["blocks"] == BLOCKS


def test_text_over_40000_characters_is_msg_too_long(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]

    assert (
        _error(client.chat_postMessage, channel=ws.approvals, text="x" * 40_001).response["error"]
        == "msg_too_long"
    )
    assert (
        _error(client.chat_update, channel=ws.approvals, ts=ts, text="x" * 40_001).response["error"]
        == "msg_too_long"
    )
    assert [m["text"] for m in slack_emulator.messages("approvals")] == ["Deploy?"]
    assert client.chat_postMessage(channel=ws.approvals, text="x" * 40_000)["ok"]
