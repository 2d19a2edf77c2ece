"""Votes from Socket Mode events, not reads: a held gate's snapshot is changed by the event alone and
judged with the same rules as a read of its thread.

Real parts: slack_sdk's SocketModeClient on the emulator's websocket, the loop's watcher reading the
emulator over HTTP. Reads are counted with the emulator's call counters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from airflow_slack_gate.core import pacing
from airflow_slack_gate.core.gate import GateRef, read_step, voters_to_check
from airflow_slack_gate.core.messages import APPROVE_ACTION, REJECT_ACTION
from airflow_slack_gate.core.pacing import replies_fingerprint
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import vote_record_metadata
from airflow_slack_gate.hooks.ratelimit import loop_rate_limiter, token_key
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.runtime.socket_mode import SocketModeListener, socket_mode
from airflow_slack_gate.runtime.watcher import GateWatch, _Gate, apply_event, people_among, watching
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.interactive.conftest import (
    CONN_ID,
    LoopThread,
    connection_json,
    make_trigger,
    post_ask,
    records,
    wait_with_socket_mode,
)
from tests.interactive.test_socket_mode_gates import _hold_listener_until
from tests.support import calls_of, fast_budgets, until, wait_until

pytestmark = pytest.mark.usefixtures("closing_sessions")
READS = ("conversations.replies", "conversations.history")


def reads(slack: SlackEmulator) -> int:
    return sum(slack.call_count(method) for method in READS)


async def delivered(slack: SlackEmulator) -> None:
    """Every event so far was acknowledged (the listener applies an event before it acknowledges)."""

    def wait_all() -> None:
        for delivery in list(slack.interactivity.deliveries):
            assert delivery.wait(10).ok, delivery.error

    await asyncio.to_thread(wait_all)


@contextlib.asynccontextmanager
async def held(slack: SlackEmulator, ts: str) -> AsyncIterator[tuple[SocketModeListener, GateWatch]]:
    """Gate ``ts`` held by the loop's watcher with Socket Mode, once its first look after the
    connection's hello is done (from then on, events alone keep it up to date)."""
    async with socket_mode(SlackGateHook()) as listener:
        assert listener is not None
        async with watching(CONN_ID, slack.workspace.approvals, ts, 600.0, events=True) as watch:
            gate = watch._gate
            await until(
                lambda: (
                    listener.session_started
                    and gate.last_read >= listener.session_started
                    and not gate.read_alone
                ),
                10,
            )
            yield listener, watch


async def settled(slack: SlackEmulator, watch: GateWatch) -> None:
    await delivered(slack)
    await until(lambda: not watch._gate.read_alone, 10)


async def judged(hook: SlackGateHook, thread: list[dict[str, Any]], ts: str, policy: ApprovalPolicy) -> Any:
    """read_step on a thread, its voters checked with users.info as the trigger does."""
    gate = GateRef(channel="", ts=ts)
    people = await people_among(hook, voters_to_check(thread, gate, policy))
    return read_step(thread, gate, policy, expired=False, people=people)


Action = Callable[[SlackEmulator, str], Any]


def reply(user: str, text: str) -> Action:
    return lambda slack, ts: slack.reply(slack.workspace.approvals, ts, getattr(slack.workspace, user), text)


def react(user: str, name: str, *, remove: bool = False) -> Action:
    def act(slack: SlackEmulator, ts: str) -> None:
        method = slack.remove_reaction if remove else slack.add_reaction
        method(slack.workspace.approvals, ts, getattr(slack.workspace, user), name)

    return act


def other_bot_replies(text: str, *, forged_record: bool = False) -> Action:
    def act(slack: SlackEmulator, ts: str) -> None:
        ws = slack.workspace
        other = slack.create_bot("other-app")
        slack.add_member(ws.approvals, other.user_id)
        metadata = None
        if forged_record:
            metadata = vote_record_metadata(
                voter=ws.alice, vote="approve", reason=None, gate_ts=ts, click_id="forged"
            )
        slack.post_as_bot(ws.approvals, other, text, thread_ts=ts, metadata=metadata)

    return act


def react_on_a_reply(user: str, name: str) -> Action:
    def act(slack: SlackEmulator, ts: str) -> None:
        ws = slack.workspace
        answer = slack.reply(ws.approvals, ts, ws.carol, "hm, let me look")
        slack.add_reaction(ws.approvals, answer, getattr(ws, user), name)

    return act


QUORUM_2 = {"required_approvals": 2}
#: (name, policy fields, actions, outcome both ways, whether events alone said enough)
SCENARIOS = [
    ("reply approves", {}, [reply("alice", "approve")], "approved", True),
    ("reply rejects with a reason", {}, [reply("bob", "reject: not now")], "rejected", True),
    ("reaction approves", {}, [react("alice", "white_check_mark")], "approved", True),
    ("reaction rejects", {}, [react("bob", "x")], "rejected", True),
    (
        "a reaction taken back is no vote",
        QUORUM_2,
        [react("alice", "white_check_mark"), react("alice", "white_check_mark", remove=True)],
        "pending",
        True,
    ),
    (
        "reply and reaction make a quorum",
        QUORUM_2,
        [reply("alice", "lgtm"), react("bob", "+1")],
        "approved",
        True,
    ),
    ("a question is no vote", {}, [reply("alice", "approve?")], "pending", True),
    ("a non-approver's reply", {"approvers": "carol"}, [reply("alice", "approve")], "pending", True),
    ("a bot's reply with vote text", {}, [other_bot_replies("approve")], "pending", True),
    (
        "another app's forged click record",
        {},
        [other_bot_replies("approved", forged_record=True)],
        "pending",
        True,
    ),
    ("a reaction on a reply", {}, [react_on_a_reply("alice", "white_check_mark")], "pending", True),
    ("an edited reply", QUORUM_2, [reply("alice", "approve"), "edit:reject: found a bug"], "rejected", False),
    (
        "a deleted reply",
        QUORUM_2,
        [reply("alice", "approve"), "delete", reply("bob", "approve")],
        "pending",
        False,
    ),
]


def policy_of(slack: SlackEmulator, fields: dict[str, Any]) -> ApprovalPolicy:
    if "approvers" in fields:
        return ApprovalPolicy(approvers=frozenset({getattr(slack.workspace, fields["approvers"])}))
    return ApprovalPolicy(**fields)


@pytest.mark.parametrize(
    ("name", "fields", "actions", "outcome", "events_say_enough"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
async def test_the_event_built_thread_decides_as_a_read_of_it_does(
    slack, name, fields, actions, outcome, events_say_enough
):
    ws = slack.workspace
    policy = policy_of(slack, fields)
    ts = post_ask(slack, policy)
    hook = SlackGateHook()
    async with held(slack, ts) as (_, watch):
        slack.reset_counters()
        last_reply = None
        for action in actions:
            if action == "delete":
                await asyncio.to_thread(slack.delete_message, ws.approvals, last_reply)
            elif isinstance(action, str):
                await asyncio.to_thread(
                    slack.edit_message, ws.approvals, last_reply, action.removeprefix("edit:")
                )
            else:
                last_reply = await asyncio.to_thread(action, slack, ts)
            await settled(slack, watch)
        event_reads = reads(slack)
        snapshot = watch.latest()
    read = await hook.aread_thread(channel=ws.approvals, ts=ts)

    from_events = await judged(hook, snapshot, ts, policy)
    from_read = await judged(hook, read, ts, policy)
    assert from_events == from_read
    assert (from_read["decision"]["outcome"] if from_read else "pending") == outcome
    if events_say_enough:
        assert event_reads == 0
    else:
        assert 0 < event_reads <= 2  # one read of this gate's thread per edit or deletion


async def test_the_replies_fingerprint_an_event_leaves_is_what_the_channel_history_shows(slack):
    """An approval from events is confirmed by the channel's history read when the reply count and
    latest reply there are those the events left on the snapshot: they must be the same, or every
    confirmation reads the thread too."""
    ws = slack.workspace
    fast_budgets(ws.bot_token)  # three history reads in a row
    ts = post_ask(slack)
    hook = SlackGateHook()
    async with held(slack, ts) as (_, watch):
        for text in ("hm", "lgtm"):
            slack.reset_counters()
            await asyncio.to_thread(slack.reply, ws.approvals, ts, ws.carol, text)
            await settled(slack, watch)
            assert reads(slack) == 0  # the snapshot was built from the event
            history = await hook.aread_history(channel=ws.approvals, oldest=ts, inclusive=True)
            (parent,) = [message for message in history if message["ts"] == ts]
            shown = replies_fingerprint(parent)
            assert shown == (2 if text == "lgtm" else 1, watch.latest()[-1]["ts"])
            assert watch._gate.replies_seen == replies_fingerprint(watch.latest()[0]) == shown


async def test_an_event_for_the_same_ts_in_another_channel_changes_nothing(slack):
    """A reply and a reaction naming the gate's ts, but in another channel where the same connection
    holds another gate, reach neither gate."""
    ws = slack.workspace
    ts = post_ask(slack)
    elsewhere = slack.create_channel("elsewhere", members=[ws.bot_user_id, ws.alice])
    async with (
        held(slack, ts) as (listener, watch),
        watching(CONN_ID, elsewhere, ts, 600.0, events=True) as other,
    ):
        await until(lambda: other._gate.error is not None or other.latest(), 10)
        before, other_before = watch.latest(), other.latest()
        forged = {"type": "message", "channel": elsewhere, "user": ws.alice, "text": "approve"}
        forged.update(ts=f"{float(ts) + 1:.6f}", thread_ts=ts)
        reaction = {"type": "reaction_added", "user": ws.alice, "reaction": "white_check_mark"}
        reaction["item"] = {"type": "message", "channel": elsewhere, "ts": ts}
        listener.on_event(forged)
        listener.on_event(reaction)
        assert watch.latest() == before
        assert other.latest() == other_before


async def test_events_reach_only_the_gates_of_connections_that_share_the_app_token(slack, monkeypatch):
    """An event came over one app's connection: a watcher of another Airflow connection (without that
    app-level token; it could be another app, or another Slack) holding the same channel and ts does
    not take it."""
    ws = slack.workspace
    monkeypatch.setenv("AIRFLOW_CONN_ANOTHER_CONNECTION", connection_json(slack, app_token=False))
    ts = post_ask(slack)
    async with (
        held(slack, ts) as (listener, watch),
        watching("another_connection", ws.approvals, ts, 600.0, events=True) as other,
    ):
        await until(lambda: len(other.latest()) == 1, 10)
        event = {"type": "message", "channel": ws.approvals, "user": ws.alice, "text": "approve"}
        event.update(ts=f"{float(ts) + 1:.6f}", thread_ts=ts)
        assert listener.on_event(event)
        assert len(watch.latest()) == 2
        assert len(other.latest()) == 1


def vote_by_reply(text: str) -> Action:
    return lambda slack, ts: slack.reply(slack.workspace.approvals, ts, slack.workspace.alice, text)


def vote_by_reaction(name: str) -> Action:
    return lambda slack, ts: slack.add_reaction(slack.workspace.approvals, ts, slack.workspace.alice, name)


@pytest.mark.parametrize(
    ("vote", "outcome", "old", "history_and_replies_reads"),
    [
        pytest.param(
            vote_by_reply("reject: not today"), "rejected", False, (0, 0), id="a reject decides with no read"
        ),
        # no connection can know it gets every event (see the test of a connection that was alone);
        # the history shows all reactions on the question, and whether a reply came or went
        pytest.param(
            vote_by_reaction("white_check_mark"),
            "approved",
            False,
            (1, 0),
            id="an approval by reaction is confirmed by its channel's history",
        ),
        # the history cannot confirm replies known from events only (see the reject given to
        # another connection while a reply is deleted)
        pytest.param(
            vote_by_reply("approve"), "approved", False, (0, 1), id="an approval by reply by its own thread"
        ),
        # the shared history read leaves out questions older than its horizon
        pytest.param(
            vote_by_reaction("white_check_mark"),
            "approved",
            True,
            (0, 1),
            id="an approval of an old question by its own thread",
        ),
    ],
)
async def test_a_vote_by_event_decides_after_the_first_look_with_reads_only_to_confirm_approvals(
    slack, monkeypatch, vote, outcome, old, history_and_replies_reads
):
    if old:
        monkeypatch.setattr(pacing, "HISTORY_HORIZON", -1.0)  # every gate counts as old
    ts = post_ask(slack)
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await until(lambda: _first_look_done(ts), 10)
    slack.reset_counters()
    await asyncio.to_thread(vote, slack, ts)
    payload = await asyncio.wait_for(gate, 15)
    assert payload["decision"]["outcome"] == outcome
    reads_made = (slack.call_count("conversations.history"), slack.call_count("conversations.replies"))
    assert reads_made == history_and_replies_reads


async def test_approvals_waiting_for_one_confirmation_read_are_confirmed_by_one_history_read(slack):
    """Two gates of one channel are approved by reaction while their confirmation waits on Slack's
    budget for conversations.history: when the read gets its turn, it confirms both, and neither
    gate's thread is read (the history shows the reactions, and that no reply came or went)."""
    ws = slack.workspace
    first, second = post_ask(slack), post_ask(slack, task_id="other_gate")
    gates = [asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts))) for ts in (first, second)]
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await until(lambda: _first_look_done(first) and _first_look_done(second), 10)
    limiter, key = loop_rate_limiter(), token_key(ws.bot_token)
    limiter.set_budget(key, "conversations.history", 60_000)
    await limiter.acquire(key, "conversations.history")
    limiter.set_budget(key, "conversations.history", 1)  # the next read in a minute
    slack.reset_counters()
    for ts, gate in zip((first, second), gates, strict=True):
        await asyncio.to_thread(slack.add_reaction, ws.approvals, ts, ws.alice, "white_check_mark")
        await until(lambda ts=ts, gate=gate: gate.done() or _watched(ts).confirming, 10)
    assert not any(gate.done() for gate in gates)  # they wait for the confirmation read
    limiter.set_budget(key, "conversations.history", 60_000)
    payloads = await asyncio.wait_for(asyncio.gather(*gates), 15)
    assert [payload["decision"]["outcome"] for payload in payloads] == ["approved", "approved"]
    assert (slack.call_count("conversations.history"), slack.call_count("conversations.replies")) == (1, 0)


async def test_a_gate_that_asks_while_a_confirmation_read_is_on_its_way_waits_for_the_next(slack):
    """That read may have been sent before the gate's event: it confirms only the gates that waited
    when it was sent, and the late one gets a read of its own (reads made slow here)."""
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    older, newer = post_ask(slack), post_ask(slack, task_id="other_gate")
    async with (
        watching(CONN_ID, ws.approvals, older, 600.0, events=True) as late,
        watching(CONN_ID, ws.approvals, newer, 600.0, events=True) as early,
    ):
        await until(lambda: late._gate.confirmed and early._gate.confirmed, 10)
        for watch, ts in ((early, newer), (late, older)):
            await asyncio.to_thread(slack.add_reaction, ws.approvals, ts, ws.alice, "white_check_mark")
            event = {"type": "reaction_added", "user": ws.alice, "reaction": "white_check_mark"}
            assert apply_event(
                {CONN_ID}, {**event, "item": {"type": "message", "channel": ws.approvals, "ts": ts}}
            )
            assert not watch.confirmed
        slack.set_latency("conversations.history", 1.0)
        slack.reset_counters()
        watcher = early._watcher
        early.confirm()
        await until(lambda: not watcher._awaiting_history, 5, "the first read to be sent")
        late.confirm()
        await until(lambda: early._gate.confirmed, 10)
        assert not late._gate.confirmed
        await until(lambda: late._gate.confirmed, 10)
    sent_from = [call.params.get("oldest") for call in calls_of(slack, "conversations.history")]
    assert sent_from == [newer, older]


def _watched(ts: str) -> _Gate:
    from airflow_slack_gate.runtime import watcher as watcher_module

    (gate,) = [w.gates[ts] for w in (watcher_module._WATCHERS.peek() or {}).values() if ts in w.gates]
    return gate


def _first_look_done(ts: str) -> bool:
    from airflow_slack_gate.runtime import socket_mode as socket_mode_module
    from airflow_slack_gate.runtime import watcher as watcher_module

    listeners = list((socket_mode_module._LISTENERS.peek() or {}).values())
    gates = [w.gates[ts] for w in (watcher_module._WATCHERS.peek() or {}).values() if ts in w.gates]
    return bool(
        listeners
        and gates
        and listeners[0].session_started
        and gates[0].last_read >= listeners[0].session_started
    )


def reject_by_reply(slack: SlackEmulator, ts: str, _: str) -> None:
    slack.reply(slack.workspace.approvals, ts, slack.workspace.bob, "reject: not today")


def reject_by_reaction(slack: SlackEmulator, ts: str, _: str) -> None:
    slack.add_reaction(slack.workspace.approvals, ts, slack.workspace.bob, "x")


def reject_by_button(slack: SlackEmulator, ts: str, connection: str) -> None:
    """Bob clicks Reject and submits a reason over ``connection``: its process records the vote."""
    ws = slack.workspace
    assert slack.click_button(ws.approvals, ts, ws.bob, REJECT_ACTION, connection=connection).wait(10).ok
    slack.wait_for_view(ws.bob)
    assert slack.submit_view(ws.bob, {"reason": "not today"}, connection=connection).wait(10).ok
    wait_until(lambda: records(slack, ts), 10, "the other triggerer's record of the reject")


def reject_by_reply_while_a_reply_is_deleted(slack: SlackEmulator, ts: str, _: str) -> None:
    """Bob rejects and Carol deletes her earlier comment: the thread's reply count is what ours
    expects once it sees Alice's approval, and its latest reply is hers."""
    reject_by_reply(slack, ts, _)
    (comment,) = [m for m in slack.replies(slack.workspace.approvals, ts) if m.get("text") == COMMENT]
    slack.delete_message(slack.workspace.approvals, comment["ts"])


COMMENT = "looking at the diff"


@pytest.mark.parametrize(
    ("ours_first", "reject"),
    [
        pytest.param(False, reject_by_reply, id="another triggerer connected first"),
        # what the channel history shows of the thread (reply count, latest reply) is what ours
        # expects from the events it saw: only a read of the thread shows the reject
        pytest.param(
            True, reject_by_reply_while_a_reply_is_deleted, id="a reject reply while a reply is deleted"
        ),
        # Slack's hello called ours the app's only connection; nobody tells it when another opens
        pytest.param(True, reject_by_reply, id="ours connected alone, then another opened"),
        # the reaction shows only on the question; the reply count stays as ours last saw it
        pytest.param(True, reject_by_reaction, id="a reject reaction on the question"),
        pytest.param(True, reject_by_button, id="a reject button recorded by the other triggerer"),
    ],
)
def test_a_reject_delivered_to_another_connection_is_not_overtaken_by_an_approval(
    slack, other_loop, ours_first, reject
):
    """Two connections of one app (another triggerer holds the second): Slack gives Bob's reject (a
    reply, a reaction, or a click the other triggerer records) to the other one, then Alice's approval
    to ours. The approval, seen in a snapshot built from events, is confirmed by a read first, which
    shows the reject: the gate rejects, as a read would."""
    ws = slack.workspace
    ts = post_ask(slack)
    slack.reply(ws.approvals, ts, ws.carol, COMMENT)
    ours = LoopThread()
    idle = asyncio.Event()
    other = gate = None

    def start_ours() -> None:
        nonlocal gate
        gate = ours.submit(wait_with_socket_mode(make_trigger(slack, ts)))

    def start_other() -> None:
        nonlocal other
        other = other_loop.submit(_hold_listener_until(idle))

    try:
        (start_ours if ours_first else start_other)()
        (first,) = slack.wait_for_socket_connections(1)
        (start_other if ours_first else start_ours)()
        second = next(c.id for c in slack.wait_for_socket_connections(2) if c.id != first.id)
        conn_ours, conn_other = (first.id, second) if ours_first else (second, first.id)
        ours.run(lambda: until(lambda: _first_look_done(ts), 10))
        _send_event_to(slack, conn_other, lambda: reject(slack, ts, conn_other))
        _send_event_to(slack, conn_ours, lambda: slack.reply(ws.approvals, ts, ws.alice, "approve"))
        assert gate is not None
        payload = gate.result(15)
    finally:
        other_loop.loop.call_soon_threadsafe(idle.set)
        if other is not None:
            other.result(15)
        ours.stop()
    assert payload["decision"]["outcome"] == "rejected"
    assert payload["decision"]["decided_by"] == [ws.bob]


def _send_event_to(slack: SlackEmulator, connection: str, act: Callable[[], Any]) -> None:
    """Do ``act`` while the emulator delivers every event to ``connection`` only."""
    hub = slack.interactivity.hub
    assert hub is not None
    original = hub.send

    hub.send = lambda delivery, **kwargs: original(delivery, connection=connection)  # type: ignore[method-assign]
    try:
        act()
        for delivery in list(slack.interactivity.deliveries):
            assert delivery.wait(10).ok, delivery.error
    finally:
        hub.send = original  # type: ignore[method-assign]


async def test_a_reconnect_reads_every_gate_again(slack):
    """Events sent while the connection was closed went nowhere: the hello of the new connection makes
    the watcher read the gate, and the vote cast meanwhile decides it."""
    ws = slack.workspace
    ts = post_ask(slack)
    async with held(slack, ts) as (listener, watch):
        first_session = listener.session_started
        slack.drop_socket_connections()
        await asyncio.to_thread(slack.reply, ws.approvals, ts, ws.alice, "approve")
        await until(lambda: listener.session_started > first_session, 20)
        await until(lambda: len(watch.latest()) == 2, 10)
        assert watch.confirmed


async def test_a_missed_vote_is_found_by_the_safety_read(slack, monkeypatch):
    """Slack gave the reply's event to another connection: the gate's safety read finds it (lowered
    here from max(poke_interval, 60 s) to 1 s)."""
    monkeypatch.setattr(pacing, "SAFETY_NET_INTERVAL", 1.0)
    ws = slack.workspace
    ts = post_ask(slack)
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts, poke_interval=1.0)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await until(lambda: _first_look_done(ts), 10)
    hub = slack.interactivity.hub
    assert hub is not None
    original = hub.send
    hub.send = lambda delivery, **kwargs: delivery.finish()  # type: ignore[method-assign]
    try:
        await asyncio.to_thread(slack.reply, ws.approvals, ts, ws.alice, "approve")
        payload = await asyncio.wait_for(gate, 15)
    finally:
        hub.send = original  # type: ignore[method-assign]
    assert payload["decision"]["outcome"] == "approved"


async def test_a_click_on_a_held_gate_is_judged_on_its_snapshot_and_approves_after_one_read(slack):
    ws = slack.workspace
    ts = post_ask(slack, ApprovalPolicy(approvers=frozenset({ws.alice})))
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await until(lambda: _first_look_done(ts), 10)
    slack.reset_counters()
    delivery = await asyncio.to_thread(slack.click_button, ws.approvals, ts, ws.alice, APPROVE_ACTION)
    await asyncio.to_thread(delivery.wait, 5)
    payload = await asyncio.wait_for(gate, 15)
    assert payload["decision"]["outcome"] == "approved"
    assert payload["decision"]["votes"][0]["via"] == "button"
    assert reads(slack) == 1  # the approval's confirmation
