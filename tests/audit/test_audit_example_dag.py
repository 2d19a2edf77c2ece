"""The example DAG that archives the audit trail weekly writes the week's records to a file."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks.asking import Asking, Question
from airflow_slack_gate.hooks.slack import SlackGateHook

try:  # Airflow >= 3.2
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

pytestmark = pytest.mark.usefixtures("fast_slack_reads")

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "slack_audit_archive.py"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy?"}}


def test_the_weekly_archive_writes_the_weeks_questions(slack_emulator, monkeypatch, tmp_path):
    from airflow.sdk.execution_time.context import set_current_context

    ws = slack_emulator.workspace
    question = Question(
        "Deploy?", lambda: {"text": "Deploy?", "blocks": [SECTION]}, ApprovalPolicy(), [], "sha256:1"
    )
    identity = {
        "dag_id": "d",
        "run_id": "r",
        "task_id": "ask",
        "map_index": -1,
        "try_number": 1,
        "ti_id": "t",
    }
    ts = (
        Asking(SlackGateHook(), log=logging.getLogger("test"))
        .ask(ws.approvals, identity, question, since=time.time() - 60)
        .ts
    )
    slack_emulator.reply("approvals", ts, ws.alice, "approve")
    monkeypatch.setenv("AIRFLOW_VAR_SLACK_GATE_AUDIT_DIR", str(tmp_path))
    task = DagBag(dag_folder=str(EXAMPLE)).dags["slack_gate_audit_archive"].get_task("archive_audit_trail")
    end = datetime.now(tz=timezone.utc) + timedelta(minutes=1)
    start = end - timedelta(days=7)
    context = {
        "data_interval_start": start,
        "data_interval_end": end,
        "dag_run": SimpleNamespace(run_after=end),
    }

    with set_current_context(context):  # type: ignore[arg-type]
        written = Path(task.python_callable())

    assert written == tmp_path / f"slack-gate-audit-{start:%Y-%m-%d}.json"
    [record] = json.loads(written.read_text())
    assert (record["ts"], record["review_digest"]) == (ts, "sha256:1")
    assert [(vote["user"], vote["vote"]) for vote in record["votes"]] == [(ws.alice, "approve")]
