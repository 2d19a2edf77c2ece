"""A real Airflow on PostgreSQL with two triggerers: the one running the gates is killed with SIGKILL,
its gates move to the other once its heartbeat is stale, and every gate decides as people voted
(before, during and after the hand-over), posting nothing twice."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_slack_gate.testing.airflow_runner import AirflowRunner, wait_until
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.reliability.e2e_support import DAG_ID, RUN_TIMEOUT, bot_questions, bot_replies, run_airflow
from tests.reliability.postgres import PostgresServer, PostgresUnavailable
from tests.support import posts

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("reliability-e2e-postgres")]
GATES = 4


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as reason:
        pytest.skip(f"PostgreSQL is not available: {reason}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def airflow(
    e2e_slack: SlackEmulator, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowRunner]:
    yield from run_airflow(e2e_slack, tmp_path_factory.mktemp("reliability-dags-pg"), postgres.url)


def query(postgres: PostgresServer, sql: str) -> list[tuple[Any, ...]]:
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1", port=postgres.port, user="airflow", password=postgres.password, dbname="airflow"
    )
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


def triggerer_jobs(postgres: PostgresServer) -> list[int]:
    """Ids of the triggerer jobs that are running (oldest first)."""
    rows = query(
        postgres, "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id"
    )
    return [row[0] for row in rows]


def holders(postgres: PostgresServer) -> set[int | None]:
    """Which triggerer job holds each waiting gate's trigger."""
    return {row[0] for row in query(postgres, "SELECT triggerer_id FROM trigger")}


def test_two_triggerers_on_postgres_kill_the_one_with_the_gates_they_move_and_decide(
    airflow: AirflowRunner, e2e_slack: SlackEmulator, postgres: PostgresServer
) -> None:
    api, ws = airflow.api, e2e_slack.workspace
    runs = [api.trigger(DAG_ID) for _ in range(GATES)]
    for run_id in runs:
        api.wait_for_task_state(DAG_ID, run_id, "ask", ["deferred"], timeout=RUN_TIMEOUT)
        airflow.wait_until_deferral_settled(DAG_ID, run_id, "ask")
    asks = [api.xcom(DAG_ID, run_id, "ask", "slack_message") for run_id in runs]
    [first] = wait_until(lambda: triggerer_jobs(postgres), timeout=30, what="the first triggerer's job")
    wait_until(lambda: holders(postgres) == {first}, timeout=30, what="the first triggerer to run every gate")

    airflow.add("triggerer-2", "triggerer")
    second = wait_until(
        lambda: next((job for job in triggerer_jobs(postgres) if job != first), None),
        timeout=60,
        what="the second triggerer's job",
    )
    e2e_slack.reply("approvals", asks[0]["ts"], ws.alice, "approve")  # before the crash
    assert holders(postgres) == {first}, "a live triggerer keeps its gates"

    killed = time.monotonic()
    airflow.kill("triggerer")
    e2e_slack.reply("approvals", asks[1]["ts"], ws.bob, "reject: not now")  # while nobody runs the gate
    wait_until(
        lambda: holders(postgres) == {second}, timeout=60, what="the gates to move to the second triggerer"
    )
    moved_after = time.monotonic() - killed
    e2e_slack.add_reaction("approvals", asks[2]["ts"], ws.carol, "white_check_mark")  # after the move
    e2e_slack.reply("approvals", asks[3]["ts"], ws.dave, "approve")

    states = [api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT) for run_id in runs]
    decided_after = time.monotonic() - killed

    assert states == ["success"] * GATES
    decisions = [api.xcom(DAG_ID, run_id, "ask", "slack_decision") for run_id in runs]
    assert [(d["outcome"], d["decided_by"]) for d in decisions] == [
        ("approved", [ws.alice]),
        ("rejected", [ws.bob]),
        ("approved", [ws.carol]),
        ("approved", [ws.dave]),
    ]
    assert sorted(q["ts"] for q in bot_questions(e2e_slack)) == sorted(a["ts"] for a in asks)
    assert all(len(bot_replies(e2e_slack, a["ts"])) == 1 for a in asks)
    assert len(posts(e2e_slack)) == 2 * GATES
    print(
        f"\ngates moved {moved_after:.1f}s after kill -9; all decided after {decided_after:.1f}s",
        file=sys.stderr,
    )
