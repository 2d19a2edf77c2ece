"""Run a real Airflow on 127.0.0.1 in a private home: the end-to-end tests' and the demo's Airflow.

:class:`AirflowRunner` migrates a SQLite database in a temporary ``AIRFLOW_HOME`` and starts the API
server, scheduler (LocalExecutor), triggerer and DAG processor as separate processes, each in its own
process group, with every setting from the environment it builds (nothing is inherited from the
caller's ``AIRFLOW_*`` variables, so a real deployment's database is never touched). The API server
listens on 127.0.0.1 and a free port; the log servers are not started, so nothing else listens.
:meth:`AirflowRunner.stop` stops every process it started, also their children, also on Ctrl-C.
:class:`AirflowApi` is a small REST client (``/api/v2`` with a JWT from ``/auth/token``).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

HOST = "127.0.0.1"
#: The Airflow processes, in start order (the API server first: the others report to it).
COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server", "--host", HOST),  # --port is added at start
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "triggerer": ("triggerer", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
}
#: A module installed as ``airflow_local_settings`` when ``gate_poke_interval`` is set: an Airflow
#: cluster policy that shortens SlackApprovalSensor's poke interval (and changes nothing else).
POKE_POLICY = '''"""Written by airflow_slack_gate.testing.airflow_runner: read Slack often, runs end fast."""

POKE_INTERVAL = {poke_interval!r}


def task_policy(task):
    if type(task).__name__ == "SlackApprovalSensor":
        task.poke_interval = POKE_INTERVAL
'''
TERMINAL_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
TERMINAL_RUN_STATES = frozenset({"success", "failed"})

T = TypeVar("T")


class AirflowRunnerError(RuntimeError):
    """Airflow did not start, a process died, or a condition was not met in time."""


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll ``condition()`` until it returns something other than None/False; return that value.

    Raises :class:`AirflowRunnerError` naming ``what`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise AirflowRunnerError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class AirflowApi:
    """Airflow's REST API (``/api/v2``) as a user with a password (SimpleAuthManager), stdlib only."""

    def __init__(self, url: str, username: str, password: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._token: str | None = None

    # -- HTTP ----------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http URL on 127.0.0.1
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def token(self) -> str:
        """A JWT for the user, from ``POST /auth/token`` (cached)."""
        if self._token is None:
            answer = self._send(
                "POST", f"{self.url}/auth/token", {"username": self.username, "password": self.password}
            )
            self._token = str(answer["access_token"])
        return self._token

    def request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """Call ``/api/v2`` + ``path``; raise :class:`AirflowRunnerError` with Airflow's answer on errors."""
        url = f"{self.url}/api/v2{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        try:
            return self._send(method, url, body, {"Authorization": f"Bearer {self.token()}"})
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise AirflowRunnerError(f"{method} {path}: HTTP {error.code}: {detail}") from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, **query)

    # -- reading ---------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any] | None:
        """``/api/v2/monitor/health`` (no login needed), or None while the API server is not answering."""
        try:
            return self._send("GET", f"{self.url}/api/v2/monitor/health")
        except (OSError, ValueError):
            return None

    def import_errors(self) -> list[dict[str, Any]]:
        """DAG files that failed to import (``filename``, ``stack_trace``)."""
        return list(self.get("/importErrors")["import_errors"])

    def dag_ids(self) -> set[str]:
        """The DAGs Airflow has parsed."""
        return {dag["dag_id"] for dag in self.get("/dags", limit=100)["dags"]}

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances")["task_instances"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{task_id: state}`` of one run (unmapped tasks)."""
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        ti = self.get(f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}")
        return ti["state"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """An XCom value as the task pushed it (JSON)."""
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/xcomEntries/{_q(key)}"
        value = self.get(path)["value"]
        if isinstance(value, str):
            with suppress(ValueError):
                return json.loads(value)
        return value

    def hitl_detail(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """A task's Human-in-the-loop request and its answer (``chosen_options``, ``responded_by_user``)."""
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/{map_index}/hitlDetails"
        return dict(self.get(path))

    # -- acting and waiting ----------------------------------------------------------------------------

    def answer_hitl(
        self, dag_id: str, run_id: str, task_id: str, chosen: Iterable[str], map_index: int = -1
    ) -> dict[str, Any]:
        """Answer a task's Human-in-the-loop request as this user, as the Airflow UI does (``PATCH``)."""
        path = f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/{map_index}/hitlDetails"
        body = {"chosen_options": list(chosen), "params_input": {}}
        return dict(self.request("PATCH", path, body))

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a run of ``dag_id`` now with ``conf`` (DAG params); return its run id."""
        body = {"logical_date": None, "conf": dict(conf or {})}
        return str(self.request("POST", f"/dags/{_q(dag_id)}/dagRuns", body)["dag_run_id"])

    def wait_for_dags(self, dag_ids: Iterable[str], *, timeout: float = 120.0) -> None:
        """Wait until every DAG in ``dag_ids`` is parsed; fail at once on an import error."""
        wanted = set(dag_ids)

        def parsed() -> bool:
            errors = self.import_errors()
            if errors:
                text = "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors)
                raise AirflowRunnerError(f"DAG import errors:\n{text}")
            return wanted <= self.dag_ids()

        wait_until(parsed, timeout=timeout, what=f"DAGs {sorted(wanted)} to be parsed", interval=0.5)

    def wait_for_task_state(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], *, timeout: float = 120.0
    ) -> str:
        """Wait until the task instance is in one of ``states``; fail early if it ends in another."""
        wanted = set(states)

        def reached() -> str | None:
            state = self.task_state(dag_id, run_id, task_id)
            if state in wanted:
                return state
            if state in TERMINAL_TASK_STATES:
                raise AirflowRunnerError(f"{dag_id}.{task_id} ended {state!r}, not {sorted(wanted)}")
            return None

        return wait_until(reached, timeout=timeout, what=f"{dag_id}.{task_id} to be {sorted(wanted)}")

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float = 180.0) -> str:
        """Wait until the run succeeds or fails; return its state."""

        def finished() -> str | None:
            state = self.dag_run(dag_id, run_id)["state"]
            return state if state in TERMINAL_RUN_STATES else None

        return wait_until(finished, timeout=timeout, what=f"run {run_id} of {dag_id} to finish")


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


class AirflowRunner:
    """A real Airflow (API server, scheduler, triggerer, DAG processor) on 127.0.0.1, in a private home.

    Use as a context manager; :meth:`start` returns once the API server answers, every component
    reports healthy and the DAGs in ``wait_for_dags`` are parsed. :attr:`api` talks to it as
    :attr:`username`/:attr:`password`.

    :param dags_folder: Airflow's DAGs folder.
    :param home: ``AIRFLOW_HOME``; a new temporary directory (removed on stop) if None.
    :param env: Extra environment of every process (e.g. ``AIRFLOW_CONN_...``, ``AIRFLOW_VAR_...``).
    :param gate_poke_interval: If set, a cluster policy makes every SlackApprovalSensor read Slack this
        often (seconds), so runs finish fast; nothing else about the DAGs changes.
    :param wait_for_dags: DAG ids that must be parsed before :meth:`start` returns.
    :param components: Which of :data:`COMPONENTS` to start (all by default; the API server always).
    :param database_url: Airflow's metadata database (SQLAlchemy URL); a SQLite file in the home if None.
    :param users: More users of the simple auth manager, ``{name: role}`` (``viewer``, ``user``, ``op``,
        ``admin``...), each with a random password; :meth:`api_as` talks to Airflow as one of them.
    :param stream: Where to print progress lines (None: quiet).
    """

    def __init__(
        self,
        dags_folder: str | os.PathLike[str],
        *,
        home: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        gate_poke_interval: float | None = None,
        wait_for_dags: Iterable[str] = (),
        components: Iterable[str] = tuple(COMPONENTS),
        database_url: str | None = None,
        users: Mapping[str, str] | None = None,
        start_timeout: float = 240.0,
        stop_timeout: float = 20.0,
        stream: IO[str] | None = None,
    ) -> None:
        self.dags_folder = Path(dags_folder).resolve()
        self._own_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="slack-gate-airflow-"))
        self.extra_env = dict(env or {})
        self.gate_poke_interval = gate_poke_interval
        self.expected_dags = list(wait_for_dags)
        unknown = set(components) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown Airflow components {sorted(unknown)}; choose from {list(COMPONENTS)}")
        self.components = [name for name in COMPONENTS if name in {"api-server", *components}]
        self.database_url = database_url
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.stream = stream
        self.port = 0
        self.username = "admin"
        self.password = secrets.token_urlsafe(12)
        if self.username in (users or {}):
            raise ValueError(f"{self.username!r} is the runner's own admin user; choose other names")
        self.roles = {self.username: "admin", **dict(users or {})}
        self.passwords = {name: secrets.token_urlsafe(12) for name in self.roles}
        self.passwords[self.username] = self.password
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: dict[str, float] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._stopped = threading.Event()
        self._api: AirflowApi | None = None
        self._env: dict[str, str] = {}
        self._component: dict[str, str] = {}  # processes started by add(): their component

    # -- public ------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API server's (and the UI's) address, e.g. ``http://127.0.0.1:50123``."""
        return f"http://{HOST}:{self.port}"

    @property
    def api(self) -> AirflowApi:
        if self._api is None:
            raise AirflowRunnerError("Airflow is not started")
        return self._api

    def api_as(self, username: str) -> AirflowApi:
        """Airflow's REST API as ``username``, one of the ``users`` given (or the admin)."""
        if self._api is None:
            raise AirflowRunnerError("Airflow is not started")
        return AirflowApi(self.url, username, self.passwords[username])

    @property
    def environment(self) -> dict[str, str]:
        """The environment every component runs with (a copy; empty before :meth:`start`)."""
        return dict(self._env)

    @property
    def log_dir(self) -> Path:
        return self.home / "runner-logs"

    def start(self) -> AirflowRunner:
        """Migrate the database, start the four processes and wait until Airflow is ready."""
        atexit.register(self.stop)
        try:
            self._start()
        except AirflowRunnerError as error:
            logs = self.logs(tail=80)  # read before stop() removes a temporary home
            self.stop()
            raise AirflowRunnerError(f"{error}\n{logs}") from None
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process this runner started (and their children); safe to call more than once."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        atexit.unregister(self.stop)
        with _stop_signals_ignored():
            self._terminate(self.processes.values())
            if sys.platform.startswith("linux"):
                self._terminate_leftovers()
            for log in self._logs.values():
                log.close()
            if self._own_home:
                shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> AirflowRunner:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def logs(self, tail: int = 200, *, task_logs: bool = True) -> str:
        """The last ``tail`` lines of every process's output and task log, for failure reports."""
        paths = [(name, self.log_dir / f"{name}.log") for name in [*COMPONENTS, *self._component]]
        if task_logs:
            task_dir = self.home / "logs"
            found = sorted(task_dir.glob("dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime)
            paths += [(str(path.relative_to(task_dir)), path) for path in found]
        parts = []
        for name, path in paths:
            with suppress(OSError):
                lines = path.read_text(errors="replace").splitlines()[-tail:]
                parts.append(f"----- {name} ({path}) -----\n" + "\n".join(lines))
        return "\n".join(parts)

    def wait_until_deferral_settled(
        self, dag_id: str, run_id: str, task_id: str, *, timeout: float = 30.0
    ) -> None:
        """Wait until the scheduler has processed the executor's report on the worker that deferred the task.

        Works around apache/airflow#67287 and #72716 (open in 3.3.2): when a task defers, its worker's
        exit is reported as "success" a little later. If that report reaches the scheduler after a
        trigger has already put the task back to queued or running (people answered within seconds),
        the scheduler takes it for a task killed from outside and fails the task. Answer only after
        this returns, and the race cannot happen.
        """
        ti = self.api.get(f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}")
        key = f"dag_id={dag_id!r}, task_id={task_id!r}, run_id={run_id!r}, try_number={ti['try_number']}"
        needle = f"Received executor event with state success for task instance TaskInstanceKey({key}, "
        with (self.log_dir / "scheduler.log").open("r", errors="replace") as log:
            seen = ""

            def reported() -> bool:
                nonlocal seen
                seen = seen[-len(needle) :] + log.read()
                return needle in seen

            wait_until(reported, timeout=timeout, what=f"the scheduler to see {task_id} defer")

    def add(self, name: str, component: str) -> None:
        """Start one more process of ``component`` (e.g. a second triggerer), called ``name``."""
        if name in self.processes:
            raise AirflowRunnerError(f"a process called {name!r} is already started")
        if component not in COMPONENTS or component == "api-server":
            raise ValueError(f"choose a component from {list(COMPONENTS)[1:]}, not {component!r}")
        self._component[name] = component
        self._spawn(name, list(COMPONENTS[component]), self._env)

    def kill(self, name: str) -> None:
        """Kill process ``name`` (and its children) with SIGKILL, as a crash or an OOM kill would."""
        process = self.processes[name]
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def restart(self, name: str) -> None:
        """Start process ``name`` again (after :meth:`kill`), with the environment it first had."""
        if self.processes[name].poll() is None:
            raise AirflowRunnerError(f"airflow {name} is still running; kill it first")
        self._logs[name].close()
        self._spawn(name, list(COMPONENTS[self._component.get(name, name)]), self._env)

    def leftover_pids(self) -> list[int]:
        """Processes still running that this runner started, or that they started (Linux ``/proc``).

        Found by session (each component leads its own; Airflow's task runners change only their
        process group) and by working directory (every process starts in :attr:`home`), because
        process titles overwrite what ``/proc`` shows of their environment.
        """
        sessions = {process.pid for process in self.processes.values()}
        return sorted(set(pids_in_sessions(sessions)) | set(pids_with_cwd_in(self.home)))

    # -- starting ----------------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        if self.stream is not None:
            print(text, file=self.stream, flush=True)

    def _start(self) -> None:
        began = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        self.port = free_port()
        env = self._env = self._environment()
        self._api = AirflowApi(self.url, self.username, self.password)
        self._say(f"Airflow home: {self.home}")
        self._say(
            f"Migrating Airflow's database ({'SQLite' if self.database_url is None else 'external'})..."
        )
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            capture_output=True,
            timeout=self.start_timeout,
            start_new_session=True,
            check=False,
        )
        if migrate.returncode != 0:
            output = (migrate.stdout + migrate.stderr).decode(errors="replace")[-5000:]
            raise AirflowRunnerError(f"airflow db migrate failed:\n{output}")
        self.timings["migrate"] = time.monotonic() - began
        self._say(f"Starting Airflow's {', '.join(self.components)} on {HOST}...")
        for name in self.components:
            extra = ("--port", str(self.port)) if name == "api-server" else ()
            self._spawn(name, [*COMPONENTS[name], *extra], env)
        deadline = began + self.start_timeout
        wait_until(self._healthy, timeout=max(1.0, deadline - time.monotonic()), what="Airflow to be healthy")
        if self.expected_dags:
            self.api.wait_for_dags(self.expected_dags, timeout=max(1.0, deadline - time.monotonic()))
        self.timings["ready"] = time.monotonic() - began
        self._say(f"Airflow is up at {self.url} after {self.timings['ready']:.0f}s")

    def _environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps(self.passwords))
        passwords.chmod(0o600)
        if self.gate_poke_interval is not None:
            config = self.home / "config"
            config.mkdir(exist_ok=True)
            policy = POKE_POLICY.format(poke_interval=float(self.gate_poke_interval))
            (config / "airflow_local_settings.py").write_text(policy)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                # LocalExecutor forks this many workers at once; deferred tasks hold none.
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                    f"{name}:{role}" for name, role in self.roles.items()
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url
                or f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__API__HOST": HOST,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                # Look for new DAG files every few seconds instead of every 5 minutes.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
                # A worker notices its task process exited within 1s, not 5s (it waits that long to
                # heartbeat), so its slot frees and its report reaches the scheduler sooner.
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs[name] = log
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter running Airflow's CLI
            [sys.executable, "-m", "airflow", *args],
            env=env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C in a terminal does not reach it
        )

    def _healthy(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AirflowRunnerError(
                    f"airflow {name} exited with code {process.returncode} while starting"
                )
        health = self.api.health()
        if not health:
            return False
        parts = [
            "metadatabase",
            *(name.replace("-", "_") for name in self.components if name != "api-server"),
        ]
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    # -- stopping ----------------------------------------------------------------------------------------

    def _terminate(self, processes: Iterable[subprocess.Popen[bytes]]) -> None:
        running = [process for process in processes if process.poll() is None]
        for process in running:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in running:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in processes:
            # The group may hold children (LocalExecutor workers, parsers) even after its leader exited.
            _signal_group(process.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    def _terminate_leftovers(self) -> None:
        """Kill what escaped the process groups (task runners get groups of their own)."""
        for pid in self.leftover_pids():
            _signal_pid(pid, signal.SIGTERM)
        with suppress(AirflowRunnerError):
            wait_until(lambda: not self.leftover_pids(), timeout=5, what="task processes to exit")
        for pid in self.leftover_pids():
            _signal_pid(pid, signal.SIGKILL)


def _live_processes() -> Iterator[tuple[int, str]]:
    """(pid, the part of ``/proc/<pid>/stat`` after the command) of every process but this one and zombies."""
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                yield int(entry.name), " ".join(fields)


def pids_in_sessions(sessions: Iterable[int]) -> list[int]:
    """Running processes whose session id is one of ``sessions`` (Linux ``/proc``)."""
    wanted = set(sessions)
    return [pid for pid, fields in _live_processes() if int(fields.split()[3]) in wanted]


def pids_with_cwd_in(directory: str | os.PathLike[str]) -> list[int]:
    """Running processes (of this user) whose working directory is ``directory`` or below it, even
    if it was deleted since (Linux ``/proc``)."""
    root = os.path.realpath(directory)
    found = []
    for pid, _ in _live_processes():
        with suppress(OSError):
            cwd = os.readlink(f"/proc/{pid}/cwd").removesuffix(" (deleted)")
            if cwd == root or cwd.startswith(root + os.sep):
                found.append(pid)
    return found


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


@contextmanager
def _stop_signals_ignored() -> Iterator[None]:
    """Let clean-up finish even if Ctrl-C is pressed again or SIGTERM arrives (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
