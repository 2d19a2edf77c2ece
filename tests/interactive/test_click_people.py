"""A button click is judged against the thread as people voted in it: another app's bot reaction does
not make the gate look decided, so it cannot turn every click away."""

from __future__ import annotations

import asyncio

import pytest

from airflow_slack_gate.core.messages import APPROVE_ACTION
from airflow_slack_gate.core.policy import ApprovalPolicy
from tests.interactive.conftest import make_trigger, post_ask, raise_budgets, wait_with_socket_mode

pytestmark = pytest.mark.usefixtures("closing_sessions")


async def test_another_apps_bot_reaction_does_not_make_clicks_look_already_decided(slack):
    ws = slack.workspace
    raise_budgets(ws.bot_token)
    policy = ApprovalPolicy()  # anyone may answer
    ts = post_ask(slack, policy)
    other_app = slack.create_bot("other-app")
    slack.add_member(ws.approvals, other_app.user_id)
    slack.add_reaction(ws.approvals, ts, other_app.user_id, "x")  # would reject, if it were a vote
    gate = asyncio.ensure_future(wait_with_socket_mode(make_trigger(slack, ts, policy)))
    await asyncio.to_thread(slack.wait_for_socket_connections, 1)

    delivery = await asyncio.to_thread(slack.click_button, ws.approvals, ts, ws.alice, APPROVE_ACTION)
    await asyncio.to_thread(delivery.wait, 5)
    payload = await asyncio.wait_for(gate, 15)

    assert (payload["decision"]["outcome"], payload["decision"]["decided_by"]) == ("approved", [ws.alice])
    assert slack.ephemerals(ws.alice) == []  # not told "already decided"
