"""Test controls of the HTTP layer: call records, injected faults, latency, dropped connections, rate limits.

Thread-safe: tests set these from their own thread while the server's loop reads them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_slack_gate.core.bucket import TokenBucket

#: Calls per minute per (token, method) for Slack's rate-limit tiers.
TIER_LIMITS: dict[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}
#: Slack's tiers "allow for sporadic bursts" above the per-minute figure without saying how large: the
#: emulator lets a (token, method) that was quiet start this many seconds of its tier at once (Tier 3:
#: 16 calls, Tier 2: 6, Tier 1: 1), then refills at the tier's rate; a sustained overrun gets 429 with
#: ``Retry-After`` = the seconds until the next call would pass. More than the burst the package's own
#: limiter allows itself (``core.bucket.BURST_SECONDS``), so tests show the limiter needs no more.
SLACK_BURST_SECONDS = 20.0
#: chat.postMessage: about one message per second per channel...
POST_MESSAGE_PER_SECOND = 1
#: ...with "short bursts >1 allowed" (Slack's rate-limit page): this many posts at once.
POST_MESSAGE_BURST = 3

ANY_METHOD = "*"


@dataclass(frozen=True)
class Fault:
    """An injected failure: an HTTP ``status`` (429 with ``retry_after``, 500, 503...) or, when
    ``error`` is set, an HTTP 200 ``{"ok": false, "error": error}``. With ``carried_out`` the call
    is carried out first and only its answer is the failure (a post that lands although Slack
    answered 5xx)."""

    status: int = 429
    retry_after: int = 1
    error: str | None = None
    carried_out: bool = False


@dataclass(frozen=True)
class CallRecord:
    """One request the emulator received: the method, its arguments (token removed) and the answer."""

    method: str
    params: dict[str, Any]
    status: int
    error: str | None


class Controls:
    """Faults, latency, drops, counters and rate limits, per Slack method (``"*"`` matches any)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._latency: dict[str, float] = {}
        self._delays: dict[str, deque[float]] = defaultdict(deque)
        self._drops: dict[str, int] = defaultdict(int)
        self._calls: list[CallRecord] = []
        self.rate_limits_enabled = False
        self._limit_overrides: dict[str, int] = {}
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}

    # -- faults --------------------------------------------------------------------------------

    def inject_fault(self, method: str, fault: Fault, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with ``fault``."""
        with self._lock:
            self._faults[method].extend([fault] * count)

    def take_fault(self, method: str) -> Fault | None:
        """The next queued fault for this method (method-specific first, then ``"*"``)."""
        with self._lock:
            for key in (method, ANY_METHOD):
                if self._faults[key]:
                    return self._faults[key].popleft()
            return None

    def set_latency(self, method: str, seconds: float) -> None:
        """Delay every answer of ``method`` by ``seconds`` (0 removes the delay)."""
        with self._lock:
            self._latency[method] = seconds

    def delay_calls(self, method: str, seconds: float, count: int = 1) -> None:
        """Delay the next ``count`` calls of ``method`` by ``seconds``, then answer at the usual pace.

        A delayed call is still carried out (like a Slack that is slow, not failing): a post the
        client gave up on lands in the channel when the delay ends.
        """
        with self._lock:
            self._delays[method].extend([seconds] * count)

    def latency(self, method: str) -> float:
        """The delay to apply to a call of ``method`` (consumes one queued :meth:`delay_calls`)."""
        with self._lock:
            for key in (method, ANY_METHOD):
                if self._delays[key]:
                    return self._delays[key].popleft()
            return self._latency.get(method, self._latency.get(ANY_METHOD, 0.0))

    def drop_connections(self, method: str, count: int = 1) -> None:
        """Close the connection without answering for the next ``count`` calls of ``method``."""
        with self._lock:
            self._drops[method] += count

    def take_drop(self, method: str) -> bool:
        """Whether to drop this call's connection (consumes one queued drop)."""
        with self._lock:
            for key in (method, ANY_METHOD):
                if self._drops[key] > 0:
                    self._drops[key] -= 1
                    return True
            return False

    def clear_faults(self) -> None:
        """Forget queued faults, drops and latency."""
        with self._lock:
            self._faults.clear()
            self._drops.clear()
            self._latency.clear()
            self._delays.clear()

    # -- counters ------------------------------------------------------------------------------

    def record(self, call: CallRecord) -> None:
        """Remember one answered (or dropped) call."""
        with self._lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[CallRecord]:
        """Every call so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def call_count(self, method: str) -> int:
        """How many calls of ``method`` arrived (including failed and dropped ones)."""
        with self._lock:
            return sum(1 for call in self._calls if call.method == method)

    def reset_counters(self) -> None:
        """Forget recorded calls."""
        with self._lock:
            self._calls.clear()

    # -- rate limits ---------------------------------------------------------------------------

    def enable_rate_limits(self, enabled: bool = True, overrides: Mapping[str, int] | None = None) -> None:
        """Turn Slack's rate limits on or off; ``overrides`` sets calls per minute for some methods."""
        with self._lock:
            self.rate_limits_enabled = enabled
            self._limit_overrides = dict(overrides or {})
            self._buckets.clear()

    def check_rate_limit(self, token: str, method: str, tier: int | None, channel: str | None) -> int | None:
        """Count a call against its limit; return seconds to wait (Retry-After) when over it.

        Each (token, method) is a token bucket (per channel too for chat.postMessage): a burst of
        :data:`SLACK_BURST_SECONDS` of the tier passes (:data:`POST_MESSAGE_BURST` posts), then calls
        pass at the tier's rate. An override of calls per minute gives a burst of exactly that many.
        """
        with self._lock:
            if not self.rate_limits_enabled:
                return None
            key: tuple[str, ...] = (token, method)
            if method in self._limit_overrides:
                per_minute = self._limit_overrides[method]
                per_second, burst = per_minute / 60, float(per_minute)
            elif tier is None:
                per_second, burst = POST_MESSAGE_PER_SECOND, POST_MESSAGE_BURST
                key = (token, method, channel or "")
            else:
                per_second = TIER_LIMITS[tier] / 60
                burst = max(1.0, per_second * SLACK_BURST_SECONDS)
            now = time.monotonic()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket.full(per_second, burst, now)
            if bucket.take(now):
                return None
            return max(1, math.ceil(bucket.wait(now)))
