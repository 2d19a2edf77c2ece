"""Fault injection, latency, dropped connections and call counters, as slack_sdk experiences them."""

from __future__ import annotations

import time
from http.client import RemoteDisconnected
from typing import Any

import pytest
from aiohttp import ServerDisconnectedError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator

NO_WAIT = FixedValueRetryIntervalCalculator(0.0)


class RecordingRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's own 429 handler, remembering each Retry-After it honoured."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=2)
        self.retry_after: list[str] = []

    def prepare_for_next_attempt(self, *, response: Any = None, **kwargs: Any) -> None:
        self.retry_after.append(response.headers["Retry-After"][0])
        super().prepare_for_next_attempt(response=response, **kwargs)


def test_429_carries_retry_after_and_ratelimited(client: WebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.inject_fault("auth.test", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        client.auth_test()

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response.data == {"ok": False, "error": "ratelimited"}


def test_rate_limit_handler_waits_and_retries(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    handler = RecordingRateLimitHandler()
    client = WebClient(token=ws.bot_token, base_url=slack_emulator.base_url, retry_handlers=[handler])
    slack_emulator.inject_fault("conversations.history", status=429, retry_after=0)

    assert client.conversations_history(channel=ws.approvals)["ok"]
    assert handler.retry_after == ["0"]
    assert slack_emulator.call_count("conversations.history") == 2


async def test_async_rate_limit_handler_retries(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    client = AsyncWebClient(
        token=ws.bot_token,
        base_url=slack_emulator.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler()],
    )
    slack_emulator.inject_fault("conversations.replies", status=429, retry_after=0)
    ts = slack_emulator.post_as_user(ws.approvals, "alice", "hi")

    assert (await client.conversations_replies(channel=ws.approvals, ts=ts))["ok"]
    assert [c.status for c in slack_emulator.calls] == [429, 200]


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(client: WebClient, slack_emulator: SlackEmulator, status: int) -> None:
    slack_emulator.inject_fault("auth.test", status=status)

    with pytest.raises(SlackApiError) as raised:
        client.auth_test()

    assert raised.value.response.status_code == status
    assert client.auth_test()["ok"]  # one fault, then normal service


def test_a_carried_out_server_error_posts_but_answers_503(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """Slack can carry a post out and still answer 5xx: the client sees the error, the channel the message."""
    slack_emulator.inject_fault("chat.postMessage", status=503, carried_out=True)

    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=ws.approvals, text="landed anyway")

    assert raised.value.response.status_code == 503
    assert [m["text"] for m in slack_emulator.messages(ws.approvals)] == ["landed anyway"]
    assert [c.status for c in slack_emulator.calls] == [503]  # one call, recorded once


def test_server_error_retried_by_sdk(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    handler = ServerErrorRetryHandler(max_retry_count=2, interval_calculator=NO_WAIT)
    client = WebClient(token=ws.bot_token, base_url=slack_emulator.base_url, retry_handlers=[handler])
    slack_emulator.inject_fault("auth.test", status=503, count=2)

    assert client.auth_test()["ok"]
    assert slack_emulator.call_count("auth.test") == 3


def test_injected_slack_error(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    slack_emulator.inject_fault("chat.postMessage", error="fatal_error", count=2)

    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel=ws.approvals, text="x")
        assert (raised.value.response.status_code, raised.value.response["error"]) == (200, "fatal_error")
    assert client.chat_postMessage(channel=ws.approvals, text="x")["ok"]
    assert slack_emulator.messages(ws.approvals)[0]["text"] == "x"
    assert len(slack_emulator.messages(ws.approvals)) == 1


def test_fault_for_any_method(client: WebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.inject_fault("*", error="team_added_to_org")

    with pytest.raises(SlackApiError):
        client.auth_test()
    assert client.auth_test()["ok"]


def test_clear_faults(client: WebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.inject_fault("auth.test", status=500, count=5)
    slack_emulator.drop_connections("auth.test", 5)
    slack_emulator.clear_faults()

    assert client.auth_test()["ok"]


def test_dropped_connection(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    slack_emulator.drop_connections("auth.test")

    with pytest.raises((RemoteDisconnected, ConnectionError)):
        client.auth_test()
    assert client.auth_test()["ok"]
    assert [c.error for c in slack_emulator.calls] == ["connection_dropped", None]


def test_dropped_connection_retried_by_sdk(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    handler = ConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=NO_WAIT)
    client = WebClient(token=ws.bot_token, base_url=slack_emulator.base_url, retry_handlers=[handler])
    slack_emulator.drop_connections("auth.test")

    assert client.auth_test()["ok"]
    assert slack_emulator.call_count("auth.test") == 2


async def test_async_dropped_connection(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    bare = AsyncWebClient(token=ws.bot_token, base_url=slack_emulator.base_url, retry_handlers=[])
    retrying = AsyncWebClient(
        token=ws.bot_token,
        base_url=slack_emulator.base_url,
        retry_handlers=[AsyncConnectionErrorRetryHandler(interval_calculator=NO_WAIT)],
    )
    slack_emulator.drop_connections("auth.test", 2)

    with pytest.raises(ServerDisconnectedError):
        await bare.auth_test()
    assert (await retrying.auth_test())["ok"]


def test_latency(client: WebClient, slack_emulator: SlackEmulator) -> None:
    slack_emulator.set_latency("auth.test", 0.2)
    started = time.monotonic()
    client.auth_test()
    slow = time.monotonic() - started
    slack_emulator.set_latency("auth.test", 0)
    started = time.monotonic()
    client.auth_test()

    assert slow >= 0.2
    assert time.monotonic() - started < 0.2


def test_delayed_calls_are_carried_out_late_then_the_rest_answer_at_once(
    slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """delay_calls slows only the next calls, and each slow call still happens (a Slack that is slow,
    not failing): a post the client gave up on lands in the channel when the delay ends."""
    client = WebClient(token=ws.bot_token, base_url=slack_emulator.base_url, timeout=0.1, retry_handlers=[])
    slack_emulator.delay_calls("chat.postMessage", 0.5, count=1)

    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel=ws.approvals, text="slow")
    started = time.monotonic()
    client.chat_postMessage(channel=ws.approvals, text="fast")

    assert time.monotonic() - started < 0.1
    slack_emulator.wait_for(lambda: len(slack_emulator.messages("approvals")) == 2, timeout=5)
    assert [m["text"] for m in slack_emulator.messages("approvals")] == [
        "fast",
        "slow",
    ]  # the slow one landed last


def test_latency_trips_client_timeout(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    client = WebClient(token=ws.bot_token, base_url=slack_emulator.base_url, timeout=0.1, retry_handlers=[])
    slack_emulator.set_latency("*", 0.5)

    with pytest.raises(TimeoutError):
        client.auth_test()


def test_counters_and_records(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    client.auth_test()
    client.chat_postMessage(channel=ws.approvals, text="hi")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="nowhere", text="hi")

    assert slack_emulator.call_count("auth.test") == 1
    assert slack_emulator.call_count("chat.postMessage") == 2
    last = slack_emulator.calls[-1]
    assert (last.method, last.params, last.status, last.error) == (
        "chat.postMessage",
        {"channel": "nowhere", "text": "hi"},
        200,
        "channel_not_found",
    )
    assert all("token" not in call.params for call in slack_emulator.calls)

    slack_emulator.reset_counters()
    assert slack_emulator.calls == []
    assert slack_emulator.call_count("auth.test") == 0
