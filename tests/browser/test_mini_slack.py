"""The emulator's Slack in the browser (``/``), in Chromium, as a person uses it.

Most tests need no Airflow process: clicks on a gate's question go to the package's own Request URL
receiver (the API server's plugin app, served here by uvicorn: tests/interactive), so what the page
shows is what a gate sees: the click judged and recorded in the thread, Reject's reason modal opened
by ``views.open`` and its submission recorded. The last test runs ``airflow-slack-gate demo
--keep-running`` (what ``make demo`` runs) and approves in the page it prints.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import BROWSER_TIMEOUT_MS, screenshot
from slack_sdk import WebClient

from airflow_slack_gate.core.messages import REASON_CALLBACK
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import VOTE_EVENT_TYPE
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.e2e.test_e2e_demo import DEMO_LIMIT, demos, linux_only, start_demo
from tests.interactive.conftest import ApiServer, connection_json, post_ask

__all__ = ["demos"]  # the fixture that stops what a demo started

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("mini-slack-browser")]

ATTACK = '<img src=x onerror="window.__pwned = 1">'
SCRIPT = "<script>window.__pwned = 2</script>"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect

    return expect(target)


@pytest.fixture
def gate_app(slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """The app's Request URL on the package's interactions receiver; Socket Mode off."""
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack))
    server = ApiServer()
    slack.configure_app(socket_mode=False, request_url=server.url)
    try:
        yield server
    finally:
        slack.configure_app(socket_mode=True, request_url="")
        server.stop()


def open_page(page: Any, slack: SlackEmulator, **where: str) -> Any:
    page.goto(slack.url + "#" + "&".join(f"{key}={value}" for key, value in where.items()))
    return page


def message(page: Any, ts: str) -> Any:
    """A message in the channel's feed."""
    return page.get_by_role("log", name="Messages", exact=True).locator(f'.message[data-ts="{ts}"]')


def votes(slack: SlackEmulator, ts: str) -> list[dict[str, Any]]:
    return [
        m["metadata"]["event_payload"]
        for m in slack.replies("approvals", ts)[1:]
        if (m.get("metadata") or {}).get("event_type") == VOTE_EVENT_TYPE
    ]


def test_approve_in_the_page_is_a_click_the_gate_records(slack_page, slack, gate_app):
    ts = post_ask(slack, text="Deploy *churn-v7* to production?")
    page = open_page(slack_page, slack, channel="approvals")
    question = message(page, ts)
    expect(question).to_contain_text("Deploy churn-v7 to production?")
    expect(question.locator("b", has_text="churn-v7")).to_have_text("churn-v7")  # mrkdwn bold, rendered
    expect(question).to_contain_text("Anyone in this channel can answer.")

    page.get_by_label("Acting as").select_option("carol")
    question.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("status")).to_contain_text("Slack sent the click to the Request URL")
    expect(question).to_contain_text("1 reply")  # the record, without a reload
    (vote,) = votes(slack, ts)
    assert (vote["voter"], vote["vote"]) == (slack.workspace.carol, "approve")
    question.get_by_role("button", name="1 reply").click()
    expect(page.get_by_role("log", name="Thread messages")).to_contain_text("@carol approved with the button")
    screenshot(page, "mini-slack-approved-thread")


def test_reject_opens_the_gates_reason_modal_and_submits_the_reason(slack_page, slack, gate_app):
    ts = post_ask(slack)
    page = open_page(slack_page, slack, channel="approvals", user="dave")

    message(page, ts).get_by_role("button", name="Reject").click()

    modal = page.get_by_role("dialog", name="Reject")
    expect(modal).to_contain_text("You are rejecting:")
    modal.get_by_label("Reason").fill("not this week")
    screenshot(page, "mini-slack-reject-reason")
    modal.get_by_role("button", name="Reject").click()
    expect(modal).to_be_hidden()  # closed by the app's answer to the view_submission
    expect(message(page, ts)).to_contain_text("1 reply")
    (vote,) = votes(slack, ts)
    assert (vote["voter"], vote["vote"], vote["reason"]) == (slack.workspace.dave, "reject", "not this week")
    submission = [d for d in slack.interactivity.deliveries if d.payload.get("type") == "view_submission"][-1]
    assert submission.via == "request_url"
    assert submission.payload["view"]["callback_id"] == REASON_CALLBACK


def test_a_click_the_gate_refuses_shows_its_private_answer_to_that_person_only(slack_page, slack, gate_app):
    ws = slack.workspace
    ts = post_ask(slack, ApprovalPolicy(approvers={ws.alice}))
    page = open_page(slack_page, slack, channel="approvals", user="mallory")

    message(page, ts).get_by_role("button", name="Approve").click()

    note = page.get_by_role("log", name="Messages", exact=True).locator(".ephemeral")
    expect(note).to_contain_text("Only visible to you")
    expect(note).to_contain_text("You are not an approver of this gate; your click changed nothing.")
    assert votes(slack, ts) == []
    page.get_by_label("Acting as").select_option("alice")
    expect(note).to_have_count(0)


def test_replies_and_reactions_are_the_chosen_persons(slack_page, slack):
    ws = slack.workspace
    ts = slack.post_as_user("approvals", "alice", "Shall we ship?")
    page = open_page(slack_page, slack, channel="approvals", user="bob")
    message(page, ts).get_by_role("button", name="Reply in thread").click()

    page.get_by_label("Reply", exact=True).fill("reject: not this week")
    page.get_by_role("button", name="Reply", exact=True).click()
    expect(message(page, ts)).to_contain_text("1 reply")
    reply = slack.replies("approvals", ts)[1]
    assert (reply["user"], reply["text"]) == (ws.bob, "reject: not this week")

    page.get_by_label("Acting as").select_option("dave")
    page.get_by_label("Emoji name").fill("x")
    page.get_by_role("button", name="React", exact=True).click()
    expect(message(page, ts).get_by_role("button", name="x 1")).to_be_visible()
    assert slack.get_message("approvals", ts)["reactions"] == [{"name": "x", "users": [ws.dave], "count": 1}]

    message(page, ts).get_by_role("button", name="x 1").click()  # dave takes it back
    expect(message(page, ts).get_by_role("button", name="x 1")).to_have_count(0)
    assert "reactions" not in slack.get_message("approvals", ts)


def test_a_message_from_the_app_appears_and_changes_without_a_reload(slack_page, slack):
    page = open_page(slack_page, slack, channel="approvals")
    expect(page.get_by_role("log", name="Messages", exact=True)).to_be_visible()
    ts = slack.post_as_bot("approvals", slack.workspace.bot_user_id, "Waiting for approval")
    expect(message(page, ts)).to_contain_text("Waiting for approval")
    slack.edit_message(
        "approvals",
        ts,
        f"Approved by <@{slack.workspace.alice}> · <!date^1700000000^{{time}}|2023-11-14 22:13 UTC>",
    )
    expect(message(page, ts)).to_contain_text("Approved by @alice · 2023-11-14 22:13 UTC")


def test_message_data_shows_as_text_and_runs_nothing(slack_page, slack):
    ws = slack.workspace
    typed = slack.post_as_user("approvals", "mallory", f"{ATTACK} {SCRIPT}")
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{ATTACK} <javascript:alert(1)|click me>"}},
        {"type": "context", "elements": [{"type": "plain_text", "text": SCRIPT}]},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": ATTACK}}
            ],
        },
    ]
    posted = slack.post_as_bot("approvals", ws.bot_user_id, "fallback", blocks=blocks)
    page = open_page(slack_page, slack, channel="approvals")

    expect(message(page, typed)).to_contain_text(f"{ATTACK} {SCRIPT}")
    bot_message = message(page, posted)
    expect(bot_message).to_contain_text(ATTACK)
    expect(bot_message).to_contain_text(SCRIPT)
    expect(bot_message.get_by_role("button", name=ATTACK)).to_be_visible()
    expect(bot_message).to_contain_text("<javascript:alert(1)|click me>")  # not a link
    log = page.get_by_role("log", name="Messages", exact=True)
    assert log.locator("img, script, a[href^='javascript']").count() == 0
    assert page.evaluate("window.__pwned") is None


@linux_only
def test_make_demo_approve_in_the_printed_page_and_the_run_deploys(browser, demos):
    demos.append(demo := start_demo("--keep-running"))
    url = demo.wait_for_line("Slack         http://127.0.0.1:", timeout=DEMO_LIMIT).split()[1]
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(url)
        question = page.get_by_role("log", name="Messages", exact=True).locator(".message").first
        expect(question).to_contain_text("Deploy churn-classifier")
        page.get_by_label("Acting as").select_option("bob")
        question.get_by_role("button", name="Approve").click()

        expect(page.get_by_role("status")).to_contain_text("Slack sent the click over Socket Mode")
        expect(question).to_contain_text("Approved by @bob", timeout=60_000)  # the gate's chat.update
        expect(question.get_by_role("button", name="Approve")).to_have_count(0)
        screenshot(page, "mini-slack-demo-approved")
        demo.wait_for_line("Run manual__", timeout=60)
        assert "Outcome: approved by bob" in demo.output
        assert "Branch:  deploy_model ran (deployed churn-classifier " in demo.output
        assert "Skipped: notify_skipped" in demo.output
        assert demo.wait_for_line("Run manual__", timeout=1).endswith(": success")
        demo.wait_for_line("--keep-running: Airflow and the Slack emulator keep running", timeout=10)
        assert demo.process.poll() is None
        page.reload()  # still served after the run ended
        expect(question).to_contain_text("Approved by @bob")
    finally:
        context.close()

    os.killpg(demo.process.pid, signal.SIGINT)  # Ctrl-C ends --keep-running
    assert demo.wait(timeout=60) == 0, demo.output
    assert demo.leftovers() == []


def test_a_modals_inputs_are_submitted_as_slack_sends_them(slack_page, slack, gate_app):
    """The inputs an Airflow HITL form asks with (number, select, checkboxes, text): filled in the page,
    they reach the app as the view_submission's state, keyed by block."""
    ws = slack.workspace
    option = [{"text": {"type": "plain_text", "text": name}, "value": str(i)} for i, name in enumerate("ABC")]
    view = {
        "type": "modal",
        "callback_id": "mini_slack_form",
        "title": {"type": "plain_text", "text": "Airflow request"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": [
            {
                "type": "input",
                "block_id": "replicas",
                "label": {"type": "plain_text", "text": "Replicas"},
                "element": {"type": "number_input", "action_id": "f", "is_decimal_allowed": False},
            },
            {
                "type": "input",
                "block_id": "rollout",
                "label": {"type": "plain_text", "text": "Rollout"},
                "element": {"type": "static_select", "action_id": "f", "options": option},
            },
            {
                "type": "input",
                "block_id": "regions",
                "label": {"type": "plain_text", "text": "Regions"},
                "element": {"type": "checkboxes", "action_id": "f", "options": option},
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Note"},
                "element": {"type": "plain_text_input", "action_id": "f", "initial_value": "as planned"},
            },
        ],
    }
    trigger_id = slack.interactivity.new_trigger_id(ws.carol, ws.bot_user_id)
    WebClient(token=ws.bot_token, base_url=slack.base_url).views_open(trigger_id=trigger_id, view=view)
    page = open_page(slack_page, slack, channel="approvals", user="carol")

    dialog = page.get_by_role("dialog", name="Airflow request")
    dialog.get_by_label("Replicas").fill("3")
    dialog.get_by_label("Rollout").select_option("B")
    dialog.get_by_role("checkbox", name="A", exact=True).check()
    dialog.get_by_role("checkbox", name="C", exact=True).check()
    dialog.get_by_role("button", name="Submit").click()

    expect(dialog).to_be_hidden()
    (submitted,) = [d for d in slack.interactivity.deliveries if d.payload.get("type") == "view_submission"][
        -1:
    ]
    assert submitted.payload["user"]["id"] == ws.carol
    values = submitted.payload["view"]["state"]["values"]
    assert values["replicas"]["f"]["value"] == "3"
    assert values["rollout"]["f"]["selected_option"]["value"] == "1"
    assert [o["value"] for o in values["regions"]["f"]["selected_options"]] == ["0", "2"]
    assert values["note"]["f"]["value"] == "as planned"
