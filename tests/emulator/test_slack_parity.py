"""Where the emulator once differed from Slack's documented behaviour (issue 15): unknown methods, the
scope headers, a person's rich_text block, and replies also sent to the channel (``thread_broadcast``).

Each test asserts what Slack documents; the docstrings say where."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.core.manifest import METHOD_SCOPES
from airflow_slack_gate.testing.emulator import DEFAULT_BOT_SCOPES, METHODS, DemoWorkspace, SlackEmulator

#: conversations.history / conversations.replies accept any history scope (Slack's method pages).
HISTORY_SCOPES = "channels:history, groups:history, im:history, mpim:history"


def _headers(response: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items()}


# -- unknown methods ------------------------------------------------------------------------------------


def test_an_unknown_method_answers_http_200_unknown_method(
    slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """Slack answers every Web API call with HTTP 200 and ``ok: false`` for errors; ``unknown_method``
    is its common error "This method does not exist" (not an HTTP 404)."""
    request = urllib.request.Request(
        f"{slack_emulator.base_url}chat.scheduleMessage",
        data=b"channel=approvals&text=later",
        headers={"Authorization": f"Bearer {ws.bot_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # raises on an HTTP 404
        status, body = response.status, json.loads(response.read())

    assert (status, body) == (200, {"ok": False, "error": "unknown_method"})
    assert [(c.method, c.status, c.error) for c in slack_emulator.calls] == [
        ("chat.scheduleMessage", 200, "unknown_method")
    ]


def test_slack_sdk_sees_unknown_method_as_an_api_error(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call("pins.add", json={"channel": "approvals", "timestamp": "1.1"})

    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "unknown_method"


# -- x-oauth-scopes / x-accepted-oauth-scopes -------------------------------------------------------------


def test_responses_name_the_tokens_scopes_and_the_methods_accepted_scopes(
    client: WebClient, ws: DemoWorkspace
) -> None:
    """Slack's OAuth scopes page: "check the HTTP headers to see what OAuth scopes you have, and what
    the API method accepts" -- ``x-oauth-scopes: files:read, chat:write, chat:write.public`` and
    ``x-accepted-oauth-scopes: files:read``."""
    history = _headers(client.conversations_history(channel=ws.approvals))
    posted = _headers(client.chat_postMessage(channel=ws.approvals, text="Deploy?"))

    assert history["x-oauth-scopes"] == ", ".join(DEFAULT_BOT_SCOPES)
    assert history["x-accepted-oauth-scopes"] == HISTORY_SCOPES
    assert posted["x-accepted-oauth-scopes"] == "chat:write"


def test_a_missing_scope_answer_carries_the_scope_headers_too(
    slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    bot = slack_emulator.create_bot("reader", ["channels:history", "chat:write"])
    limited = WebClient(token=bot.token, base_url=slack_emulator.base_url, retry_handlers=[])

    with pytest.raises(SlackApiError) as raised:
        limited.users_info(user=ws.alice)

    assert raised.value.response["error"] == "missing_scope"
    headers = _headers(raised.value.response)
    assert headers["x-oauth-scopes"] == "channels:history, chat:write"
    assert headers["x-accepted-oauth-scopes"] == "users:read"


def test_apps_connections_open_names_the_app_level_tokens_scope(
    client: WebClient, slack_emulator: SlackEmulator
) -> None:
    """apps.connections.open takes an app-level token with ``connections:write``."""
    app_token = slack_emulator.app_settings().app_token

    headers = _headers(client.apps_connections_open(app_token=app_token))

    assert (headers["x-oauth-scopes"], headers["x-accepted-oauth-scopes"]) == (
        "connections:write",
        "connections:write",
    )


def test_the_manifests_scopes_are_accepted_where_the_emulator_checks_a_scope() -> None:
    """The app manifest requests scopes for each method the package calls; each emulated method that
    needs a scope accepts one the manifest requests, and one that needs none is given none."""
    for method, scopes in METHOD_SCOPES.items():
        if method in METHODS:
            assert bool(set(scopes) & set(METHODS[method].scopes)) is bool(scopes), method


# -- a person's message carries a rich_text block ---------------------------------------------------------


def _rich_text(text: str) -> list[dict[str, Any]]:
    return [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]


def test_a_persons_message_carries_a_rich_text_block(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """Slack adds a ``rich_text`` block (a ``rich_text_section`` of ``text`` elements) to what a person
    types, as in the documented ``message`` events."""
    ts = slack_emulator.post_as_user(ws.approvals, "alice", "Deploy today?")
    reply = slack_emulator.reply(ws.approvals, ts, "bob", "reject: not today")

    (message,) = client.conversations_history(channel=ws.approvals)["messages"]
    thread = client.conversations_replies(channel=ws.approvals, ts=ts)["messages"]

    (block,) = message["blocks"]
    assert block["type"] == "rich_text"
    assert isinstance(block["block_id"], str)
    assert block["block_id"]
    assert block["elements"] == _rich_text("Deploy today?")
    assert thread[1]["ts"] == reply
    assert thread[1]["blocks"][0]["elements"] == _rich_text("reject: not today")
    # the same message reads the same every time
    assert client.conversations_history(channel=ws.approvals)["messages"][0]["blocks"] == message["blocks"]


def test_an_edited_persons_message_has_the_new_text_in_its_block(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    ts = slack_emulator.post_as_user(ws.approvals, "alice", "approve")
    slack_emulator.edit_message(ws.approvals, ts, "reject")

    (message,) = client.conversations_history(channel=ws.approvals)["messages"]

    assert message["blocks"][0]["elements"] == _rich_text("reject")


# -- replies also sent to the channel -----------------------------------------------------------------------


def test_a_broadcast_reply_shows_in_the_channel_and_in_the_thread(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """ "Also send to #channel": the reply is in the thread and in the channel's history, with
    ``subtype: thread_broadcast``, its ``thread_ts`` and the thread's ``root`` (Slack's
    ``thread_broadcast`` message reference)."""
    ask = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]
    plain = slack_emulator.reply(ws.approvals, ask, "bob", "looking")
    broadcast = slack_emulator.reply(ws.approvals, ask, "alice", "approve", broadcast=True)

    history = client.conversations_history(channel=ws.approvals)["messages"]
    thread = client.conversations_replies(channel=ws.approvals, ts=ask)["messages"]

    assert [m["ts"] for m in history] == [broadcast, ask]
    shown, parent = history
    assert (shown["subtype"], shown["user"], shown["text"]) == ("thread_broadcast", ws.alice, "approve")
    assert shown["thread_ts"] == ask
    assert shown["blocks"][0]["elements"] == _rich_text("approve")
    root = shown["root"]
    assert (root["ts"], root["text"], root["user"]) == (ask, "Deploy?", ws.bot_user_id)
    assert (root["thread_ts"], root["reply_count"], root["latest_reply"]) == (ask, 2, broadcast)
    assert root["reply_users"] == [ws.bob, ws.alice]
    assert (parent["reply_count"], parent["latest_reply"]) == (2, broadcast)
    assert [m["ts"] for m in thread] == [ask, plain, broadcast]
    assert thread[2]["subtype"] == "thread_broadcast"
    assert "subtype" not in thread[1]
    assert slack_emulator.messages(ws.approvals)[-1] == shown  # the in-process API shows the same
    assert slack_emulator.replies(ws.approvals, ask)[2] == thread[2]


def test_a_bot_broadcasts_with_reply_broadcast(client: WebClient, ws: DemoWorkspace) -> None:
    ask = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]

    posted = client.chat_postMessage(
        channel=ws.approvals, thread_ts=ask, text="Approved", reply_broadcast=True
    )
    quiet = client.chat_postMessage(channel=ws.approvals, thread_ts=ask, text="noted", reply_broadcast=False)

    assert posted["message"]["subtype"] == "thread_broadcast"
    assert posted["message"]["root"]["ts"] == ask
    assert "subtype" not in quiet["message"]
    history = client.conversations_history(channel=ws.approvals)["messages"]
    assert [m["ts"] for m in history] == [posted["ts"], ask]


def test_a_broadcast_reply_respects_the_history_window_and_deletion(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    ask = slack_emulator.post_as_user(ws.approvals, "carol", "Deploy?")
    broadcast = slack_emulator.reply(ws.approvals, ask, "alice", "approve", broadcast=True)

    newer = client.conversations_history(channel=ws.approvals, oldest=ask)["messages"]
    assert [m["ts"] for m in newer] == [broadcast]
    slack_emulator.delete_message(ws.approvals, broadcast)
    assert [m["ts"] for m in client.conversations_history(channel=ws.approvals)["messages"]] == [ask]
