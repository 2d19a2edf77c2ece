"""Fixtures for the SlackPostOperator tests: DAGs from tests/dags run with dag.test() against the emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_slack_gate.links import SLACK_MESSAGE_XCOM_KEY, SlackMessageLink
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.support import load_dag, task_states, xcom

CONNECTION_ENV = "AIRFLOW_CONN_SLACK_GATE_DEFAULT"
_ERROR_LINE = re.compile(r"\[error\s*\]")


@dataclass
class PostRun:
    """One dag.test() run of a DAG whose only task is ``post``, and everything it printed."""

    dag_run: Any
    output: str

    @property
    def state(self) -> str:
        return task_states(self.dag_run)["post"]

    @property
    def returned(self) -> Any:
        return xcom(self.dag_run, "post")

    @property
    def slack_message(self) -> dict[str, str] | None:
        return xcom(self.dag_run, "post", SLACK_MESSAGE_XCOM_KEY)

    @property
    def link(self) -> str | None:
        """What the "Slack message" button opens (the task runner stores it under the link's XCom key)."""
        return xcom(self.dag_run, "post", SlackMessageLink().xcom_key)

    def errors(self) -> list[str]:
        """The lines logged at ERROR."""
        return [line for line in self.output.splitlines() if _ERROR_LINE.search(line)]


@pytest.fixture
def run_post(
    airflow_db: Any, slack_emulator: SlackEmulator, capfd: pytest.CaptureFixture[str]
) -> Callable[..., PostRun]:
    """Run a DAG of tests/dags with dag.test(run_conf=...) and capture its log."""

    def run(dag_id: str, **run_conf: Any) -> PostRun:
        capfd.readouterr()
        dag_run = load_dag(dag_id).test(run_conf=run_conf or None)
        out, err = capfd.readouterr()
        return PostRun(dag_run, out + err)

    return run


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch, slack_emulator: SlackEmulator) -> Callable[..., None]:
    """Replace the ``slack_gate_default`` connection: ``set_connection(token=..., default_channel=...)``.

    The token defaults to the seeded bot's; ``default_channel=None`` leaves the extra out.
    """

    def define(*, token: str | None = None, default_channel: str | None = None) -> None:
        extra: dict[str, Any] = {"base_url": slack_emulator.base_url}
        if default_channel is not None:
            extra["default_channel"] = default_channel
        connection = {
            "conn_type": "slack_gate",
            "password": token or slack_emulator.workspace.bot_token,
            "extra": extra,
        }
        monkeypatch.setenv(CONNECTION_ENV, json.dumps(connection))

    return define
