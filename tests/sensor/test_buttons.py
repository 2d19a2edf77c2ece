"""Buttons only where they can work: with ``buttons="auto"`` (the default) the question shows Approve /
Reject only when the connection has an app-level token (Socket Mode) or a signing secret (Request URL),
without which Slack answers a click with an error; ``"always"`` and ``"never"`` override."""

from __future__ import annotations

import pytest

from airflow_slack_gate.core.messages import ANSWER_BLOCK, HOW_BLOCK
from airflow_slack_gate.sensors.slack import SlackApprovalSensor
from tests.interactive.conftest import connection_json
from tests.support import load_dag, people, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")


@pytest.mark.parametrize(
    ("dag_id", "app_token", "signing_secret", "shown"),
    [
        pytest.param("gate_anyone", False, False, False, id="auto-neither"),
        pytest.param("gate_anyone", True, False, True, id="auto-app_token"),
        pytest.param("gate_anyone", False, True, True, id="auto-signing_secret"),
        pytest.param("gate_buttons_always", False, False, True, id="always-neither"),
        pytest.param("gate_buttons_never", True, True, False, id="never-both"),
    ],
)
def test_the_question_shows_buttons_only_where_clicks_can_arrive(
    slack_emulator, monkeypatch, dag_id, app_token, signing_secret, shown
):
    connection = connection_json(slack_emulator, app_token=app_token, signing_secret=signing_secret)
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection)
    asked = {}

    def look_then_approve(ask):
        asked.update(ask)
        slack_emulator.reply("approvals", ask["ts"], slack_emulator.workspace.alice, "approve")

    with people(look_then_approve, slack_emulator):
        run = load_dag(dag_id).test()

    assert xcom(run, "ask") is True
    block_ids = [block.get("block_id") for block in asked["blocks"]]
    assert (ANSWER_BLOCK in block_ids) is shown
    (how,) = [block for block in asked["blocks"] if block.get("block_id") == HOW_BLOCK]
    how_text = how["elements"][0]["text"]
    assert "reply in this thread with `approve`" in how_text, "without buttons people still learn how"
    assert ":white_check_mark: / :+1: to approve" in how_text


@pytest.mark.parametrize("buttons", ["yes", "Auto", None, 1])
def test_an_unknown_buttons_value_fails_at_parse_time_naming_the_allowed_ones(buttons):
    with pytest.raises(ValueError, match=r"Task 'ask': buttons must be one of 'auto', 'always', 'never'"):
        SlackApprovalSensor(task_id="ask", text="Deploy?", buttons=buttons)


@pytest.mark.parametrize(("buttons", "kept"), [("auto", "auto"), (True, "always"), (False, "never")])
def test_true_and_false_mean_always_and_never(buttons, kept):
    assert SlackApprovalSensor(task_id="ask", text="Deploy?", buttons=buttons).buttons == kept
