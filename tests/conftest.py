"""Test set-up: a private AIRFLOW_HOME with its own SQLite database, and the test DAGs folder.

Airflow reads its configuration when first imported, so the environment is set here, before any test
module imports Airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_slack_gate.testing.emulator import SlackEmulator

TESTS_DIR = Path(__file__).parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="slack-gate-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(TESTS_DIR / "dags")
# One DAG bundle per folder of tests/dags: dag.test() parses and syncs the whole bundle that owns its
# DAG on every call (Airflow >= 3.2), so small bundles keep each dag.test() from re-serializing every
# test DAG.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": f"tests-{folder.name}",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder)},
        }
        for folder in sorted((TESTS_DIR / "dags").iterdir())
        if folder.is_dir() and not folder.name.startswith("__")
    ]
)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
os.environ.pop("AIRFLOW_CONN_SLACK_GATE_DEFAULT", None)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) for dag.test()."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=300)
    return AIRFLOW_HOME


@pytest.fixture
def fast_slack_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every event loop's rate limiter (the trigger's, inside dag.test()) budgets far above Slack's
    tiers (~50 reads a minute, one read every 1.2 s), so a gate reads Slack at its poke_interval and
    a dag.test() flow takes seconds, not tens of seconds. The pacing itself is tested where it matters
    (tests/watcher/test_intervals_and_limits.py, the reliability and interactive tests)."""
    from airflow_slack_gate.hooks import ratelimit

    monkeypatch.setattr(ratelimit, "TIER_BUDGETS", dict.fromkeys(ratelimit.TIER_BUDGETS, 60_000))
    monkeypatch.setattr(ratelimit, "DEFAULT_BUDGET", 60_000)


@pytest.fixture(scope="module")
def e2e_slack() -> Iterator[SlackEmulator]:
    """The seeded Slack emulator shared by the tests of a module that runs a real Airflow (each test
    finds its own messages by ts)."""
    from airflow_slack_gate.testing.emulator import SlackEmulator

    with SlackEmulator() as emulator:
        emulator.seed_demo_workspace()
        yield emulator


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Leave no private Airflow home behind."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
