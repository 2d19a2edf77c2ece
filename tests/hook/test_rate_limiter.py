"""The loop's rate limiter with the async hook, against the emulator: 429s lower the rate and hold every
caller, successes raise it back, urgent reads go first, and a caller that gives up frees its place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from airflow_slack_gate.core.bucket import DECREASE_FACTOR, START_DECREASE, URGENT, burst_size
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.ratelimit import TIER_BUDGETS, loop_rate_limiter
from airflow_slack_gate.hooks.sessions import close_shared_sessions
from airflow_slack_gate.hooks.slack import MAX_RATE_LIMIT_RETRIES, SlackGateHook
from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator
from tests.support import ask, until

REPLIES = "conversations.replies"


@pytest.fixture
async def ahook(hook: SlackGateHook) -> AsyncIterator[SlackGateHook]:
    """The hook with its async client made (so its limiter key is known), sessions closed after."""
    await hook.get_async_client()
    yield hook
    await close_shared_sessions()


def drain(hook: SlackGateHook, method: str, per_minute: int) -> None:
    """Give ``method`` a budget of ``per_minute`` and spend its burst, so the next calls queue."""
    limiter = loop_rate_limiter()
    limiter.set_budget(hook._limiter_key, method, per_minute)
    limiter._lane(hook._limiter_key, method).pace.bucket.tokens = 0.0


async def test_a_429_lowers_the_rate_of_that_method_which_grows_back_with_time(
    ahook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    limiter = loop_rate_limiter()
    limiter._started -= 60  # started a minute ago: past its slow start, at the full budget
    key = ahook._limiter_key
    budget = TIER_BUDGETS[REPLIES]
    ts = ask(slack_emulator)
    slack_emulator.inject_fault(REPLIES, status=429, retry_after=0)

    await ahook.aread_thread(channel=ws.approvals, ts=ts)  # refused once, then answered

    lowered = limiter.rate(key, REPLIES)
    assert budget * START_DECREASE <= lowered < budget * START_DECREASE + 1  # a first 429: a quarter
    assert limiter.rate(key, "conversations.history") == TIER_BUDGETS["conversations.history"]
    await until(lambda: limiter.rate(key, REPLIES) > lowered, what="the rate growing back")
    limiter.set_budget(key, REPLIES, 60_000)  # read fast; set_budget restores the full rate
    assert limiter.rate(key, REPLIES) == 60_000


async def test_the_429s_of_one_overrun_lower_the_rate_once_even_when_the_call_gives_up(
    ahook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    limiter = loop_rate_limiter()
    limiter.set_budget(ahook._limiter_key, REPLIES, 600)
    slack_emulator.inject_fault(REPLIES, status=429, retry_after=0, count=MAX_RATE_LIMIT_RETRIES + 1)

    with pytest.raises(SlackGateError) as raised:
        await ahook.aread_thread(channel=ws.approvals, ts=ask(slack_emulator))

    assert raised.value.error_code == "ratelimited"
    assert slack_emulator.call_count(REPLIES) == MAX_RATE_LIMIT_RETRIES + 1
    # halved once (twice would be 150); it grows by 15 calls a minute each minute since
    assert limiter.rate(ahook._limiter_key, REPLIES) == pytest.approx(600 * DECREASE_FACTOR, abs=5)


async def test_an_urgent_read_goes_before_routine_reads_that_queued_before_it(
    ahook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    quiet = [ask(slack_emulator, f"Quiet {i}?") for i in range(3)]
    voted = ask(slack_emulator, "Voted on?")
    drain(ahook, REPLIES, 600)  # one read every 0.1 s, none at once
    slack_emulator.reset_counters()

    routine = [asyncio.create_task(ahook.aread_thread(channel=ws.approvals, ts=ts)) for ts in quiet]
    await asyncio.sleep(0)  # they queue first
    urgent = asyncio.create_task(ahook.aread_thread(channel=ws.approvals, ts=voted, priority=URGENT))
    await asyncio.wait_for(asyncio.gather(*routine, urgent), timeout=10)

    order = [call.params["ts"] for call in slack_emulator.calls if call.method == REPLIES]
    assert order == [voted, *quiet]


async def test_a_caller_that_gives_up_waiting_frees_its_turn(
    ahook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    ts = ask(slack_emulator)
    drain(ahook, REPLIES, 600)
    first = asyncio.create_task(ahook.aread_thread(channel=ws.approvals, ts=ts))
    second = asyncio.create_task(ahook.aread_thread(channel=ws.approvals, ts=ts))
    await asyncio.sleep(0)
    first.cancel()

    await asyncio.wait_for(second, timeout=5)
    assert first.cancelled()
    assert slack_emulator.call_count(REPLIES) == 1


async def test_a_quiet_method_serves_a_burst_at_once(
    ahook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """Slack's tiers allow sporadic bursts: a method first called a while after the loop started reads
    a few threads without spacing them."""
    threads = [ask(slack_emulator, f"Deploy {i}?") for i in range(int(burst_size(TIER_BUDGETS[REPLIES])))]
    limiter = loop_rate_limiter()
    limiter._started -= 30  # the loop started 30 s ago (past its slow start), and never read a thread
    loop = asyncio.get_running_loop()
    started = loop.time()

    await asyncio.gather(*(ahook.aread_thread(channel=ws.approvals, ts=ts) for ts in threads))

    spaced = (len(threads) - 1) * 60 / TIER_BUDGETS[REPLIES]  # what main's evenly spaced limiter took
    assert loop.time() - started < spaced / 2
