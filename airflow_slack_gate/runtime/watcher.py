"""One Slack watcher per (connection, channel) per event loop, shared by every open gate in it.

A triggerer runs all its triggers in one asyncio loop. Instead of each gate polling its own thread
(one ``conversations.replies`` call per gate per interval, which breaks Slack's ~50 calls a minute at
a few dozen gates), gates register here. Each round makes ONE ``conversations.history`` read of the
channel since the oldest open gate; it shows every gate's reactions and its thread's ``reply_count`` /
``latest_reply``. Only threads whose parent changed are read with ``conversations.replies``, and only
gates whose snapshot changed are woken. Gates older than ``pacing.HISTORY_HORIZON`` would make that read
expensive, so they read their own thread instead, rarely (their interval grows while they are quiet).

With Socket Mode, events keep each held gate's snapshot up to date between reads
(:meth:`ChannelWatcher.apply_event`): a new reply or a reaction on the question changes it in memory and
the gate is judged from it as from a read; an event that cannot say enough reads that one gate's
thread. The timer's rounds go on as a safety read, since Slack may give an event to another process,
and an approval judged from events waits for a confirmation: a read of its thread, or the next urgent
history read of its channel, shared by every gate waiting for one (:meth:`ChannelWatcher.confirm_gate`).

The round's history read also shows whether Slack got a watched gate's question twice (a post whose
answer was lost, carried out after the sensor posted it again): the watcher closes such a late copy
with one ``chat.update`` (buttons removed, state ``superseded``). That is the only write a watcher
makes: an idempotent update of a duplicate question, never a vote or an outcome.

Every few minutes the watcher also asks ``conversations.info`` whether the channel is still usable:
Slack keeps serving the history of an archived channel, so without this a gate there would wait for
votes nobody can cast. Transient failures (429 after retries, 5xx, timeouts, Slack unreachable) keep
every gate waiting; each gate's trigger is told about them, so its own task log says what happened.

The loop also keeps, for all its gates, what ``users.info`` said of each voter (:func:`user_kinds`:
only people vote; 15 minutes, bounded) and which vote-like replies were already answered with an
ephemeral note (:func:`send_notes`; a trigger may send notes, it never writes votes or outcomes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_slack_gate.core import pacing
from airflow_slack_gate.core.bucket import ROUTINE, URGENT
from airflow_slack_gate.core.events import READ, UNCHANGED, event_channel, event_messages, thread_after_event
from airflow_slack_gate.core.gate import SentNotes
from airflow_slack_gate.core.messages import duplicate_ask_message
from airflow_slack_gate.core.pacing import (
    THREAD_REFRESH,
    FailureStreak,
    gate_interval,
    replies_fingerprint,
    watcher_backoff,
)
from airflow_slack_gate.core.protocol import ask_metadata, gate_metadata, try_key
from airflow_slack_gate.core.votes import UserKind
from airflow_slack_gate.hooks.errors import SlackGateError, explain
from airflow_slack_gate.hooks.loops import PerLoop
from airflow_slack_gate.hooks.slack import SlackGateHook

Thread = list[dict[str, Any]]


@dataclass
class _Gate:
    """What the watcher knows of one open gate."""

    ts: str
    poke_interval: float
    registered: float = field(default_factory=time.monotonic)
    last_change: float = field(default_factory=time.monotonic)
    next_due: float = 0.0
    replies_seen: tuple | None = None
    #: the fingerprint of the replies as last read from Slack (events change only ``replies_seen``):
    #: while the history shows this one, no reply was added or deleted since that read
    replies_read_as: tuple | None = None
    replies_read: float = 0.0
    thread: Thread = field(default_factory=list)
    #: monotonic time the read behind ``thread`` began: a snapshot read earlier never replaces it
    read_at: float = 0.0
    error: SlackGateError | None = None
    #: a transient failure not yet reported to the trigger (kept even if Slack answered since, so the
    #: trigger's log says it happened however late the trigger runs)
    trouble: SlackGateError | None = None
    #: a round failed since the last snapshot (the watcher counts the failed rounds)
    missed: bool = False
    #: a snapshot published that the trigger has not taken yet
    unread: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    holders: int = 0
    #: Socket Mode events keep the snapshot up to date: the timer read is a safety read, not slowed down
    events: bool = False
    #: monotonic time the last read of Slack published here began (events move ``read_at`` only)
    last_read: float = 0.0
    #: the snapshot is a read of Slack that no event or click has changed since
    confirmed: bool = False
    #: read this gate's own thread at the next round (an event could not say enough, or a confirmation)
    read_alone: bool = False
    #: the trigger waits for a read to confirm its snapshot: wake it after the read even if unchanged
    confirming: bool = False

    def interval(self, now: float) -> float:
        if self.events:
            return self.poke_interval
        return gate_interval(
            self.poke_interval, age=now - self.registered, since_change=now - self.last_change
        )

    def publish(self, thread: Thread, now: float) -> None:
        """Store a fresh snapshot and wake the trigger, unless nothing changed since the last one
        (after failed reads it is woken anyway, so it can say that Slack answers again).

        ``now`` is when the read began; the caller has checked it is not older than :attr:`read_at`.
        """
        recovered, self.missed = self.missed, False
        self.read_at = max(self.read_at, now)
        confirmation, self.confirming = self.confirming, False
        if thread == self.thread and not recovered and not confirmation:
            return
        if self.thread and thread != self.thread:
            self.last_change = now
        self.thread = thread
        self.unread = True
        self.changed.set()

    def fail(self, error: SlackGateError) -> None:
        """A permanent error: the gate ends."""
        self.error = error
        self.changed.set()

    def struggle(self, error: SlackGateError) -> None:
        """A transient error: the gate keeps waiting, but its trigger hears of it."""
        self.missed = True
        self.trouble = error
        self.changed.set()


class GateWatch:
    """A trigger's handle on its gate: wait for the next snapshot of the thread."""

    def __init__(self, gate: _Gate, watcher: ChannelWatcher) -> None:
        self._gate = gate
        self._watcher = watcher

    @property
    def confirmed(self) -> bool:
        """Whether the last snapshot is a read of Slack that no event changed since (see
        :meth:`ChannelWatcher.apply_event`). An approval seen in a snapshot that is not confirmed waits
        for :meth:`confirm`: a reject Slack delivered to another connection may be missing from it.
        Slack's ``hello`` says how many connections the app had when this one opened, but nobody is
        told when another opens later, so no connection can know it gets every event.

        A read confirms as a round does: the question is Slack's copy (its reactions), and the
        replies are read again unless the reply count and latest reply Slack shows are those of the
        last read of the replies (while they are, no reply was added or deleted since; an edit Slack
        does not show there, so it is seen by the read every ``pacing.THREAD_REFRESH``). Replies known
        from events only are always read: a reply added while another was deleted, both given to
        another connection, would leave the count and the latest reply as the events said."""
        return self._gate.confirmed

    def confirm(self) -> None:
        """Read Slack now (:meth:`ChannelWatcher.confirm_gate`); the next snapshot comes after that
        read."""
        self._gate.confirming = True
        self._watcher.confirm_gate(self._gate)

    async def next_thread(self, timeout: float | None) -> Thread | None:
        """The thread (ask message first, then replies) once it changed; None if ``timeout`` passed.

        Raises the :class:`SlackGateError` that ended the gate (token revoked, message deleted...), and
        once per failed round a transient one (``is_permanent`` False: keep waiting, Slack is retried).
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gate.changed.wait(), timeout)
        if self._gate.error is not None:
            raise self._gate.error
        if not self._gate.changed.is_set():
            return None
        if (trouble := self._gate.trouble) is not None:
            self._gate.trouble = None
            if not self._gate.unread:
                self._gate.changed.clear()
            raise trouble  # a snapshot published after it stays for the next call
        self._gate.changed.clear()
        self._gate.unread = False
        return self.latest()

    def latest(self) -> Thread:
        """The last snapshot read (empty before the first read)."""
        return list(self._gate.thread)


class ChannelWatcher:
    """Reads one channel for every gate of one connection in this event loop."""

    def __init__(self, hook: SlackGateHook, channel: str) -> None:
        self.hook = hook
        self.channel = channel
        self.gates: dict[str, _Gate] = {}
        self._new_gate = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_channel_check = 0.0
        self._channel_checks = True
        self._woken = 0.0  # monotonic time of the last wake(); one during a round means read again
        self._closed: set[str] = set()  # late copies of a question already closed (or not closable)
        self._confirmations: dict[str, asyncio.Task[None]] = {}  # old gates' own confirmation reads
        #: recent gates waiting for the next confirmation read of the channel's history, and that read
        self._awaiting_history: dict[str, _Gate] = {}
        self._history_confirmation: asyncio.Task[None] | None = None
        self._history_confirmation_issued = False
        self.failed_rounds = FailureStreak()

    def join(self, ts: str, poke_interval: float, *, events: bool = False) -> GateWatch:
        gate = self.gates.get(ts)
        if gate is None:
            gate = self.gates[ts] = _Gate(ts=ts, poke_interval=poke_interval)
        gate.poke_interval = min(gate.poke_interval, poke_interval)
        gate.holders += 1
        gate.events = gate.events or events
        self._new_gate.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"slack-gate {self.channel}"
            )
        return GateWatch(gate, self)

    def read_gate(self, gate: _Gate) -> None:
        """Read one gate's own thread at once (``conversations.replies``), not the whole channel."""
        gate.read_alone = True
        gate.replies_seen = None
        gate.next_due = min(gate.next_due, time.monotonic())
        self._new_gate.set()

    def apply_event(self, event: Mapping[str, Any], *, retried: bool) -> bool:
        """Bring the snapshot of the gate a Socket Mode event concerns up to date from the event alone
        (:func:`~airflow_slack_gate.core.events.thread_after_event`), or read that gate's thread when
        the event cannot say enough; True when the event concerned a gate held here.

        A snapshot an event changed is no longer confirmed (:attr:`GateWatch.confirmed`): Slack may
        have given an earlier event to another connection of the app. ``retried``: Slack sent it
        again, perhaps after later events: read instead. Slack stays the store: the watcher's reads go
        on as before.
        """
        if event_channel(event) != self.channel:
            return False
        gate = self._gate_of(event_messages(event))
        if gate is None:
            return False
        after = READ if retried else thread_after_event(gate.thread, event)
        if after == READ:
            self.read_gate(gate)
        elif after != UNCHANGED:
            now = time.monotonic()
            gate.confirmed = False
            if gate.replies_seen is not None:
                gate.replies_seen = replies_fingerprint(after[0])
            gate.publish(list(after), now)
        return True

    def _gate_of(self, messages: Sequence[str]) -> _Gate | None:
        """The held gate whose question, or a reply in whose snapshot, is one of ``messages``."""
        for ts in messages:
            if ts in self.gates:
                return self.gates[ts]
        wanted = set(messages)
        for gate in self.gates.values():
            if any(reply.get("ts") in wanted for reply in gate.thread[1:]):
                return gate
        return None

    def held_thread(self, ts: str) -> Thread | None:
        """The snapshot of gate ``ts`` if this watcher holds it and has read it; else None."""
        gate = self.gates.get(ts)
        if gate is None or not gate.thread or gate.error is not None:
            return None
        return list(gate.thread)

    def wake(self) -> None:
        """Read Slack now (e.g. a Socket Mode event said something happened in this channel)."""
        now = self._woken = time.monotonic()
        for gate in self.gates.values():
            gate.next_due = min(gate.next_due, now)
            gate.replies_read = min(gate.replies_read, now - THREAD_REFRESH)
        self._new_gate.set()

    def offer_thread(self, ts: str, thread: Thread, read_at: float) -> bool:
        """Take a thread someone else in this loop just read, so the gate decides without another read.

        The Socket Mode receiver reads a gate's thread to judge a click, then records the click in it;
        offering that thread plus the record saves the watcher a ``conversations.replies`` call (the
        scarce Tier 3 budget) on the path from click to decision. ``thread`` must be what
        conversations.replies returns with ``include_all_metadata`` (ask first, replies oldest first);
        ``read_at`` is the ``time.monotonic()`` at which that read began.

        Slack stays the source of truth: the offer is refused (False) when it is older than the
        snapshot the watcher holds or lacks a reply the watcher saw, and once taken, the watcher's
        next round reads the replies again instead of trusting the offer.
        """
        gate = self.gates.get(ts)
        if gate is None or not thread or thread[0].get("ts") != ts or read_at < gate.read_at:
            return False
        offered = {message.get("ts") for message in thread[1:]}
        if any(message.get("ts") not in offered for message in gate.thread[1:]):
            return False
        gate.replies_seen = None  # the next round reads the replies from Slack
        gate.last_read, gate.confirmed = read_at, True
        gate.publish(list(thread), read_at)
        return True

    def leave(self, ts: str) -> bool:
        """Forget a gate when its last holder leaves; True when the watcher has no gate left."""
        gate = self.gates.get(ts)
        if gate is not None:
            gate.holders -= 1
            if gate.holders <= 0:
                del self.gates[ts]
                if (confirmation := self._confirmations.pop(ts, None)) is not None:
                    confirmation.cancel()
                self._awaiting_history.pop(ts, None)
        shared = self._history_confirmation
        if shared is not None and not self._awaiting_history and not self._history_confirmation_issued:
            shared.cancel()  # still waiting for its turn, and nobody left to confirm
            self._history_confirmation = None
        if not self.gates and self._task is not None:
            self._task.cancel()
            self._task = None
        return not self.gates

    async def _run(self) -> None:
        while self.gates:
            pause = await self._wait_until_due()
            if pause:
                continue
            try:
                await self.read_round(time.monotonic())
                self.failed_rounds.end()
            except SlackGateError as error:
                if error.is_permanent:
                    for gate in list(self.gates.values()):
                        gate.fail(error)
                    return
                failures = self.failed_rounds.fail(time.monotonic())
                for gate in self.gates.values():
                    gate.struggle(error)
                shortest_poke = min((gate.poke_interval for gate in self.gates.values()), default=None)
                pause_for = watcher_backoff(failures, shortest_poke)
                self.hook.log.warning(
                    "Slack watcher of %s: %s (%d failed rounds in a row; next try in %.1fs)",
                    self.channel,
                    error,
                    failures,
                    pause_for,
                )
                await asyncio.sleep(pause_for)

    def confirm_gate(self, gate: _Gate) -> None:
        """Read Slack now to confirm one gate's snapshot, beside any round under way (a round's slow
        history read must not hold up an approval waiting for its confirmation); a failed read is left
        to the rounds.

        A recent gate (see :meth:`_recent`) whose replies are as last read (the vote is a reaction)
        waits for the next urgent read of the channel's history, which confirms every gate waiting when
        it is sent (after its turn in the rate limiter, so under load the confirmations of a channel
        share one read); :meth:`_refresh` reads its replies only if that history shows they changed.
        A gate with replies known from events only (a reply, or a click recorded in the thread) and an
        older gate read their own thread: the history's reply count and latest reply cannot confirm
        what events said of the replies (see :attr:`GateWatch.confirmed`).
        """
        replies_as_read = gate.replies_seen is not None and gate.replies_seen == gate.replies_read_as
        if replies_as_read and self._recent(gate, time.time()):
            self._awaiting_history[gate.ts] = gate
            if self._history_confirmation is None or self._history_confirmation.done():
                loop = asyncio.get_running_loop()
                self._history_confirmation = loop.create_task(self._confirm_from_history())
            return
        gate.read_alone = True  # urgent, and owed by the rounds until a read succeeds
        if gate.ts not in self._confirmations:
            task = asyncio.get_running_loop().create_task(self._confirm(gate))
            self._confirmations[gate.ts] = task
            task.add_done_callback(lambda _: self._confirmations.pop(gate.ts, None))

    async def _confirm(self, gate: _Gate) -> None:
        try:
            await self._refresh(gate, None, time.monotonic())
        except SlackGateError as error:
            self._confirmation_failed(gate, error)

    async def _confirm_from_history(self) -> None:
        """Confirm the recent gates waiting for it with one history read, until none waits: a gate
        that asks while a read is on its way waits for the next, which begins after its event."""
        while self._awaiting_history:
            batch: dict[str, _Gate] = {}
            sent = 0.0

            def on_turn() -> str:
                nonlocal batch, sent
                batch, sent = dict(self._awaiting_history), time.monotonic()
                self._awaiting_history.clear()
                self._history_confirmation_issued = True
                return min(batch)

            self._history_confirmation_issued = False
            try:
                history = await self.hook.aread_history(
                    channel=self.channel,
                    inclusive=True,
                    include_all_metadata=True,
                    priority=URGENT,
                    on_turn=on_turn,
                )
            except SlackGateError as error:
                for gate in batch.values():
                    self._confirmation_failed(gate, error)
                continue
            parents = {message["ts"]: message for message in history}
            for gate in batch.values():
                if self.gates.get(gate.ts) is not gate:
                    continue  # it left meanwhile
                parent = parents.get(gate.ts)
                gate.read_alone = gate.read_alone or parent is None  # not in the history: read alone
                try:
                    await self._refresh(gate, parent, sent)
                except SlackGateError as error:
                    self._confirmation_failed(gate, error)

    def _confirmation_failed(self, gate: _Gate, error: SlackGateError) -> None:
        """A permanent error ends the gate; after a transient one, its trigger hears of it and the
        next round reads the gate (a recent gate with the channel's history, an old one alone)."""
        if error.is_permanent:
            gate.fail(error)
            return
        gate.struggle(error)
        if self._recent(gate, time.time()):
            gate.next_due = min(gate.next_due, time.monotonic())
            self._new_gate.set()
        else:
            self.read_gate(gate)

    @staticmethod
    def _recent(gate: _Gate, wall: float) -> bool:
        """Whether the gate's question is read by the channel's shared history read (younger than
        ``pacing.HISTORY_HORIZON`` at ``wall``, a ``time.time()``)."""
        return wall - float(gate.ts) <= pacing.HISTORY_HORIZON

    async def _wait_until_due(self) -> bool:
        """Sleep until some gate is due or a new gate joins; True if woken early by a new gate."""
        now = time.monotonic()
        due_in = min(gate.next_due for gate in self.gates.values()) - now
        self._new_gate.clear()
        if due_in <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._new_gate.wait(), due_in)
            return True
        return False

    async def read_round(self, now: float) -> None:
        """One round: a shared history read for recent gates, own-thread reads for old due gates.

        When only gates asked to be read alone (:meth:`read_gate`) are due, the round reads just their
        threads: an event about one gate costs one read of that gate, not of the channel.
        """
        due = [gate for gate in self.gates.values() if gate.next_due <= now]
        if due and all(gate.read_alone for gate in due):
            for gate in due:
                await self._refresh(gate, None, now)
                self._schedule(gate, now)
            return
        present = list(self.gates.values())  # a gate that joins while this round reads is read next
        if self._channel_checks and now >= self._next_channel_check:
            await self._check_channel(now)
        wall = time.time()
        recent = [gate for gate in present if self._recent(gate, wall)]
        old_due = [gate for gate in present if gate not in recent and gate.next_due <= now]
        if recent:
            oldest = min(gate.ts for gate in recent)
            history = await self.hook.aread_history(
                channel=self.channel, oldest=oldest, inclusive=True, include_all_metadata=True
            )
            parents = {message["ts"]: message for message in history}
            await self._close_late_copies(recent, parents, history)
            for gate in recent:
                await self._refresh(gate, parents.get(gate.ts), now)
        for gate in old_due:
            await self._refresh(gate, None, now)
        for gate in present:
            self._schedule(gate, now)

    def _schedule(self, gate: _Gate, now: float) -> None:
        """When to read a gate after a round that began at ``now``: at once after a wake-up during the
        round (it may have come after the reads) or while a read it asked for is still owed (an event
        came during the round, so its result was not kept), else after its interval."""
        if self._woken >= now or gate.read_alone:
            gate.next_due = max(now, self._woken)
        else:
            gate.next_due = now + gate.interval(now)

    async def _close_late_copies(
        self, gates: list[_Gate], parents: dict[str, dict[str, Any]], history: Thread
    ) -> None:
        """Close every other open question of a watched gate's try: Slack got it twice, and the gate
        waits on the question its sensor deferred with, so votes on the copy would never count."""
        open_asks: dict[tuple[Any, ...], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
        for message in history:
            payload = gate_metadata(message)
            if payload is not None and payload.get("state") == "open" and message["ts"] not in self._closed:
                open_asks.setdefault(try_key(payload), []).append((message, payload))
        for gate in gates:
            asked = parents.get(gate.ts)
            identity = gate_metadata(asked) if asked else None
            if not asked or not identity:
                continue
            for message, payload in open_asks.get(try_key(identity), []):
                if message["ts"] != gate.ts and message.get("bot_id") == asked.get("bot_id"):
                    await self._close_copy(message, payload, gate.ts)

    async def _close_copy(self, message: dict[str, Any], payload: dict[str, Any], kept: str) -> None:
        update = duplicate_ask_message(message.get("blocks") or [])
        if update is None:
            self._closed.add(message["ts"])
            return
        try:
            await self.hook.acall(
                "chat.update",
                channel=self.channel,
                ts=message["ts"],
                text=update["text"],
                blocks=update["blocks"],
                metadata=ask_metadata(payload, "superseded"),
            )
        except SlackGateError as error:
            if error.is_permanent:
                self._closed.add(message["ts"])
            self.hook.log.warning(
                "Slack watcher of %s: could not close %s, a late copy of question %s: %s",
                self.channel,
                message["ts"],
                kept,
                error,
            )
            return
        self._closed.add(message["ts"])
        self.hook.log.warning(
            "Slack watcher of %s: Slack got question %s twice; closed the late copy %s.",
            self.channel,
            kept,
            message["ts"],
        )

    async def _check_channel(self, now: float) -> None:
        """Raise ``is_archived`` (permanent) if the channel was archived; Slack still serves its history.

        One ``conversations.info`` call per channel every ``pacing.CHANNEL_CHECK_INTERVAL``, whatever the
        number of gates. A token without the ``channels:read``/``groups:read`` scope cannot check:
        the watcher says so once and reads on (the first write after the decision would fail).
        """
        poke = min(
            (gate.poke_interval for gate in self.gates.values()), default=pacing.CHANNEL_CHECK_INTERVAL
        )
        self._next_channel_check = now + pacing.channel_check_every(poke)
        unchecked = await self.hook.acheck_not_archived(self.channel)
        if unchecked is None:
            return
        if unchecked.error_code == "missing_scope":
            self._channel_checks = False
            self.hook.log.warning(
                "Slack watcher of %s cannot notice an archived channel: %s", self.channel, unchecked
            )
            return
        # A transient failure proves nothing: check again next round; the history read decides
        # whether this round failed.
        self._next_channel_check = now

    async def _refresh(self, gate: _Gate, parent: dict[str, Any] | None, now: float) -> None:
        """Bring one gate's snapshot up to date, reading its replies only when they may have changed.

        The ask message in the snapshot is always the history's copy when there is one, so a snapshot
        changes only when Slack's data did, never because two methods render a message differently.
        """
        replies_read = True
        try:
            if parent is None:  # a read an event or a confirmation asked for waits on a vote: urgent
                thread = await self._read_thread(gate, URGENT if gate.read_alone else ROUTINE)
            elif not parent.get("reply_count"):
                thread = [parent]
                gate.replies_read = now  # no replies: none to have been edited either
            elif self._replies_may_have_changed(gate, parent, now) or (
                gate.confirming and replies_fingerprint(parent) != gate.replies_read_as
            ):
                # new replies (a vote, likely) go before routine reads; a periodic refresh does not
                urgent = gate.confirming or replies_fingerprint(parent) != gate.replies_seen
                thread = [parent, *(await self._read_thread(gate, URGENT if urgent else ROUTINE))[1:]]
                gate.replies_read = now
            else:
                thread, replies_read = [parent, *gate.thread[1:]], False
        except SlackGateError as error:
            if not error.is_permanent:
                raise
            gate.fail(error)
            return
        if now < gate.read_at:
            return  # a fresher thread came while this round read: keep it (a wanted read stays wanted)
        gate.replies_seen = replies_fingerprint(thread[0])
        if replies_read:
            gate.replies_read_as = gate.replies_seen
        # Replies known from events only are not confirmed by a history that shows what they lead one
        # to expect: a reply added while another was deleted, both given to another connection, leave
        # the reply count and the latest reply as the events said.
        gate.confirmed = gate.replies_seen == gate.replies_read_as
        gate.last_read, gate.read_alone = now, False
        gate.publish(thread, now)

    async def _read_thread(self, gate: _Gate, priority: int = ROUTINE) -> Thread:
        thread = await self.hook.aread_thread(channel=self.channel, ts=gate.ts, priority=priority)
        if not thread:
            raise explain("thread_not_found", conn_id=self.hook.slack_conn_id, method="conversations.replies")
        return thread

    @staticmethod
    def _replies_may_have_changed(gate: _Gate, parent: dict[str, Any], now: float) -> bool:
        if gate.replies_seen is None or now - gate.replies_read >= THREAD_REFRESH:
            return True
        return replies_fingerprint(parent) != gate.replies_seen


_WATCHERS: PerLoop[dict[tuple[str, str], ChannelWatcher]] = PerLoop(dict)


@contextlib.asynccontextmanager
async def watching(
    conn_id: str, channel: str, ts: str, poke_interval: float, *, events: bool = False
) -> AsyncIterator[GateWatch]:
    """Register a gate with the loop's watcher of (``conn_id``, ``channel``) for the block's duration.

    ``events``: Socket Mode events keep the gate's snapshot up to date (:func:`apply_event`), and its
    ``poke_interval`` is the safety read's, kept even while the gate is quiet.
    Leaving the block (decision, timeout, cancellation, triggerer shutdown) leaves no work behind.
    """
    watchers = _WATCHERS.get()
    key = (conn_id, channel)
    watcher = watchers.get(key)
    if watcher is None:
        watcher = watchers[key] = ChannelWatcher(SlackGateHook(slack_conn_id=conn_id), channel)
    watch = watcher.join(ts, poke_interval, events=events)
    try:
        yield watch
    finally:
        if watcher.leave(ts) and watchers.get(key) is watcher:
            del watchers[key]


def wake_channel(channel: str, conn_id: str | None = None) -> bool:
    """Make the running loop's watchers of ``channel`` read Slack now, not at their next round.

    For event sources (Socket Mode, the HTTP interactions endpoint): an event only says *that*
    something changed; the watcher still reads Slack, so nothing depends on receiving the event.
    Returns True when some watcher holds gates in that channel.
    """
    watchers = _WATCHERS.peek() or {}
    woken = False
    for (watcher_conn, watcher_channel), watcher in watchers.items():
        if watcher_channel == channel and conn_id in (None, watcher_conn):
            watcher.wake()
            woken = True
    return woken


def apply_event(
    conn_ids: Collection[str],
    event: Mapping[str, Any],
    *,
    retried: bool = False,
) -> bool:
    """Hand a Socket Mode event to the running loop's watchers of its channel for the connections in
    ``conn_ids`` (those that share the app-level token it came in on; see
    :meth:`ChannelWatcher.apply_event` for the rest). True when it concerned a gate held here."""
    channel = event_channel(event)
    watchers = _WATCHERS.peek() or {}
    applied = False
    for (watcher_conn, watcher_channel), watcher in watchers.items():
        if watcher_channel == channel and watcher_conn in conn_ids:
            applied = watcher.apply_event(event, retried=retried) or applied
    return applied


def held_thread(conn_id: str, channel: str, ts: str) -> Thread | None:
    """The snapshot of gate ``ts`` the running loop's watcher of (``conn_id``, ``channel``) holds, if
    it holds the gate and has read it (see :meth:`ChannelWatcher.held_thread`)."""
    watcher = (_WATCHERS.peek() or {}).get((conn_id, channel))
    return None if watcher is None else watcher.held_thread(ts)


def reopen_events(conn_ids: Collection[str]) -> None:
    """A Socket Mode connection (re)opened: events may have been missed meanwhile, so the running
    loop's watchers of ``conn_ids`` read every gate's thread now (the first look after a (re)connect)."""
    for (watcher_conn, _), watcher in (_WATCHERS.peek() or {}).items():
        if watcher_conn in conn_ids:
            watcher.wake()


def offer_thread(conn_id: str, channel: str, ts: str, thread: Thread, read_at: float) -> bool:
    """Offer a fresh read of gate ``ts`` to the running loop's watcher of (``conn_id``, ``channel``).

    True when that watcher holds the gate and took the thread (see :meth:`ChannelWatcher.offer_thread`);
    False otherwise, and the caller should :func:`wake_channel` as before.
    """
    watcher = (_WATCHERS.peek() or {}).get((conn_id, channel))
    return watcher is not None and watcher.offer_thread(ts, thread, read_at)


def open_gates() -> Sequence[tuple[str, str, str]]:
    """(connection, channel, ts) of every gate the running loop's watchers hold (for tests and metrics)."""
    watchers = _WATCHERS.peek() or {}
    return [(conn, channel, ts) for (conn, channel), watcher in watchers.items() for ts in watcher.gates]


_USERS: PerLoop[OrderedDict[tuple[str, str], tuple[float, UserKind]]] = PerLoop(OrderedDict)
_USER_LOCKS: PerLoop[dict[tuple[str, str], asyncio.Lock]] = PerLoop(dict)
#: How many users the loop remembers (the least recently used are forgotten first).
USER_CACHE_SIZE = 10_000


async def user_kinds(hook: SlackGateHook, users: Iterable[str]) -> dict[str, UserKind]:
    """What each user is (``users.info`` via :meth:`SlackGateHook.auser_kinds`), read once per
    ``pacing.USER_TTL`` per loop for all gates; gates asking about one user at once wait for one call.

    A failure is not remembered: it is raised (the caller counts none of these votes, keeps waiting
    and asks again), and the next call asks Slack again.
    """
    cache = _USERS.get()
    locks = _USER_LOCKS.get()
    kinds: dict[str, UserKind] = {}
    for user in sorted(set(users)):
        key = (hook.slack_conn_id, user)
        lock = locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                cached = cache.get(key)
                if cached is None or time.monotonic() - cached[0] > pacing.USER_TTL:
                    cached = cache[key] = (time.monotonic(), (await hook.auser_kinds([user]))[user])
                    while len(cache) > USER_CACHE_SIZE:
                        cache.popitem(last=False)
                cache.move_to_end(key)
                kinds[user] = cached[1]
        finally:
            if not lock.locked() and locks.get(key) is lock:
                del locks[key]
    return kinds


async def people_among(hook: SlackGateHook, users: Collection[str]) -> frozenset[str]:
    """The users Slack confirms are people (not bots, not deactivated), via :func:`user_kinds`."""
    if not users:
        return frozenset()
    kinds = await user_kinds(hook, users)
    return frozenset(user for user, kind in kinds.items() if kind == "person")


_NOTES: PerLoop[SentNotes] = PerLoop(SentNotes)


async def send_notes(
    hook: SlackGateHook, channel: str, gate_ts: str, notes: Iterable[tuple[str, str, str]]
) -> None:
    """Tell each ``(user, reply ts, note)`` ephemerally, in the gate's thread, why their reply did not
    count; each reply once per loop (after a triggerer restart a note may come once more).

    A note is neither a vote nor state: a trigger may send it (it never writes votes or outcomes), and
    a failure to send one is logged and changes nothing for the gate.
    """
    sent = _NOTES.get()
    for user, reply_ts, text in notes:
        if not sent.first_time(channel, reply_ts):
            continue
        try:
            await hook.acall("chat.postEphemeral", channel=channel, user=user, text=text, thread_ts=gate_ts)
        except SlackGateError as error:
            hook.log.warning("Could not tell %s why their reply %s did not count: %s", user, reply_ts, error)
