"""State kept per asyncio event loop, the one way the package keeps it.

A triggerer runs every trigger in one event loop, so what gates share (sessions, the rate limiter,
caches, channel watchers, Socket Mode connections) lives once per loop. ``dag.test()`` and tests run
each trigger in a loop of its own, which must share nothing with the others, and a loop that ends
must leave nothing behind. Every per-loop singleton is a :class:`PerLoop`, declared next to the code
that uses it:

- ``hooks/sessions.py``: the shared aiohttp sessions and who holds them;
- ``hooks/ratelimit.py``: the rate limiter;
- ``hooks/usergroups.py``: user-group members;
- ``runtime/watcher.py``: the channel watchers, what Slack said of each user, and the notes sent;
- ``runtime/socket_mode.py``: the Socket Mode listeners.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """One value per running event loop, made by ``factory`` on first use, dropped with its loop."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        """The running loop's value, made on first use."""
        loop = asyncio.get_running_loop()
        value = self._values.get(loop)
        if value is None:
            value = self._values[loop] = self._factory()
        return value

    def peek(self) -> T | None:
        """The running loop's value, or None if it has none yet (none is made)."""
        return self._values.get(asyncio.get_running_loop())
