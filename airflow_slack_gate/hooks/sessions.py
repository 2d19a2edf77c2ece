"""One aiohttp session per event loop, shared by every Slack client in that loop.

A triggerer runs thousands of triggers in one asyncio loop; a session per request (what slack_sdk's
AsyncWebClient does when given none) costs a TCP and TLS handshake per call and a socket per gate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from airflow_slack_gate.hooks.loops import PerLoop


@dataclass
class _LoopSessions:
    by_timeout: dict[float, aiohttp.ClientSession] = field(default_factory=dict)
    holders: int = 0


_SESSIONS: PerLoop[_LoopSessions] = PerLoop(_LoopSessions)


def shared_session(timeout: float) -> aiohttp.ClientSession:
    """Return the running loop's session for ``timeout`` seconds, creating it on first use.

    aiohttp applies a session's timeout to every request made through it (slack_sdk passes none per
    request), so sessions are shared per (loop, timeout); in practice that is one per loop.
    """
    per_loop = _SESSIONS.get().by_timeout
    session = per_loop.get(timeout)
    if session is None or session.closed:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        per_loop[timeout] = session
    return session


async def close_shared_sessions() -> None:
    """Close the running loop's shared sessions (call before the loop ends, e.g. in tests)."""
    sessions = _SESSIONS.peek()
    if sessions is None:
        return
    closing, sessions.by_timeout = sessions.by_timeout, {}
    for session in closing.values():
        await session.close()


@asynccontextmanager
async def holding_shared_sessions() -> AsyncIterator[None]:
    """Keep the running loop's sessions open while any holder runs; the last one out closes them.

    Triggers hold them for their whole run, so sessions live exactly as long as some gate is open and
    an event loop that ends (``dag.test()``, a stopped triggerer) leaves no unclosed session behind.
    """
    sessions = _SESSIONS.get()
    sessions.holders += 1
    try:
        yield
    finally:
        sessions.holders -= 1
        if sessions.holders == 0:
            await close_shared_sessions()
