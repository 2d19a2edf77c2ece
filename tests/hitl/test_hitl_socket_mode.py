"""HITL answers when the Slack app uses Socket Mode (then Slack sends clicks over a websocket, never to a
Request URL). The API server can hold the app's connection itself (``[slack_gate]
api_server_socket_mode``) and answers there; a click Slack gives to a triggerer's connection (held
while gates wait) is handed to the API server's Request URL route, signed with the connection's
signing secret, and answered there by the same code as any Request URL click."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.runtime.socket_mode import request_url, socket_mode, wait_closed
from tests.hitl.test_hitl_answers import APPROVE, buttons, states
from tests.interactive.conftest import ApiServer, LoopThread


def use_socket_mode(slack, monkeypatch, *, signing_secret=True):
    """The app uses Socket Mode; the connection gets its app-level token (and signing secret)."""
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_SLACK_GATE_DEFAULT"])
    app = slack.configure_app(socket_mode=True)
    conn["extra"]["app_token"] = app.app_token
    if not signing_secret:
        conn["extra"].pop("signing_secret", None)
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", json.dumps(conn))


def click_over_socket_mode(slack, message, user, action_id):
    delivery = slack.click_button("approvals", message["ts"], user, action_id).wait(10)
    assert (delivery.via, delivery.ok) == ("socket_mode", True), delivery
    return delivery


def answered_by_alice(slack, run):
    """Alice clicks Approve; Airflow records her as the responder and the message shows it."""
    message = run.message()
    click_over_socket_mode(slack, message, slack.workspace.alice, APPROVE)
    detail = run.wait_for_detail(lambda d: d.responded_at is not None)
    assert (detail.chosen_options, detail.responded_by) == (["Approve"], {"id": "alice", "name": "alice"})
    slack.wait_for(lambda: not buttons(slack.get_message("approvals", message["ts"])))


def test_the_api_server_holds_socket_mode_and_answers_a_click(slack, run_hitl, monkeypatch):
    use_socket_mode(slack, monkeypatch)
    monkeypatch.setenv("AIRFLOW__SLACK_GATE__API_SERVER_SOCKET_MODE", "slack_gate_default")
    server = ApiServer()  # no triggerer: the API server's own connection takes the click
    try:
        slack.wait_for_socket_connections(1)
        dag_run = run_hitl("hitl_approval", lambda run: answered_by_alice(slack, run))
    finally:
        server.stop()
    assert states(dag_run) == {"approve": "success", "deploy": "success"}
    assert slack.wait_for_socket_connections(0) == []  # the API server closed its connection


async def _hold_listener_until(released: asyncio.Event) -> None:
    async with socket_mode(SlackGateHook()):  # as a waiting gate's trigger does
        await released.wait()


@pytest.fixture
def triggerer(slack):
    """``triggerer()``: a triggerer's loop holding the app's Socket Mode connection, as a waiting
    gate's trigger does (it has no Airflow side of its own); released after the test."""
    loops = []

    def start():
        loop, released = LoopThread(), asyncio.Event()
        loops.append((loop, released, loop.submit(_hold_listener_until(released))))
        slack.wait_for_socket_connections(1)

    yield start
    for loop, released, held in loops:
        loop.loop.call_soon_threadsafe(released.set)
        held.result(15)
        loop.run(wait_closed)
        loop.stop()


@pytest.fixture
def api_server_url(monkeypatch):
    """An API server with the plugin's Request URL route and no Socket Mode of its own, where this
    process's Airflow configuration says the API server is (as a triggerer's does)."""
    server = ApiServer()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"{server.root}/execution/")
    yield server.url
    server.stop()


def test_a_click_on_a_triggerers_connection_is_answered_by_the_api_server(
    slack, run_hitl, monkeypatch, triggerer, api_server_url
):
    use_socket_mode(slack, monkeypatch)
    triggerer()
    dag_run = run_hitl("hitl_approval", lambda run: answered_by_alice(slack, run))
    assert states(dag_run) == {"approve": "success", "deploy": "success"}
    assert {d.via for d in slack.interactivity.deliveries} == {"socket_mode"}  # no Request URL from Slack


def test_without_a_signing_secret_a_triggerer_tells_the_person_to_answer_in_airflow(
    slack, run_hitl, monkeypatch, triggerer, api_server_url
):
    use_socket_mode(slack, monkeypatch, signing_secret=False)
    triggerer()
    notes = []

    def people(run):
        click_over_socket_mode(slack, run.message(), slack.workspace.alice, APPROVE)
        notes.append(slack.wait_for_ephemeral(slack.workspace.alice, timeout=20).text)
        assert run.detail().responded_at is None  # nothing answered (run.unblock() answers in Airflow)

    run_hitl("hitl_approval", people)
    assert "in Airflow" in notes[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "https://af.example:8443/execution/"},
            "https://af.example:8443",
        ),
        ({"AIRFLOW__API__BASE_URL": "https://airflow.example/team-a/"}, "https://airflow.example/team-a"),
        ({"AIRFLOW__API__BASE_URL": "/airflow"}, "http://localhost:8080/airflow"),
    ],
)
def test_a_triggerer_finds_the_api_servers_route_where_airflow_says_the_api_server_is(
    monkeypatch, env, expected
):
    monkeypatch.delenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert request_url("slack gate/x") == f"{expected}/slack-gate/interactions?conn_id=slack%20gate%2Fx"


def test_a_connection_without_an_app_token_named_for_the_api_servers_socket_mode_is_logged(
    slack, monkeypatch, caplog
):
    monkeypatch.setenv("AIRFLOW__SLACK_GATE__API_SERVER_SOCKET_MODE", "slack_gate_default, bad id!")
    server = ApiServer()  # the hitl fixture's connection has no app_token
    server.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("'slack_gate_default', which has no app_token" in e for e in errors), errors
    assert any("'bad id!' is no Airflow connection id" in e for e in errors), errors
    assert slack.socket_connections() == []


@pytest.mark.usefixtures("unhurried_forms")
@pytest.mark.parametrize("held_by", ["api_server", "triggerer"])
def test_over_socket_mode_a_forms_invalid_value_is_shown_in_the_modal(slack, run_hitl, monkeypatch, held_by):
    """A form's submission is judged before it is acknowledged, and the ack carries the invalid inputs
    (``response_action: errors``): the modal stays open; then a valid one answers. By the API
    server's own connection, or handed by a triggerer's to the API server, whose answer the
    triggerer acks with."""
    from airflow_slack_gate.core.hitl import FIELD_BLOCK_PREFIX, FORM_ACTION

    replicas = f"{FIELD_BLOCK_PREFIX}replicas"
    use_socket_mode(slack, monkeypatch)
    loop = released = held = None
    if held_by == "api_server":
        monkeypatch.setenv("AIRFLOW__SLACK_GATE__API_SERVER_SOCKET_MODE", "slack_gate_default")
    server = ApiServer()
    if held_by == "triggerer":
        monkeypatch.setenv("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"{server.root}/execution/")
        loop, released = LoopThread(), asyncio.Event()
        held = loop.submit(_hold_listener_until(released))
    ws = slack.workspace
    answered = []

    def people(run):
        message = run.message()
        click_over_socket_mode(slack, message, ws.alice, FORM_ACTION)
        view = slack.wait_for_view(ws.alice, 10)
        refused = slack.submit_view(ws.alice, {replicas: "0"}, view_id=view.id).wait(10)
        assert refused.via == "socket_mode"
        assert list((refused.ack_payload or {}).get("errors") or {}) == [replicas]
        slack.wait_for(lambda: view.errors)
        assert run.detail().responded_at is None
        assert slack.submit_view(ws.alice, {replicas: "4"}, view_id=view.id).wait(10).ack_payload is None
        answered.append(run.wait_for_detail(lambda d: d.responded_at is not None).params_input)

    try:
        slack.wait_for_socket_connections(1)
        run_hitl("hitl_form", people)
    finally:
        if loop is not None:
            loop.loop.call_soon_threadsafe(released.set)
            held.result(15)
            loop.run(wait_closed)
            loop.stop()
        server.stop()
    assert answered == [{"replicas": 4, "region": "eu", "note": "", "ratio": 0.5}]
