"""The watcher asks the limiter to read a thread whose replies changed before routine reads."""

from __future__ import annotations

import pytest

from airflow_slack_gate.core.bucket import ROUTINE, URGENT
from airflow_slack_gate.hooks.ratelimit import RateLimiter
from airflow_slack_gate.hooks.sessions import close_shared_sessions
from airflow_slack_gate.runtime import watcher as watcher_module
from airflow_slack_gate.runtime.watcher import watching
from tests.support import ask, fast_budgets, until


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(method, priority) of every call the loop's limiter lets through, in order."""
    seen: list[tuple[str, int]] = []
    acquire = RateLimiter.acquire

    async def recording(self: RateLimiter, key: str, method: str, priority: int = ROUTINE) -> None:
        await acquire(self, key, method, priority)
        seen.append((method, priority))

    monkeypatch.setattr(RateLimiter, "acquire", recording)
    return seen


def replies_reads(asked: list[tuple[str, int]]) -> list[int]:
    return [priority for method, priority in asked if method == "conversations.replies"]


async def test_new_replies_are_read_urgently_and_a_periodic_refresh_routinely(
    slack_emulator, asked, monkeypatch
):
    ws = slack_emulator.workspace
    fast_budgets(ws.bot_token)
    ts = ask(slack_emulator)
    try:
        async with watching("slack_gate_default", ws.approvals, ts, 0.05) as watch:
            await watch.next_thread(timeout=10)
            slack_emulator.reply(ws.approvals, ts, ws.alice, "approve")
            assert len(await watch.next_thread(timeout=10)) == 2
            assert replies_reads(asked) == [URGENT]

            monkeypatch.setattr(watcher_module, "THREAD_REFRESH", 0.0)  # re-read for edits at once
            await until(lambda: len(replies_reads(asked)) >= 3, timeout=10, what="refresh reads")
    finally:
        await close_shared_sessions()

    assert replies_reads(asked)[1:3] == [ROUTINE, ROUTINE]  # nothing changed on the parent
