"""Reject with a reason in the emulator's Slack page, in Chromium, on the shared real Airflow: the click
reaches the triggerer over Socket Mode, the gate's reason dialog opens in the page, its submission goes
back the same way, and the run takes the rejected branch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_slack_gate.testing.airflow_runner import AirflowRunner
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.browser.browser_support import BROWSER_TIMEOUT_MS, chromium, playwright_or_skip, screenshot
from tests.e2e.test_e2e_gates import RUN_TIMEOUT, ask_and_wait_deferred, votes

pytestmark = pytest.mark.browser

DAG_ID = "slack_gate_approve_deploy"
GATE = "ask_for_approval"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(playwright_or_skip()) as launched:
        yield launched


def test_reject_with_a_reason_in_the_page_runs_the_skipped_branch(
    browser: Any, airflow: AirflowRunner, e2e_slack: SlackEmulator
) -> None:
    from playwright.sync_api import expect

    dave = e2e_slack.workspace.dave
    run_id, ask = ask_and_wait_deferred(airflow, DAG_ID, GATE)
    e2e_slack.wait_for_socket_connections(1, timeout=30)
    page = browser.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    try:
        page.goto(f"{e2e_slack.url}#channel={ask['channel']}&user=dave")
        question = page.get_by_role("log", name="Messages", exact=True).locator(
            f'.message[data-ts="{ask["ts"]}"]'
        )

        question.get_by_role("button", name="Reject").click()
        dialog = page.get_by_role("dialog", name="Reject")
        dialog.get_by_label("Reason").fill("AUC <b>regressed</b>")
        dialog.get_by_role("button", name="Reject").click()

        expect(dialog).to_be_hidden()
        expect(question).to_contain_text("Rejected by @dave", timeout=RUN_TIMEOUT * 1000)
        expect(question).to_contain_text("Reason: AUC <b>regressed</b>")
        screenshot(page, "mini-slack-e2e-rejected")
    finally:
        page.close()
    assert airflow.api.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT) == "success"
    states = airflow.api.task_states(DAG_ID, run_id)
    assert (states["notify_skipped"], states["deploy_model"]) == ("success", "skipped")
    decision = airflow.api.xcom(DAG_ID, run_id, GATE, "slack_decision")
    assert votes(decision) == [(dave, "reject", "button")]
    assert decision["reason"] == "AUC <b>regressed</b>"
