"""``airflow-slack-gate demo``: the README's "run the main job" command, run as a person would run it."""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_slack_gate.testing.airflow_runner import AirflowRunnerError, pids_with_cwd_in, wait_until
from tests.support import build_wheel, venv_with_wheel

BIN = Path(sys.executable).parent
CLI = str(BIN / "airflow-slack-gate")
#: The demo must finish in under 3 minutes on a 2-core machine.
DEMO_LIMIT = 180.0
linux_only = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="finds processes via /proc")
#: A shell whose PATH lacks the virtualenv's bin (what `make demo` leaves a person's other shells with).
PATH_WITHOUT_VENV = os.pathsep.join(
    entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry and Path(entry) != BIN
)


@dataclass
class Demo:
    """A running ``airflow-slack-gate demo``, its output read line by line in a thread."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @property
    def output(self) -> str:
        self._drain()
        return "\n".join(self.lines)

    def _drain(self) -> None:
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, containing: str, timeout: float) -> str:
        """The first output line containing ``containing`` (stripped), once the demo printed it."""

        def found() -> str | None:
            self._drain()
            return next((line.strip() for line in self.lines if containing in line), None)

        return wait_until(found, timeout=timeout, what=f"a line with {containing!r} in:\n{self.output}")

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._drain()
        return code

    def leftovers(self) -> list[int]:
        """Processes still running that the demo started: every Airflow process starts in its home."""
        home = self.wait_for_line("Airflow home: ", timeout=1).removeprefix("Airflow home: ")
        return pids_with_cwd_in(home)


def start_demo(
    *args: str, bin_dir: Path = BIN, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Demo:
    """``airflow-slack-gate demo`` of ``bin_dir``, in ``env`` (this one by default) and ``cwd``."""
    env = {
        **(os.environ if env is None else env),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    process = subprocess.Popen(
        [str(bin_dir / "airflow-slack-gate"), "demo", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # like a shell job: Ctrl-C goes to this group only
    )
    demo = Demo(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            demo._queue.put(line)
        demo._queue.put(None)

    threading.Thread(target=read, daemon=True).start()
    return demo


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    """Demos started by a test; killed (with all they started) if the test leaves one running."""
    started: list[Demo] = []
    yield started
    for demo in started:
        if demo.process.poll() is None:
            os.killpg(demo.process.pid, signal.SIGKILL)
            print(demo.output)
        with contextlib.suppress(AirflowRunnerError):  # it never got to start Airflow
            for pid in demo.leftovers():
                os.kill(pid, signal.SIGKILL)


@linux_only
def test_demo_auto_approve_from_a_pip_installed_wheel_deploys_and_leaves_nothing_running(demos, tmp_path):
    """A newcomer's first command: only the wheel, installed with pip in a new venv (no checkout, so no
    example_dags/ to find), no PYTHONPATH or SLACK_GATE_EXAMPLE_DAGS, started in an empty directory."""
    bin_dir = venv_with_wheel(tmp_path, build_wheel(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}
    env["AIRFLOW_HOME"] = str(tmp_path / "home" / "airflow")
    where = subprocess.run(
        [bin_dir / "python", "-c", "import airflow_slack_gate.testing.demo as d; print(d.__file__)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(tmp_path / "venv")), "the wheel's copy runs, not the checkout's"
    began = time.monotonic()
    demos.append(demo := start_demo("--auto-approve", bin_dir=bin_dir, env=env, cwd=empty))

    code = demo.wait(timeout=DEMO_LIMIT)
    took = time.monotonic() - began

    print(f"demo --auto-approve took {took:.1f}s\n{demo.output}")
    assert code == 0, demo.output
    assert took < DEMO_LIMIT
    assert "Outcome: approved by alice" in demo.output
    assert "Branch:  deploy_model ran (deployed churn-classifier " in demo.output
    assert "Skipped: notify_skipped" in demo.output
    assert "log in as" not in demo.output  # the UI stops with the demo: no login that is gone in seconds
    assert "it stops with the demo, in a few seconds (--keep-running keeps it)" in demo.output
    assert list(empty.iterdir()) == []
    assert demo.leftovers() == []


@linux_only
def test_a_person_answers_with_the_printed_command(demos):
    demos.append(demo := start_demo())
    reject = demo.wait_for_line("--user bob 'reject: not this week'", timeout=150)
    assert reject.startswith(f"{CLI} emulator reply --url http://127.0.0.1:")
    assert demo.wait_for_line("Airflow UI    http://127.0.0.1:", timeout=1)
    login = demo.wait_for_line("log in as admin / ", timeout=1)
    assert len(login.split(" / ")[1]) >= 12  # a generated password

    answered = subprocess.run(
        shlex.split(reject),
        env={**os.environ, "PATH": PATH_WITHOUT_VENV},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert answered.returncode == 0, answered.stderr
    assert demo.wait(timeout=120) == 0, demo.output
    assert "Outcome: rejected by bob: not this week" in demo.output
    assert "Branch:  notify_skipped ran" in demo.output
    assert "Skipped: deploy_model" in demo.output
    assert demo.leftovers() == []


@linux_only
def test_ctrl_c_while_waiting_stops_airflow_and_the_emulator(demos):
    demos.append(demo := start_demo())
    demo.wait_for_line("Waiting for an answer", timeout=150)
    assert len(demo.leftovers()) >= 4  # the Airflow processes it started

    os.killpg(demo.process.pid, signal.SIGINT)  # what Ctrl-C in the demo's terminal sends

    assert demo.wait(timeout=60) == 130, demo.output
    assert "Interrupted: Airflow and the Slack emulator are stopped." in demo.output
    assert demo.leftovers() == []
