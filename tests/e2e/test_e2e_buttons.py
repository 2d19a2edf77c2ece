"""Buttons in a real Airflow: the triggerer's Socket Mode listener takes a click, and the API server's
plugin route (/slack-gate/interactions) takes a signed click when the app has a Request URL instead.
The shared Airflow's connection carries the app's app-level token and signing secret; nothing else is
configured (tests/e2e/conftest.py)."""

from __future__ import annotations

import httpx

from airflow_slack_gate.core.messages import APPROVE_ACTION
from tests.e2e.test_e2e_gates import RUN_TIMEOUT, ask_and_wait_deferred, votes

DAG_ID = "slack_gate_approve_deploy"
GATE = "ask_for_approval"


def test_a_click_through_the_triggerers_socket_mode_approves(airflow, e2e_slack):
    alice = e2e_slack.workspace.alice
    run_id, ask = ask_and_wait_deferred(airflow, DAG_ID, GATE)
    (connection,) = e2e_slack.wait_for_socket_connections(1, timeout=30)

    delivery = e2e_slack.click_button(ask["channel"], ask["ts"], alice, APPROVE_ACTION).wait(10)
    assert (delivery.ok, delivery.connection_id) == (True, connection.id)

    assert airflow.api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT) == "success"
    decision = airflow.api.xcom(DAG_ID, run_id, GATE, "slack_decision")
    assert votes(decision) == [(alice, "approve", "button")]
    question = e2e_slack.get_message(ask["channel"], ask["ts"])
    assert not [b for b in question.get("blocks", []) if b.get("type") == "actions"]  # outcome shown
    e2e_slack.wait_for(lambda: not e2e_slack.socket_connections(), 30)  # the last gate closed it


def test_a_signed_click_to_the_api_servers_plugin_route_approves(airflow, e2e_slack):
    bob = e2e_slack.workspace.bob
    url = f"{airflow.url}/slack-gate/interactions"
    e2e_slack.configure_app(socket_mode=False, request_url=url)
    try:
        run_id, ask = ask_and_wait_deferred(airflow, DAG_ID, GATE)
        forged = httpx.post(url, content=b"payload=%7B%7D", headers={"X-Slack-Signature": "v0=00"})
        assert forged.status_code == 401

        delivery = e2e_slack.click_button(ask["channel"], ask["ts"], bob, APPROVE_ACTION).wait(10)
        assert (delivery.status, delivery.error) == (200, None)

        assert airflow.api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT) == "success"
        decision = airflow.api.xcom(DAG_ID, run_id, GATE, "slack_decision")
        assert votes(decision) == [(bob, "approve", "button")]
    finally:
        e2e_slack.configure_app(socket_mode=True, request_url="")
