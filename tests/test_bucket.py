"""The rate limiter's arithmetic (core.bucket) on a fake clock: bursts, AIMD, priorities, convergence."""

from __future__ import annotations

import itertools
import math

import pytest

from airflow_slack_gate.core.bucket import (
    BURST_SECONDS,
    DECREASE_FACTOR,
    FLOOR_SHARE,
    INCREASE_SHARE,
    ROUTINE,
    URGENT,
    AdaptivePace,
    TokenBucket,
    burst_size,
    queue_order,
)


def calls_until(pace: AdaptivePace, end: float, now: float = 0.0) -> list[float]:
    """When a caller that always has a call waiting starts its calls, from ``now`` to ``end``."""
    starts = []
    while (now := now + pace.wait(now)) < end:
        if pace.take(now):
            starts.append(now)
        else:
            now += 1e-9  # the float edge of a refill: look again a hair later
    return starts


def test_a_new_lane_starts_at_its_rate_and_a_quiet_one_bursts():
    """A process that just started does not know whether others spend the token's budget: no burst."""
    pace = AdaptivePace(budget=50, now=0.0)
    first = calls_until(pace, 6.0)
    assert first == pytest.approx([0.0, 1.2, 2.4, 3.6, 4.8])

    starts = calls_until(pace, 90.0, now=30.0)  # after 25 quiet seconds

    burst = [start for start in starts if start == 30.0]
    assert len(burst) == math.floor(50 * BURST_SECONDS / 60) == 12
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts[len(burst) :])]
    assert min(gaps) == pytest.approx(60 / 50)  # then evenly, at the budget
    assert len(starts) <= 50 + burst_size(50) + 1  # a minute: the budget plus one burst


def test_a_429_holds_the_lane_for_retry_after_then_halves_the_rate_without_a_burst():
    pace = AdaptivePace(budget=50, now=0.0)
    pace.limited(10.0, retry_after=3.0)

    assert pace.wait(10.0) == pytest.approx(3.0 + 60 / 25)  # Retry-After, then one call's interval
    assert pace.rate == 50 * DECREASE_FACTOR
    starts = calls_until(pace, 30.0, now=10.0)
    assert starts[0] == pytest.approx(13.0 + 60 / 25)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) == pytest.approx(60 / 25)  # no burst after a 429, and the halved rate


def test_the_429s_of_one_overrun_lower_the_rate_once():
    pace = AdaptivePace(budget=50, now=0.0)
    for second in range(5):  # calls already queued, and retries, refused one after the other
        pace.limited(float(second), retry_after=1.0)
    assert pace.rate == 50 * DECREASE_FACTOR
    assert pace.wait(4.0) == pytest.approx(1.0 + 60 / 25)  # each one's Retry-After, then the rate
    pace.succeeded(6.0)
    pace.limited(7.0, retry_after=1.0)  # a new overrun
    assert pace.rate == pytest.approx((50 * DECREASE_FACTOR + 50 * INCREASE_SHARE) * DECREASE_FACTOR)


def test_the_rate_never_falls_below_its_floor():
    pace = AdaptivePace(budget=50, now=0.0)
    for second in range(20):
        pace.limited(float(second), retry_after=0.0)
        pace.succeeded(float(second))
    assert pace.rate == pytest.approx(50 * FLOOR_SHARE + 50 * INCREASE_SHARE)


def test_successes_raise_the_rate_additively_back_to_the_budget_and_no_further():
    pace = AdaptivePace(budget=50, now=0.0)
    pace.limited(0.0, retry_after=1.0)
    pace.succeeded(1.0)
    assert pace.rate == pytest.approx(25 + 50 * INCREASE_SHARE)
    for _ in range(round(25 / (50 * INCREASE_SHARE)) + 10):
        pace.succeeded(2.0)
    assert pace.rate == 50


def test_a_hold_keeps_the_rate():
    pace = AdaptivePace(budget=50, now=0.0)
    pace.hold(0.0, 5.0)
    assert pace.wait(0.0) == 5.0
    assert pace.rate == 50


def test_urgent_calls_overtake_recent_routine_ones_but_not_old_ones():
    routine_long_ago = queue_order(0.0, ROUTINE)
    routine_just_now = queue_order(100.0, ROUTINE)
    urgent = queue_order(101.0, URGENT)
    queue = sorted([routine_long_ago, routine_just_now, urgent])
    assert queue == [routine_long_ago, urgent, routine_just_now]


def sharing(processes: int, minutes: float = 30.0, budget: float = 50.0, slack_burst: float = 16.0):
    """Simulate ``processes`` limiters (triggerers) that share one token, each always with a read
    waiting, against Slack's bucket for that token and method; return (calls Slack answered a minute
    after the first five minutes, the share of those calls answered 429)."""
    slack = TokenBucket.full(budget / 60, slack_burst, 0.0)
    paces = [AdaptivePace(budget=budget, now=0.0) for _ in range(processes)]
    now, answered, refused = 0.0, 0, 0
    while now < minutes * 60:
        pace = min(paces, key=lambda pace: pace.wait(now))
        now += pace.wait(now)
        if not pace.take(now):
            now += 1e-9
            continue
        counted = now > 5 * 60
        if slack.take(now):
            pace.succeeded(now)
            answered += counted
        else:
            pace.limited(now, math.ceil(slack.wait(now)))
            refused += counted
    return (answered + refused) / (minutes - 5), refused / (answered + refused)


@pytest.mark.parametrize("processes", [2, 3])
def test_limiters_sharing_one_token_converge_to_its_budget_with_few_429s(processes):
    calls_per_minute, refused_share = sharing(processes)
    assert refused_share <= 0.02
    assert 0.85 * 50 <= calls_per_minute <= 50 * 1.02  # Slack's budget used, not overrun


def test_without_adapting_limiters_sharing_one_token_overrun_it(monkeypatch):
    """The simulation can fail: limiters that only wait Retry-After (today's main) are refused often."""
    monkeypatch.setattr(AdaptivePace, "limited", AdaptivePace.hold)
    _, refused_share = sharing(3, minutes=10)
    assert refused_share > 0.2
