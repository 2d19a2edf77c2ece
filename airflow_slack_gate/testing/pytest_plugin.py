"""Pytest plugin of airflow-slack-gate (loaded through the ``pytest11`` entry point).

Fixture ``slack_emulator``: a running :class:`~airflow_slack_gate.testing.emulator.SlackEmulator` with the
standard workspace seeded (ids under ``slack_emulator.workspace``: ``alice``, ``approvals``,
``bot_token``...), and ``AIRFLOW_CONN_SLACK_GATE_DEFAULT`` pointing Airflow's ``slack_gate_default``
connection at it for the duration of the test. Kept import-light: the emulator (aiohttp) is imported
only when a test uses the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_slack_gate.testing.emulator import SlackEmulator

CONNECTION_ENV = "AIRFLOW_CONN_SLACK_GATE_DEFAULT"


@pytest.fixture
def slack_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackEmulator]:
    """A seeded Slack emulator on a free 127.0.0.1 port, wired to the ``slack_gate_default`` connection."""
    from airflow_slack_gate.testing.emulator import SlackEmulator

    with SlackEmulator() as emulator:
        emulator.seed_demo_workspace()
        monkeypatch.setenv(CONNECTION_ENV, emulator.airflow_connection())
        yield emulator
