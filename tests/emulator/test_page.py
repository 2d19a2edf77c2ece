"""The emulator's Slack page (``/``) as HTTP sees it, and what other websites in the same browser cannot do.

The page itself is tested in Chromium in tests/browser/test_mini_slack.py.
"""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator


def test_the_page_is_one_document_that_loads_nothing_else(slack_emulator: SlackEmulator) -> None:
    page = httpx.get(slack_emulator.url)

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)  # no external assets
    (script,) = re.findall(r"<script>(.*?)</script>", page.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = page.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}';" in policy  # its own script only: no inline handlers
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy


def test_the_directory_lists_people_bots_and_channels(
    slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    directory = httpx.get(f"{slack_emulator.url}_emulator/directory").json()

    assert [p["name"] for p in directory["people"]] == ["alice", "bob", "carol", "dave", "mallory"]
    assert [(b["id"], b["app_id"]) for b in directory["bots"]] == [(ws.bot_user_id, ws.app_id)]
    (channel,) = directory["channels"]
    assert (channel["id"], channel["name"]) == (ws.approvals, "approvals")
    assert ws.alice in channel["members"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_another_website_cannot_post_as_a_person(
    slack_emulator: SlackEmulator, ws: DemoWorkspace, content_type: str | None
) -> None:
    """A page on any website can make the browser POST to 127.0.0.1 without asking the emulator first,
    but only with a form's content types; a JSON body needs CORS, which the emulator never grants."""
    ts = slack_emulator.post_as_bot("approvals", ws.bot_user_id, "Deploy?")
    body = f'{{"channel": "approvals", "thread_ts": "{ts}", "user": "alice", "text": "approve"}}'
    headers = {"Content-Type": content_type} if content_type else {}

    refused = httpx.post(f"{slack_emulator.url}_emulator/replies", content=body, headers=headers)

    assert refused.status_code == 415
    assert "Content-Type: application/json" in refused.json()["error"]
    assert slack_emulator.replies("approvals", ts)[1:] == []


def test_a_name_that_resolves_to_127_0_0_1_is_not_the_emulator(
    slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """DNS rebinding: a website whose name now resolves to 127.0.0.1 reaches the emulator as its own
    origin, so the browser lets it read and post; its requests carry its name in Host."""
    ts = slack_emulator.post_as_bot("approvals", ws.bot_user_id, "Deploy?")
    stranger = {"Host": f"attacker.example:{slack_emulator.port}"}

    read = httpx.get(f"{slack_emulator.url}_emulator/messages?channel=approvals", headers=stranger)
    posted = httpx.post(
        f"{slack_emulator.url}_emulator/replies",
        json={"channel": "approvals", "thread_ts": ts, "user": "alice", "text": "approve"},
        headers=stranger,
    )
    page = httpx.get(slack_emulator.url, headers=stranger)

    assert (read.status_code, posted.status_code, page.status_code) == (421, 421, 421)
    assert "127.0.0.1" in read.json()["error"]
    assert slack_emulator.replies("approvals", ts)[1:] == []
    assert httpx.get(f"http://localhost:{slack_emulator.port}/_emulator/health").json()["ok"]
