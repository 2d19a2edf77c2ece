"""Buttons through a Request URL: the plugin's FastAPI app, served by uvicorn on 127.0.0.1, receives the
emulator's signed POSTs, answers at once, and records clicks durably in Slack. Forged, tampered,
stale and replayed requests are refused."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse

import httpx
import pytest

from airflow_slack_gate.core.messages import APPROVE_ACTION, REJECT_ACTION
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks.sessions import close_shared_sessions
from airflow_slack_gate.interactive.http import _REFUSED as REFUSED
from airflow_slack_gate.testing.emulator.interactivity import sign
from tests.interactive.conftest import click, connection_json, make_trigger, post_ask, records
from tests.support import first_event


def test_a_click_is_answered_at_once_and_recorded_in_slack(slack, request_url):
    ws = slack.workspace
    ts = post_ask(slack, ApprovalPolicy(approvers=frozenset({ws.alice})))
    slack.set_latency("conversations.replies", 3.5)  # Slack is slow; the answer must not wait for it
    delivery = click(slack, ts, ws.alice)
    assert delivery.elapsed < 3
    assert delivery.request_headers["X-Slack-Signature"].startswith("v0=")
    (record,) = slack.wait_for(lambda: records(slack, ts), 15)
    assert record["bot_id"] == ws.bot_id
    assert record["metadata"]["event_payload"]["voter"] == ws.alice


async def test_the_trigger_decides_from_a_click_received_by_the_api_server(slack, request_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack, app_token=False))
    ws = slack.workspace
    ts = post_ask(slack)
    trigger = make_trigger(slack, ts, poke_interval=0.2)  # no Socket Mode: the watcher polls
    gate = asyncio.ensure_future(first_event(trigger))
    await asyncio.to_thread(click, slack, ts, ws.bob)
    payload = await asyncio.wait_for(gate, 20)
    assert payload["decision"]["outcome"] == "approved"
    assert payload["decision"]["votes"][0]["via"] == "button"
    await close_shared_sessions()


def test_reject_with_a_reason_through_the_modal(slack, request_url):
    ws = slack.workspace
    ts = post_ask(slack)
    click(slack, ts, ws.carol, REJECT_ACTION)
    slack.wait_for_view(ws.carol)
    submitted = slack.submit_view(ws.carol, {"reason": "not on a Friday"}).wait(10)
    assert (submitted.status, submitted.body) == (200, "")  # an empty 200 closes the modal
    (record,) = slack.wait_for(lambda: records(slack, ts), 15)
    assert record["metadata"]["event_payload"]["reason"] == "not on a Friday"
    slack.wait_for(lambda: not slack.open_views(ws.carol), 5)


def test_someone_who_may_not_vote_is_told_ephemerally(slack, request_url):
    ws = slack.workspace
    ts = post_ask(slack, ApprovalPolicy(approvers=frozenset({ws.alice})))
    click(slack, ts, ws.mallory)
    told = slack.wait_for_ephemeral(ws.mallory, timeout=15)
    assert told.text.startswith("You are not an approver of this gate")
    assert records(slack, ts) == []


# -- refused requests -----------------------------------------------------------------------------------


def _signed_click(slack, ts, user, secret, *, timestamp=None, payload_edit=None):
    """A block_actions request as the emulator would send it, signed with ``secret``."""
    delivery = slack.click_button("approvals", ts, user, APPROVE_ACTION)
    delivery.wait(10)
    payload = dict(delivery.payload)
    if payload_edit:
        payload = payload_edit(payload)
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(secret, body, timestamp)}
    return delivery, body, headers


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("forged", "signature does not match"),
        ("tampered", "signature does not match"),
        ("stale", "more than 5 minutes"),
        ("no-signature", "missing or malformed"),
    ],
)
def test_requests_not_signed_by_slack_now_are_refused(slack, refused, case, why, caplog):
    ws = slack.workspace
    ts = post_ask(slack)
    secret = slack.app_settings().signing_secret
    if case == "forged":
        _, body, headers = _signed_click(slack, ts, ws.mallory, "not-the-secret")
    elif case == "stale":
        _, body, headers = _signed_click(slack, ts, ws.mallory, secret, timestamp=int(time.time()) - 301)
    else:
        _, body, headers = _signed_click(slack, ts, ws.mallory, secret)
        if case == "tampered":
            body = body.replace(ws.mallory, ws.alice)  # make the click look like another person's
        else:
            headers.pop("X-Slack-Signature")
    with caplog.at_level("WARNING", logger="airflow_slack_gate.interactive.http"):
        response = httpx.post(refused, content=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert why in caplog.text  # the log says what failed; the answer is the same for every refusal
    assert response.json() == REFUSED
    assert records(slack, ts) == []


def test_a_replayed_request_is_refused(slack, request_url):
    ws = slack.workspace
    ts = post_ask(slack, ApprovalPolicy(required_approvals=2))
    delivery = click(slack, ts, ws.alice)
    slack.wait_for(lambda: records(slack, ts), 15)
    again = httpx.post(
        request_url, content=delivery.request_body, headers=delivery.request_headers, timeout=10
    )
    assert (again.status_code, again.json()) == (401, REFUSED)


def test_a_valid_request_from_slack_that_is_no_gate_click_is_acknowledged_and_ignored(slack, refused):
    secret = slack.app_settings().signing_secret
    body = urllib.parse.urlencode({"payload": json.dumps({"type": "shortcut", "callback_id": "other"})})
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(secret, body)}
    response = httpx.post(refused, content=body, headers=headers, timeout=10)
    assert (response.status_code, response.text) == (200, "")


def test_a_connection_without_signing_secret_refuses_everything(slack, refused, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack, signing_secret=False))
    body = urllib.parse.urlencode({"payload": "{}"})
    with caplog.at_level("WARNING", logger="airflow_slack_gate.interactive.http"):
        response = httpx.post(refused, content=body, headers=sign("anything", body), timeout=10)
    assert (response.status_code, response.json()) == (401, REFUSED)
    assert "Signing Secret field" in caplog.text  # the fix is in the API server's log, not the answer
