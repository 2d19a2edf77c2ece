"""How often to read Slack, and how long to pause after it failed: pure rules, testable without a clock.

Every interval, backoff and failure-counting rule of the package lives here."""

from __future__ import annotations

#: A gate younger than this, or whose thread changed this recently, is read at its poke_interval.
ACTIVE_WINDOW = 600.0
#: Quiet old gates are read at most this many times more slowly than their poke_interval...
MAX_SLOWDOWN = 6.0
#: ...and never less often than this (seconds), so an old gate still answers within minutes.
MAX_INTERVAL = 300.0
#: How long user-group members read from Slack are reused (by every gate of a triggerer loop, or by
#: the pokes of one sensor try).
GROUP_TTL = 300.0
#: Threads are re-read at least this often even when the parent shows no change, so an edited
#: reply (which Slack does not reflect on the parent) is seen.
THREAD_REFRESH = 300.0


#: Gates whose message is older than this read their own thread instead of widening a channel
#: watcher's history read.
HISTORY_HORIZON = 6 * 3600.0
#: How long what Slack said of a user (person, bot, deactivated) is reused by every gate in the loop.
USER_TTL = 900.0
#: How often (seconds) a channel is checked to still exist and not be archived...
CHANNEL_CHECK_INTERVAL = 300.0
#: ...or this many poke_intervals of its most eager gate, if that is sooner.
CHANNEL_CHECK_POKES = 10.0
#: With Socket Mode, events keep the gates' threads up to date; reading Slack on a timer is only a
#: safety net (a missed event, an event Slack gave to another process's connection), no more often
#: than this, and not slowed down for quiet gates: a missed vote is found within
#: max(poke_interval, 60 s). It costs one conversations.history call per channel per minute.
SAFETY_NET_INTERVAL = 60.0
#: Seconds between slack_sdk's Socket Mode pings (a dead connection is replaced after a few missed
#: pongs).
PING_INTERVAL = 5.0
#: Seconds the last holder of a Socket Mode connection waits for clicks in flight before it closes.
CLOSE_GRACE = 10.0
#: How long a triggerer waits for the API server to take a HITL click it forwards (it answers at once).
FORWARD_TIMEOUT = 10.0
#: Slack waits 3 s for the answer to a HITL form's submission (the only answer that can show its invalid
#: inputs); a judgement slower than this answers Slack without them and goes on in the background.
FORM_ANSWER_WITHIN = 2.0
#: Seconds a look for a post reaches back before it was sent, for clocks that disagree with Slack's.
CLOCK_SKEW = 60.0
#: Reschedule mode notes replies newer than one poke_interval plus this many seconds (see
#: ``SlackApprovalSensor._note_uncounted``).
NOTE_GRACE = 5.0
#: Before Airflow 3.3 a waiting gate's trigger is the only one to hear of an answer in Airflow's
#: Required actions: it looks at its HITL request at least this often (seconds; Airflow's own
#: HITLTrigger looks every 5 s). A look is one small read of Airflow's execution API, not of Slack; a
#: gate with a shorter poke_interval looks at that.
HITL_LOOK_INTERVAL = 5.0
#: From Airflow 3.3 Airflow resumes a deferred task answered there itself; its trigger looks only as a
#: safety net (for an answer given while the task was between two waits), this often at most: each
#: open gate's look is its own execution API call, so a triggerer with 1,000 gates makes ~17 a second.
HITL_SAFETY_NET_INTERVAL = 60.0


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


# -- failures in a row and the pauses after them ------------------------------------------------------
#
# Every place that retries Slack after a transient failure (5xx, timeouts, Slack unreachable, 429
# after slack_sdk's retries) counts its failures in one :class:`FailureStreak` and pauses for
# :func:`doubling_backoff` of that count. The numbers differ because what a pause holds up differs:
#
# - a channel watcher's failed round holds up every gate of the channel, so it starts at the most
#   eager gate's poke_interval (at most 5 s) and stays within a few of its poke_intervals (at most
#   120 s): gates notice soon that Slack is back;
# - a trigger's own reads (user groups, ``users.info``) hold up one gate, which reads Slack every
#   poke_interval anyway: it starts at two poke_intervals and stops at :data:`MAX_INTERVAL`, the
#   longest a quiet gate waits between reads;
# - Socket Mode only makes gates faster (they read Slack on their own without it), so opening its
#   connection is retried from 5 s up to :data:`MAX_INTERVAL` too;
# - asking (hooks/asking.py) blocks a worker slot while it waits, so it retries from 1 s up to 15 s, within
#   :data:`ASK_RETRY_WINDOW`.

#: A watcher's pause after a failed round: from this (s), doubling, up to...
WATCHER_BACKOFF_FIRST = 5.0
#: ...this (s)...
WATCHER_BACKOFF_CEILING = 120.0
#: ...but never starting above, nor growing beyond this many times, its gates' shortest poke_interval.
WATCHER_BACKOFF_POKES = 4.0
#: A trigger's pause after its own reads failed: from two poke_intervals, doubling, up to this (s).
TRIGGER_BACKOFF_CEILING = MAX_INTERVAL
#: Socket Mode's pause between attempts to open its connection: from this (s), doubling...
SOCKET_MODE_BACKOFF_FIRST = 5.0
#: ...up to this (s).
SOCKET_MODE_BACKOFF_CEILING = MAX_INTERVAL
#: Seconds a gate keeps trying to ask while Slack fails transiently (5xx, dropped connections,
#: timeouts) before the try gives up (returns False, or fails with ``fail_on_error``)...
ASK_RETRY_WINDOW = 60.0
#: ...pausing this long after the first failure, doubling up to the maximum.
ASK_RETRY_FIRST_PAUSE = 1.0
ASK_RETRY_MAX_PAUSE = 15.0


def doubling_backoff(failures: int, first: float, ceiling: float) -> float:
    """Seconds to pause after ``failures`` failures in a row: ``first``, doubling, at most ``ceiling``."""
    return float(min(ceiling, first * 2 ** max(0, failures - 1)))


def watcher_backoff(failures: int, shortest_poke: float | None) -> float:
    """A channel watcher's pause after ``failures`` failed rounds, for gates reading every
    ``shortest_poke`` seconds at the most (None: no gate left)."""
    poke = WATCHER_BACKOFF_FIRST if shortest_poke is None else shortest_poke
    first = max(0.01, min(WATCHER_BACKOFF_FIRST, poke))
    ceiling = max(first, min(WATCHER_BACKOFF_CEILING, WATCHER_BACKOFF_POKES * poke))
    return doubling_backoff(failures, first, ceiling)


def trigger_backoff(failures: int, poke_interval: float) -> float:
    """A trigger's pause after ``failures`` failures in a row: two poke_intervals, doubling."""
    return doubling_backoff(failures + 1, poke_interval, TRIGGER_BACKOFF_CEILING)


def socket_mode_backoff(failures: int) -> float:
    """Socket Mode's pause after ``failures`` failed attempts in a row to open its connection."""
    return doubling_backoff(failures, SOCKET_MODE_BACKOFF_FIRST, SOCKET_MODE_BACKOFF_CEILING)


def ask_backoff(failures: int) -> float:
    """The asking service's pause after ``failures`` failed attempts in a row to ask."""
    return doubling_backoff(failures, ASK_RETRY_FIRST_PAUSE, ASK_RETRY_MAX_PAUSE)


class FailureStreak:
    """The failures in a row of one failing thing (a watcher's rounds, a gate's reads...), and since
    when; the one counter a retrying place keeps, for its pause and its log."""

    def __init__(self) -> None:
        self.count = 0
        self.since: float | None = None

    def fail(self, now: float) -> int:
        """Count a failure at ``now`` (any clock); the failures in a row so far."""
        if self.since is None:
            self.since = now
        self.count += 1
        return self.count

    def end(self) -> tuple[int, float | None]:
        """A success: the failures it ends and since when they ran (``(0, None)`` if none)."""
        ended = self.count, self.since
        self.count, self.since = 0, None
        return ended

    @property
    def worth_logging(self) -> bool:
        """True for the 1st, 2nd, 4th, 8th... failure in a row: logs say it, and stay short."""
        return self.count > 0 and self.count & (self.count - 1) == 0


def channel_check_every(poke_interval: float) -> float:
    """Seconds between two checks of a channel for gates reading every ``poke_interval`` seconds."""
    return min(CHANNEL_CHECK_INTERVAL, CHANNEL_CHECK_POKES * poke_interval)


def channel_check_due(now: float, poke_interval: float) -> bool:
    """For gates polling alone (poke and reschedule modes, which keep no state between reads): True
    for the read that first passes each :data:`CHANNEL_CHECK_INTERVAL` boundary of the wall clock."""
    if poke_interval >= CHANNEL_CHECK_INTERVAL:
        return True
    return int(now // CHANNEL_CHECK_INTERVAL) != int((now - poke_interval) // CHANNEL_CHECK_INTERVAL)


def hitl_look_every(poke_interval: float, *, airflow_resumes: bool) -> float:
    """Seconds between a trigger's looks at its gate's Airflow HITL request; ``airflow_resumes``: the
    Airflow version resumes an answered deferred task itself (3.3 and later), so the look is a safety
    net, never more often than :data:`HITL_SAFETY_NET_INTERVAL`."""
    if airflow_resumes:
        return max(poke_interval, HITL_SAFETY_NET_INTERVAL)
    return min(poke_interval, HITL_LOOK_INTERVAL)


def safety_net_interval(poke_interval: float) -> float:
    """How often a gate reads Slack on its own while Socket Mode events wake it."""
    return max(poke_interval, SAFETY_NET_INTERVAL)
