"""A HITL request shows its options as buttons only where Slack can deliver a click: with
``buttons="auto"`` (the default) only when the connection has a signing secret or an app-level token;
otherwise the message sends people to Airflow."""

from __future__ import annotations

import json
import os

import pytest

from airflow_slack_gate.core.hitl import ANSWER_BLOCK
from airflow_slack_gate.notifiers.slack import SlackHITLNotifier
from tests.hitl.test_hitl_message import LINK, message
from tests.test_messages import assert_valid_block_kit


def answer_blocks(msg):
    return [block for block in msg["blocks"] if block.get("block_id") == ANSWER_BLOCK]


def test_without_a_signing_secret_or_app_token_the_request_is_answered_in_airflow(
    slack, monkeypatch, run_hitl
):
    conn = json.loads(os.environ["AIRFLOW_CONN_SLACK_GATE_DEFAULT"])
    del conn["extra"]["signing_secret"]
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", json.dumps(conn))
    shown = {}

    def people(run):
        shown.update(run.message())  # left unanswered: run_hitl answers it in Airflow

    dag_run = run_hitl("hitl_approval", people)

    assert dag_run.state == "success"
    assert answer_blocks(shown) == []
    blocks = json.dumps(shown["blocks"])
    assert "Answer this request in Airflow. <http://airflow.example/dags/hitl_approval/runs/" in blocks


@pytest.mark.parametrize("has_params", [False, True])
def test_without_buttons_neither_options_nor_a_form_button_show(has_params):
    msg = message(buttons=False, has_params=has_params, form_in_slack=has_params)
    assert_valid_block_kit(msg)
    assert answer_blocks(msg) == []
    assert f"Answer this request in Airflow. <{LINK}|Open the request in Airflow>" in json.dumps(msg)
    assert answer_blocks(message(has_params=has_params, form_in_slack=has_params)), "shown by default"


def test_an_unknown_buttons_value_is_refused_naming_the_allowed_ones():
    with pytest.raises(
        ValueError, match=r"SlackHITLNotifier: buttons must be one of 'auto', 'always', 'never'"
    ):
        SlackHITLNotifier(channel="approvals", buttons="sometimes")
