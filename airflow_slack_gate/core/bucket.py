"""Slack's rate limits as arithmetic: a token bucket, and a call rate that adapts to Slack's 429s.

Pure: every method takes the time (any monotonic clock, in seconds), so tests drive it with a fake
clock. The asyncio waiting is in :mod:`airflow_slack_gate.hooks.ratelimit`; the Slack emulator models
Slack's side with the same :class:`TokenBucket`.

Slack limits calls "per API method per app per workspace" in tiers (Tier 3: 50+ a minute) and says
its tiers allow "sporadic bursts" above the per-minute figure, without saying how large
(https://api.slack.com/docs/rate-limits). So a limiter may start :data:`BURST_SECONDS` of its budget
at once after a quiet spell, and then spaces its calls at its rate. Several processes sharing one
token (several triggerers) cannot know how many they are. So a pace starts at a quarter of the budget
and doubles its rate every few seconds until the budget or a first 429 (slow start, as TCP does);
that first 429 divides the rate by 4, later ones halve it, and the refused one waits
``Retry-After``. Meanwhile the rate grows back by a fixed amount per minute, the same for every
process whatever its share (additive increase, multiplicative decrease, as TCP does). Without talking
to each other, the processes then share the budget in about equal parts, with few 429s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Seconds of a method's budget a limiter may spend at once after a quiet spell (Tier 3: 12 calls,
#: Tier 4: 25). Slack publishes no burst size. This one reads a burst of 20 votes in as many threads
#: within one history round of 10 channels (12 s at Tier 3, whose rate gives 10 reads), and keeps any
#: minute within 1.25 times the per-minute figure, which the "+" of "50+ per minute" and "sporadic
#: bursts are welcome" cover. Were Slack stricter, it answers 429 and the rate adapts; the bucket
#: shrinks with the rate, so triggerers sharing a token also share the burst.
BURST_SECONDS = 15.0
#: A pace starts at this share of the budget (Tier 3: 12.5 calls a minute): three triggerers started
#: together (a deploy) then call at 3/4 of the budget between them at first...
START_SHARE = 1 / 3
#: ...and double their rate every this many seconds until the budget (a lone process reaches it after
#: 30 s, before its gates' first votes are likely) or a first 429. The rate grows with time from the
#: process's start, not per call, so a method first called later starts at its budget, its burst earned.
START_DOUBLING = 10.0
#: The first 429 of a pace multiplies its rate by this: it means others spend the same budget, and
#: Slack's burst has hidden for a while how far all of them together were over it (in the simulation,
#: three triggerers each at about 45 a minute when the first 429 comes: a quarter each is 34 a minute
#: together, below the budget; halving would be 68 and cost another round of 429s)...
START_DECREASE = 0.25
#: ...and every later 429 by this (one overrun of a budget found once already)...
DECREASE_FACTOR = 0.5
#: ...but never below this share of the tier's budget: 1/20 lets up to 20 processes that share one
#: token settle at their fair share (Tier 3: 2.5 calls a minute each).
FLOOR_SHARE = 0.05
#: After a 429 the rate grows by this share of the budget per minute (Tier 3: 1.25 calls a minute more
#: each minute), back up to the budget. Per minute, not per successful call: a process holding a
#: larger share would regain rate faster per minute and keep it (shares of 30, 15 and 7 calls a minute
#: in the simulation); with the same growth for all, the one refused is most often the one calling
#: most, and shares even out (tests/test_bucket.py: three within 35% of a third each). Slow on
#: purpose: three triggerers sharing Tier 3 grow by 3.75 calls a minute together, so the 429 that ends
#: each climb comes about every two minutes, some 1% of calls. The price: a lone triggerer whose
#: first 429 comes from others spending the budget once (workers asking many gates at once) drops to a
#: quarter of it and takes 30 minutes to regain all of it (20 minutes from half, after a later 429);
#: meanwhile it reads less often, it loses nothing.
INCREASE_SHARE = 1 / 40
#: A waiting call of higher priority is served as if it had come this many seconds earlier per level
#: of priority. It overtakes calls that came up to that long before it, never older ones, so a routine
#: call is never starved: it waits at most this much longer than in arrival order (plus the urgent calls
#: that came before it did).
PRIORITY_HEAD_START = 30.0
#: Priorities a caller may ask for: routine reads (history rounds, refreshes of quiet threads)...
ROUTINE = 0
#: ...and reads someone waits for (the replies of a thread whose parent changed: a vote, likely).
URGENT = 1


def queue_order(arrived: float, priority: int) -> float:
    """Where a call that ``arrived`` (any clock) with ``priority`` stands in its method's queue:
    the smallest is served first."""
    return arrived - PRIORITY_HEAD_START * priority


@dataclass
class TokenBucket:
    """``capacity`` tokens at most, refilled at ``rate`` tokens a second; a call takes one."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, capacity: float, now: float) -> TokenBucket:
        """A bucket that may spend its whole ``capacity`` at ``now``."""
        return cls(rate=rate, capacity=capacity, tokens=capacity, updated=now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until a token is there (0: one is there now)."""
        self._refill(now)
        if self.tokens >= 1:
            return 0.0
        return max(0.0, self.updated - now) + (1 - self.tokens) / self.rate  # refills from ``updated``

    def take(self, now: float) -> bool:
        """Take a token if one is there at ``now``."""
        if self.wait(now) > 0:
            return False
        self.tokens -= 1
        return True

    def resize(self, rate: float, capacity: float, now: float) -> None:
        """Refill at ``rate`` from ``now`` on, holding at most ``capacity`` tokens."""
        self._refill(now)
        self.rate, self.capacity = rate, capacity
        self.tokens = min(self.tokens, capacity)


def burst_size(per_minute: float) -> float:
    """Tokens a bucket refilled at ``per_minute`` may hold: :data:`BURST_SECONDS` of it, at least one."""
    return max(1.0, per_minute * BURST_SECONDS / 60)


@dataclass
class AdaptivePace:
    """The pace of one (token, method): a token bucket whose rate adapts to Slack's 429s (AIMD, with a
    slow start).

    ``now`` is when the pace starts: the process's start, so a method first called later has grown
    its rate and earned its burst meanwhile."""

    budget: float
    now: float
    rate: float = field(init=False)
    bucket: TokenBucket = field(init=False)
    held_until: float = field(init=False)
    #: no 429 yet: the rate doubles every :data:`START_DOUBLING` seconds instead of growing additively
    starting: bool = field(init=False, default=True)
    #: the rate has grown up to this time
    grown: float = field(init=False)
    #: no call succeeded since the last decrease: a 429 now is the same overrun, not a new one
    lowered: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.rate = self.budget * START_SHARE
        # Empty at first: a process that just started does not know how much of the budget others
        # with the same token spend (triggerers restarted together would otherwise all burst at once).
        # It earns its burst while it calls less often than its rate (from ``now`` on).
        self.bucket = TokenBucket(self.rate / 60, burst_size(self.rate), tokens=1.0, updated=self.now)
        self.held_until = self.grown = self.now

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until the next call may start."""
        self._grow(now)
        return max(self.held_until - now, self.bucket.wait(now))

    def take(self, now: float) -> bool:
        """Start a call at ``now`` if one may start (``wait(now) == 0``)."""
        self._grow(now)
        return now >= self.held_until and self.bucket.take(now)

    def current_rate(self, now: float) -> float:
        """The calls a minute allowed at ``now`` (grown since the last call)."""
        self._grow(now)
        return self.rate

    def succeeded(self, now: float) -> None:
        """A call succeeded: the next 429 is a new overrun."""
        self.lowered = False
        self._grow(now)

    def limited(self, now: float, retry_after: float) -> None:
        """Slack answered 429: no call before ``retry_after`` seconds from ``now``, then calls (the
        retry first) one interval apart at the new rate, no burst. The rate is multiplied by
        :data:`START_DECREASE` at the first 429, :data:`DECREASE_FACTOR` later (at least
        :data:`FLOOR_SHARE` of the budget) unless no call succeeded since the last decrease: the 429s
        of one overrun (calls already queued, retries) lower the rate once, as TCP halves once per lost
        window. It grows again once ``retry_after`` has passed."""
        self._grow(now)
        self.hold(now, retry_after)
        if not self.lowered:
            self.lowered = True
            factor = START_DECREASE if self.starting else DECREASE_FACTOR
            self.starting = False
            self._set_rate(max(self.budget * FLOOR_SHARE, self.rate * factor), now)
        self.grown = max(self.grown, self.held_until)
        self.bucket.tokens = 0.0
        self.bucket.updated = max(self.bucket.updated, self.held_until)

    def hold(self, now: float, seconds: float) -> None:
        """No call for ``seconds`` from ``now`` (the rate unchanged)."""
        self.held_until = max(self.held_until, now + seconds)

    def set_budget(self, per_minute: float, now: float) -> None:
        """A new budget (calls a minute), used at once in full (no slow start: it is known)."""
        self.budget = per_minute
        self.starting = False
        self.grown = max(self.grown, now)
        self._set_rate(per_minute, now)

    def _grow(self, now: float) -> None:
        """Raise the rate for the time since it last grew: doubling every :data:`START_DOUBLING`
        seconds while starting, else by :data:`INCREASE_SHARE` of the budget a minute; at most the
        budget. The bucket refills meanwhile at the mean of the old and new rates."""
        if now <= self.grown:
            return
        elapsed, self.grown = now - self.grown, now
        if self.rate >= self.budget:
            return
        if self.starting:
            grown = self.rate * 2 ** (elapsed / START_DOUBLING)
        else:
            grown = self.rate + self.budget * INCREASE_SHARE * elapsed / 60
        grown = min(self.budget, grown)
        # the refill since ``updated``, about right, up to the grown burst (a quiet lane earns it)
        self.bucket.rate, self.bucket.capacity = (self.rate + grown) / 120, burst_size(grown)
        self._set_rate(grown, now)

    def _set_rate(self, per_minute: float, now: float) -> None:
        self.rate = per_minute
        self.bucket.resize(per_minute / 60, burst_size(per_minute), now)
