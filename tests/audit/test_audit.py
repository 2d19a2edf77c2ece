"""The audit trail, read from Slack alone: a gate decided by a reaction, a reply and a button click, its
run deleted (and its XCom with it), and the audit reproduces every vote, the outcome and the digest."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_slack_gate.cli import main
from airflow_slack_gate.core.audit import iso_time
from airflow_slack_gate.core.messages import APPROVE_ACTION
from tests.support import load_dag, people, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")

DIGEST = "sha256:9b1c2d3e4f"


def socket_mode_connection(slack: Any) -> str:
    """The default connection with the app's app-level token, so a waiting gate takes button clicks."""
    extra = {
        "base_url": slack.base_url,
        "default_channel": "approvals",
        "app_token": slack.app_settings().app_token,
    }
    return json.dumps({"conn_type": "slack_gate", "password": slack.workspace.bot_token, "extra": extra})


def delete_run(run: Any) -> None:
    """Delete the DAG run from Airflow's database: its task instances and XCom go with it."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, func, select

    with create_session() as session:
        session.execute(delete(DagRun).where(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id))
    with create_session() as session:
        left = session.scalar(
            select(func.count()).select_from(XComModel).where(XComModel.run_id == run.run_id)
        )
    assert left == 0, "the run's XCom is gone"


def audit(path: Path, *args: str) -> str:
    """The audit command's output (written to ``path``: in this process Airflow may log to stdout)."""
    assert main(["audit", "--conn-id", "slack_gate_default", "--output", str(path), *args]) == 0
    return path.read_text()


def test_the_audit_of_a_deleted_run_reproduces_every_vote(slack_emulator, monkeypatch, tmp_path):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", socket_mode_connection(slack_emulator))
    monkeypatch.setenv("AIRFLOW_VAR_REVIEW_APPROVERS", ws.deployers)  # alice, bob, carol
    monkeypatch.setenv("AIRFLOW_VAR_REVIEW_REQUIRED_APPROVALS", "3")

    def vote_three_ways(ask):
        slack_emulator.add_reaction("approvals", ask["ts"], ws.alice, "white_check_mark")
        slack_emulator.reply("approvals", ask["ts"], ws.mallory, "approve")  # not an approver
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve: metrics & diff reviewed")
        slack_emulator.wait_for_socket_connections(1, timeout=30)
        slack_emulator.click_button("approvals", ask["ts"], ws.carol, APPROVE_ACTION).wait(10)

    with people(vote_three_ways, slack_emulator):
        run = load_dag("review_gate").test(run_conf={"digest": DIGEST})

    assert task_states(run) == {"build": "success", "ask": "success", "deploy": "success"}
    decision = xcom(run, "ask", "slack_decision")
    delete_run(run)

    out = audit(tmp_path / "trail.json", "--channel", ws.approvals, "--format", "json")

    [record] = json.loads(out)
    assert {key: record[key] for key in ("dag_id", "run_id", "task_id", "map_index", "try_number")} == {
        "dag_id": "review_gate",
        "run_id": run.run_id,
        "task_id": "ask",
        "map_index": -1,
        "try_number": 1,
    }
    assert record["outcome"] == decision["outcome"] == "approved"
    assert record["review_digest"] == decision["review_digest"] == DIGEST
    assert record["superseded"] is False
    assert record["approver_groups"] == [ws.deployers]
    assert record["required_approvals"] == 3
    assert (
        sorted(record["decided_by"]) == sorted(decision["decided_by"]) == sorted([ws.alice, ws.bob, ws.carol])
    )
    assert record["decided_at"][:19] == decision["decided_at"][:19]
    assert record["permalink"] == decision["permalink"]
    assert record["permalink"].startswith("https://")
    assert record["by_this_app"] is True
    assert record["bot_id"] == ws.bot_id
    expected = [
        {
            "user": vote["user"],
            "vote": vote["vote"],
            "via": vote["via"],
            "at": iso_time(float(vote["ts"])) if vote["ts"] else None,
            "reason": vote["reason"],
            "escalated": False,
        }
        for vote in decision["votes"]
    ]
    assert record["votes"] == expected
    assert {(v["user"], v["via"]) for v in record["votes"]} == {
        (ws.alice, "reaction"),
        (ws.bob, "reply"),
        (ws.carol, "button"),
    }
    assert next(v for v in record["votes"] if v["via"] == "reply")["reason"] == "metrics & diff reviewed"

    out = audit(tmp_path / "trail.csv", "--channel", ws.approvals, "--format", "csv")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert (row["dag_id"], row["outcome"], row["review_digest"]) == ("review_gate", "approved", DIGEST)
    assert json.loads(row["votes"]) == expected


def test_a_decider_removed_from_the_group_since_shows_as_allowed_then(slack_emulator, monkeypatch, tmp_path):
    """The gate records how each decider was allowed when it decided; the audit shows it next to
    today's judgement, and names the decider the two disagree on instead of changing silently."""
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_REVIEW_APPROVERS", ws.deployers)  # alice, bob, carol

    with people(lambda ask: slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve"), slack_emulator):
        run = load_dag("review_gate").test(run_conf={"digest": DIGEST})
    assert task_states(run) == {"build": "success", "ask": "success", "deploy": "success"}
    slack_emulator.set_usergroup_users(ws.deployers, [ws.alice, ws.carol])  # bob left @deployers since

    [record] = json.loads(audit(tmp_path / "trail.json", "--channel", ws.approvals))

    assert (record["outcome"], record["decided_by"]) == ("approved", [ws.bob])
    assert record["allowed_then"] == {ws.bob: [ws.deployers]}
    assert (record["allowed_then_not_now"], record["allowed_now_not_then"]) == ([ws.bob], [])
    assert record["votes"] == []  # today's judgement no longer counts bob's vote
    [row] = list(
        csv.DictReader(
            io.StringIO(audit(tmp_path / "trail.csv", "--channel", ws.approvals, "--format", "csv"))
        )
    )
    assert json.loads(row["allowed_then"]) == {ws.bob: [ws.deployers]}
    assert json.loads(row["allowed_then_not_now"]) == [ws.bob]
