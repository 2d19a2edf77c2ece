"""The answer commands the demo prints run when pasted into any shell, however the demo was started."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_slack_gate.cli
from airflow_slack_gate.testing.demo import _this_command

BIN = Path(sys.executable).parent
#: A shell whose PATH lacks the virtualenv's bin.
PATH_WITHOUT_VENV = os.pathsep.join(
    entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry and Path(entry) != BIN
)


def run_pasted(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*shlex.split(command), "emulator", "reply", "--help"],
        env={**os.environ, "PATH": PATH_WITHOUT_VENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_started_as_the_console_script_the_command_is_its_absolute_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = BIN / "airflow-slack-gate"
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])

    command = _this_command()

    assert command == str(script)
    assert run_pasted(command).returncode == 0


def test_started_with_python_m_the_command_is_this_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [airflow_slack_gate.cli.__file__, "demo"])

    command = _this_command()

    assert command == f"{sys.executable} -m airflow_slack_gate.cli"
    answered = run_pasted(command)
    assert answered.returncode == 0, answered.stderr
    assert "--user" in answered.stdout
