"""Helpers for tests that play the people in Slack while Airflow runs a DAG."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import DagRunState

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow < 3.2
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

from airflow_slack_gate.testing.emulator import SlackEmulator

ASK_TIMEOUT = 30.0


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
