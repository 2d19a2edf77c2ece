"""Airflow's own HITL operators asked in Slack: a DAG runs with dag.test() in a thread (it waits for the
answer in Airflow's database), the emulator plays Slack and its people, and the plugin's Request URL is
served by uvicorn on 127.0.0.1 (one API server), with the simple auth manager's users."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_slack_gate.core.protocol import HITL_EVENT_TYPE
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.interactive.conftest import ApiServer
from tests.support import load_dag

log = logging.getLogger(__name__)

#: The simple auth manager's users: alice and bob may answer (role user), carol only read (viewer).
AIRFLOW_USERS = "alice:user,bob:user,carol:viewer,admin:admin"
BASE_URL = "http://airflow.example"


@pytest.fixture
def slack(slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch, airflow_db: Any) -> SlackEmulator:
    """The seeded emulator. The connection has the app's signing secret, maps the Airflow user alice
    to Slack by ``slack_users`` and everyone else by email at example.com (bob -> Airflow user bob;
    mallory and dave are no Airflow users)."""
    ws = slack_emulator.workspace
    extra = {
        "base_url": slack_emulator.base_url,
        "signing_secret": slack_emulator.app_settings().signing_secret,
        "slack_users": {"alice": ws.alice},
        "email_domain": "example.com",
    }
    conn = {"conn_type": "slack_gate", "password": ws.bot_token, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", AIRFLOW_USERS)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()  # the API server initialises it at start
    return slack_emulator


@pytest.fixture
def api_server(slack: SlackEmulator) -> Iterator[ApiServer]:
    """One API server with the plugin's app; Slack's Request URL points at it."""
    server = ApiServer()
    slack.configure_app(socket_mode=False, request_url=server.url)
    yield server
    server.stop()


class Run:
    """One dag.test() run of a DAG with a HITL request, as its people see it: the request's message in
    Slack, and Airflow's row of it."""

    def __init__(self, slack: SlackEmulator, dag_id: str) -> None:
        self.slack = slack
        self.dag_id = dag_id
        self.done = threading.Event()

    def message(self, timeout: float = 60.0) -> dict[str, Any]:
        """The request's message in #approvals, once the notifier posted it."""

        def posted() -> dict[str, Any] | None:
            for message in self.slack.messages("approvals"):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == HITL_EVENT_TYPE and payload.get("dag_id") == self.dag_id:
                    return message
            return None

        message = self.slack.wait_for(posted, timeout)
        self.wait_parked()
        return message

    def wait_parked(self, timeout: float = 30.0) -> None:
        """Wait until the task waits for its answer (``awaiting_input`` on Airflow 3.3, ``deferred``
        before). People are slower than this: on SQLite, which has no row locks, an answer written
        while the task is still parking would strand it (Airflow locks the rows on Postgres and MySQL,
        for the Airflow UI's answers and these alike)."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        from tests.support import wait_until

        def parked() -> bool:
            with create_session() as session:
                states = session.scalars(select(TaskInstance.state).where(TaskInstance.dag_id == self.dag_id))
                return any(str(getattr(s, "value", s)) in ("awaiting_input", "deferred") for s in states)

        wait_until(parked, timeout, "the task waits for its answer")

    def detail(self) -> Any:
        """Airflow's row of the request (``None`` before the task wrote it)."""
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            ids = select(TaskInstance.id).where(TaskInstance.dag_id == self.dag_id)
            detail = session.scalar(select(HITLDetail).where(HITLDetail.ti_id.in_(ids)))
            if detail is not None:
                session.expunge(detail)
            return detail

    def wait_for_detail(self, condition: Callable[[Any], Any], timeout: float = 30.0) -> Any:
        from tests.support import wait_until

        return wait_until(lambda: (d := self.detail()) is not None and condition(d) and d, timeout)

    def unblock(self, timeout: float = 60.0) -> None:
        """Answer the request in Airflow if it still waits (so dag.test() ends whatever the test did)."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not (self.done.is_set() or deadline.is_set()):
                try:
                    detail = self.detail()
                except Exception:  # the test's failure is reported; keep trying to end the run
                    log.exception("Could not read the HITL request")
                    detail = None
                if detail is not None:
                    if detail.responded_at is None:
                        self.wait_parked()
                        try:
                            answer_in_airflow(self.dag_id, [detail.options[-1]])
                        except Exception:  # said in the log; tried again until the deadline
                            log.exception("Could not answer the HITL request in Airflow")
                            self.done.wait(0.2)
                            continue
                    return
                self.done.wait(0.2)
        finally:
            timer.cancel()


def answer_in_airflow(dag_id: str, chosen: list[str], *, user: str = "admin", role: str = "admin") -> Any:
    """Answer the DAG's request as the Airflow UI does: the core API's PATCH handler, as ``user``."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asking = select(HITLDetail.ti_id)
        # the task instance's names only: a TaskInstance loaded here would be the handler's too, and
        # Airflow 3.1 (hitl_detail lazy="noload") would then find no request on it
        ti = session.execute(
            select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index).where(
                TaskInstance.dag_id == dag_id, TaskInstance.id.in_(asking)
            )
        ).one()
        return update_hitl_detail(
            dag_id=dag_id,
            dag_run_id=ti.run_id,
            task_id=ti.task_id,
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=chosen, params_input={}),
            user=SimpleAuthManagerUser(username=user, role=role),
            session=session,
            map_index=ti.map_index,
        )


@pytest.fixture
def run_hitl(slack: SlackEmulator) -> Callable[..., Any]:
    """``run_hitl(dag_id, people)``: run the DAG with dag.test() in this thread (Airflow's task runner
    needs the main thread) while ``people(run)`` acts in another; return the DAG run and re-raise what
    ``people`` raised. A request ``people`` left waiting is answered in Airflow, so the run ends."""

    def run_dag(dag_id: str, people: Callable[[Run], None], conf: dict[str, Any] | None = None) -> Any:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import delete

        with create_session() as session:  # one run per DAG: the helpers find its rows by dag_id
            session.execute(delete(DagRun).where(DagRun.dag_id == dag_id))
        run = Run(slack, dag_id)
        errors: list[BaseException] = []

        def act() -> None:
            try:
                people(run)
            except BaseException as error:  # re-raised in the test's thread
                errors.append(error)
            finally:
                run.unblock()

        dag = load_dag(dag_id)
        thread = threading.Thread(target=act, name="people", daemon=True)
        thread.start()
        try:
            dag_run = dag.test(run_conf=conf)
        finally:
            run.done.set()
            thread.join(60)
        if errors:
            raise errors[0]
        return dag_run

    return run_dag
