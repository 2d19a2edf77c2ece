"""Many gates, one reader: the channel watcher's Slack calls do not grow with the number of gates."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from airflow_slack_gate.core import pacing
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks.errors import SlackGateError, explain
from airflow_slack_gate.hooks.sessions import close_shared_sessions
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.runtime import watcher as watcher_module
from airflow_slack_gate.runtime.watcher import open_gates, watching
from tests.support import ask, first_event, trigger, until


@pytest.fixture
async def loop_cleanup():
    yield
    await close_shared_sessions()


def trigger_for(slack, ts, **overrides):
    return trigger(slack, ts, **{"poke_interval": 0.05, **overrides})


@pytest.mark.usefixtures("loop_cleanup")
async def test_many_gates_in_a_channel_share_one_history_read_per_round(slack_emulator):
    ws = slack_emulator.workspace
    asks = [ask(slack_emulator, f"Deploy {i}?") for i in range(30)]
    async with contextlib_stack(slack_emulator, asks) as watches:
        for watch in watches:  # every gate gets its first snapshot
            assert (await watch.next_thread(timeout=10))[0]["ts"]
        rounds = slack_emulator.call_count("conversations.history")
        slack_emulator.reply(ws.approvals, asks[7], ws.alice, "approve")
        thread = await watches[7].next_thread(timeout=10)
        assert [m["text"] for m in thread[1:]] == ["approve"]
        other = await watches[3].next_thread(timeout=0.3)
        assert other is None, "a gate whose thread did not change is not woken"
    history_calls = slack_emulator.call_count("conversations.history")
    assert history_calls - rounds <= 3
    # threads without replies need no read at all; the one thread that got a reply is read once
    assert slack_emulator.call_count("conversations.replies") == 1
    assert open_gates() == []


@pytest.mark.usefixtures("loop_cleanup")
async def test_reactions_need_no_thread_read(slack_emulator):
    ws = slack_emulator.workspace
    ts = ask(slack_emulator)
    async with watching("slack_gate_default", ws.approvals, ts, 0.05) as watch:
        await watch.next_thread(timeout=10)
        replies_before = slack_emulator.call_count("conversations.replies")
        slack_emulator.add_reaction(ws.approvals, ts, ws.bob, "+1")
        thread = await watch.next_thread(timeout=10)
    assert thread[0]["reactions"][0]["users"] == [ws.bob]
    assert slack_emulator.call_count("conversations.replies") == replies_before


@pytest.mark.usefixtures("loop_cleanup")
async def test_gates_decide_independently_through_the_shared_watcher(slack_emulator):
    ws = slack_emulator.workspace
    approve_ts, reject_ts = ask(slack_emulator, "A?"), ask(slack_emulator, "B?")
    slack_emulator.reply(ws.approvals, approve_ts, ws.alice, "approve")
    slack_emulator.add_reaction(ws.approvals, reject_ts, ws.bob, "x")
    approved, rejected = await asyncio.wait_for(
        asyncio.gather(
            first_event(trigger_for(slack_emulator, approve_ts)),
            first_event(trigger_for(slack_emulator, reject_ts)),
        ),
        timeout=20,
    )
    assert approved["decision"]["outcome"] == "approved"
    assert rejected["decision"]["outcome"] == "rejected"
    assert open_gates() == []


@pytest.mark.usefixtures("loop_cleanup")
async def test_a_deleted_question_ends_only_its_own_gate(slack_emulator):
    ws = slack_emulator.workspace
    kept, deleted = ask(slack_emulator, "kept"), ask(slack_emulator, "deleted")
    slack_emulator.delete_message(ws.approvals, deleted)
    slack_emulator.reply(ws.approvals, kept, ws.carol, "lgtm")
    gone, decided = await asyncio.wait_for(
        asyncio.gather(
            first_event(trigger_for(slack_emulator, deleted)), first_event(trigger_for(slack_emulator, kept))
        ),
        timeout=20,
    )
    assert (gone["status"], gone["error_code"]) == ("error", "thread_not_found")
    assert decided["decision"]["outcome"] == "approved"


@pytest.mark.usefixtures("loop_cleanup")
async def test_old_gates_read_their_own_thread_instead_of_a_long_history(slack_emulator, monkeypatch):
    monkeypatch.setattr(pacing, "HISTORY_HORIZON", -1.0)  # every gate counts as old
    ws = slack_emulator.workspace
    ts = ask(slack_emulator)
    slack_emulator.reply(ws.approvals, ts, ws.dave, "approve")
    payload = await asyncio.wait_for(first_event(trigger_for(slack_emulator, ts)), timeout=20)
    assert payload["decision"]["outcome"] == "approved"
    assert slack_emulator.call_count("conversations.history") == 0


@pytest.mark.usefixtures("loop_cleanup")
async def test_a_revoked_token_ends_every_gate_of_the_channel(slack_emulator):
    ws = slack_emulator.workspace
    first, second = ask(slack_emulator, "1"), ask(slack_emulator, "2")
    slack_emulator.revoke_token(ws.bot_token)
    payloads = await asyncio.wait_for(
        asyncio.gather(
            first_event(trigger_for(slack_emulator, first)), first_event(trigger_for(slack_emulator, second))
        ),
        timeout=20,
    )
    assert [p["error_code"] for p in payloads] == ["token_revoked", "token_revoked"]


class contextlib_stack:
    """Register many gates with the watcher at once (an async context manager)."""

    def __init__(self, slack, asks):
        self.contexts = [watching("slack_gate_default", slack.workspace.approvals, ts, 0.05) for ts in asks]

    async def __aenter__(self):
        return [await context.__aenter__() for context in self.contexts]

    async def __aexit__(self, *exc):
        for context in self.contexts:
            await context.__aexit__(*exc)


@pytest.mark.usefixtures("loop_cleanup")
async def test_an_event_wakes_the_watcher_before_its_next_round(slack_emulator):
    ws = slack_emulator.workspace
    ts = ask(slack_emulator)
    async with watching("slack_gate_default", ws.approvals, ts, 600) as watch:
        await watch.next_thread(timeout=10)
        slack_emulator.reply(ws.approvals, ts, ws.alice, "approve")
        assert await watch.next_thread(timeout=1) is None  # the next round is 10 minutes away
        assert watcher_module.wake_channel(ws.approvals)
        thread = await watch.next_thread(timeout=10)
    assert [m["text"] for m in thread[1:]] == ["approve"]


@pytest.mark.usefixtures("loop_cleanup")
async def test_an_offered_thread_wakes_the_gate_at_once_and_the_next_round_reads_slack_again(slack_emulator):
    """What the click receiver relies on: a fresh read offered to the watcher reaches the gate without
    a Slack call, and the watcher's next round still reads the replies (Slack stays the truth)."""
    from airflow_slack_gate.hooks.slack import SlackGateHook

    ws = slack_emulator.workspace
    ts = ask(slack_emulator)
    async with watching("slack_gate_default", ws.approvals, ts, 600) as watch:
        await watch.next_thread(timeout=10)
        slack_emulator.reply(ws.approvals, ts, ws.alice, "approve")
        read_at = time.monotonic()
        fresh = await SlackGateHook().aread_thread(channel=ws.approvals, ts=ts)
        calls = slack_emulator.call_count("conversations.replies")

        assert watcher_module.offer_thread("slack_gate_default", ws.approvals, ts, fresh, read_at)
        assert await watch.next_thread(timeout=1) == fresh
        assert slack_emulator.call_count("conversations.replies") == calls

        assert watcher_module.wake_channel(ws.approvals)
        await until_called(slack_emulator, "conversations.replies", calls + 1)


@pytest.mark.usefixtures("loop_cleanup")
async def test_an_offer_older_than_the_watchers_snapshot_or_missing_its_replies_is_ignored(slack_emulator):
    from airflow_slack_gate.hooks.slack import SlackGateHook

    ws = slack_emulator.workspace
    ts = ask(slack_emulator)
    offer = functools.partial(watcher_module.offer_thread, "slack_gate_default", ws.approvals, ts)
    async with watching("slack_gate_default", ws.approvals, ts, 600) as watch:
        await watch.next_thread(timeout=10)
        stale_at = time.monotonic()
        stale = await SlackGateHook().aread_thread(channel=ws.approvals, ts=ts)  # before the reply
        slack_emulator.reply(ws.approvals, ts, ws.alice, "approve")
        assert watcher_module.wake_channel(ws.approvals)
        seen = await watch.next_thread(timeout=10)
        assert [m["text"] for m in seen[1:]] == ["approve"]

        assert not offer(stale, stale_at), "read before the watcher's snapshot"
        assert not offer(stale, time.monotonic()), "lacks the reply the watcher saw"
        assert not watcher_module.offer_thread("slack_gate_default", ws.approvals, "1.0", stale, 1e12)
        assert await watch.next_thread(timeout=0.3) is None
        assert watch.latest() == seen


async def until_called(slack, method, count, timeout=10.0):
    await until(lambda: slack.call_count(method) >= count, timeout, what=f"{count} {method} calls")


async def test_a_failed_round_is_reported_even_when_slack_answered_again_before_the_trigger_looked():
    """A busy triggerer may run a gate's trigger only after the watcher failed a round and then read
    Slack again: the trigger still hears of the failure first (so its task log says what happened),
    then gets the fresh thread without waiting for another change."""
    gate = watcher_module._Gate(ts="1700000000.000100", poke_interval=1.0)
    watch = watcher_module.GateWatch(gate, watcher_module.ChannelWatcher(SlackGateHook(), "C1"))
    failure = explain("http_503", conn_id="slack_gate_default", method="conversations.history")
    thread = [{"ts": gate.ts, "text": "Deploy?"}, {"ts": "1700000001.000100", "text": "approve"}]

    gate.struggle(failure)
    gate.publish(thread, time.monotonic())

    with pytest.raises(SlackGateError) as raised:
        await watch.next_thread(timeout=1.0)
    assert raised.value is failure
    assert await watch.next_thread(timeout=1.0) == thread
    assert await watch.next_thread(timeout=0.01) is None


def _post_question(slack, try_number, task_id="ask"):
    """A question as the sensor posts it: the ask's blocks and its metadata (open)."""
    from slack_sdk import WebClient

    from airflow_slack_gate.core.messages import ask_message
    from airflow_slack_gate.core.protocol import ask_metadata

    ws = slack.workspace
    identity = {"dag_id": "d", "run_id": "r", "task_id": task_id, "map_index": -1, "try_number": try_number}
    asked = ask_message(
        text=f"Deploy ({task_id} try {try_number})?",
        blocks=None,
        policy=ApprovalPolicy(),
        approver_groups=[],
        deadline=None,
        requested_by=None,
        context_line=None,
    )
    client = WebClient(token=ws.bot_token, base_url=slack.base_url)
    response = client.chat_postMessage(
        channel=ws.approvals,
        text=asked["text"],
        blocks=asked["blocks"],
        metadata=ask_metadata(identity, "open"),
    )
    return response["ts"]


@pytest.mark.usefixtures("loop_cleanup")
async def test_the_watcher_closes_a_late_copy_of_a_watched_question_once_and_nothing_else(slack_emulator):
    """Slack got a gate's question twice (a lost post carried out late): the watcher closes the copy
    with one chat.update (no buttons, state superseded) and leaves every other question alone."""
    ws = slack_emulator.workspace
    watched = _post_question(slack_emulator, try_number=1)
    other_task = _post_question(slack_emulator, try_number=1, task_id="other")
    late_copy = _post_question(slack_emulator, try_number=1)

    def state(ts):
        message = next(m for m in slack_emulator.messages("approvals") if m["ts"] == ts)
        return message["metadata"]["event_payload"]["state"], message["blocks"]

    async with watching("slack_gate_default", ws.approvals, watched, 0.05) as watch:
        assert await watch.next_thread(timeout=10)
        await until(lambda: state(late_copy)[0] == "superseded")
        rounds = slack_emulator.call_count("conversations.history")
        await until(lambda: slack_emulator.call_count("conversations.history") >= rounds + 3)

    assert slack_emulator.call_count("chat.update") == 1, "closed once, then left alone"
    assert not [block for block in state(late_copy)[1] if block["type"] == "actions"]
    assert state(watched)[0] == "open"
    assert state(other_task)[0] == "open"


@pytest.mark.usefixtures("loop_cleanup")
async def test_a_reply_also_sent_to_the_channel_is_one_vote(slack_emulator):
    """Slack shows a reply sent "also to #channel" (``thread_broadcast``) in the channel's history as
    well as in the thread, and the watcher reads both: the reply still counts once."""
    ws = slack_emulator.workspace
    ts = ask(slack_emulator)
    broadcast = slack_emulator.reply(ws.approvals, ts, ws.alice, "approve", broadcast=True)
    assert broadcast in {m["ts"] for m in slack_emulator.messages(ws.approvals)}
    two_approvals = ApprovalPolicy(required_approvals=2)
    gate = asyncio.ensure_future(first_event(trigger_for(slack_emulator, ts, policy=two_approvals)))
    # the gate read the thread and looked alice up, then read the channel twice more: it saw her vote
    await until(lambda: slack_emulator.call_count("users.info") >= 1, what="alice looked up")
    rounds = slack_emulator.call_count("conversations.history")
    await until(
        lambda: slack_emulator.call_count("conversations.history") >= rounds + 2, what="two more rounds"
    )
    assert not gate.done(), "one person's broadcast reply met a quorum of two"

    slack_emulator.reply(ws.approvals, ts, ws.bob, "approve")
    payload = await asyncio.wait_for(gate, timeout=20)

    decision = payload["decision"]
    assert decision["outcome"] == "approved"
    assert [v["user"] for v in decision["votes"]] == [ws.alice, ws.bob]
    assert decision["votes"][0]["ts"] == broadcast


@pytest.mark.usefixtures("loop_cleanup")
async def test_a_gate_that_joins_while_a_round_reads_is_read_right_after_it(slack_emulator):
    """The round's reads began before the gate joined, so they say nothing of it: it is read at once
    after the round, not a whole interval later (600 s here)."""
    ws = slack_emulator.workspace
    first, second = ask(slack_emulator, "A?"), ask(slack_emulator, "B?")
    async with watching("slack_gate_default", ws.approvals, first, 600.0) as early:
        await early.next_thread(timeout=10)
        slack_emulator.delay_calls("conversations.history", 1.0)  # the next round reads slowly
        watcher = watcher_module._WATCHERS.get()[("slack_gate_default", ws.approvals)]
        watcher.wake()
        # the watcher took the wake-up: its round is reading (slowly)
        await until(lambda: not watcher._new_gate.is_set(), 10, what="a round in flight")
        async with watching("slack_gate_default", ws.approvals, second, 600.0) as late:
            thread = await late.next_thread(timeout=10)
    assert thread[0]["ts"] == second
