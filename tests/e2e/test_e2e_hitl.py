"""Airflow's own HITL operators in a real Airflow 3.3 (API server, scheduler, DAG processor, LocalExecutor
workers), asked in Slack by SlackHITLNotifier: a signed click on the API server's Request URL is
Airflow's answer (the task leaves awaiting_input, the run goes on, the REST API shows the Slack user's
Airflow user as the responder), and an answer given in Airflow shows in Slack (the plugin's listener,
in the worker that finishes the task)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_slack_gate.core.hitl import ANSWER_BLOCK, OPTION_ACTION
from airflow_slack_gate.core.protocol import HITL_EVENT_TYPE
from airflow_slack_gate.testing.airflow_runner import AirflowRunner
from airflow_slack_gate.testing.emulator import SlackEmulator

pytestmark = pytest.mark.skipif(
    Version(Version(airflow_version).base_version) < Version("3.3"),
    reason="HITL tasks park in awaiting_input and are answered from Slack on Airflow 3.3+",
)

RUN_TIMEOUT = 120.0
APPROVAL, APPROVE_TASK = "slack_gate_hitl_approval", "approve_deploy"
BRANCH, BRANCH_TASK = "slack_gate_hitl_branch", "choose_rollout"


@contextmanager
def request_url(airflow: AirflowRunner, slack: SlackEmulator) -> Iterator[str]:
    """Slack sends the app's clicks to the API server's plugin route (not Socket Mode) meanwhile."""
    url = f"{airflow.url}/slack-gate/interactions"
    slack.configure_app(socket_mode=False, request_url=url)
    try:
        yield url
    finally:
        slack.configure_app(socket_mode=True, request_url="")


def ask(
    airflow: AirflowRunner, slack: SlackEmulator, dag_id: str, task_id: str
) -> tuple[str, dict[str, Any]]:
    """Trigger ``dag_id``; return its run id and the request's Slack message once the task waits for
    its answer, and the scheduler has seen the worker that parked it exit (an answer before that can
    hit apache/airflow#67287: see AirflowRunner.wait_until_deferral_settled)."""
    api = airflow.api
    run_id = api.trigger(dag_id)
    api.wait_for_task_state(dag_id, run_id, task_id, ["awaiting_input"], timeout=RUN_TIMEOUT)
    airflow.wait_until_deferral_settled(dag_id, run_id, task_id)
    return run_id, slack.wait_for(lambda: request_message(slack, run_id), 30)


def request_message(slack: SlackEmulator, run_id: str) -> dict[str, Any] | None:
    for message in slack.messages("approvals"):
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == HITL_EVENT_TYPE and metadata["event_payload"]["run_id"] == run_id:
            return message
    return None


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [block for block in message.get("blocks") or [] if block.get("block_id") == ANSWER_BLOCK]


def click(slack: SlackEmulator, message: dict[str, Any], user: str, option: int) -> None:
    delivery = slack.click_button("approvals", message["ts"], user, f"{OPTION_ACTION}_{option}").wait(10)
    assert (delivery.status, delivery.error) == (200, None), delivery.body


def shown(slack: SlackEmulator, message: dict[str, Any]) -> dict[str, Any]:
    """The message once it shows an outcome (its buttons gone)."""
    return slack.wait_for(lambda: not buttons(m := slack.get_message("approvals", message["ts"])) and m, 30)


def updates_of(slack: SlackEmulator, ts: str) -> int:
    return sum(1 for call in slack.calls if call.method == "chat.update" and call.params.get("ts") == ts)


def test_a_click_in_slack_approves_and_airflow_names_the_slack_users_airflow_user(airflow, e2e_slack):
    api, alice = airflow.api, e2e_slack.workspace.alice
    with request_url(airflow, e2e_slack):
        run_id, message = ask(airflow, e2e_slack, APPROVAL, APPROVE_TASK)
        assert "Deploy churn-classifier v7 to production?" in json.dumps(message["blocks"])

        click(e2e_slack, message, alice, 0)

        assert api.wait_for_run(APPROVAL, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.task_states(APPROVAL, run_id) == {
        "train_model": "success",
        "approve_deploy": "success",
        "deploy": "success",
    }
    detail = api.hitl_detail(APPROVAL, run_id, APPROVE_TASK)
    assert detail["chosen_options"] == ["Approve"]
    assert detail["responded_by_user"] == {"id": "alice", "name": "alice"}  # the Airflow UI shows her
    answered = shown(e2e_slack, message)
    assert f"<@{alice}> answered *Approve* (Airflow user alice)" in json.dumps(answered["blocks"])
    assert updates_of(e2e_slack, message["ts"]) == 1  # the worker's listener left the click's update


def test_an_answer_through_the_rest_api_shows_in_slack(airflow, e2e_slack):
    api = airflow.api
    run_id, message = ask(airflow, e2e_slack, APPROVAL, APPROVE_TASK)

    airflow.api_as("bob").answer_hitl(APPROVAL, run_id, APPROVE_TASK, ["Reject"])

    answered = shown(e2e_slack, message)
    text = json.dumps(answered["blocks"])
    assert "Airflow user bob answered *Reject* in Airflow" in text
    assert answered["metadata"]["event_payload"]["state"] == "answered"
    assert api.wait_for_run(APPROVAL, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.task_states(APPROVAL, run_id)["deploy"] == "skipped"


def test_the_branch_picked_in_slack_runs_and_only_assigned_people_may_pick(airflow, e2e_slack):
    api, ws = airflow.api, e2e_slack.workspace
    with request_url(airflow, e2e_slack):
        run_id, message = ask(airflow, e2e_slack, BRANCH, BRANCH_TASK)
        assert "Only these Airflow users may answer: alice" in json.dumps(message["blocks"])

        click(e2e_slack, message, ws.mallory, 1)  # mallory@example.com is no Airflow user
        assert "does not know which Airflow user you are" in told(e2e_slack, ws.mallory, "Airflow user")
        click(e2e_slack, message, ws.bob, 1)  # an Airflow user who may answer, but not assigned
        assert "You may not answer this request" in told(e2e_slack, ws.bob, "may not answer")
        assert api.hitl_detail(BRANCH, run_id, BRANCH_TASK)["response_received"] is False
        assert api.task_state(BRANCH, run_id, BRANCH_TASK) == "awaiting_input"
        assert buttons(e2e_slack.get_message("approvals", message["ts"]))

        click(e2e_slack, message, ws.alice, 1)  # Everywhere

        assert api.wait_for_run(BRANCH, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.task_states(BRANCH, run_id) == {
        "choose_rollout": "success",
        "deploy_canary": "skipped",
        "deploy_everywhere": "success",
    }
    assert api.hitl_detail(BRANCH, run_id, BRANCH_TASK)["responded_by_user"] == {
        "id": "alice",
        "name": "alice",
    }
    assert f"<@{ws.alice}> answered *Everywhere*" in json.dumps(shown(e2e_slack, message)["blocks"])


def told(slack: SlackEmulator, user: str, text: str) -> str:
    return str(slack.wait_for_ephemeral(user, text_contains=text, timeout=20).text)


def test_a_request_nobody_answers_in_time_shows_the_timeout_in_slack(airflow, e2e_slack):
    api, dag_id = airflow.api, "e2e_hitl_timeout"
    run_id = api.trigger(dag_id)

    assert api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) == "failed"  # approve_or_fail failed
    assert api.task_states(dag_id, run_id) == {
        "approve_with_default": "success",
        "deploy": "skipped",
        "approve_or_fail": "failed",
    }
    assert api.hitl_detail(dag_id, run_id, "approve_with_default")["chosen_options"] == ["Reject"]
    messages = {
        message["metadata"]["event_payload"]["task_id"]: message
        for message in e2e_slack.messages("approvals")
        if (message.get("metadata") or {}).get("event_type") == HITL_EVENT_TYPE
        and message["metadata"]["event_payload"]["run_id"] == run_id
    }
    with_default = shown(e2e_slack, messages["approve_with_default"])
    assert "Nobody answered in time: Airflow took the default *Reject*." in json.dumps(with_default["blocks"])
    failed = shown(e2e_slack, messages["approve_or_fail"])
    assert "Closed without an answer: nobody answered in time, and the task failed" in json.dumps(
        failed["blocks"]
    )
    assert failed["metadata"]["event_payload"]["state"] == "closed"


def test_a_click_slack_gives_to_the_triggerers_socket_mode_is_answered_by_the_api_server(airflow, e2e_slack):
    """The app uses Socket Mode (no Request URL); the triggerer holds its connection while a gate
    waits, gets the HITL click, and hands it to the API server, which answers it."""
    api, ws = airflow.api, e2e_slack.workspace
    gate_dag, gate = "slack_gate_approve_deploy", "ask_for_approval"
    gate_run = api.trigger(gate_dag)
    api.wait_for_task_state(gate_dag, gate_run, gate, ["deferred"], timeout=RUN_TIMEOUT)
    e2e_slack.wait_for_socket_connections(1, timeout=30)  # the triggerer's; the API server holds none
    run_id, message = ask(airflow, e2e_slack, APPROVAL, APPROVE_TASK)

    delivery = e2e_slack.click_button("approvals", message["ts"], ws.alice, f"{OPTION_ACTION}_0").wait(10)

    assert (delivery.via, delivery.error) == ("socket_mode", None)
    assert api.wait_for_run(APPROVAL, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.hitl_detail(APPROVAL, run_id, APPROVE_TASK)["responded_by_user"] == {
        "id": "alice",
        "name": "alice",
    }
    assert f"<@{ws.alice}> answered *Approve* (Airflow user alice)" in json.dumps(
        shown(e2e_slack, message)["blocks"]
    )
    ask_ts = api.xcom(gate_dag, gate_run, gate, "slack_message")["ts"]
    e2e_slack.reply("approvals", ask_ts, ws.alice, "reject")  # end the gate that held the connection
    assert api.wait_for_run(gate_dag, gate_run, timeout=RUN_TIMEOUT) == "success"


def test_a_gate_answered_in_airflows_required_actions_counts_as_the_persons_vote(airflow, e2e_slack):
    """SlackApprovalSensor's gate is an Airflow HITL request too: alice approves it in Airflow (the
    REST API the Required actions page uses); Airflow 3.3 resumes the deferred gate, which records her
    vote in the thread and decides."""
    api, alice = airflow.api, e2e_slack.workspace.alice
    dag_id, gate = "slack_gate_approve_deploy", "ask_for_approval"
    run_id = api.trigger(dag_id)
    api.wait_for_task_state(dag_id, run_id, gate, ["deferred"], timeout=RUN_TIMEOUT)
    airflow.wait_until_deferral_settled(dag_id, run_id, gate)
    request = wait_for_request(api, dag_id, run_id, gate)
    assert request["options"] == ["Approve", "Reject"]
    assert "Deploy churn-classifier" in request["subject"]
    assert request["response_received"] is False

    airflow.api_as("alice").answer_hitl(dag_id, run_id, gate, ["Approve"])

    assert api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.task_states(dag_id, run_id)["deploy_model"] == "success"
    decision = api.xcom(dag_id, run_id, gate, "slack_decision")
    assert decision["outcome"] == "approved"
    assert [(v["user"], v["vote"], v["via"]) for v in decision["votes"]] == [(alice, "approve", "airflow_ui")]
    ask_ts = api.xcom(dag_id, run_id, gate, "slack_message")["ts"]
    records = [
        m
        for m in e2e_slack.replies("approvals", ask_ts)
        if (m.get("metadata") or {}).get("event_payload", {}).get("via") == "airflow_ui"
    ]
    assert len(records) == 1  # the vote is in the thread, for every reader and the audit


def wait_for_request(api: Any, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    from airflow_slack_gate.testing.airflow_runner import AirflowRunnerError, wait_until

    def written() -> dict[str, Any] | None:
        try:
            return api.hitl_detail(dag_id, run_id, task_id)
        except AirflowRunnerError:
            return None

    return wait_until(written, timeout=30, what="the gate's HITL request")
