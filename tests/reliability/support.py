"""Helpers shared by the reliability tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks.ratelimit import loop_rate_limiter, token_key
from airflow_slack_gate.testing.emulator import SlackEmulator
from airflow_slack_gate.triggers.slack import SlackApprovalTrigger

CONN_ID = "slack_gate_default"
READS = ("conversations.history", "conversations.replies", "conversations.info", "usergroups.users.list")
WRITES = ("chat.postMessage", "chat.update")


def ask(slack: SlackEmulator, text: str = "Deploy?", channel: str | None = None) -> str:
    """A question posted as the gate's bot (what the sensor's execute() leaves behind); its ts."""
    ws = slack.workspace
    return slack.post_as_bot(channel or ws.approvals, ws.bot_user_id, text)


def trigger(slack: SlackEmulator, ts: str, **overrides: Any) -> SlackApprovalTrigger:
    """The trigger the sensor would defer to for the question at ``ts`` (anyone may answer)."""
    kwargs: dict[str, Any] = {
        "slack_conn_id": CONN_ID,
        "channel": slack.workspace.approvals,
        "ts": ts,
        "policy": ApprovalPolicy().to_dict(),
        "deadline": None,
        "poke_interval": 0.1,
        **overrides,
    }
    return SlackApprovalTrigger(**kwargs)


async def first_event(trigger: SlackApprovalTrigger, timeout: float = 30.0) -> dict[str, Any]:
    """The payload of the trigger's one event (fails after ``timeout`` seconds)."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return await asyncio.wait_for(first(), timeout)


def fast_budgets(token: str, per_minute: int = 60_000) -> None:
    """Let this loop call Slack's read methods as often as the test needs (Slack's tiers allow ~50 a
    minute; the tests compress minutes into seconds). Call from inside the test's event loop."""
    limiter = loop_rate_limiter()
    for method in READS:
        limiter.set_budget(token_key(token), method, per_minute)


async def until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``condition`` from async code until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)
    return value


def calls_of(slack: SlackEmulator, method: str) -> list[Any]:
    return [call for call in slack.calls if call.method == method]


def posts(slack: SlackEmulator) -> list[Any]:
    """chat.postMessage calls Slack answered with ok (what people see)."""
    return [call for call in calls_of(slack, "chat.postMessage") if call.status == 200 and not call.error]
