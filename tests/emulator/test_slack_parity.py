"""Where the emulator once differed from Slack's documented behaviour (issue 15): unknown methods, the
scope headers, a person's rich_text block, and replies also sent to the channel (``thread_broadcast``).

Each test asserts what Slack documents; the docstrings say where."""

from __future__ import annotations

import json
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator

# -- unknown methods ------------------------------------------------------------------------------------


def test_an_unknown_method_answers_http_200_unknown_method(
    slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """Slack answers every Web API call with HTTP 200 and ``ok: false`` for errors; ``unknown_method``
    is its common error "This method does not exist" (not an HTTP 404)."""
    request = urllib.request.Request(
        f"{slack_emulator.base_url}chat.scheduleMessage",
        data=b"channel=approvals&text=later",
        headers={"Authorization": f"Bearer {ws.bot_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # raises on an HTTP 404
        status, body = response.status, json.loads(response.read())

    assert (status, body) == (200, {"ok": False, "error": "unknown_method"})
    assert [(c.method, c.status, c.error) for c in slack_emulator.calls] == [
        ("chat.scheduleMessage", 200, "unknown_method")
    ]


def test_slack_sdk_sees_unknown_method_as_an_api_error(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        client.api_call("pins.add", json={"channel": "approvals", "timestamp": "1.1"})

    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "unknown_method"
