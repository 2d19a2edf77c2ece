"""Buttons over Socket Mode: a click decides a gate at once, under the same rules as every vote, and is
durable in Slack, so a triggerer whose connection did not get the click still decides.

Real parts only: slack_sdk's SocketModeClient talks websocket to the emulator, the trigger reads the
emulator over HTTP. Every gate here has a 10-minute poke interval, so only events make it read soon.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_slack_gate.core import pacing
from airflow_slack_gate.core.messages import APPROVE_ACTION, REJECT_ACTION
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.runtime.socket_mode import open_listeners, socket_mode
from tests.interactive.conftest import (
    LoopThread,
    make_trigger,
    post_ask,
    raise_budgets,
    records,
    wait_with_socket_mode,
)
from tests.support import first_event, until

pytestmark = pytest.mark.usefixtures("closing_sessions")
DECIDE_WITHIN = 15.0


async def click(slack, ts, user, action_id=APPROVE_ACTION, **kwargs):
    delivery = await asyncio.to_thread(
        slack.click_button, slack.workspace.approvals, ts, user, action_id, **kwargs
    )
    await asyncio.to_thread(delivery.wait, 5)
    assert delivery.ok, delivery.error
    return delivery


async def test_an_approve_click_decides_at_once_and_is_recorded_by_the_bot(slack):
    ws = slack.workspace
    policy = ApprovalPolicy(approvers=frozenset({ws.alice, ws.bob}))
    ts = post_ask(slack, policy)
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts, policy)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await click(slack, ts, ws.alice)
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)

    assert payload["decision"]["outcome"] == "approved"
    assert payload["decision"]["votes"] == [
        {
            "user": ws.alice,
            "vote": "approve",
            "via": "button",
            "reason": None,
            "ts": records(slack, ts)[0]["ts"],
        }
    ]
    (record,) = records(slack, ts)
    assert record["bot_id"] == ws.bot_id
    assert record["text"] == f":white_check_mark: <@{ws.alice}> approved with the button."
    assert record["metadata"]["event_payload"]["voter"] == ws.alice
    assert open_listeners() == []  # the last holder closed the connection
    await asyncio.to_thread(slack.wait_for, lambda: not slack.socket_connections(), 10)


async def test_reject_opens_a_modal_and_the_submitted_reason_rejects(slack):
    ws = slack.workspace
    raise_budgets(ws.bot_token)
    ts = post_ask(slack)
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await click(slack, ts, ws.bob, REJECT_ACTION)
    view = await asyncio.to_thread(slack.wait_for_view, ws.bob)
    assert view.view["title"]["text"] == "Reject"
    assert "Deploy model v7?" in view.view["blocks"][0]["text"]["text"]
    assert records(slack, ts) == []  # opening the modal is no vote yet

    submitted = await asyncio.to_thread(slack.submit_view, ws.bob, {"reason": "metrics regressed <!channel>"})
    await asyncio.to_thread(submitted.wait, 5)
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)

    assert (payload["decision"]["outcome"], payload["decision"]["reason"]) == (
        "rejected",
        "metrics regressed <!channel>",
    )
    (record,) = records(slack, ts)
    assert record["text"] == f":x: <@{ws.bob}> rejected with the button: metrics regressed &lt;!channel&gt;"
    await asyncio.to_thread(slack.wait_for, lambda: not slack.open_views(ws.bob), 5)


async def test_a_click_by_someone_who_may_not_vote_changes_nothing_and_says_why(slack):
    ws = slack.workspace
    raise_budgets(ws.bot_token)
    policy = ApprovalPolicy(approvers=frozenset({ws.alice, ws.bob}), requested_by=ws.alice)
    ts = post_ask(slack, policy)
    async with socket_mode(SlackGateHook()):
        await asyncio.to_thread(slack.wait_for_socket_connections, 1)
        await click(slack, ts, ws.mallory)
        told = await asyncio.to_thread(slack.wait_for_ephemeral, ws.mallory)
        await click(slack, ts, ws.alice)  # the requester
        self_told = await asyncio.to_thread(slack.wait_for_ephemeral, ws.alice)
        await click(slack, ts, ws.mallory, REJECT_ACTION)  # no modal for a non-approver either
        await asyncio.to_thread(slack.wait_for, lambda: len(slack.ephemerals(ws.mallory)) == 2, 5)
    assert told.text.startswith("You are not an approver of this gate")
    assert told.channel == ws.approvals
    assert "cannot approve your own request" in self_told.text
    assert records(slack, ts) == []
    assert slack.open_views() == []


async def test_group_members_may_click(slack):
    ws = slack.workspace
    raise_budgets(ws.bot_token)
    policy = ApprovalPolicy(approvers=frozenset())
    ts = post_ask(slack, policy, groups=(ws.deployers,))
    trigger = make_trigger(slack, ts, policy, approver_groups=[ws.deployers])
    gate = asyncio.ensure_future(wait_with_socket_mode(trigger))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await click(slack, ts, ws.dave)  # not a deployer
    await asyncio.to_thread(slack.wait_for_ephemeral, ws.dave, text_contains="not an approver")
    await click(slack, ts, ws.carol)  # a deployer
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)
    assert payload["decision"]["decided_by"] == [ws.carol]


async def test_clicks_and_replies_make_one_quorum_and_late_clicks_hear_it_is_decided(slack):
    ws = slack.workspace
    raise_budgets(ws.bot_token)
    policy = ApprovalPolicy(required_approvals=2)
    ts = post_ask(slack, policy)
    trigger = make_trigger(slack, ts, policy)
    async with socket_mode(SlackGateHook()):
        gate = asyncio.ensure_future(first_event(trigger))
        await asyncio.to_thread(slack.wait_for_socket_connections, 1)
        await asyncio.to_thread(slack.reply, ws.approvals, ts, ws.alice, "lgtm")
        await click(slack, ts, ws.alice)  # the same person again: still one approval
        await click(slack, ts, ws.bob)
        payload = await asyncio.wait_for(gate, DECIDE_WITHIN)
        assert sorted(payload["decision"]["decided_by"]) == sorted([ws.alice, ws.bob])

        await click(slack, ts, ws.carol, REJECT_ACTION)  # after the decision, before the worker shows it
        told = await asyncio.to_thread(slack.wait_for_ephemeral, ws.carol)
    assert told.text == "This gate is already decided (approved); your click changed nothing."
    assert slack.open_views() == []


async def test_a_click_on_a_gate_whose_outcome_is_shown_is_already_decided(slack):
    ws = slack.workspace
    ts = post_ask(slack)
    message = slack.state.message(ws.approvals, ts)
    message.metadata = {
        **message.metadata,
        "event_payload": {**message.metadata["event_payload"], "state": "rejected"},
    }
    async with socket_mode(SlackGateHook()):
        await asyncio.to_thread(slack.wait_for_socket_connections, 1)
        await click(slack, ts, ws.alice)
        told = await asyncio.to_thread(slack.wait_for_ephemeral, ws.alice)
    assert told.text == "This gate is already decided (rejected); your click changed nothing."
    assert records(slack, ts) == []


async def test_one_connection_per_app_token_per_loop_shared_by_every_gate(slack):
    ws = slack.workspace
    raise_budgets(ws.bot_token)
    asks = [post_ask(slack, task_id=f"gate_{i}") for i in range(3)]
    gates = [asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts))) for ts in asks]
    async with socket_mode(SlackGateHook()) as listener:
        await listener.wait_connected(10)
        await asyncio.to_thread(slack.wait_for_socket_connections, 1)
        assert [(info.holders, info.connected) for info in open_listeners()] == [(4, True)]
        assert len(slack.socket_connections()) == 1
        assert slack.call_count("apps.connections.open") == 1
        for ts in asks:
            await click(slack, ts, ws.carol)
        payloads = await asyncio.wait_for(asyncio.gather(*gates), DECIDE_WITHIN)
    assert [p["decision"]["outcome"] for p in payloads] == ["approved"] * 3
    assert open_listeners() == []


async def test_without_an_app_token_nothing_is_opened(slack, monkeypatch):
    from tests.interactive.conftest import connection_json

    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack, app_token=False))
    async with socket_mode(SlackGateHook()) as listener:
        assert listener is None
    assert slack.call_count("apps.connections.open") == 0


async def test_a_reply_event_wakes_the_gate_before_its_next_round(slack):
    ws = slack.workspace
    ts = post_ask(slack)
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await until(lambda: slack.call_count("conversations.history") >= 1, 10)
    await asyncio.to_thread(slack.reply, ws.approvals, ts, ws.alice, "approve")
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)
    assert payload["decision"]["votes"][0]["via"] == "reply"


async def test_a_reaction_event_wakes_the_gate(slack):
    ws = slack.workspace
    ts = post_ask(slack)
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    await until(lambda: slack.call_count("conversations.history") >= 1, 10)
    await asyncio.to_thread(slack.add_reaction, ws.approvals, ts, ws.bob, "x")
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)
    assert payload["decision"]["outcome"] == "rejected"


async def test_a_refresh_reconnects_and_clicks_still_decide(slack):
    ws = slack.workspace
    ts = post_ask(slack)
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts)))
    (first,) = await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    slack.refresh_socket_connections()
    await asyncio.to_thread(
        slack.wait_for,
        lambda: [c.id for c in slack.socket_connections() if not c.draining and c.id != first.id],
        15,
    )
    assert slack.call_count("apps.connections.open") == 2
    await click(slack, ts, ws.alice)
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)
    assert payload["decision"]["outcome"] == "approved"


async def test_a_dropped_connection_is_reopened(slack):
    ws = slack.workspace
    ts = post_ask(slack)
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts)))
    (first,) = await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    slack.drop_socket_connections()
    await asyncio.to_thread(
        slack.wait_for, lambda: [c for c in slack.socket_connections() if c.id != first.id], 20
    )
    await click(slack, ts, ws.alice)
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)
    assert payload["decision"]["outcome"] == "approved"


def test_a_click_on_the_connection_that_does_not_hold_the_gate_still_decides(slack, other_loop, monkeypatch):
    """Two triggerers of one app: the click lands on the one without the gate; the other decides from
    the record in Slack, on the record's message event or, when Slack gives that event to the other
    connection too, on its safety-net read (lowered here from 30 s to 1 s)."""
    monkeypatch.setattr(pacing, "SAFETY_NET_INTERVAL", 1.0)
    ws = slack.workspace
    ts = post_ask(slack)
    # triggerer A: holds the listener, but no gate
    idle = asyncio.Event()
    release_a = other_loop.submit(_hold_listener_until(idle))
    (conn_a,) = slack.wait_for_socket_connections(1)
    # triggerer B: holds the gate (and its own connection)
    b_loop = LoopThread()
    try:
        gate = b_loop.submit(wait_with_socket_mode(make_trigger(slack, ts, poke_interval=1.0)))
        connections = slack.wait_for_socket_connections(2)
        conn_b = next(c for c in connections if c.id != conn_a.id)

        delivery = slack.click_button(ws.approvals, ts, ws.alice, APPROVE_ACTION, connection=conn_a.id)
        assert delivery.wait(5).ok
        assert delivery.connection_id == conn_a.id != conn_b.id
        payload = gate.result(DECIDE_WITHIN)
    finally:
        other_loop.loop.call_soon_threadsafe(idle.set)
        release_a.result(15)
        b_loop.stop()
    assert payload["decision"]["outcome"] == "approved"
    assert payload["decision"]["votes"][0]["via"] == "button"
    (record,) = records(slack, ts)
    assert record["bot_id"] == ws.bot_id


async def _hold_listener_until(event: asyncio.Event) -> None:
    async with socket_mode(SlackGateHook()):
        await event.wait()


async def test_an_app_without_socket_mode_is_logged_with_the_fix_and_gates_still_decide(
    slack, caplog, monkeypatch
):
    monkeypatch.setattr(pacing, "SAFETY_NET_INTERVAL", 0.2)  # 30 s by default
    ws = slack.workspace
    slack.configure_app(socket_mode=False)
    ts = post_ask(slack)
    gate = asyncio.ensure_future(first_event(make_trigger(slack, ts, poke_interval=0.2)))
    await until(lambda: slack.call_count("apps.connections.open") >= 1, 10)
    await asyncio.to_thread(slack.reply, ws.approvals, ts, ws.alice, "approve")
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)
    assert payload["decision"]["outcome"] == "approved"
    assert "'socket_mode_not_enabled'" in caplog.text
    assert "turn Socket Mode on in the Slack app" in caplog.text
    assert slack.app_settings().app_token not in caplog.text
    assert open_listeners() == []


async def test_a_bot_token_in_the_app_token_field_is_named(slack, monkeypatch, caplog):
    import json

    from tests.interactive.conftest import connection_json

    conn = json.loads(connection_json(slack))
    conn["extra"]["app_token"] = slack.workspace.bot_token
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", json.dumps(conn))
    async with socket_mode(SlackGateHook()):
        await until(lambda: slack.call_count("apps.connections.open") >= 1, 10)
        await until(lambda: "not_allowed_token_type" in caplog.text, 5)
    assert "App-Level Tokens" in caplog.text
    assert slack.workspace.bot_token not in caplog.text


async def test_a_click_decides_the_gate_held_in_its_loop_with_one_read_to_confirm_it(slack):
    """The receiver judges the click on the snapshot the loop's watcher holds and hands it the record it
    posted. The approval costs exactly one read, of its own thread, which confirms it (a reject Slack
    gave to another connection must still win: the record is a reply, which the channel's history
    cannot confirm)."""
    ws = slack.workspace
    ts = post_ask(slack, ApprovalPolicy(approvers=frozenset({ws.alice})))
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)
    from tests.interactive.test_socket_mode_events import _first_look_done

    await until(lambda: _first_look_done(ts), 10)  # the read after the hello: every reply is known
    slack.reset_counters()
    await click(slack, ts, ws.alice)
    payload = await asyncio.wait_for(gate, DECIDE_WITHIN)
    assert (slack.call_count("conversations.history"), slack.call_count("conversations.replies")) == (0, 1)
    assert payload["decision"]["outcome"] == "approved"
    (record,) = records(slack, ts)
    assert payload["decision"]["votes"][0]["ts"] == record["ts"]
