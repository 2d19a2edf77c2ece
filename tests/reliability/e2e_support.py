"""What the real-Airflow reliability tests share: the DAG they run, how fast gates read Slack, the
triggerer settings that make a dead triggerer's gates move in seconds, and looks at what was posted."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_slack_gate.testing.airflow_runner import AirflowRunner
from airflow_slack_gate.testing.emulator import SlackEmulator

DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "reliability" / "reliability_gates.py"
DAG_ID = "reliability_e2e"
POKE_INTERVAL = 0.5
RUN_TIMEOUT = 120.0
#: A dead triggerer's gates move to a live one once its heartbeat is this old (Airflow's default is
#: 30 s; the tests shorten it, and the heartbeat, so they run in seconds, not minutes). Not below 15 s:
#: with 5 s, a live triggerer starved of CPU by the rest of the suite on 2 cores missed its heartbeats
#: and Airflow moved its gates (2 of 3 full runs failed "a live triggerer keeps its gates").
TRIGGERER_SETTINGS = {
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
}


def run_airflow(slack: SlackEmulator, dags: Path, database_url: str | None = None) -> Iterator[AirflowRunner]:
    """A real Airflow running only :data:`DAG_FILE`, its Slack the emulator; its logs printed on failure."""
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    runner = AirflowRunner(
        dags,
        env={"AIRFLOW_CONN_SLACK_GATE_DEFAULT": slack.airflow_connection(), **TRIGGERER_SETTINGS},
        gate_poke_interval=POKE_INTERVAL,
        wait_for_dags=[DAG_ID],
        database_url=database_url,
        stream=sys.stderr,
    )
    with runner:
        try:
            yield runner
        except BaseException:
            print(runner.logs(tail=150), file=sys.stderr)
            raise


def bot_questions(slack: SlackEmulator) -> list[dict[str, Any]]:
    """The gate bot's top-level messages in #approvals (its questions)."""
    return [m for m in slack.messages("approvals") if m.get("bot_id") == slack.workspace.bot_id]


def bot_replies(slack: SlackEmulator, ts: str) -> list[dict[str, Any]]:
    """The gate bot's replies in the thread of the question at ``ts`` (its outcome replies)."""
    return [m for m in slack.replies("approvals", ts)[1:] if m.get("bot_id") == slack.workspace.bot_id]
