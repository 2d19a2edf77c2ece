"""SlackApprovalTrigger: waits in the triggerer until people decide in Slack, or the deadline passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from functools import cached_property
from typing import Any
from uuid import UUID

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_slack_gate.core import gate as gate_rules
from airflow_slack_gate.core.pacing import FailureStreak, hitl_look_every, trigger_backoff
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.reminders import FollowUp, follow_up_replies, follow_ups_due, next_follow_up_at
from airflow_slack_gate.hooks.asking import posting_hook
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.sessions import holding_shared_sessions
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.hooks.usergroups import group_members
from airflow_slack_gate.runtime.socket_mode import socket_mode
from airflow_slack_gate.runtime.watcher import people_among, send_notes, watching

#: Airflow option ``[slack_gate] deferral_settle_seconds`` and its default: see :meth:`_settle`.
SETTLE_OPTION = ("slack_gate", "deferral_settle_seconds")
DEFAULT_SETTLE_SECONDS = 10.0


def deferral_settle_seconds() -> float:
    """How long after it starts a trigger in a triggerer holds its event (``[slack_gate]
    deferral_settle_seconds``, 10 by default; 0 turns the hold off)."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf
    return max(0.0, conf.getfloat(*SETTLE_OPTION, fallback=DEFAULT_SETTLE_SECONDS))


def _airflow_resumes_hitl_answers() -> bool:
    """Airflow 3.3 and later resume a deferred task whose HITL request is answered (the core API's
    update_hitl_detail); before, nobody does."""
    import airflow
    from packaging.version import Version

    return Version(airflow.__version__).release >= (3, 3)


class SlackApprovalTrigger(BaseTrigger):
    """
    Read one ask message's thread and reactions until the gate's rules decide or the deadline passes.

    The trigger reads Slack and never writes a vote or an outcome, so a triggerer restart that
    re-creates it from :meth:`serialize` is harmless; votes cast while no trigger ran are still found,
    because every read covers the whole thread. Its writes change no vote and no outcome: the shared
    channel watcher closes a late duplicate of the gate's question (idempotent; see
    :mod:`airflow_slack_gate.runtime.watcher`), and it sends an ephemeral note to a person whose reply looked
    like a vote but did not count (a repeat after a restart or a failure to send changes nothing). It
    posts the gate's reminders (``remind_after``) and escalation announcement, each once: the thread is
    read first, and a reply of the gate's own bot carrying the same follow-up metadata means it was
    posted already (:mod:`airflow_slack_gate.core.reminders`).
    Before a vote counts, ``users.info`` confirms its caster is a person (cached per loop); a vote
    nobody could check does not count, and the gate keeps waiting. Its kwargs hold no secret: the
    token stays in the Airflow connection.

    While it waits, the trigger holds the triggerer's Socket Mode connection of the connection's
    ``app_token`` (one per app token per triggerer, shared by every gate; none without an app token):
    button clicks are recorded in the gate's thread, and message / reaction events change the thread it
    judges in memory, so a vote usually costs no read of Slack; an approval judged from events is first
    confirmed by a read (its thread after a reply or click, else its channel's history, shared with the
    channel's other gates waiting for one), so that a reject Slack gave to another connection still
    wins. It reads Slack on its own only as a safety net, every ``max(poke_interval, 60)`` seconds.

    :param slack_conn_id: Airflow connection of type ``slack_gate`` or ``slack``.
    :param channel: Channel ID of the ask message.
    :param ts: The ask message's ts.
    :param policy: :meth:`ApprovalPolicy.to_dict` of the gate's rules (user approvers only).
    :param approver_groups: User-group IDs whose members may also vote, expanded when the trigger starts.
    :param deadline: Unix time after which the gate times out; None waits forever.
    :param poke_interval: Seconds between reads.
    :param permalink: The ask message's URL, echoed back in the event.
    :param share_reads: Deprecated and ignored: the trigger always reads through the loop's shared
        channel watcher. Accepted so that a trigger serialized by an older version still starts.
    :param remind_after: Seconds after the ask at which to remind the approvers who have not voted yet
        (see :mod:`airflow_slack_gate.core.reminders`).
    :param escalation_groups: User-group IDs of ``escalate_to`` (the policy's ``escalate_after`` and
        user IDs say the rest), expanded when the trigger starts.
    :param hitl_ti_id: Airflow's id of the try whose HITL request (the gate in Airflow's Required
        actions, ``airflow_ui=True``) the trigger also looks at: an answer there ends the wait with an
        event shaped like Airflow's own HITL resume payload, and the worker counts it as a vote. The
        look reads Airflow's row of this try only, and writes nothing. ``None``: Slack only.
    """

    def __init__(
        self,
        *,
        slack_conn_id: str,
        channel: str,
        ts: str,
        policy: dict[str, Any],
        approver_groups: list[str] | None = None,
        deadline: float | None = None,
        poke_interval: float = 30.0,
        permalink: str = "",
        share_reads: bool | None = None,  # deprecated, ignored (see the class docstring)
        hitl_ti_id: str | None = None,
        remind_after: list[float] | None = None,
        escalation_groups: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.slack_conn_id = slack_conn_id
        self.gate = gate_rules.GateRef(channel=channel, ts=ts, permalink=permalink)
        self.policy = policy
        self.approver_groups = list(approver_groups or [])
        self.deadline = deadline
        self.poke_interval = poke_interval
        self.hitl_ti_id = hitl_ti_id
        self.remind_after = [float(offset) for offset in remind_after or ()]
        self.escalation_groups = list(escalation_groups or [])
        #: reminders and announcements this trigger posted (Slack's thread says so for the others)
        self._posted_follow_ups: set[str] = set()
        #: the gate's failed reads in a row (the watcher's rounds it heard of, and its own reads)
        self._trouble = FailureStreak()
        #: users Slack confirmed as people during this run (what the deadline decides on if Slack fails)
        self._known_people: frozenset[str] = frozenset()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "slack_conn_id": self.slack_conn_id,
                "channel": self.gate.channel,
                "ts": self.gate.ts,
                "policy": self.policy,
                "approver_groups": self.approver_groups,
                "deadline": self.deadline,
                "poke_interval": self.poke_interval,
                "permalink": self.gate.permalink,
                "hitl_ti_id": self.hitl_ti_id,
                "remind_after": self.remind_after,
                "escalation_groups": self.escalation_groups,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        async with holding_shared_sessions():
            hook = SlackGateHook(slack_conn_id=self.slack_conn_id)
            async with socket_mode(hook) as listener:  # with an app_token: clicks, instant wake-ups
                poke = self.poke_interval if listener is None else listener.poke_interval(self.poke_interval)
                event = await self._first_event(
                    self._wait_with_watcher(hook, poke, events=listener is not None)
                )
        await self._settle(started)
        yield event

    async def _first_event(self, slack: Coroutine[Any, Any, TriggerEvent]) -> TriggerEvent:
        """The event of the Slack wait, or of an answer in Airflow's Required actions if that comes first."""
        if self.hitl_ti_id is None:
            return await slack
        slack_wait = asyncio.ensure_future(slack)
        airflow_wait = asyncio.ensure_future(self._wait_for_airflow_answer())
        waits = [slack_wait, airflow_wait]
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if slack_wait in done:
                return slack_wait.result()
            try:
                return airflow_wait.result()
            except Exception as error:  # never ends the gate: Slack answers still count
                self.log.warning(
                    "Gate %s: stopped looking at Airflow's Required actions: %s", self.gate.ts, error
                )
                return await slack_wait
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def _wait_for_airflow_answer(self) -> TriggerEvent:
        """Look at this try's HITL request until it holds an answer; then an event of the same shape as
        Airflow's own resume payload (``HITLDetail.as_resume_event_payload``), which Airflow 3.3 sends
        the task by itself, and nothing before 3.3 does. The worker judges the answer; this only reads.
        A look that fails never ends the gate: its votes in Slack still count, and it looks again."""
        from airflow.sdk.execution_time.hitl import get_hitl_detail_content_detail
        from asgiref.sync import sync_to_async

        ti_id = UUID(str(self.hitl_ti_id))
        failures = FailureStreak()
        look_every = hitl_look_every(self.poke_interval, airflow_resumes=_airflow_resumes_hitl_answers())
        while True:
            pause = look_every
            try:
                detail = await sync_to_async(get_hitl_detail_content_detail)(ti_id=ti_id)
                if detail is None:  # dag.test() runs triggers without the triggerer that serves the read
                    raise RuntimeError("Airflow served no HITL read here (dag.test() does not)")
                if getattr(detail, "error", None) is not None:
                    raise RuntimeError(f"Airflow refused the read: {detail!r}")
            except Exception as error:  # anything Airflow's comms raise: look again later
                failures.fail(time.monotonic())
                if failures.worth_logging:
                    self.log.warning(
                        "Gate %s: cannot read its request in Airflow's Required actions (%d failed looks in "
                        "a row); Slack answers still count: %s",
                        self.gate.ts,
                        failures.count,
                        error,
                    )
                pause = trigger_backoff(failures.count, look_every)
            else:
                failures.end()
                chosen = getattr(detail, "chosen_options", None)
                if getattr(detail, "response_received", False) and chosen:
                    user = getattr(detail, "responded_by_user", None)
                    self.log.info("Gate %s: answered in Airflow's Required actions", self.gate.ts)
                    return TriggerEvent(
                        {
                            "chosen_options": list(chosen),
                            "params_input": dict(getattr(detail, "params_input", None) or {}),
                            "responded_at": detail.responded_at,
                            "responded_by_user": {"id": user.id, "name": user.name} if user else None,
                            "timedout": False,
                        }
                    )
            await asyncio.sleep(pause)

    async def _settle(self, started: float) -> None:
        """In a triggerer, hold an event found in the trigger's first seconds until they have passed.

        Airflow 3.3 (apache/airflow#67287, #72716) reports the exit of the worker that deferred the task
        to the scheduler a moment after the deferral; if the trigger has already sent the task back to
        the queue by then (a gate decided by votes already in Slack, or someone who answered at once),
        the scheduler takes it for a task killed from outside and fails it. ``dag.test()`` runs triggers
        in-process (no ``trigger_id``), where that cannot happen, so they are never held.
        """
        if self.trigger_id is None:
            return
        hold = deferral_settle_seconds() - (time.monotonic() - started)
        if hold > 0:
            self.log.info(
                "Gate %s: answered at once; handing the answer to Airflow in %.1fs, once it has seen the "
                "task defer ([slack_gate] deferral_settle_seconds).",
                self.gate.ts,
                hold,
            )
            await asyncio.sleep(hold)

    async def _wait_with_watcher(
        self, hook: SlackGateHook, poke_interval: float, *, events: bool = False
    ) -> TriggerEvent:
        """Let the loop's channel watcher read Slack for this gate and every other in the channel.

        Transient failures (Slack unreachable, 5xx, timeouts, 429 after retries) never end the wait:
        the watcher retries, and this trigger's log says when Slack failed and when it answered again.
        At the deadline the gate decides on what it last saw, even while Slack is still failing.
        """
        async with watching(
            self.slack_conn_id, self.gate.channel, self.gate.ts, poke_interval, events=events
        ) as watch:
            look_again_in: float | None = None  # who voted could not be looked up: judge the thread again
            while True:
                try:
                    policy = await self._resolve_policy(hook)
                except SlackGateError as error:
                    if error.is_permanent:
                        return self._error_event(error)
                    self._note_trouble(error)
                    if self._expired():
                        return self._timed_out_unread()
                    await asyncio.sleep(self._backoff())
                    continue
                wait = self._time_left()
                if look_again_in is not None:
                    wait = look_again_in if wait is None else min(wait, look_again_in)
                if (follow_up_in := self._next_follow_up_in()) is not None:
                    wait = follow_up_in if wait is None else min(wait, follow_up_in)
                try:
                    thread = await watch.next_thread(wait)
                except SlackGateError as error:
                    if error.is_permanent:
                        return self._error_event(error)
                    self._note_trouble(error)
                    if not self._expired():
                        continue
                    thread = None
                if (
                    thread is None
                    and not self._expired()
                    and (look_again_in is not None or self._follow_up_due())
                ):
                    thread = watch.latest() or None
                look_again_in = None
                read = thread is not None  # Slack answered (the watcher's read or the last one seen)
                expired = self._expired()
                if thread is None and expired:
                    try:
                        thread = await self._last_look(hook, watch.latest())
                    except SlackGateError as error:
                        return self._error_event(error)
                if thread is None:
                    continue
                try:
                    people = await self._people(hook, thread, policy)
                except SlackGateError as error:
                    if error.is_permanent:
                        return self._error_event(error)
                    self._note_trouble(error)
                    if not expired:
                        look_again_in = self._backoff()
                        continue
                    people = self._known_people  # at the deadline, votes nobody could check do not count
                else:
                    if read:
                        self._note_recovery()  # the thread was read and its voters checked
                if payload := gate_rules.read_step(thread, self.gate, policy, expired=expired, people=people):
                    if read and not watch.confirmed and gate_rules.approved(payload):
                        watch.confirm()  # events built this snapshot: a reject may have gone elsewhere
                        continue
                    return self._event(payload)
                await self._note_uncounted(hook, thread, policy, people)
                if payload := await self._follow_up(hook, policy):
                    return self._event(payload)

    async def _people(
        self, hook: SlackGateHook, thread: list[dict[str, Any]], policy: ApprovalPolicy
    ) -> frozenset[str]:
        """Who of the users whose votes could count Slack confirms as people (cached per loop)."""
        people = await people_among(hook, gate_rules.voters_to_check(thread, self.gate, policy))
        self._known_people |= people
        return people

    async def _note_uncounted(
        self,
        hook: SlackGateHook,
        thread: list[dict[str, Any]],
        policy: ApprovalPolicy,
        people: frozenset[str],
    ) -> None:
        """Tell the authors of replies that look like votes but do not count why (ephemeral, once)."""
        notes = gate_rules.uncounted_replies(thread, self.gate, policy, people=people)
        if notes:
            await send_notes(hook, self.gate.channel, self.gate.ts, notes)

    # -- reminders and escalation ---------------------------------------------------------------------

    def _next_follow_up_in(self) -> float | None:
        """Seconds until the next reminder or escalation is due (``None``: none left); a poke interval
        while one is due but not posted yet (a post failed, or a restarted trigger has not looked)."""
        if self._follow_up_due() and not self._expired():
            return self.poke_interval
        at = next_follow_up_at(
            ask_ts=self.gate.ts,
            remind_after=self.remind_after,
            escalate_after=self._escalate_after,
            now=time.time(),
        )
        return None if at is None else max(0.0, at - time.time())

    def _follow_up_due(self, posted: frozenset[str] = frozenset()) -> list[FollowUp]:
        return follow_ups_due(
            ask_ts=self.gate.ts,
            remind_after=self.remind_after,
            escalate_after=self._escalate_after,
            now=time.time(),
            posted=posted | self._posted_follow_ups,
        )

    @cached_property
    def _poster(self) -> SlackGateHook:
        """Posts reminders: its client retries only 429s, never a post whose answer was lost."""
        return posting_hook(self.slack_conn_id)

    @property
    def _escalate_after(self) -> float | None:
        return self.policy.get("escalate_after")

    async def _follow_up(self, hook: SlackGateHook, policy: ApprovalPolicy) -> dict[str, Any] | None:
        """Post the reminder or escalation announcement that is due, once; the event payload instead
        when the thread, read again before posting, shows the gate decided.

        Nothing is posted when the thread already holds a reply of the gate's own bot with the same
        key (:func:`~airflow_slack_gate.core.protocol.posted_follow_ups`), when the gate is decided,
        or past its deadline. The post is not retried blindly (its answer may be lost after Slack
        posted it): a failure is logged, and the next try, a poke interval later, reads the thread
        first.
        """
        if self._expired() or not self._follow_up_due():
            return None
        try:
            thread = await hook.aread_thread(channel=self.gate.channel, ts=self.gate.ts)
            self._posted_follow_ups |= gate_rules.follow_ups_in_thread(thread, self.gate)
            if not (due := self._follow_up_due()):
                return None
            people = await self._people(hook, thread, policy)
            decision = gate_rules.decide_thread(thread, self.gate, policy, people=people)
            if decision.is_final:
                return gate_rules.event_payload("decided", self.gate, decision)
            if self._expired():
                return None
            approvers, escalated = await self._named_voters(hook, policy)
            replies = follow_up_replies(
                due,
                ask_ts=self.gate.ts,
                policy=policy,
                decision=decision,
                approvers=approvers,
                escalated=escalated,
                now=time.time(),
                deadline=self.deadline,
            )
            for reply in replies:
                await self._poster.acall(
                    "chat.postMessage",
                    channel=self.gate.channel,
                    thread_ts=self.gate.ts,
                    text=reply.text,
                    metadata=reply.metadata,
                )
                self._posted_follow_ups.add(reply.follow_up.key)
                self.log.info("Gate %s: posted %s", self.gate.ts, reply.follow_up.key)
        except SlackGateError as error:
            self.log.warning(
                "Gate %s: could not post a reminder now, trying again later: %s", self.gate.ts, error
            )
        return None

    async def _named_voters(
        self, hook: SlackGateHook, policy: ApprovalPolicy
    ) -> tuple[
        tuple[frozenset[str], dict[str, frozenset[str]]], tuple[frozenset[str], dict[str, frozenset[str]]]
    ]:
        """``(users, {group: members})`` of the approvers and of ``escalate_to``, as the DAG named them."""
        base = ApprovalPolicy.from_dict(self.policy)
        approver_groups = {group: await group_members(hook, [group]) for group in self.approver_groups}
        escalation_groups = {group: await group_members(hook, [group]) for group in self.escalation_groups}
        return (base.approvers or frozenset(), approver_groups), (base.escalate_to, escalation_groups)

    async def _last_look(self, hook: SlackGateHook, latest: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """At the deadline, read the thread once more: a vote already in Slack wins over the timeout."""
        try:
            return await hook.aread_thread(channel=self.gate.channel, ts=self.gate.ts)
        except SlackGateError as error:
            if error.is_permanent:
                raise
            self.log.warning("Last read at the deadline failed, deciding on the last one seen: %s", error)
            return latest

    def _backoff(self) -> float:
        """Pause after the failed reads in a row so far: doubling, never past the deadline."""
        return self._pause(trigger_backoff(self._trouble.count, self.poke_interval))

    def _timed_out_unread(self) -> TriggerEvent:
        """The deadline passed while Slack failed before the approvers could be known: a timeout."""
        self.log.warning(
            "Gate %s: the deadline passed while Slack could not be read; reporting a timeout.", self.gate.ts
        )
        return self._event(gate_rules.event_payload("timed_out", self.gate, gate_rules.NO_DECISION))

    def _note_trouble(self, error: SlackGateError) -> None:
        """Count a transient failure, and log the first, then the 2nd, 4th, 8th... in a row."""
        failures = self._trouble.fail(time.time())
        if self._trouble.worth_logging:
            self.log.warning(
                "Gate %s: Slack could not be read (%d failed reads in a row, for %.0fs); still waiting, "
                "nothing is lost (votes stay in Slack): %s",
                self.gate.ts,
                failures,
                time.time() - (self._trouble.since or time.time()),
                error,
            )

    def _note_recovery(self) -> None:
        failures, since = self._trouble.end()
        if since is not None:
            self.log.info(
                "Gate %s: Slack answers again after %d failed reads (%.0fs); reading on.",
                self.gate.ts,
                failures,
                time.time() - since,
            )

    def _event(self, payload: dict[str, Any]) -> TriggerEvent:
        self.log.info("Gate %s: %s", self.gate.ts, payload["status"])
        return TriggerEvent(payload)

    def _error_event(self, error: SlackGateError) -> TriggerEvent:
        self.log.error("%s", error)
        return TriggerEvent(
            gate_rules.error_payload(self.gate, error=str(error), error_code=error.error_code)
        )

    async def _resolve_policy(self, hook: SlackGateHook) -> ApprovalPolicy:
        policy = ApprovalPolicy.from_dict(self.policy)
        if self.approver_groups:
            policy = gate_rules.with_group_members(policy, await group_members(hook, self.approver_groups))
        if self.escalation_groups:
            members = await group_members(hook, self.escalation_groups)
            policy = gate_rules.with_escalation_members(policy, members)
        return policy

    def _expired(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def _time_left(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.time())

    def _pause(self, seconds: float) -> float:
        """Sleep no longer than until the deadline, so the timeout is reported on time."""
        if self.deadline is None:
            return seconds
        return max(0.0, min(seconds, self.deadline - time.time()))
