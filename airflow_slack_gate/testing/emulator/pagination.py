"""Slack's cursor pagination and ``oldest``/``latest``/``inclusive`` time windows.

Cursors are opaque base64 strings, as in Slack (``bmV4dF90czox...`` is ``next_ts:1...``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from airflow_slack_gate.testing.emulator.state import SlackError

T = TypeVar("T")


def encode_cursor(kind: str, value: str) -> str:
    """An opaque cursor pointing at ``value`` (the first item of the next page)."""
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def decode_cursor(kind: str, cursor: str) -> str:
    """The value inside a cursor made by :func:`encode_cursor`; ``invalid_cursor`` otherwise."""
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    prefix, _, value = decoded.partition(":")
    if prefix != kind or not value:
        raise SlackError("invalid_cursor")
    return value


@dataclass(frozen=True)
class Page:
    """One page of items and the cursor to the next (None on the last page)."""

    items: list
    next_value: str | None


def paginate(items: Sequence[T], keys: Sequence[str], start: str | None, limit: int) -> Page:
    """Take ``limit`` items starting at the item whose key is ``start`` (the first when None)."""
    if start is not None:
        if start not in keys:
            raise SlackError("invalid_cursor")
        offset = keys.index(start)
        items, keys = items[offset:], keys[offset:]
    limit = max(1, limit)
    return Page(list(items[:limit]), keys[limit] if len(items) > limit else None)


@dataclass(frozen=True)
class Window:
    """The ``oldest``/``latest``/``inclusive`` window of conversations.history and .replies."""

    oldest: int | None
    latest: int | None
    inclusive: bool

    def contains(self, ts: str) -> bool:
        """Whether a message ts falls inside the window."""
        value = ts_micros(ts)
        if self.oldest is not None and (value < self.oldest or (value == self.oldest and not self.inclusive)):
            return False
        return not (
            self.latest is not None and (value > self.latest or (value == self.latest and not self.inclusive))
        )


def ts_micros(ts: str) -> int:
    """A Slack ts (``"1732665600.000100"``) as integer microseconds; exact, unlike a float."""
    seconds, _, fraction = ts.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 6:
        raise ValueError(ts)
    return int(seconds) * 1_000_000 + int(fraction.ljust(6, "0") or 0)


def parse_ts(value: str | None, error: str) -> int | None:
    """A ts argument in microseconds, None when absent; Slack's ``error`` when it is no timestamp."""
    if value is None:
        return None
    try:
        return ts_micros(value)
    except ValueError:
        raise SlackError(error) from None
