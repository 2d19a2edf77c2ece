"""Fixtures for the reliability tests: the emulator behind a connection whose client gives up after one
second (so "slower than the client timeout" is fast to test), and clean event loops."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from airflow_slack_gate.hooks.sessions import close_shared_sessions
from airflow_slack_gate.testing.emulator import SlackEmulator

#: Seconds the connection's client waits for Slack (the connection's ``timeout`` extra).
CLIENT_TIMEOUT = 1


def connection_json(slack: SlackEmulator, token: str | None = None, timeout: int = CLIENT_TIMEOUT) -> str:
    """The ``slack_gate_default`` connection for the emulator, with a short client timeout, and a signing
    secret, so questions show buttons (a closed copy of a question must lose them)."""
    extra = {
        "base_url": slack.base_url,
        "default_channel": "approvals",
        "timeout": timeout,
        "signing_secret": slack.app_settings().signing_secret,
    }
    return json.dumps(
        {"conn_type": "slack_gate", "password": token or slack.workspace.bot_token, "extra": extra}
    )


@pytest.fixture
def slack(slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackEmulator]:
    """The seeded emulator; ``slack_gate_default`` gives up on Slack after :data:`CLIENT_TIMEOUT` s."""
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack_emulator))
    yield slack_emulator
    slack_emulator.clear_faults()  # no latency left to slow the emulator's shutdown


@pytest.fixture
async def clean_loop() -> AsyncIterator[None]:
    """Close the loop's shared aiohttp sessions after an async test."""
    yield
    await close_shared_sessions()


class Logs:
    """Everything logged during a test: records that reach ``logging`` (caplog) and what Airflow's
    structlog set-up prints to stdout/stderr (capfd), accumulated."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
        self.caplog = caplog
        self.capfd = capfd
        self._seen = ""

    @property
    def text(self) -> str:
        out, err = self.capfd.readouterr()
        self._seen += out + err
        return self.caplog.text + self._seen

    def count(self, needle: str) -> int:
        return self.text.count(needle)


@pytest.fixture
def gate_logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Logs:
    """What the triggers, the watcher and the sensor log (INFO and up)."""
    caplog.set_level(logging.INFO)
    return Logs(caplog, capfd)
