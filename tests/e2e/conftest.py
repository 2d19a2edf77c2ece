"""End-to-end set-up: one real Airflow (API server, scheduler, triggerer, DAG processor) on 127.0.0.1
with the DAGs of example_dags/ and the Slack emulator as its Slack, shared by every test here that
asks for ``airflow``. Those tests run one after another (and on one pytest-xdist worker), and the
Airflow and its emulator stop as soon as the next test needs neither, so they do not hold memory and
CPU while the rest of the suite runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_slack_gate.testing.airflow_runner import AirflowRunner
from airflow_slack_gate.testing.emulator import SlackEmulator
from airflow_slack_gate.testing.emulator.seed import DEMO_EMAIL_DOMAIN

HERE = Path(__file__).parent
EXAMPLE_DAGS = HERE.parents[1] / "example_dags"
#: DAGs only the e2e tests run (a second DAG bundle): HITL requests with a short timeout.
E2E_DAGS = HERE / "dags"
DAG_BUNDLES = [
    {"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}},
    {
        "name": "e2e",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(E2E_DAGS)},
    },
]
EXAMPLE_DAG_IDS = (
    "slack_gate_post_metric",
    "slack_gate_approve_deploy",
    "slack_gate_two_of_three",
    "slack_gate_short_circuit",
    "slack_gate_hitl_approval",
    "slack_gate_hitl_branch",
)
#: What the shared Airflow waits to have parsed before the first test: the examples and the e2e DAGs.
SHARED_DAG_IDS = (*EXAMPLE_DAG_IDS, "e2e_hitl_timeout")
#: Airflow users besides the runner's admin (simple auth manager). The connection finds a Slack user's
#: Airflow user by their profile email at example.com: alice and bob are Airflow users, mallory is not.
AIRFLOW_USERS = {"alice": "user", "bob": "user"}
#: Who may choose in slack_gate_hitl_branch (its Variable): alice only.
RELEASE_MANAGERS = "alice"
#: How often the gates read Slack here (a cluster policy sets it; the DAG files are unchanged).
POKE_INTERVAL = 0.5
#: The fixtures of the shared Airflow; tests that use either run together.
SHARED_FIXTURES = frozenset({"airflow", "e2e_slack"})
SHARED_GROUP = "example-dags-airflow"


class SharedAirflow:
    """The emulator and the Airflow that uses it, started on first use and stopped by :meth:`stop`.

    Its connection ``slack_gate_default`` carries the app's app-level token and signing secret, so
    the triggerer's Socket Mode listener and the API server's Request URL route both take clicks, and
    maps Slack users to :data:`AIRFLOW_USERS` by email (HITL answers from Slack)."""

    def __init__(self) -> None:
        self._slack: SlackEmulator | None = None
        self.runner: AirflowRunner | None = None

    def slack(self) -> SlackEmulator:
        if self._slack is None:
            self._slack = SlackEmulator().start()
            self._slack.seed_demo_workspace()
        return self._slack

    def airflow(self) -> AirflowRunner:
        if self.runner is None:
            slack = self.slack()
            app = slack.app_settings()
            conn = json.loads(slack.airflow_connection())
            conn["extra"].update(
                {
                    "app_token": app.app_token,
                    "signing_secret": app.signing_secret,
                    "email_domain": DEMO_EMAIL_DOMAIN,
                }
            )
            runner = AirflowRunner(
                EXAMPLE_DAGS,
                env={
                    "AIRFLOW_CONN_SLACK_GATE_DEFAULT": json.dumps(conn),
                    **slack.workspace.example_dag_variables(),
                    "AIRFLOW_VAR_SLACK_GATE_RELEASE_MANAGERS": RELEASE_MANAGERS,
                    "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(DAG_BUNDLES),
                    # The scheduler resolves HITL requests past their response_timeout this often.
                    "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "1",
                },
                users=AIRFLOW_USERS,
                gate_poke_interval=POKE_INTERVAL,
                wait_for_dags=SHARED_DAG_IDS,
                stream=sys.stderr,
            )
            try:
                runner.start()
            except BaseException:
                runner.stop()
                raise
            print(f"\nAirflow started in {runner.timings['ready']:.1f}s", file=sys.stderr)
            self.runner = runner
        return self.runner

    def stop(self) -> None:
        runner, slack, self.runner, self._slack = self.runner, self._slack, None, None
        try:
            if runner is not None:
                runner.stop()
        finally:
            if slack is not None:
                slack.stop()


_shared = SharedAirflow()


def _uses_shared(item: pytest.Item | None) -> bool:
    return (
        item is not None
        and Path(item.path).parent == HERE
        and bool(SHARED_FIXTURES & set(getattr(item, "fixturenames", ())))
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that start a real Airflow (test_e2e_*.py) ``e2e``, and move the tests of the
    shared Airflow next to each other (in one xdist group) so that it starts once."""
    for item in items:
        path = Path(item.path)
        if path.parent == HERE and path.name.startswith("test_e2e_"):
            item.add_marker(pytest.mark.e2e)
    shared = [item for item in items if _uses_shared(item)]
    if not shared:
        return
    for item in shared:
        item.add_marker(pytest.mark.xdist_group(SHARED_GROUP))
    first = items.index(shared[0])
    rest = [item for item in items if not _uses_shared(item)]
    items[:] = [*rest[:first], *shared, *rest[first:]]


@pytest.fixture
def e2e_slack() -> SlackEmulator:
    """The seeded Slack emulator of the shared Airflow (each test finds its own messages by ts)."""
    return _shared.slack()


@pytest.fixture
def airflow() -> AirflowRunner:
    """The shared real Airflow on 127.0.0.1 whose connection ``slack_gate_default`` points at the
    emulator."""
    return _shared.airflow()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if _uses_shared(item) and not _uses_shared(nextitem):
        _shared.stop()


def pytest_sessionfinish() -> None:
    _shared.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Attach the Airflow processes' and tasks' logs to the report of a failing e2e test."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _shared.runner is not None:
        report.sections.append(("Airflow logs", _shared.runner.logs(tail=150)))
