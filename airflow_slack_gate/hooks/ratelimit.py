"""One Slack rate limiter per event loop: every gate in a triggerer shares Slack's budget.

Slack limits each app per workspace and method (``conversations.history`` and ``conversations.replies``
are Tier 3: about 50 calls a minute). A limiter per call site would let a thousand gates each believe
they have the whole budget; this one spaces the calls of a (token, method) pair evenly, serves waiting
callers in arrival order (so channels share fairly), and when Slack answers 429 with ``Retry-After``
it holds back every caller of that method, not just the one that was refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

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


@dataclass
class _Lane:
    """The schedule of one (token, method): when the next call may start."""

    interval: float
    next_start: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RateLimiter:
    """Spaces Slack calls per (token, method) to the method's budget; shared by all callers in a loop."""

    def __init__(self, budgets: Mapping[str, int] | None = None) -> None:
        self.budgets = {**TIER_BUDGETS, **(budgets or {})}
        self._lanes: dict[tuple[str, str], _Lane] = {}

    def _lane(self, key: str, method: str) -> _Lane:
        lane = self._lanes.get((key, method))
        if lane is None:
            per_minute = self.budgets.get(method, DEFAULT_BUDGET)
            lane = self._lanes[(key, method)] = _Lane(interval=60.0 / per_minute)
        return lane

    def set_budget(self, key: str, method: str, per_minute: int) -> None:
        """Override one method's budget for one token (no connection extra sets this; tests use it to
        read faster than Slack's tiers allow)."""
        self._lane(key, method).interval = 60.0 / per_minute

    async def acquire(self, key: str, method: str) -> None:
        """Wait for this call's turn; callers queue in arrival order."""
        lane = self._lane(key, method)
        async with lane.lock:
            delay = lane.next_start - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            lane.next_start = max(lane.next_start, time.monotonic()) + lane.interval

    def hold_off(self, key: str, method: str, seconds: float) -> None:
        """Slack said 429: nobody calls ``method`` with this token for ``seconds``."""
        lane = self._lane(key, method)
        lane.next_start = max(lane.next_start, time.monotonic() + seconds)


_LIMITERS: PerLoop[RateLimiter] = PerLoop(RateLimiter)


def loop_rate_limiter() -> RateLimiter:
    """The running event loop's limiter (one per triggerer process)."""
    return _LIMITERS.get()


class AsyncSharedRateLimitRetryHandler(AsyncRetryHandler):
    """On 429, hold back every caller of the method (via the loop's limiter), then retry in turn."""

    def __init__(self, key: str, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.key = key

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        limiter = loop_rate_limiter()
        limiter.hold_off(self.key, method, retry_after(response) + random.random())  # noqa: S311
        await limiter.acquire(self.key, method)
        state.next_attempt_requested = True
        state.increment_current_attempt()


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
