"""Slack's rate limits, enforced only when asked: tiers per (token, method) with sporadic bursts,
chat.postMessage about one a second per channel with short bursts."""

from __future__ import annotations

import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.testing.emulator import TIER_LIMITS, DemoWorkspace, SlackEmulator
from airflow_slack_gate.testing.emulator.controls import POST_MESSAGE_BURST, SLACK_BURST_SECONDS


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
    burst = int(TIER_LIMITS[2] * SLACK_BURST_SECONDS / 60)
    assert burst > 1  # Slack: Tier 2 allows "occasional bursts of more requests"
    for _ in range(burst):
        client.usergroups_users_list(usergroup=ws.deployers)

    status, retry_after = _status(client.usergroups_users_list, usergroup=ws.deployers)

    assert status == 429
    assert retry_after is not None
    # the next call passes when the bucket refilled one call: 60 / 20 = 3 s at Tier 2, not a minute
    assert 1 <= int(retry_after) <= 60 / TIER_LIMITS[2]
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

    for i in range(POST_MESSAGE_BURST):  # "short bursts >1 allowed"
        assert _status(client.chat_postMessage, channel=ws.approvals, text=str(i)) == (200, None)
    assert _status(client.chat_postMessage, channel="#approvals", text="more") == (429, "1")
    assert _status(client.chat_postMessage, channel=other, text="elsewhere") == (200, None)


def test_constructor_flag_and_disable(ws: DemoWorkspace) -> None:
    with SlackEmulator(rate_limits=True) as slack:
        ids = slack.seed_demo_workspace()
        client = WebClient(token=ids.bot_token, base_url=slack.base_url, retry_handlers=[])
        for i in range(POST_MESSAGE_BURST):
            client.chat_postMessage(channel=ids.approvals, text=str(i))
        assert _status(client.chat_postMessage, channel=ids.approvals, text="more")[0] == 429

        slack.enable_rate_limits(False)
        assert client.chat_postMessage(channel=ids.approvals, text="3")["ok"]


def test_after_a_burst_calls_pass_again_one_at_a_time_at_the_rate(
    slack_emulator: SlackEmulator, client: WebClient, ws: DemoWorkspace
) -> None:
    """Slack's budget is a rate, not a window that refills all at once: after the burst, one call
    passes every 60/limit seconds and the one right after it is refused again."""
    slack_emulator.enable_rate_limits(overrides={"conversations.history": 120})  # burst 120, then 2/s
    started = time.monotonic()
    passed = 0
    while (answer := _status(client.conversations_history, channel=ws.approvals))[0] == 200:
        passed += 1
    assert answer == (429, "1")
    assert 120 <= passed <= 120 + 2 * (time.monotonic() - started) + 1

    refused_at = time.monotonic()
    while _status(client.conversations_history, channel=ws.approvals)[0] == 429:
        assert time.monotonic() - refused_at < 5, "no call passed again"
    assert time.monotonic() - refused_at < 1.5  # one call's worth of refill is 0.5 s, not a minute
    assert _status(client.conversations_history, channel=ws.approvals)[0] == 429
