"""Browser tests: Debian's Chromium driven by Playwright, a real Airflow API server, the Slack emulator.

Everything binds 127.0.0.1 on free ports; every process started here is stopped, also when a test
fails, and then its log is printed. Without Chromium or Playwright the tests skip and say why.
Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import ARTIFACTS, BROWSER_TIMEOUT_MS, LOG_TAIL_LINES, chromium, playwright_or_skip

from airflow_slack_gate.core import manifest
from airflow_slack_gate.testing.airflow_runner import AirflowRunner
from airflow_slack_gate.testing.emulator import Bot, SlackEmulator

# -- skipping visibly, and remembering failures for the fixtures' teardown --------------------------------


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reasons = {
        str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        for report in terminalreporter.stats.get("skipped", [])
        if report.nodeid.startswith("tests/browser/")
    }
    for reason in sorted(reasons):
        terminalreporter.write_line(f"BROWSER TESTS SKIPPED: {reason}", yellow=True, bold=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False) for when in ("setup", "call")
    )


@pytest.fixture(scope="module")
def sync_playwright() -> Callable[[], Any]:
    """Playwright's ``sync_playwright``, or a skip naming what is missing."""
    return playwright_or_skip()


@pytest.fixture(scope="module")
def browser(sync_playwright: Callable[[], Any]) -> Iterator[Any]:
    """Debian's Chromium, headless."""
    for stale in ARTIFACTS.glob("FAILED-*.png"):
        stale.unlink()
    with chromium(sync_playwright) as launched:
        yield launched


# -- the Slack emulator -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        emulator.seed_demo_workspace()
        yield emulator


@pytest.fixture
def slack_app(slack: SlackEmulator, request: pytest.FixtureRequest) -> Bot:
    """A Slack app installed with exactly the scopes of the package's manifest."""
    return slack.create_bot(f"airflow-{request.node.name[:40]}", scopes=manifest.bot_scopes())


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory: pytest.TempPathFactory, sync_playwright: Any) -> Iterator[AirflowRunner]:
    """``airflow api-server`` alone on 127.0.0.1 and a free port, in a private home with a migrated
    SQLite database, SimpleAuthManager (an admin with a known password) and connection testing on."""
    runner = AirflowRunner(
        tmp_path_factory.mktemp("dags"),
        components=("api-server",),
        env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled", "AIRFLOW__API__WORKERS": "1"},
    )
    with runner:
        yield runner


@pytest.fixture
def page(
    browser: Any, airflow_ui: AirflowRunner, slack: SlackEmulator, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A fresh browser page; on failure: a screenshot, the API server's log and the Slack calls."""

    def airflow_log() -> None:
        print(f"--- airflow api-server log (last {LOG_TAIL_LINES} lines):")
        print(airflow_ui.logs(tail=LOG_TAIL_LINES, task_logs=False))

    yield from _page(browser, slack, request, airflow_log)


@pytest.fixture
def slack_page(browser: Any, slack: SlackEmulator, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page without Airflow; on failure: a screenshot and the Slack calls."""
    yield from _page(browser, slack, request, lambda: None)


def _page(
    browser: Any, slack: SlackEmulator, request: pytest.FixtureRequest, print_logs: Callable[[], None]
) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        if failed(request):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            screenshot = ARTIFACTS / f"FAILED-{request.node.name}.png"
            try:
                page.screenshot(path=str(screenshot), full_page=True, animations="disabled")
            except Exception as error:  # the page may be gone; the logs below matter more
                screenshot = Path(f"(no screenshot: {error})")
            print(f"\n--- screenshot: {screenshot}")
            print_logs()
            print("--- Slack calls the emulator received:")
            for call in slack.calls:
                print(f"{call.method} -> {call.status} {call.error or 'ok'}")
        context.close()
