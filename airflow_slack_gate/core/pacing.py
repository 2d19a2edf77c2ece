"""How often to read a gate: pure rules, so the watcher's pacing is testable without a clock."""

from __future__ import annotations

#: A gate younger than this, or whose thread changed this recently, is read at its poke_interval.
ACTIVE_WINDOW = 600.0
#: Quiet old gates are read at most this many times more slowly than their poke_interval...
MAX_SLOWDOWN = 6.0
#: ...and never less often than this (seconds), so an old gate still answers within minutes.
MAX_INTERVAL = 300.0
#: Threads are re-read at least this often even when the parent shows no change, so an edited
#: reply (which Slack does not reflect on the parent) is seen.
THREAD_REFRESH = 300.0


def gate_interval(poke_interval: float, *, age: float, since_change: float) -> float:
    """Seconds until a gate wants its next read.

    Short while the gate is young or its thread is active, growing linearly for quiet old gates up to
    ``MAX_SLOWDOWN`` times the poke_interval (capped at ``MAX_INTERVAL``), never below poke_interval.
    """
    quiet_for = min(age, since_change)
    if quiet_for <= ACTIVE_WINDOW:
        return poke_interval
    slowdown = min(MAX_SLOWDOWN, quiet_for / ACTIVE_WINDOW)
    return max(poke_interval, min(poke_interval * slowdown, MAX_INTERVAL))


def replies_fingerprint(parent: dict) -> tuple:
    """What the channel history shows of a thread's replies: while it is unchanged, the replies are
    too (except edits, which Slack does not reflect on the parent: see ``THREAD_REFRESH``)."""
    return (parent.get("reply_count", 0), parent.get("latest_reply"))


#: Most reads of Slack in one look for a post whose answer was lost (see :func:`look_times`).
MAX_LOOKS = 6


def look_times(window: float, first_gap: float, max_looks: int = MAX_LOOKS) -> list[float]:
    """Seconds after a lost answer at which to look in Slack for the post: at once, then with gaps
    doubling from ``first_gap`` (the read method's share of Slack's rate limit), the last look at the
    end of ``window``; at most ``max_looks`` looks, however long the window.

    >>> look_times(15, 1.2)
    [0.0, 1.2, 3.6, 8.4, 15.0]
    """
    times = [0.0]
    gap = first_gap
    while len(times) < max_looks and times[-1] < window:
        times.append(round(min(window, times[-1] + gap), 6))
        gap *= 2
    return times


def doubling_backoff(failures: int, first: float, ceiling: float) -> float:
    """Seconds to pause after ``failures`` failures in a row: ``first``, doubling, at most ``ceiling``."""
    return float(min(ceiling, first * 2 ** max(0, failures - 1)))
