"""One Slack rate limiter per event loop: every gate in a triggerer shares Slack's budget.

Slack limits each app per workspace and method (``conversations.history`` and ``conversations.replies``
are Tier 3: about 50 calls a minute). A limiter per call site would let a thousand gates each believe
they have the whole budget; this one keeps a token bucket per (token, method) whose rate adapts to
Slack's 429s (the arithmetic and its numbers: :mod:`airflow_slack_gate.core.bucket`). After a quiet
spell a short burst starts at once; then calls are spaced at the rate. Waiting callers are served by
priority, then in arrival order (so channels share fairly), and an urgent call overtakes only calls
that came shortly before it. When Slack answers 429 with ``Retry-After``, every caller of that method
waits, not just the one that was refused, and the rate is lowered; it grows back with time, the same
for every process, so several triggerers sharing one token settle within Slack's budget in about
equal shares without talking to each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from airflow_slack_gate.core.bucket import ROUTINE, AdaptivePace, queue_order
from airflow_slack_gate.hooks.loops import PerLoop

#: Calls a minute Slack allows per app and workspace (its published tiers); methods not listed: Tier 3.
TIER_BUDGETS: dict[str, int] = {
    "auth.test": 100,  # Tier 4
    "conversations.history": 50,  # Tier 3
    "conversations.replies": 50,  # Tier 3
    "conversations.list": 20,  # Tier 2
    "usergroups.users.list": 20,  # Tier 2
    "reactions.get": 50,  # Tier 3
    "users.info": 100,  # Tier 4
    "chat.postEphemeral": 100,  # Tier 4
    "users.lookupByEmail": 50,  # Tier 3
}
DEFAULT_BUDGET = 50


def token_key(token: str) -> str:
    """A stable, non-reversible name for a token (the limiter never keeps the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(order=True)
class _Waiter:
    order: float
    seq: int
    turn: asyncio.Event = field(default_factory=asyncio.Event, compare=False)


@dataclass
class _Lane:
    """One (token, method): its adaptive pace and the callers waiting for it, best first."""

    pace: AdaptivePace
    waiting: list[_Waiter] = field(default_factory=list)

    def head_changed(self) -> None:
        """Let the first waiter look again at the queue and the pace."""
        if self.waiting:
            self.waiting[0].turn.set()


class RateLimiter:
    """Paces Slack calls per (token, method) within the method's budget; shared by all callers in a loop."""

    def __init__(self, budgets: Mapping[str, int] | None = None) -> None:
        self.budgets = {**TIER_BUDGETS, **(budgets or {})}
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._seq = itertools.count()
        self._started = time.monotonic()

    def _lane(self, key: str, method: str) -> _Lane:
        lane = self._lanes.get((key, method))
        if lane is None:
            budget = self.budgets.get(method, DEFAULT_BUDGET)
            # a method first called now has been quiet since the loop started: its burst grew since
            lane = self._lanes[(key, method)] = _Lane(AdaptivePace(budget=budget, now=self._started))
        return lane

    def set_budget(self, key: str, method: str, per_minute: int) -> None:
        """Override one method's budget for one token (no connection extra sets this; tests use it to
        read faster than Slack's tiers allow)."""
        lane = self._lane(key, method)
        lane.pace.set_budget(per_minute, time.monotonic())
        lane.head_changed()

    def rate(self, key: str, method: str) -> float:
        """The calls a minute this loop now allows itself for (token, method) (at most its budget)."""
        return self._lane(key, method).pace.current_rate(time.monotonic())

    async def acquire(self, key: str, method: str, priority: int = ROUTINE) -> None:
        """Wait for this call's turn: by ``priority`` (:data:`~airflow_slack_gate.core.bucket.URGENT`
        overtakes recent routine calls), then in arrival order."""
        lane = self._lane(key, method)
        me = _Waiter(queue_order(time.monotonic(), priority), next(self._seq))
        heapq.heappush(lane.waiting, me)
        if lane.waiting[0] is me and len(lane.waiting) > 1:
            lane.waiting[1].turn.set()  # the one it displaced may be timing its turn: it waits again
        try:
            while True:
                me.turn.clear()
                if lane.waiting[0] is not me:
                    await me.turn.wait()
                    continue
                now = time.monotonic()
                if lane.pace.take(now):
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(me.turn.wait(), lane.pace.wait(now))
        finally:
            lane.waiting.remove(me)
            heapq.heapify(lane.waiting)
            lane.head_changed()

    def succeeded(self, key: str, method: str) -> None:
        """A call was answered (not 429): the next 429 is a new overrun, which lowers the rate again."""
        self._lane(key, method).pace.succeeded(time.monotonic())

    def limited(self, key: str, method: str, retry_after: float) -> None:
        """Slack said 429: nobody calls ``method`` with this token for ``retry_after`` seconds, and the
        rate is lowered."""
        lane = self._lane(key, method)
        lane.pace.limited(time.monotonic(), retry_after)
        lane.head_changed()


_LIMITERS: PerLoop[RateLimiter] = PerLoop(RateLimiter)


def loop_rate_limiter() -> RateLimiter:
    """The running event loop's limiter (one per triggerer process)."""
    return _LIMITERS.get()


class AsyncSharedRateLimitRetryHandler(AsyncRetryHandler):
    """On 429, hold back every caller of the method and lower its rate (via the loop's limiter), then
    retry in turn."""

    def __init__(self, key: str, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.key = key

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        limited = response is not None and response.status_code == 429
        if limited:  # also the last 429, which is not retried: the pace learns of every one
            wait = retry_after(response) + random.random()  # noqa: S311
            loop_rate_limiter().limited(self.key, _method(request), wait)
        return limited and state.current_attempt < self.max_retry_count

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        await loop_rate_limiter().acquire(self.key, _method(request))
        state.next_attempt_requested = True
        state.increment_current_attempt()


def _method(request: HttpRequest) -> str:
    return request.url.rstrip("/").rsplit("/", 1)[-1]


def retry_after(response: HttpResponse | None) -> float:
    """Seconds from a 429's ``Retry-After`` header (1 when absent or unreadable)."""
    headers: dict[str, Any] = dict(response.headers) if response is not None else {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return 1.0
    return 1.0
