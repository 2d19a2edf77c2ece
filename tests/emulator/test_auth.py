"""Tokens: auth.test and the errors Slack gives for missing, unknown, revoked and inactive tokens."""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator


def test_auth_test_names_the_bot(client: WebClient, ws: DemoWorkspace) -> None:
    response = client.auth_test()

    assert response["user_id"] == ws.bot_user_id
    assert response["bot_id"] == ws.bot_id
    assert response["team_id"] == ws.team_id
    assert response["user"] == "airflow-gate"
    assert response["url"] == "https://emulator.slack.com/"


async def test_async_client_authenticates(async_client: AsyncWebClient, ws: DemoWorkspace) -> None:
    assert (await async_client.auth_test())["user_id"] == ws.bot_user_id


def _error(slack: SlackEmulator, token: str | None) -> str:
    with pytest.raises(SlackApiError) as raised:
        WebClient(token=token, base_url=slack.base_url, retry_handlers=[]).auth_test()
    return raised.value.response["error"]


def test_missing_token_is_not_authed(slack_emulator: SlackEmulator) -> None:
    assert _error(slack_emulator, None) == "not_authed"


def test_unknown_token_is_invalid_auth(slack_emulator: SlackEmulator) -> None:
    assert _error(slack_emulator, "xoxb-not-a-real-token") == "invalid_auth"


def test_revoked_token(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    slack_emulator.revoke_token(ws.bot_token)

    assert _error(slack_emulator, ws.bot_token) == "token_revoked"


def test_deactivated_bot_is_account_inactive(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    slack_emulator.deactivate_user(ws.bot_user_id)

    assert _error(slack_emulator, ws.bot_token) == "account_inactive"


def test_token_may_come_as_a_form_argument(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    body = urllib.parse.urlencode({"token": ws.bot_token}).encode()
    with urllib.request.urlopen(slack_emulator.base_url + "auth.test", data=body, timeout=5) as response:
        assert b'"ok": true' in response.read()


def test_invalid_json_body(client: WebClient, slack_emulator: SlackEmulator) -> None:
    request = urllib.request.Request(
        slack_emulator.base_url + "chat.postMessage",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert b'"invalid_json"' in response.read()
