"""Pure pacing rules and the shared rate limiter."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from airflow_slack_gate.core.pacing import (
    ACTIVE_WINDOW,
    MAX_INTERVAL,
    MAX_LOOKS,
    FailureStreak,
    doubling_backoff,
    gate_interval,
    look_times,
    replies_fingerprint,
    socket_mode_backoff,
    trigger_backoff,
    watcher_backoff,
)
from airflow_slack_gate.hooks.ratelimit import RateLimiter, loop_rate_limiter
from airflow_slack_gate.hooks.sessions import close_shared_sessions
from airflow_slack_gate.hooks.slack import SlackGateHook


@pytest.mark.parametrize(
    ("age", "since_change", "expected"),
    [
        (0, 0, 10),  # a new gate: its poke_interval
        (ACTIVE_WINDOW * 3, 5, 10),  # old but its thread just changed
        (ACTIVE_WINDOW * 3, ACTIVE_WINDOW * 3, 30),  # quiet for 30 min: 3x slower
        (ACTIVE_WINDOW * 100, ACTIVE_WINDOW * 100, 60),  # never more than 6x slower
    ],
)
def test_quiet_old_gates_are_read_less_often(age, since_change, expected):
    assert gate_interval(10, age=age, since_change=since_change) == expected


def test_the_interval_never_drops_below_poke_interval_nor_exceeds_the_cap():
    assert gate_interval(600, age=10**6, since_change=10**6) == 600
    assert gate_interval(100, age=10**6, since_change=10**6) == MAX_INTERVAL


@pytest.mark.parametrize(
    ("window", "expected"),
    [(1, [0.0, 1.0]), (3, [0.0, 1.2, 3.0]), (15, [0.0, 1.2, 3.6, 8.4, 15.0])],
)
def test_a_lost_post_is_looked_for_at_doubling_gaps_until_the_window_ends(window, expected):
    assert look_times(window, 1.2) == expected


def test_a_lost_post_is_looked_for_a_bounded_number_of_times_however_long_the_window():
    times = look_times(3600, 1.2)
    assert len(times) == MAX_LOOKS
    assert all(later - earlier >= 1.2 for earlier, later in itertools.pairwise(times))


def test_doubling_backoff_starts_at_first_and_stops_at_the_ceiling():
    assert [doubling_backoff(n, 1.0, 15.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


def test_a_watcher_backs_off_from_5_to_120_seconds_but_within_a_few_pokes_of_its_most_eager_gate():
    assert [watcher_backoff(n, 30.0) for n in (1, 2, 5, 9)] == [5.0, 10.0, 80.0, 120.0]
    assert [watcher_backoff(n, 1.0) for n in (1, 2, 3, 9)] == [1.0, 2.0, 4.0, 4.0]
    assert watcher_backoff(1, None) == 5.0  # no gate left


def test_a_trigger_backs_off_from_two_pokes_and_socket_mode_from_5_seconds_both_up_to_the_max_interval():
    assert [trigger_backoff(n, 10.0) for n in (1, 2, 6)] == [20.0, 40.0, MAX_INTERVAL]
    assert [socket_mode_backoff(n) for n in (1, 2, 7)] == [5.0, 10.0, MAX_INTERVAL]


def test_a_failure_streak_counts_failures_in_a_row_and_logs_at_powers_of_two():
    streak = FailureStreak()
    logged = []
    for now in range(1, 10):
        streak.fail(float(now))
        logged.append(streak.worth_logging)
    assert [n for n, log in enumerate(logged, start=1) if log] == [1, 2, 4, 8]
    assert streak.end() == (9, 1.0)
    assert (streak.count, streak.end()) == (0, (0, None))


def test_replies_fingerprint_changes_when_a_reply_arrives_but_not_with_reactions():
    parent = {"reply_count": 1, "latest_reply": "1.1", "reactions": []}
    assert replies_fingerprint(parent) != replies_fingerprint(
        {**parent, "reply_count": 2, "latest_reply": "1.2"}
    )
    assert replies_fingerprint(parent) == replies_fingerprint({**parent, "reactions": [{"name": "x"}]})


async def test_calls_of_one_method_are_spaced_to_its_budget_for_every_caller():
    limiter = RateLimiter({"conversations.history": 600})  # one call every 0.1 s
    started: list[float] = []

    async def call():
        await limiter.acquire("token", "conversations.history")
        started.append(time.monotonic())

    await asyncio.gather(*(call() for _ in range(5)))
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert min(gaps) >= 0.09
    # another method (or token) has its own budget and does not wait
    before = time.monotonic()
    await limiter.acquire("token", "conversations.replies")
    await limiter.acquire("other-token", "conversations.history")
    assert time.monotonic() - before < 0.05


async def test_a_429_holds_back_every_caller_of_that_method(slack_emulator):
    hook = SlackGateHook(slack_conn_id="slack_gate_default")
    ws = slack_emulator.workspace
    await hook.aread_history(channel=ws.approvals)
    loop_rate_limiter().set_budget(hook._limiter_key, "conversations.history", 6000)
    slack_emulator.inject_fault("conversations.history", status=429, retry_after=1, count=1)
    started = time.monotonic()
    await asyncio.gather(*(hook.aread_history(channel=ws.approvals) for _ in range(3)))
    elapsed = time.monotonic() - started
    # one 429 seen by one caller made all three wait about Retry-After, not just the refused one
    assert elapsed >= 1.0
    assert slack_emulator.call_count("conversations.history") == 1 + 1 + 3
    await close_shared_sessions()
