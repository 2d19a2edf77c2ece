"""Test set-up: a private AIRFLOW_HOME with its own SQLite database, and the test DAGs folder.

Airflow reads its configuration when first imported, so the environment is set here, before any test
module imports Airflow.
"""

from __future__ import annotations

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
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
os.environ.pop("AIRFLOW_CONN_SLACK_GATE_DEFAULT", None)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) for dag.test()."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=300)
    return AIRFLOW_HOME


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
