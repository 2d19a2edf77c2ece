"""Transient Slack failures are retried by the hook, sync and async: the call succeeds, once, after a retry.

Failures that persist past the retries are in test_hook_errors.py (with how many calls Slack saw).
"""

from __future__ import annotations

import time

import pytest

from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import MAX_RATE_LIMIT_RETRIES, SlackGateHook
from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator


def test_429_waits_retry_after_then_posts_once(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    slack_emulator.inject_fault("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()

    posted = hook.post_message(channel=ws.approvals, text="Deploy?")

    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    assert slack_emulator.call_count("chat.postMessage") == 2
    assert [m["ts"] for m in slack_emulator.messages("approvals")] == [posted.ts]


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_once_is_retried(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace, status: int
) -> None:
    slack_emulator.inject_fault("auth.test", status=status)

    assert hook.bot_identity().user_id == ws.bot_user_id
    assert slack_emulator.call_count("auth.test") == 2


def test_dropped_connection_once_is_retried(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    slack_emulator.drop_connections("auth.test")

    assert hook.bot_identity().user_id == ws.bot_user_id
    assert slack_emulator.call_count("auth.test") == 2


def test_different_failures_in_a_row_are_each_retried(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """A dropped connection, then a 503: both retried, and the long thread is still read to the end."""
    parent = slack_emulator.post_as_user("approvals", "alice", "Ship it?")
    replies = [slack_emulator.reply("approvals", parent, "bob", f"reply {i}") for i in range(250)]
    slack_emulator.drop_connections("conversations.replies")
    slack_emulator.inject_fault("conversations.replies", status=503)

    thread = hook.read_thread(channel=ws.approvals, ts=parent)

    assert [m["ts"] for m in thread] == [parent, *replies]
    assert slack_emulator.call_count("conversations.replies") == 4  # drop, 503, page 1, page 2


@pytest.mark.usefixtures("close_sessions", "fast_slack_reads")  # else the slowed limiter waits ~15 s
async def test_429_is_retried_async(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    slack_emulator.post_as_user("approvals", "alice", "hello")
    slack_emulator.inject_fault("conversations.history", status=429, retry_after=1)
    started = time.monotonic()

    history = await hook.aread_history(channel=ws.approvals)

    assert time.monotonic() - started >= 1.0
    assert [m["text"] for m in history] == ["hello"]
    assert slack_emulator.call_count("conversations.history") == 2


@pytest.mark.usefixtures("close_sessions")
@pytest.mark.parametrize("status", [500, 503])
async def test_server_error_once_is_retried_async(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace, status: int
) -> None:
    slack_emulator.inject_fault("usergroups.users.list", status=status)

    assert await hook.aexpand_usergroups([ws.deployers]) == {ws.alice, ws.bob, ws.carol}
    assert slack_emulator.call_count("usergroups.users.list") == 2


@pytest.mark.usefixtures("close_sessions")
async def test_dropped_connection_once_is_retried_async(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = slack_emulator.post_as_user("approvals", "alice", "Ship it?")
    slack_emulator.reply("approvals", parent, "bob", "approve")
    slack_emulator.drop_connections("conversations.replies")

    thread = await hook.aread_thread(channel=ws.approvals, ts=parent)

    assert [m["text"] for m in thread] == ["Ship it?", "approve"]
    assert slack_emulator.call_count("conversations.replies") == 2


def test_channel_lookup_gives_up_on_429_like_every_other_call(
    hook: SlackGateHook, slack_emulator: SlackEmulator
) -> None:
    slack_emulator.inject_fault(
        "conversations.list", status=429, retry_after=0, count=1 + MAX_RATE_LIMIT_RETRIES
    )

    with pytest.raises(SlackGateError) as raised:
        hook.channel_id("#approvals")

    assert raised.value.error_code == "ratelimited"
    assert slack_emulator.call_count("conversations.list") == 1 + MAX_RATE_LIMIT_RETRIES
