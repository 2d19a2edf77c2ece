"""A private PostgreSQL cluster for one test module: ``initdb`` in a temporary directory, a server on
127.0.0.1 and a free port (and a socket in that directory only), a random password, always stopped and
removed. As root it runs as the ``postgres`` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from airflow_slack_gate.testing.airflow_runner import free_port

INSTALL_HINT = "install PostgreSQL (Debian: apt-get install -y postgresql; .ci/run does this)"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot run here; the message says why and how to fix it."""


def postgres_bin() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: on the PATH, else Debian's newest version."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    raise PostgresUnavailable(f"no initdb/pg_ctl found: {INSTALL_HINT}")


class PostgresServer:
    """``with PostgresServer() as pg: pg.url`` — a SQLAlchemy URL of an empty database ``airflow``."""

    def __init__(self) -> None:
        self.port = 0
        self.password = secrets.token_urlsafe(16)
        self.dir: Path | None = None
        self._started = False
        self._as: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://airflow:{self.password}@127.0.0.1:{self.port}/airflow"

    def start(self) -> PostgresServer:
        try:
            import psycopg2  # noqa: F401 - Airflow's PostgreSQL driver
        except ImportError:
            raise PostgresUnavailable("psycopg2 is not installed: pip install psycopg2-binary") from None
        bin_dir = postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="slack-gate-pg-"))
        atexit.register(self.stop)
        try:
            self._start(bin_dir, self.dir)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, bin_dir: Path, work: Path) -> None:
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root but there is no 'postgres' user: {INSTALL_HINT}"
                ) from None
            os.chown(work, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        password_file = work / "password"
        password_file.write_text(self.password + "\n")
        if self._as:
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        password_file.chmod(0o600)
        data = work / "data"
        self._run(
            bin_dir / "initdb",
            "-D", str(data), "-U", "airflow", f"--pwfile={password_file}", "--auth=scram-sha-256",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.port = free_port()
        options = (
            f"-p {self.port} -k {work} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        self._run(
            bin_dir / "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(work / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self._started = True
        self._run(bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "airflow", "airflow")

    def _run(self, program: Path, *args: str) -> None:
        env = {**os.environ, "PGPASSWORD": self.password}
        done = subprocess.run(
            [*self._as, str(program), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            log = ""
            if self.dir is not None and (self.dir / "server.log").exists():
                log = (self.dir / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{program.name} failed ({done.returncode}): {done.stdout}{done.stderr}{log}")

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and remove its directory."""
        atexit.unregister(self.stop)
        if self._started and self.dir is not None:
            self._started = False
            bin_dir = postgres_bin()
            subprocess.run(
                [
                    *self._as,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.dir / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
