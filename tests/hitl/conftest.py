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
def unhurried_forms(slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Judging a form's submission (Airflow's session and Param checks) is given far longer than the
    2 s it gets against Slack, and the emulator waits as long: on a loaded machine (the full suite on
    2 cores) a judgement took over 2 s, the answer went out without the errors, and tests that assert
    the errors shown in the modal failed. What happens past the bound is tested on its own
    (``FORM_ANSWER_WITHIN`` 0)."""
    from airflow_slack_gate.core import pacing

    monkeypatch.setattr(pacing, "FORM_ANSWER_WITHIN", 20.0)
    slack.set_ack_timeout(25.0)


@pytest.fixture(autouse=True)
def in_process_supervisor_answers_hitl_triggers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before Airflow 3.3 the task defers to its HITLTrigger, which dag.test() runs in-process: see
    :func:`serve_hitl_as_the_triggerer`."""
    serve_hitl_as_the_triggerer(monkeypatch)


def serve_hitl_as_the_triggerer(monkeypatch: pytest.MonkeyPatch) -> None:
    """dag.test() runs triggers in-process, and its in-process supervisor (a task's, not a triggerer's)
    has no handler for a trigger's HITL messages (``GetHITLDetailResponse``; ``UpdateHITLDetail`` after
    a timeout with defaults): it logs "Unhandled request" and the trigger fails. Handle them exactly as
    Airflow's triggerer does (``TriggerRunnerSupervisor``), through the in-process execution API."""
    from airflow.jobs.triggerer_job_runner import HITLDetailResponseResult
    from airflow.sdk.execution_time.comms import GetHITLDetailResponse, UpdateHITLDetail
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

    task_requests = InProcessTestSupervisor._handle_request

    def handle_request(self: Any, msg: Any, log: Any, req_id: int) -> None:
        if isinstance(msg, GetHITLDetailResponse):
            response = self.client.hitl.get_detail_response(ti_id=msg.ti_id)
        elif isinstance(msg, UpdateHITLDetail):
            response = self.client.hitl.update_response(
                ti_id=msg.ti_id, chosen_options=msg.chosen_options, params_input=msg.params_input
            )
        else:
            return task_requests(self, msg, log, req_id)
        self.send_msg(HITLDetailResponseResult.from_api_response(response=response), request_id=req_id)

    monkeypatch.setattr(InProcessTestSupervisor, "_handle_request", handle_request)


@pytest.fixture
def api_server(slack: SlackEmulator) -> Iterator[ApiServer]:
    """One API server with the plugin's app; Slack's Request URL points at it."""
    server = ApiServer()
    slack.configure_app(socket_mode=False, request_url=server.url)
    yield server
    server.stop()


def forget_runs(dag_id: str) -> None:
    """Delete the runs an earlier test in this worker left of ``dag_id``, with their task instances and
    HITL rows: :class:`Run` finds its run's rows by ``dag_id`` alone."""
    from airflow.models.dagrun import DagRun
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    with create_session() as session:  # explicitly: SQLite enforces no foreign keys on Airflow 3.1
        tis = select(TaskInstance.id).where(TaskInstance.dag_id == dag_id)
        session.execute(delete(HITLDetail).where(HITLDetail.ti_id.in_(tis)))
        session.execute(delete(TaskInstance).where(TaskInstance.dag_id == dag_id))
        session.execute(delete(DagRun).where(DagRun.dag_id == dag_id))


class Run:
    """One dag.test() run of a DAG with a HITL request, as its people see it: the request's message in
    Slack, and Airflow's row of it."""

    def __init__(self, slack: SlackEmulator, dag_id: str) -> None:
        self.slack = slack
        self.dag_id = dag_id
        self.done = threading.Event()
        #: dag.test() itself waits for a HITL answer (Airflow 3.3 logs it once a second meanwhile)
        self.dag_test_waits = threading.Event()

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
        """Wait until the task waits for its answer. People are slower than this; an answer written
        earlier could be lost on SQLite, which has no row locks (Airflow locks the rows on Postgres and
        MySQL, for the Airflow UI's answers and these alike).

        Airflow 3.3 parks the task in ``awaiting_input``, but dag.test() writes the task runner's state
        into the row once more after the task parked: an answer's resume in between would be
        overwritten and the run would wait for ever. So wait for dag.test() to say it waits. Before 3.3
        the task defers to its ``HITLTrigger`` (``next_method`` set), which dag.test() runs inline with
        the task instance back in ``queued`` (``deferred`` lasts milliseconds); the trigger reads the
        row, so no answer is lost."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select

        from tests.support import wait_until

        if hasattr(TaskInstanceState, "AWAITING_INPUT"):
            wait_until(self.dag_test_waits.is_set, timeout, "dag.test() waits for the answer")
            return

        def deferred() -> bool:
            with create_session() as session:
                methods = session.scalars(
                    select(TaskInstance.next_method).where(TaskInstance.dag_id == self.dag_id)
                )
                return any(method is not None for method in methods)

        wait_until(deferred, timeout, "the task defers to its HITLTrigger")

    def detail(self) -> Any:
        """Airflow's row of the request (``None`` before the task wrote it; see :func:`forget_runs`)."""
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            ids = select(TaskInstance.id).where(TaskInstance.dag_id == self.dag_id)
            rows = select(HITLDetail).where(HITLDetail.ti_id.in_(ids))
            detail = session.scalar(rows.order_by(HITLDetail.created_at.desc()))
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
                        # as someone Airflow lets answer: an assigned user if the request names any
                        assigned = [user["name"] for user in detail.assigned_users]
                        try:
                            self.wait_parked()
                            if assigned:
                                answer_in_airflow(
                                    self.dag_id, [detail.options[-1]], user=assigned[0], role="user"
                                )
                            else:
                                answer_in_airflow(self.dag_id, [detail.options[-1]])
                        except Exception:  # said in the log; tried again until the deadline
                            log.exception("Could not answer the HITL request in Airflow")
                            self.done.wait(0.2)
                            continue
                    return
                self.done.wait(0.2)
        finally:
            timer.cancel()


class _WhenLogged(logging.Handler):
    """Sets ``event`` when a record's message starts with ``prefix``."""

    def __init__(self, prefix: str, event: threading.Event) -> None:
        super().__init__(logging.INFO)
        self.prefix = prefix
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.event.set()


def answer_in_airflow(dag_id: str, chosen: list[str], *, user: str = "admin", role: str = "admin") -> Any:
    """Answer the DAG's request as the Airflow UI does: the core API's PATCH handler, as ``user``, with
    the request's params as the UI's prefilled form sends them."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_slack_gate.interactive.hitl import unchanged_params

    with create_session() as session:
        # the task instance's names only: a TaskInstance loaded here would be the handler's too, and
        # Airflow 3.1 (hitl_detail lazy="noload") would then find no request on it
        ti = session.execute(
            select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index, HITLDetail.params)
            .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
            .where(TaskInstance.dag_id == dag_id)
        ).one()
        return update_hitl_detail(
            dag_id=dag_id,
            dag_run_id=ti.run_id,
            task_id=ti.task_id,
            update_hitl_detail_payload=UpdateHITLDetailPayload(
                chosen_options=chosen, params_input=unchanged_params(ti.params)
            ),
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
        forget_runs(dag_id)
        run = Run(slack, dag_id)
        errors: list[BaseException] = []
        dag_test_log = logging.getLogger("airflow.sdk.definitions.dag")
        waits = _WhenLogged("Waiting for Human-in-the-loop input", run.dag_test_waits)
        level = dag_test_log.level
        dag_test_log.addHandler(waits)
        dag_test_log.setLevel(logging.INFO)

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
            dag_test_log.removeHandler(waits)
            dag_test_log.setLevel(level)
        if errors:
            raise errors[0]
        return dag_run

    return run_dag
