"""The ``slack_gate`` connection in the Airflow 3 UI: the form a platform engineer fills once.

Airflow renders the form from the provider info's ``conn-fields`` and ``ui-field-behaviour``; these
tests look at it as a person does (labels, masked secrets, hidden fields), save it, and press Test,
which runs ``SlackGateHook.test_connection`` (auth.test) in the API server against the Slack emulator.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from browser_support import screenshot

from airflow_slack_gate.hooks.connection_form import EXTRA_FIELDS
from airflow_slack_gate.testing.airflow_runner import AirflowRunner
from airflow_slack_gate.testing.emulator import Bot, SlackEmulator

# One Airflow for the module: its tests run on one pytest-xdist worker.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser-airflow")]

BOT_TOKEN_LABEL = "Bot User OAuth Token (xoxb-...)"
#: Airflow 3.3.x answers the Test button of any connection without a port with this (HTTP 400).
AIRFLOW_PORT_BUG = "The host or port to test differs from the stored connection"
AIRFLOW_PORT_BUG_REASON = (
    "Airflow's Test button sends port 0 for a connection without a port, and its API then refuses to "
    "test the stored token (apache/airflow#73298, fixed upstream after 3.3.2). Workaround until then: "
    "`airflow connections test <conn_id>`"
)


def expect(target: Any) -> Any:
    from playwright.sync_api import expect

    return expect(target)


def log_in(page: Any, airflow: AirflowRunner) -> None:
    page.goto(f"{airflow.url}/connections")
    page.get_by_label("Username").fill(airflow.username)
    page.get_by_label("Password").fill(airflow.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/connections")
    expect(page.get_by_role("button", name="Add Connection")).to_be_visible()


def extra_field(dialog: Any, label: str) -> Any:
    """The form group of an extra field (Airflow does not tie these labels to their inputs)."""
    return dialog.get_by_role("group").filter(has=dialog.page.get_by_text(label, exact=True))


def apply_upstream_port_fix(page: Any) -> None:
    """What apache/airflow#73298 does on the server (port 0 means no port), done to the request, so
    the Test button reaches the hook on Airflow versions without the fix."""

    def without_port_zero(route: Any) -> None:
        body = route.request.post_data_json
        if body.get("port") == 0:
            body["port"] = None
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/v2/connections/test", without_port_zero)


def create_connection(airflow: AirflowRunner, conn_id: str, token: str, slack: SlackEmulator) -> None:
    airflow.api.request(
        "POST",
        "/connections",
        {
            "connection_id": conn_id,
            "conn_type": "slack_gate",
            "password": token,
            "extra": json.dumps({"base_url": slack.base_url, "default_channel": "#approvals"}),
        },
    )


def press_test(page: Any, conn_id: str) -> Any:
    """Press the connection's Test button in the list; return the API's response."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))
    with page.expect_response("**/api/v2/connections/test") as tested:
        row.get_by_role("button", name="Test Connection").click()
    return tested.value


def toast(page: Any, title: str) -> Any:
    return page.get_by_role("region", name="Notifications").get_by_role("status").filter(has_text=title)


def test_add_slack_gate_connection_in_the_ui_then_test_it(
    page: Any, airflow_ui: AirflowRunner, slack: SlackEmulator, slack_app: Bot
) -> None:
    log_in(page, airflow_ui)
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill("slack_gate_ui")
    dialog.get_by_role("combobox", name="Connection Type").fill("Slack Approval")
    page.get_by_role("option", name="Slack Approval Gate", exact=True).click()

    # Standard fields: only the description and the bot token, relabelled, masked, with a placeholder.
    standard = dialog.get_by_role("region", name="Standard Fields")
    token = standard.get_by_label(BOT_TOKEN_LABEL, exact=True)
    expect(token).to_have_attribute("type", "password")
    expect(token).to_have_attribute("placeholder", "xoxb-...")
    for hidden in ("Host", "Login", "Port", "Schema", "Password"):
        expect(dialog.get_by_label(hidden, exact=True)).to_have_count(0)
    expect(standard.get_by_role("group")).to_have_count(2)  # Description and the bot token
    token.fill(slack_app.token)
    screenshot(page, "01-standard-fields")

    # Extra fields (the section replaces the standard one on screen): every field of
    # connection_form.EXTRA_FIELDS, described; the two secrets masked.
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for spec in EXTRA_FIELDS:
        group = extra_field(dialog, spec.label)
        expect(group).to_have_count(1)
        expect(group).to_contain_text(spec.description)
        field_input = group.locator("input")
        if spec.kind == "secret":
            expect(field_input).to_have_attribute("type", "password")
        elif spec.kind == "integer":
            expect(group.get_by_role("spinbutton")).to_be_visible()
        else:
            expect(group.get_by_role("textbox")).to_be_visible()
            expect(field_input).not_to_have_attribute("type", "password")
    expect(extra_field(dialog, "App-Level Token (xapp-...)").locator("input")).to_have_attribute(
        "type", "password"
    )
    expect(extra_field(dialog, "Signing Secret").locator("input")).to_have_attribute("type", "password")

    extra_field(dialog, "Default channel").locator("input").fill("#approvals")
    extra_field(dialog, "Base URL").locator("input").fill(slack.base_url)
    extra_field(dialog, "Timeout (seconds)").locator("input").fill("10")
    extra_field(dialog, "App-Level Token (xapp-...)").locator("input").fill("xapp-1-not-used-yet")
    screenshot(page, "02-extra-fields-filled")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(toast(page, "Create Connection Request Submitted")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="slack_gate_ui")).to_contain_text("slack_gate")
    screenshot(page, "03-saved")

    # Stored as typed; Airflow's API shows neither the bot token nor the app token.
    stored = airflow_ui.api.get("/connections/slack_gate_ui")
    assert stored["conn_type"] == "slack_gate"
    assert stored["password"] != slack_app.token
    extra = json.loads(stored["extra"])
    assert extra["base_url"] == slack.base_url
    assert extra["default_channel"] == "#approvals"
    assert int(extra["timeout"]) == 10
    assert extra["app_token"] != "xapp-1-not-used-yet"
    assert slack_app.token not in stored["extra"]

    # Test: the API server's hook calls auth.test on the emulator with the saved token.
    apply_upstream_port_fix(page)
    calls_before = slack.call_count("auth.test")
    response = press_test(page, "slack_gate_ui")
    assert response.status == 200, response.text()
    assert response.json() == {
        "status": True,
        "message": f"Connected to Slack as user {slack_app.user_id} (bot {slack_app.bot_id}).",
    }
    expect(toast(page, "Test Connection Successful")).to_contain_text(
        f"Connected to Slack as user {slack_app.user_id}"
    )
    assert slack.call_count("auth.test") == calls_before + 1
    screenshot(page, "04-test-successful")


def test_test_button_as_airflow_ships_it(
    page: Any, airflow_ui: AirflowRunner, slack: SlackEmulator, slack_app: Bot
) -> None:
    create_connection(airflow_ui, "slack_gate_as_shipped", slack_app.token, slack)
    log_in(page, airflow_ui)
    response = press_test(page, "slack_gate_as_shipped")
    if response.status == 400 and AIRFLOW_PORT_BUG in response.text():
        expect(toast(page, "Test Connection Failed")).to_contain_text("Bad Request")
        screenshot(page, "05-test-as-shipped-airflow-bug")
        pytest.xfail(AIRFLOW_PORT_BUG_REASON)
    assert response.status == 200, response.text()
    assert response.json()["status"] is True, response.json()
    expect(toast(page, "Test Connection Successful")).to_be_visible()


def test_test_button_shows_the_slack_error_and_its_fix(
    page: Any, airflow_ui: AirflowRunner, slack: SlackEmulator, slack_app: Bot
) -> None:
    create_connection(airflow_ui, "slack_gate_revoked", slack_app.token, slack)
    slack.revoke_token(slack_app.token)
    log_in(page, airflow_ui)
    apply_upstream_port_fix(page)
    response = press_test(page, "slack_gate_revoked")
    assert response.status == 200, response.text()
    result = response.json()
    assert result["status"] is False
    assert "'token_revoked'" in result["message"]
    assert "Bot User OAuth Token (xoxb-...)" in result["message"]
    assert slack_app.token not in result["message"]
    failed_toast = toast(page, "Test Connection Failed")
    expect(failed_toast).to_be_visible()
    expect(failed_toast).to_contain_text("token_revoked")
    screenshot(page, "06-test-revoked-token")
