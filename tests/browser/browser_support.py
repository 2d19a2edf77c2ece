"""Shared pieces of the browser tests: paths, Chromium's flags, and a real Airflow API server."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME = "admin"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
LOG_TAIL_LINES = 200


# -- a real Airflow API server ----------------------------------------------------------------------------


@dataclass
class AirflowApiServer:
    """A running ``airflow api-server`` with SimpleAuthManager and connection testing enabled."""

    url: str
    password: str
    log: Path
    env: dict[str, str] = field(repr=False)
    _token: str | None = field(default=None, repr=False)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call Airflow's REST API as the admin user."""
        if self._token is None:
            self._token = self._request(
                "POST", "auth/token", {"username": USERNAME, "password": self.password}
            )["access_token"]
        return self._request(method, path.lstrip("/"), body, token=self._token)

    def _request(self, method: str, path: str, body: dict[str, Any] | None, token: str | None = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, port: int, password_file: Path) -> dict[str, str]:
    """The test process's environment without its Airflow settings, plus a private Airflow's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        }
    )
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it started, by its process group."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)


def wait_until_healthy(server: AirflowApiServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.url + "api/v2/monitor/health", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            process.wait(timeout=0.25)  # the pause between checks; returns at once if the server died
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"airflow api-server exited with {process.returncode}:\n{server.log_tail()}")
    raise RuntimeError(
        f"airflow api-server was not healthy within {START_TIMEOUT:.0f}s:\n{server.log_tail()}"
    )
