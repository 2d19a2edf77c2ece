"""Fixtures for the hook tests: SlackGateHook talking HTTP to `slack_emulator`, and checks on its errors."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.sessions import close_shared_sessions
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator

#: The connection id the hook tests use, so messages are seen to name the connection actually used.
CONN_ID = "slack_ops"
#: slack_sdk logs every request and response to this logger at DEBUG (the hook passes it to the client).
SDK_LOGGER = "slack_sdk.gate_tests"


@pytest.fixture
def ws(slack_emulator: SlackEmulator) -> DemoWorkspace:
    """The seeded workspace's ids."""
    return slack_emulator.workspace


@pytest.fixture
def hook(slack_emulator: SlackEmulator) -> SlackGateHook:
    """A hook on the fixture's ``slack_gate_default`` connection: seeded bot, default channel approvals."""
    return SlackGateHook()


Connect = Callable[..., str]


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> Connect:
    """Define an Airflow connection (``AIRFLOW_CONN_<ID>``) at the emulator; return its id.

    ``connect(conn_id, token=..., conn_type="slack_gate", extra={...})``: the token defaults to the
    seeded bot's, the extra to ``{"base_url": <emulator>}``; ``password=None`` leaves the token out.
    """

    def define(
        conn_id: str = CONN_ID,
        *,
        token: str | None = ws.bot_token,
        conn_type: str = "slack_gate",
        extra: dict[str, Any] | None = None,
    ) -> str:
        connection: dict[str, Any] = {
            "conn_type": conn_type,
            "extra": {"base_url": slack_emulator.base_url} if extra is None else extra,
        }
        if token is not None:
            connection["password"] = token
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
        return conn_id

    return define


@pytest.fixture
def unreachable_url() -> Iterator[str]:
    """A base_url on 127.0.0.1 where nothing listens (the port is held, bound but not listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/"


@pytest.fixture
async def close_sessions() -> AsyncIterator[None]:
    """Close the test loop's shared aiohttp sessions after an async test."""
    yield
    await close_shared_sessions()


@dataclass
class Logs:
    """Everything logged during a test: slack_sdk's DEBUG records (caplog) and what reached stdout/stderr."""

    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]

    def __post_init__(self) -> None:
        self._seen = ""

    def text(self) -> str:
        out, err = self.capfd.readouterr()
        self._seen += out + err
        return self.caplog.text + self._seen


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Logs:
    """Captured logs, with every logger (and slack_sdk's request/response log) at DEBUG."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    return Logs(caplog, capfd)


@pytest.fixture
def debug_hook(logs: Logs) -> Callable[..., SlackGateHook]:
    """Make hooks whose slack_sdk client logs every request and response to :data:`SDK_LOGGER` at DEBUG."""

    def make(conn_id: str) -> SlackGateHook:
        return SlackGateHook(slack_conn_id=conn_id, logger=logging.getLogger(SDK_LOGGER))

    return make


ExplainedCheck = Callable[..., None]


@pytest.fixture
def assert_explained(logs: Logs) -> ExplainedCheck:
    """Check that an error names the Slack code, the connection and the fix, and that the token is
    nowhere: not in the error, not in any log of the test."""

    def check(
        error: SlackGateError, *, code: str, conn_id: str, fix: str, permanent: bool, token: str
    ) -> None:
        text = str(error)
        assert error.error_code == code
        assert error.conn_id == conn_id
        assert f"error {code!r}" in text
        assert f"connection {conn_id!r}" in text
        assert fix in text
        assert error.is_permanent is permanent
        assert token not in text
        assert token not in repr(error.args)
        logged = logs.text()
        assert "Sending a request" in logged, "slack_sdk logged no request: the log check would prove nothing"
        assert token not in logged

    return check
