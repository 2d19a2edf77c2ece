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

#: Calls per minute per (token, method) for Slack's rate-limit tiers.
TIER_LIMITS: dict[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}
#: chat.postMessage: about one message per second per channel.
POST_MESSAGE_PER_SECOND = 1

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
        self._windows: dict[tuple[str, ...], deque[float]] = defaultdict(deque)

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
            self._windows.clear()

    def check_rate_limit(self, token: str, method: str, tier: int | None, channel: str | None) -> int | None:
        """Count a call against its limit; return seconds to wait (Retry-After) when over it."""
        with self._lock:
            if not self.rate_limits_enabled:
                return None
            key: tuple[str, ...]
            if method in self._limit_overrides:
                limit, window, key = self._limit_overrides[method], 60.0, (token, method)
            elif tier is None:
                limit, window, key = POST_MESSAGE_PER_SECOND, 1.0, (token, method, channel or "")
            else:
                limit, window, key = TIER_LIMITS[tier], 60.0, (token, method)
            return self._admit(key, limit, window)

    def _admit(self, key: tuple[str, ...], limit: int, window: float) -> int | None:
        now = time.monotonic()
        stamps = self._windows[key]
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        if len(stamps) >= limit:
            return max(1, math.ceil(stamps[0] + window - now))
        stamps.append(now)
        return None
