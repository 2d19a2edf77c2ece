"""End-to-end set-up: a real Airflow (API server, scheduler, triggerer, DAG processor) on 127.0.0.1
with the DAGs of example_dags/ and the Slack emulator as its Slack, shared by a test module and
stopped after it (so it does not hold memory while the rest of the suite runs)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_slack_gate.testing.airflow_runner import AirflowRunner
from airflow_slack_gate.testing.emulator import SlackEmulator

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
EXAMPLE_DAG_IDS = (
    "slack_gate_post_metric",
    "slack_gate_approve_deploy",
    "slack_gate_two_of_three",
    "slack_gate_short_circuit",
)
#: How often the gates read Slack here (a cluster policy sets it; the DAG files are unchanged).
POKE_INTERVAL = 0.5

_runner: AirflowRunner | None = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that start a real Airflow (test_e2e_*.py) ``e2e``."""
    here = Path(__file__).parent
    for item in items:
        path = Path(item.path)
        if path.parent == here and path.name.startswith("test_e2e_"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def airflow(e2e_slack: SlackEmulator) -> Iterator[AirflowRunner]:
    """A real Airflow on 127.0.0.1 whose connection ``slack_gate_default`` points at the emulator."""
    global _runner
    runner = AirflowRunner(
        EXAMPLE_DAGS,
        env={
            "AIRFLOW_CONN_SLACK_GATE_DEFAULT": e2e_slack.airflow_connection(),
            **e2e_slack.workspace.example_dag_variables(),
        },
        gate_poke_interval=POKE_INTERVAL,
        wait_for_dags=EXAMPLE_DAG_IDS,
        stream=sys.stderr,
    )
    _runner = runner
    try:
        with runner:
            print(f"\nAirflow started in {runner.timings['ready']:.1f}s", file=sys.stderr)
            yield runner
    finally:
        _runner = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Attach the Airflow processes' and tasks' logs to the report of a failing e2e test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _runner is not None:
        report.sections.append(("Airflow logs", _runner.logs(tail=150)))
