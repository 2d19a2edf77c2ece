"""Slack follows Airflow: when a HITL request asked in Slack ends in Airflow (answered in the Airflow UI or
its REST API, or by a click), the plugin's listener, running where the task finishes, shows the outcome
in the request's message and removes its buttons. Only the bot's own message naming this try is
touched, and a message that already shows the answer is left alone."""

from __future__ import annotations

import json
import logging

from airflow_slack_gate.core.hitl import ANSWER_BLOCK, OPTION_ACTION
from tests.hitl.conftest import answer_in_airflow

APPROVE = f"{OPTION_ACTION}_0"


def buttons(message):
    return [b for b in message.get("blocks") or [] if b.get("block_id") == ANSWER_BLOCK]


def states(dag_run):
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def updates_of(slack, ts):
    return [call for call in slack.calls if call.method == "chat.update" and call.params.get("ts") == ts]


def test_a_request_answered_in_airflow_shows_the_answer_in_slack(slack, run_hitl):
    seen = {}

    def people(run):
        seen["message"] = run.message()
        answer_in_airflow("hitl_approval", ["Reject"], user="admin")  # in the Airflow UI

    dag_run = run_hitl("hitl_approval", people)

    assert states(dag_run) == {"approve": "success", "deploy": "skipped"}
    shown = slack.get_message("approvals", seen["message"]["ts"])  # the run is over: shown by then
    assert not buttons(shown)
    text = json.dumps(shown["blocks"])
    assert "Airflow user admin answered *Reject* in Airflow" in text
    assert "Deploy v7?" in text  # the request itself stays readable
    assert shown["metadata"]["event_payload"]["state"] == "answered"


def test_a_request_answered_in_slack_is_not_rewritten_when_the_task_ends(slack, api_server, run_hitl):
    ws = slack.workspace
    seen = {}

    def people(run):
        seen["message"] = message = run.message()
        delivery = slack.click_button("approvals", message["ts"], ws.alice, APPROVE).wait(10)
        assert (delivery.status, delivery.error) == (200, None)
        slack.wait_for(lambda: not buttons(slack.get_message("approvals", message["ts"])))

    dag_run = run_hitl("hitl_approval", people)

    assert states(dag_run) == {"approve": "success", "deploy": "success"}
    ts = seen["message"]["ts"]
    shown = slack.get_message("approvals", ts)
    assert f"<@{ws.alice}> answered *Approve* (Airflow user alice)" in json.dumps(shown["blocks"])
    assert len(updates_of(slack, ts)) == 1  # the click's update only


def test_only_the_bots_own_message_of_this_try_is_updated(slack, run_hitl):
    """Metadata is readable by anyone in the channel: a person's copy of the request, another app's
    bot posting the same metadata, and this bot's message naming another task instance (another
    Airflow sharing the app: same names, other ti_id) all look like the request, and are left alone."""
    ws = slack.workspace
    other_app = slack.create_bot("other-app")
    seen = {}

    def people(run):
        message = seen["message"] = run.message()
        metadata = message["metadata"]
        elsewhere = {**metadata, "event_payload": {**metadata["event_payload"], "ti_id": "0" * 32}}
        seen["forged"] = [
            slack.post_as_user(ws.approvals, ws.mallory, message["text"], blocks=message["blocks"]),
            slack.post_as_bot(
                ws.approvals, other_app, message["text"], blocks=message["blocks"], metadata=metadata
            ),
            slack.post_as_bot(
                ws.approvals, ws.bot_user_id, message["text"], blocks=message["blocks"], metadata=elsewhere
            ),
        ]
        answer_in_airflow("hitl_approval", ["Approve"], user="admin")

    run_hitl("hitl_approval", people)

    assert not buttons(slack.get_message("approvals", seen["message"]["ts"]))
    for ts in seen["forged"]:
        assert buttons(slack.get_message("approvals", ts)), ts
        assert not updates_of(slack, ts)


def test_slack_failing_to_show_the_answer_never_fails_the_task(slack, run_hitl, caplog):
    seen = {}

    def people(run):
        seen["message"] = run.message()
        slack.inject_fault("chat.update", status=200, error="cant_update_message", count=5)
        answer_in_airflow("hitl_approval", ["Approve"], user="admin")

    with caplog.at_level(logging.WARNING):
        dag_run = run_hitl("hitl_approval", people)

    assert states(dag_run) == {"approve": "success", "deploy": "success"}
    assert buttons(slack.get_message("approvals", seen["message"]["ts"]))  # Slack refused the update
    assert "Could not show the answer in Slack" in caplog.text
