"""A real Airflow (scheduler, triggerer, DAG processor, API server on 127.0.0.1, SQLite) whose triggerer
is killed with SIGKILL while gates wait: people vote while it is down, it starts again, and every gate
decides as the votes say, with nothing posted twice. The token never shows in the database (trigger
rows included), the logs or XCom."""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from airflow_slack_gate.testing.airflow_runner import AirflowRunner
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.reliability.e2e_support import DAG_ID, RUN_TIMEOUT, bot_questions, bot_replies, run_airflow
from tests.support import posts

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("reliability-e2e-triggerer")]


@pytest.fixture(scope="module")
def airflow(e2e_slack: SlackEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowRunner]:
    yield from run_airflow(e2e_slack, tmp_path_factory.mktemp("reliability-dags"))


def trigger_rows(airflow: AirflowRunner) -> list[str]:
    """The kwargs of every row in Airflow's ``trigger`` table, decrypted as the triggerer does."""
    fernet = Fernet(airflow.environment["AIRFLOW__CORE__FERNET_KEY"].encode())
    database = sqlite3.connect(f"file:{airflow.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows = database.execute("SELECT kwargs FROM trigger").fetchall()
    finally:
        database.close()
    return [row if row.startswith("{") else fernet.decrypt(row.encode()).decode() for (row,) in rows]


def test_kill_9_the_triggerer_vote_while_it_is_down_restart_every_gate_decides_once(
    airflow: AirflowRunner, e2e_slack: SlackEmulator
) -> None:
    api, ws = airflow.api, e2e_slack.workspace
    runs = [api.trigger(DAG_ID) for _ in range(3)]
    for run_id in runs:
        api.wait_for_task_state(DAG_ID, run_id, "ask", ["deferred"], timeout=RUN_TIMEOUT)
        airflow.wait_until_deferral_settled(DAG_ID, run_id, "ask")
    asks = [api.xcom(DAG_ID, run_id, "ask", "slack_message") for run_id in runs]
    rows = trigger_rows(airflow)
    assert all(any(a["ts"] in row for row in rows) for a in asks), "the trigger rows hold the gates"
    assert not any(ws.bot_token in row for row in rows), "the token is not in a trigger row"

    killed = time.monotonic()
    airflow.kill("triggerer")
    e2e_slack.reply("approvals", asks[0]["ts"], ws.alice, "approve")
    e2e_slack.reply("approvals", asks[1]["ts"], ws.bob, "reject: not during the freeze")
    assert {api.task_state(DAG_ID, run_id, "ask") for run_id in runs} == {"deferred"}

    airflow.restart("triggerer")
    states = [api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT) for run_id in runs[:2]]
    decided_after = time.monotonic() - killed
    assert api.task_state(DAG_ID, runs[2], "ask") == "deferred", "the unanswered gate still waits"
    e2e_slack.add_reaction(
        "approvals", asks[2]["ts"], ws.carol, "white_check_mark"
    )  # answered after the restart
    states.append(api.wait_for_run(DAG_ID, runs[2], timeout=RUN_TIMEOUT))

    assert states == ["success"] * 3
    outcomes = [api.xcom(DAG_ID, run_id, "ask", "slack_decision") for run_id in runs]
    assert [(d["outcome"], d["decided_by"]) for d in outcomes] == [
        ("approved", [ws.alice]),
        ("rejected", [ws.bob]),
        ("approved", [ws.carol]),
    ]
    assert outcomes[1]["reason"] == "not during the freeze"
    assert [api.task_state(DAG_ID, run_id, "deploy") for run_id in runs] == ["success", "skipped", "success"]
    # Nothing posted twice: one question and one outcome reply per gate.
    assert sorted(q["ts"] for q in bot_questions(e2e_slack)) == sorted(a["ts"] for a in asks)
    assert all(len(bot_replies(e2e_slack, a["ts"])) == 1 for a in asks)
    assert len(posts(e2e_slack)) == 6
    print(f"\nkill -9 to the first two decisions: {decided_after:.1f}s", file=sys.stderr)

    # The token appears nowhere Airflow keeps things: its database, the logs, XCom.
    token = ws.bot_token.encode()
    database = list(airflow.home.glob("airflow.db*"))  # with SQLite's -wal/-journal files
    assert database
    assert not [p for p in database if token in p.read_bytes()]
    logs = [p for p in airflow.home.rglob("*.log") if p.is_file()]
    assert logs
    assert not [p for p in logs if token in p.read_bytes()]
    assert all(ws.bot_token not in str(api.xcom(DAG_ID, run_id, "ask", "slack_message")) for run_id in runs)
