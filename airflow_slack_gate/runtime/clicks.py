"""What a click on a gate's button does, wherever Slack delivered it (Socket Mode or the Request URL).

The receiver reads the gate's thread (one ``conversations.replies``) and judges the click
(:func:`judge_click`, pure) by the gate's own rules, which the ask's message metadata carries
(:func:`~airflow_slack_gate.core.protocol.ask_rules`; only the gate's bot can write it), never by anything the
click carries. Then it does one thing through Slack:

- **record** the vote: a thread reply by the gate's bot carrying ``airflow_slack_gate_vote`` message
  metadata. Slack gives an event to only one of an app's connections, so the vote must live in Slack,
  where every triggerer (and the worker) reads it; only the bot's own messages count, so nobody can
  forge one. A click is recorded once: its record names it (``click_id``, from Slack's ``action_ts``)
  and the receiver posts none when the thread it just read has one, whichever process posted it.
- **open the reason modal** (``views.open`` with the click's ``trigger_id``) for a Reject click; its
  submission is the vote.
- **tell** the person, ephemerally (``chat.postEphemeral``), why nothing changed: not an approver,
  cannot approve their own request, the question is superseded or already decided, or the message is
  no open question of this bot's. Such a click never shows in the thread.
- **ignore** clicks on messages that are not this bot's, and repeated deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from airflow_slack_gate.core import pacing
from airflow_slack_gate.core.gate import (
    GateRef,
    split_thread,
    voters_to_check,
    with_escalation_members,
    with_group_members,
)
from airflow_slack_gate.core.messages import (
    ANSWER_BLOCK,
    OUTCOMES,
    already_decided_text,
    before_escalation_text,
    not_a_voter_text,
    not_an_open_question_text,
    reason_modal,
    vote_record_text,
)
from airflow_slack_gate.core.payloads import Click, HITLClick, HITLFormSubmission
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import (
    VOTE_EVENT_TYPE,
    AskRules,
    ask_rules,
    gate_metadata,
    recorded_votes,
    vote_record_metadata,
)
from airflow_slack_gate.core.votes import decide, escalation_at, why_not_voter
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.hooks.usergroups import group_members
from airflow_slack_gate.runtime.hitl import HITLAnswerer, handle_hitl_click, tell_invalid_input
from airflow_slack_gate.runtime.watcher import (
    apply_event,
    held_thread,
    offer_thread,
    people_among,
    wake_channel,
)

log = logging.getLogger(__name__)

Action = Literal["record", "open_modal", "tell", "ignore"]
#: How many handled click ids a handler remembers, to drop repeated deliveries without reading Slack.
REMEMBERED_CLICKS = 1000


@dataclass(frozen=True)
class Verdict:
    """What to do with a click: ``action``, the ephemeral ``text`` for ``tell``, and ``why`` (for logs)."""

    action: Action
    why: str
    text: str | None = None
    #: a HITL form's inputs that are not valid (``block_id``, why): the modal shows them
    errors: tuple[tuple[str, str], ...] = ()


def click_rules(parent: Mapping[str, Any]) -> AskRules | None:
    """The gate's rules as the ask's metadata has them now (``None``: not an open ask with rules)."""
    ask = gate_metadata(parent)
    return ask_rules(ask) if ask is not None and ask.get("state") == "open" else None


def click_policy(
    rules: AskRules, members: frozenset[str], escalated_members: frozenset[str] = frozenset()
) -> ApprovalPolicy:
    """The ask's rules with its approver groups' and escalation groups' members (read with
    :func:`group_members`) added."""
    policy = with_group_members(rules.policy, members) if rules.approver_groups else rules.policy
    return with_escalation_members(policy, escalated_members) if rules.escalation_groups else policy


def judge_click(
    thread: Sequence[Mapping[str, Any]],
    click: Click,
    *,
    bot_id: str | None,
    members: frozenset[str] = frozenset(),
    escalated_members: frozenset[str] = frozenset(),
    people: Collection[str] | None = None,
    now: float | None = None,
) -> Verdict:
    """Judge a click on the gate whose thread (ask first, as conversations.replies returns it) is given.

    ``bot_id`` is the connection's bot; ``members`` the members of the approver groups in the ask's
    rules, ``escalated_members`` those of its escalation groups; ``now`` (Unix time, default the
    clock's) decides whether a click by someone in ``escalate_to`` comes after the escalation (its
    record's ts, later still, is what the gate counts). The rules come from the ask's metadata,
    which only the bot can write (never from the button's value, which the click carries): a click
    on anything but this bot's open ask with rules is answered privately and never recorded.
    ``people`` are the thread's voters Slack confirmed as people (see :meth:`ClickHandler._people`),
    so another app's bot reaction does not make the gate look decided.
    """
    parent, replies = split_thread(thread, click.ts)
    if not bot_id or parent.get("bot_id") != bot_id:
        return Verdict("ignore", "not_a_gate")
    ask = gate_metadata(parent)
    if ask is None:
        return Verdict("tell", "not_an_ask", not_an_open_question_text("not_an_ask"))
    state = ask.get("state")
    if state != "open":
        if state in (*OUTCOMES, "superseded"):
            return Verdict("tell", "already_decided", already_decided_text(str(state)))
        return Verdict("tell", "unknown_state", not_an_open_question_text("unknown_state"))
    rules = ask_rules(ask)
    if rules is None:
        return Verdict("tell", "old_ask", not_an_open_question_text("old_ask"))
    if not click.opens_reason_modal:
        mine = [r for r in replies if r.get("bot_id") == bot_id]
        if any(_click_id(r) == click.click_id for r in mine):
            return Verdict("ignore", "duplicate")
    policy = click_policy(rules, members, escalated_members)
    clicks = recorded_votes(replies, ask_ts=click.ts, bot_id=bot_id)
    decision = decide(parent, replies, policy, extra_votes=clicks, people=people)
    if decision.is_final:
        return Verdict("tell", "already_decided", already_decided_text(decision.outcome))
    clicked_at = f"{time.time() if now is None else now:.6f}"
    why = why_not_voter(policy, click.user, click.vote, ask_ts=click.ts, cast_at=clicked_at)
    if why == "before_escalation":
        starts = escalation_at(policy, click.ts)
        return Verdict("tell", why, before_escalation_text(starts=starts, via="button"))
    if why is not None:
        return Verdict("tell", why, not_a_voter_text(why))
    return Verdict("open_modal" if click.opens_reason_modal else "record", "counts")


class ClickHandler:
    """Handles the clicks one connection's app receives: judge, then record, open the modal or tell.

    Safe to share in one event loop: a click being handled is not handled again when Slack delivers it
    once more meanwhile, and recently handled clicks are remembered.

    Clicks on an Airflow HITL request's message (:class:`~airflow_slack_gate.core.payloads.HITLClick`)
    go to :func:`~airflow_slack_gate.runtime.hitl.handle_hitl_click` with ``hitl``, Airflow's side of
    the answer (the API server's; ``None`` where Airflow's requests cannot be answered: the person is
    told so).
    """

    def __init__(self, hook: SlackGateHook, *, hitl: HITLAnswerer | None = None) -> None:
        self.hook = hook
        self.hitl = hitl
        self._in_flight: set[str] = set()
        self._done: OrderedDict[str, Verdict] = OrderedDict()
        #: ts of the click records this handler posted (it woke this loop's gates for them already)
        self.recorded: OrderedDict[str, None] = OrderedDict()

    def verdict_of(self, click_id: str) -> Verdict | None:
        """What this handler did with a recent click (``None``: not handled here, or long ago)."""
        return self._done.get(click_id)

    async def handle(self, click: Click | HITLClick | HITLFormSubmission) -> Verdict:
        """Judge the click against Slack as it is now, and act on it; never raises for Slack errors."""
        if click.click_id in self._in_flight:
            return Verdict("ignore", "duplicate")
        if (done := self._done.get(click.click_id)) is not None and done.action == "record":
            return Verdict("ignore", "duplicate")
        self._in_flight.add(click.click_id)
        try:
            verdict = await (self._handle(click) if isinstance(click, Click) else self._handle_hitl(click))
        except SlackGateError as error:
            log.warning("A click on gate %s by %s could not be handled: %s", click.ts, click.user, error)
            verdict = Verdict("ignore", f"slack_error:{error.error_code}")
        finally:
            self._in_flight.discard(click.click_id)
        self._done[click.click_id] = verdict
        while len(self._done) > REMEMBERED_CLICKS:
            self._done.popitem(last=False)
        log.info(
            "Click on %s %s by %s (%s): %s, %s",
            "gate" if isinstance(click, Click) else "HITL request",
            click.ts,
            click.user,
            click.vote if isinstance(click, Click) else ",".join(click.chosen) or "form",
            verdict.action,
            verdict.why,
        )
        return verdict

    async def _handle_hitl(self, click: HITLClick | HITLFormSubmission) -> Verdict:
        verdict = await handle_hitl_click(self.hook, click, self.hitl)
        # an answer is final: a redelivery of the same click is dropped like a recorded vote
        action: Action = "record" if verdict.action == "answered" else verdict.action
        return Verdict(action, verdict.why, errors=verdict.errors)

    async def _handle(self, click: Click) -> Verdict:
        bot = await self.hook.abot_identity()
        read_at = time.monotonic()
        # A gate this loop's watcher holds is judged from its snapshot (kept up to date by events and
        # reads): the click's verdict is advice to the clicker, and the record is judged by the trigger
        # like every vote. Any other gate's thread is read.
        held = held_thread(self.hook.slack_conn_id, click.channel, click.ts)
        try:
            thread = held or await self.hook.aread_thread(
                channel=click.channel, ts=click.ts, include_all_metadata=True
            )
        except SlackGateError as error:
            if error.error_code in ("thread_not_found", "message_not_found"):
                return Verdict("ignore", "not_a_gate")
            raise
        parent, _ = split_thread(thread, click.ts)
        rules = click_rules(parent) if parent.get("bot_id") == bot.bot_id else None
        members: frozenset[str] = frozenset()
        escalated_members: frozenset[str] = frozenset()
        if rules is not None and rules.approver_groups:
            members = await group_members(self.hook, sorted(rules.approver_groups))
        if rules is not None and rules.escalation_groups:
            escalated_members = await group_members(self.hook, sorted(rules.escalation_groups))
        people = await self._people(thread, click, rules, members, escalated_members)
        verdict = judge_click(
            thread,
            click,
            bot_id=bot.bot_id,
            members=members,
            escalated_members=escalated_members,
            people=people,
        )
        if verdict.action == "record":
            record = await self._record(click)
            # The gate decides at once when this loop's watcher holds it: it gets the record (with the
            # thread just read, if it was), instead of spending another Tier 3 read. Otherwise this
            # loop's gates read Slack now, and other triggerers' gates on the record's message event.
            if record is None:
                wake_channel(click.channel)
            elif held is not None:
                event = {**record, "type": "message", "channel": click.channel}
                if not apply_event({self.hook.slack_conn_id}, event):
                    wake_channel(click.channel)
            elif not offer_thread(
                self.hook.slack_conn_id, click.channel, click.ts, [*thread, record], read_at
            ):
                wake_channel(click.channel)
        elif verdict.action == "open_modal":
            await self._open_reason_modal(click, parent)
        elif verdict.action == "tell" and verdict.text:
            await self._tell(click, verdict.text)
        return verdict

    async def _people(
        self,
        thread: Sequence[Mapping[str, Any]],
        click: Click,
        rules: AskRules | None,
        members: frozenset[str],
        escalated_members: frozenset[str],
    ) -> frozenset[str]:
        """The thread's voters Slack confirms as people (``users.info``, cached per loop). When Slack
        cannot say, nobody: the gate looks undecided and the click is recorded (the trigger judges it)."""
        if rules is None:
            return frozenset()
        policy = click_policy(rules, members, escalated_members)
        voters = voters_to_check(thread, GateRef(channel=click.channel, ts=click.ts), policy)
        try:
            return await people_among(self.hook, voters)
        except SlackGateError as error:
            log.warning(
                "Could not check who voted on gate %s; judging the click without them: %s", click.ts, error
            )
            return frozenset()

    async def _record(self, click: Click) -> dict[str, Any] | None:
        """Post the click record; return it as conversations.replies would show it, if Slack said.

        chat.postMessage answers with the posted message but, unlike conversations.replies with
        ``include_all_metadata``, may leave out its metadata; Slack stores the metadata as posted, so
        the posted one is filled in.
        """
        metadata = vote_record_metadata(
            voter=click.user,
            vote=click.vote,
            reason=click.reason,
            gate_ts=click.ts,
            click_id=click.click_id,
        )
        response = await self.hook.acall(
            "chat.postMessage",
            channel=click.channel,
            thread_ts=click.ts,
            text=vote_record_text(user=click.user, vote=click.vote, reason=click.reason),
            metadata=metadata,
        )
        ts = response.get("ts") if hasattr(response, "get") else None
        if not isinstance(ts, str):
            return None
        self.recorded[ts] = None
        while len(self.recorded) > REMEMBERED_CLICKS:
            self.recorded.popitem(last=False)
        message = response.get("message")
        if not isinstance(message, Mapping) or message.get("ts") != ts:
            return None
        return {**message, "metadata": message.get("metadata") or metadata}

    async def _open_reason_modal(self, click: Click, parent: Mapping[str, Any]) -> None:
        if not click.trigger_id:
            return
        view = reason_modal(channel=click.channel, ts=click.ts, question=_question(parent))
        await self.hook.acall("views.open", trigger_id=click.trigger_id, view=view)

    async def _tell(self, click: Click, text: str) -> None:
        await self.hook.acall("chat.postEphemeral", channel=click.channel, user=click.user, text=text)


def _click_id(message: Mapping[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != VOTE_EVENT_TYPE:
        return None
    payload = metadata.get("event_payload") or {}
    return payload.get("click_id") if isinstance(payload, Mapping) else None


def _question(parent: Mapping[str, Any]) -> str:
    """The author's question: the section just before the how-to-answer block and the buttons."""
    blocks = [b for b in parent.get("blocks") or () if isinstance(b, Mapping)]
    for index, block in enumerate(blocks):
        if (
            block.get("block_id") == ANSWER_BLOCK
            and index >= 2
            and blocks[index - 2].get("type") == "section"
        ):
            text = (blocks[index - 2].get("text") or {}).get("text")
            if isinstance(text, str):
                return text
    return str(parent.get("text") or "")


def handle_in_background(
    handler: ClickHandler, click: Click | HITLClick | HITLFormSubmission, tasks: set[asyncio.Task[Any]]
) -> None:
    """Start handling a click without waiting (the ack must not wait for Slack); keep the task alive."""
    task = asyncio.get_running_loop().create_task(handler.handle(click), name=f"slack-gate click {click.ts}")
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def handle_form_submission(
    handler: ClickHandler, submission: HITLFormSubmission, tasks: set[asyncio.Task[Any]]
) -> Verdict | None:
    """Judge a HITL form's submission for Slack's answer, which must come within Slack's 3 seconds: the
    verdict if it came within :data:`~airflow_slack_gate.core.pacing.FORM_ANSWER_WITHIN`, else ``None``
    (answer Slack without errors: the modal closes). The submission is then handled on in the
    background, and invalid inputs found late are told to the person privately."""
    task = asyncio.get_running_loop().create_task(handler.handle(submission))
    try:
        return await asyncio.wait_for(asyncio.shield(task), pacing.FORM_ANSWER_WITHIN)
    except asyncio.TimeoutError:
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(lambda done: _tell_late_errors(handler, submission, done, tasks))
        return None


def _tell_late_errors(
    handler: ClickHandler,
    submission: HITLFormSubmission,
    done: asyncio.Task[Verdict],
    tasks: set[asyncio.Task[Any]],
) -> None:
    if done.cancelled() or done.exception() is not None or not done.result().errors:
        return
    tell = asyncio.get_running_loop().create_task(tell_invalid_input(handler.hook, submission))
    tasks.add(tell)
    tell.add_done_callback(tasks.discard)
