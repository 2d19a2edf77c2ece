"""Slack's rate limits, enforced only when asked: tiers per (token, method), chat.postMessage per channel."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.testing.emulator import TIER_LIMITS, DemoWorkspace, SlackEmulator


def _status(call: object, **kwargs: object) -> tuple[int, str | None]:
    try:
        call(**kwargs)  # type: ignore[operator]
    except SlackApiError as exc:
        return exc.response.status_code, exc.response.headers.get("Retry-After")
    return 200, None


def test_off_by_default(client: WebClient, ws: DemoWorkspace) -> None:
    for _ in range(TIER_LIMITS[2] + 1):
        client.usergroups_users_list(usergroup=ws.deployers)
    for i in range(3):
        client.chat_postMessage(channel=ws.approvals, text=str(i))


def test_tier_limit_per_token_and_method(
    slack_emulator: SlackEmulator, client: WebClient, ws: DemoWorkspace
) -> None:
    slack_emulator.enable_rate_limits()
    for _ in range(TIER_LIMITS[2]):
        client.usergroups_users_list(usergroup=ws.deployers)

    status, retry_after = _status(client.usergroups_users_list, usergroup=ws.deployers)

    assert status == 429
    assert retry_after is not None
    assert 1 <= int(retry_after) <= 60
    assert client.users_info(user=ws.alice)["ok"]  # another method has its own budget
    other = slack_emulator.create_bot("other")
    other_client = WebClient(token=other.token, base_url=slack_emulator.base_url, retry_handlers=[])
    assert other_client.usergroups_users_list(usergroup=ws.deployers)["ok"]  # another token too


def test_overrides_and_ratelimited_body(
    slack_emulator: SlackEmulator, client: WebClient, ws: DemoWorkspace
) -> None:
    slack_emulator.enable_rate_limits(overrides={"conversations.history": 2})
    client.conversations_history(channel=ws.approvals)
    client.conversations_history(channel=ws.approvals)

    with pytest.raises(SlackApiError) as raised:
        client.conversations_history(channel=ws.approvals)

    assert raised.value.response.data == {"ok": False, "error": "ratelimited"}
    assert slack_emulator.calls[-1].status == 429


def test_post_message_about_one_per_second_per_channel(
    slack_emulator: SlackEmulator, client: WebClient, ws: DemoWorkspace
) -> None:
    other = slack_emulator.create_channel("other", members=[ws.bot_user_id])
    slack_emulator.enable_rate_limits()

    assert _status(client.chat_postMessage, channel=ws.approvals, text="1") == (200, None)
    assert _status(client.chat_postMessage, channel="#approvals", text="2") == (429, "1")
    assert _status(client.chat_postMessage, channel=other, text="3") == (200, None)


def test_constructor_flag_and_disable(ws: DemoWorkspace) -> None:
    with SlackEmulator(rate_limits=True) as slack:
        ids = slack.seed_demo_workspace()
        client = WebClient(token=ids.bot_token, base_url=slack.base_url, retry_handlers=[])
        client.chat_postMessage(channel=ids.approvals, text="1")
        assert _status(client.chat_postMessage, channel=ids.approvals, text="2")[0] == 429

        slack.enable_rate_limits(False)
        assert client.chat_postMessage(channel=ids.approvals, text="3")["ok"]
