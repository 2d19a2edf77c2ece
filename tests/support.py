"""The tests' shared helpers: play the people in Slack while Airflow runs a DAG (dag.test()), build
the trigger a gate defers to and wait for its event, wait for conditions (sync and async), let a
test's event loop read Slack faster than Slack's tiers, and build the wheel and install it in a new
virtualenv."""

from __future__ import annotations

import asyncio
import email.parser
import importlib.metadata
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk import DagRunState
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow < 3.2
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks.ratelimit import loop_rate_limiter, token_key
from airflow_slack_gate.testing.emulator import SlackEmulator
from airflow_slack_gate.triggers.slack import SlackApprovalTrigger

ASK_TIMEOUT = 30.0
CONN_ID = "slack_gate_default"
READS = ("conversations.history", "conversations.replies", "conversations.info", "usergroups.users.list")
WRITES = ("chat.postMessage", "chat.update")


#: Which file of the tests' DAGs folder defines each DAG (learnt from one parse of the whole folder).
_DAG_FILES: dict[str, str] = {}


def load_dag(dag_id: str) -> Any:
    """A DAG from the tests' DAGs folder (dag.test() needs its file there), freshly parsed from the one
    file that defines it, so it reads the Variables the test has just set."""
    if dag_id not in _DAG_FILES:
        bag = DagBag()
        assert not bag.import_errors, bag.import_errors
        _DAG_FILES.update({dag.dag_id: dag.fileloc for dag in bag.dags.values()})
    bag = DagBag(dag_folder=_DAG_FILES[dag_id])
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def wait_for_ask(slack: SlackEmulator, *, after: str | None = None, timeout: float = ASK_TIMEOUT) -> dict:
    """The newest ask message of the bot in #approvals (newer than ``after``), once it is posted."""

    def newest_ask() -> dict | None:
        bot_id = slack.workspace.bot_id
        newer = [m for m in slack.messages("approvals") if m["ts"] > (after or "")]
        asks = [m for m in newer if m.get("bot_id") == bot_id]
        return max(asks, key=lambda m: m["ts"]) if asks else None

    return slack.wait_for(newest_ask, timeout)


@contextmanager
def people(action: Callable[[dict], None], slack: SlackEmulator) -> Iterator[threading.Thread]:
    """Run ``action(ask_message)`` in a thread as soon as the gate asks; re-raise its errors after."""
    errors: list[BaseException] = []

    def act() -> None:
        try:
            action(wait_for_ask(slack))
        except BaseException as error:  # surfaced in the test's thread below
            errors.append(error)

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    yield thread
    thread.join(timeout=ASK_TIMEOUT)
    if errors:
        raise errors[0]


def wait_until(condition: Callable[[], Any], timeout: float = ASK_TIMEOUT, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        time.sleep(0.01)
    return result


def wait_for_reads(slack: SlackEmulator, count: int = 2, method: str = "conversations.history") -> None:
    """Wait until the gate has read Slack ``count`` more times (so it saw what is there and still waits)."""
    start = slack.call_count(method)
    wait_until(lambda: slack.call_count(method) >= start + count, what=f"{count} more {method} calls")


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    ti = next(ti for ti in dag_run.get_task_instances() if ti.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id, key=key)


SUCCESS = DagRunState.SUCCESS


def ask(slack: SlackEmulator, text: str = "Deploy?", channel: str | None = None) -> str:
    """A question posted as the gate's bot (what the sensor's execute() leaves behind); its ts."""
    ws = slack.workspace
    return slack.post_as_bot(channel or ws.approvals, ws.bot_user_id, text)


def trigger(
    slack: SlackEmulator, ts: str, policy: ApprovalPolicy | dict | None = None, **overrides: Any
) -> SlackApprovalTrigger:
    """The trigger the sensor would defer to for the question at ``ts`` (anyone may answer unless
    ``policy`` says otherwise), reading Slack every 0.1 s unless ``poke_interval`` says otherwise."""
    if isinstance(policy, ApprovalPolicy) or policy is None:
        policy = (policy or ApprovalPolicy()).to_dict()
    kwargs: dict[str, Any] = {
        "slack_conn_id": CONN_ID,
        "channel": slack.workspace.approvals,
        "ts": ts,
        "policy": policy,
        "deadline": None,
        "poke_interval": 0.1,
        **overrides,
    }
    return SlackApprovalTrigger(**kwargs)


async def first_event(trigger: SlackApprovalTrigger, timeout: float = 30.0) -> dict[str, Any]:
    """The payload of the trigger's one event (fails after ``timeout`` seconds)."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return await asyncio.wait_for(first(), timeout)


def fast_budgets(token: str, per_minute: int = 60_000, methods: Iterable[str] = READS) -> None:
    """Let this loop call ``methods`` (Slack's read methods by default) as often as the test needs
    (Slack's tiers allow ~50 a minute; the tests compress minutes into seconds). Call from inside the
    test's event loop."""
    limiter = loop_rate_limiter()
    for method in methods:
        limiter.set_budget(token_key(token), method, per_minute)


async def until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``condition`` from async code until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)
    return value


def calls_of(slack: SlackEmulator, method: str) -> list[Any]:
    return [call for call in slack.calls if call.method == method]


def posts(slack: SlackEmulator) -> list[Any]:
    """chat.postMessage calls Slack answered with ok (what people see)."""
    return [call for call in calls_of(slack, "chat.postMessage") if call.status == 200 and not call.error]


# -- the wheel, installed as a user would -------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
#: What setup.cfg builds the wheel from (the rest of the checkout is not in the wheel).
WHEEL_SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "airflow_slack_gate")


def build_wheel(where: Path) -> Path:
    """Build the package's wheel from a copy of its sources in ``where`` (setuptools writes build/ and
    egg-info next to the sources: a copy keeps concurrent builds of the checkout apart)."""
    source = where / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where), str(source)]
    subprocess.run(command, check=True, timeout=300)
    (wheel,) = where.glob("airflow_slack_gate-*.whl")
    return wheel


def venv_with_wheel(where: Path, wheel: Path) -> Path:
    """A new virtualenv in ``where`` with ``wheel`` pip-installed; its bin directory.

    The wheel's dependencies are taken from this interpreter's environment rather than downloaded (a
    full install takes about 35 s more): the new venv sees, through a .pth file, a folder that links
    exactly the distributions the wheel requires, recursively. So a dependency missing from setup.cfg
    fails to import there, and neither the checkout's editable install nor its test-only packages are
    visible."""
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)]
    subprocess.run(install, check=True, timeout=300)
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dependencies = where / "dependencies"
    dependencies.mkdir()
    for entry in _installed_entries(_requirement_closure(_wheel_requirements(wheel))):
        (dependencies / entry.name).symlink_to(entry)
    (Path(site_packages) / "wheel_test_dependencies.pth").write_text(f"{dependencies}\n")
    return venv / "bin"


def _wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist") or []


def _requirement_closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions of ``requirements`` (with the markers of this interpreter, no
    extras), recursively."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = list(requirements)
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(requirement.name)
        if key in seen:
            continue
        seen[key] = distribution = importlib.metadata.distribution(requirement.name)
        todo.extend(distribution.requires or ())
    return list(seen.values())


def _installed_entries(distributions: Iterable[importlib.metadata.Distribution]) -> set[Path]:
    """The top-level files and folders of ``distributions`` in site-packages (their dist-info too)."""
    entries = set()
    for distribution in distributions:
        root = Path(str(distribution.locate_file("")))
        for file in distribution.files or ():
            top = file.parts[0]
            if top != ".." and not top.endswith(".pth") and top != "__pycache__":
                entries.add(root / top)
    return entries
