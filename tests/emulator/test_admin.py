"""The admin HTTP API, through EmulatorClient: what another process (an approver) can do."""

from __future__ import annotations

import threading

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.testing.emulator import DemoWorkspace, EmulatorClient, EmulatorError, SlackEmulator


@pytest.fixture
def remote(slack_emulator: SlackEmulator) -> EmulatorClient:
    """A client of the emulator's admin API, built from the Web API base URL as other processes get it."""
    return EmulatorClient(slack_emulator.base_url)


def test_health_and_workspace(remote: EmulatorClient, ws: DemoWorkspace) -> None:
    assert remote.health()
    assert remote.workspace() == ws.to_dict()


def test_people_act_remotely(remote: EmulatorClient, client: WebClient, ws: DemoWorkspace) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]

    reply = remote.reply("approvals", ts, "alice", "approve")
    remote.add_reaction("#approvals", ts, "bob", "white_check_mark")
    remote.add_reaction(ws.approvals, ts, "carol", "x")
    remote.remove_reaction(ws.approvals, ts, "carol", "x")
    remote.edit_message(ws.approvals, reply, "approve!")
    top = remote.post_as_user("approvals", "dave", "unrelated")

    thread = client.conversations_replies(channel=ws.approvals, ts=ts)["messages"]
    assert [(m["user"], m["text"]) for m in thread] == [(ws.bot_user_id, "Deploy?"), (ws.alice, "approve!")]
    assert thread[0]["reactions"] == [{"name": "white_check_mark", "users": [ws.bob], "count": 1}]
    assert [m["ts"] for m in remote.messages("approvals")] == [ts, top]
    assert [m["ts"] for m in remote.replies("approvals", ts)] == [ts, reply]
    assert remote.get_message("approvals", reply)["edited"]["user"] == ws.alice

    remote.delete_message("approvals", top)
    assert [m["ts"] for m in remote.messages("approvals")] == [ts]


def test_post_into_thread_with_blocks(
    remote: EmulatorClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = slack_emulator.post_as_bot(ws.approvals, ws.bot_user_id, "Deploy?")
    blocks = [{"type": "rich_text", "elements": []}]

    ts = remote.post_as_user("approvals", "alice", "approve", thread_ts=parent, blocks=blocks)

    assert slack_emulator.get_message(ws.approvals, ts)["blocks"] == blocks


def test_people_reply_also_to_the_channel_remotely(
    remote: EmulatorClient, client: WebClient, ws: DemoWorkspace
) -> None:
    ts = client.chat_postMessage(channel=ws.approvals, text="Deploy?")["ts"]

    reply = remote.reply("approvals", ts, "alice", "approve", broadcast=True)
    posted = remote.post_as_user("approvals", "bob", "approve too", thread_ts=ts, broadcast=True)

    shown = {m["ts"]: m.get("subtype") for m in remote.messages("approvals")}
    assert shown == {ts: None, reply: "thread_broadcast", posted: "thread_broadcast"}


def test_wait_for_message(remote: EmulatorClient, client: WebClient, ws: DemoWorkspace) -> None:
    poster = threading.Thread(
        target=client.chat_postMessage, kwargs={"channel": ws.approvals, "text": "Deploy v7?"}
    )

    poster.start()
    message = remote.wait_for_message("approvals", user="airflow-gate", text_contains="Deploy", timeout=5)
    poster.join()

    assert message["bot_id"] == ws.bot_id


def test_wait_for_reply_times_out(
    remote: EmulatorClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = slack_emulator.post_as_user(ws.approvals, "alice", "anyone?")

    with pytest.raises(EmulatorError, match=r"within 0\.05s"):
        remote.wait_for_message("approvals", thread_ts=parent, timeout=0.05)


def test_faults_counters_and_rate_limits_remotely(
    remote: EmulatorClient, client: WebClient, ws: DemoWorkspace
) -> None:
    remote.inject_fault("auth.test", error="invalid_auth")
    with pytest.raises(SlackApiError):
        client.auth_test()
    remote.drop_connections("auth.test", 3)
    remote.set_latency("auth.test", 0.5)
    remote.delay_calls("auth.test", 0.5, count=2)
    remote.clear_faults()
    assert client.auth_test()["ok"]

    assert remote.call_count("auth.test") == 2
    assert [call["error"] for call in remote.calls("auth.test")] == ["invalid_auth", None]
    remote.reset_counters()
    assert remote.calls() == []

    remote.enable_rate_limits(overrides={"auth.test": 1})
    client.auth_test()
    with pytest.raises(SlackApiError):
        client.auth_test()
    remote.enable_rate_limits(False)
    assert client.auth_test()["ok"]


def test_errors_name_the_problem(remote: EmulatorClient, ws: DemoWorkspace) -> None:
    with pytest.raises(EmulatorError, match="no user 'zoe'"):
        remote.reply("approvals", "1000000000.000001", "zoe", "approve")
    with pytest.raises(EmulatorError, match="no message"):
        remote.reply("approvals", "1000000000.000001", "alice", "approve")
    with pytest.raises(EmulatorError, match="missing argument 'user'"):
        remote._request("POST", "/replies", {"channel": "approvals", "thread_ts": "1.1", "text": "x"})


def test_workspace_before_seeding() -> None:
    with SlackEmulator() as slack, pytest.raises(EmulatorError, match="not seeded"):
        EmulatorClient(slack.url).workspace()


def test_unreachable_emulator() -> None:
    with SlackEmulator() as slack:
        url = slack.url
    with pytest.raises(EmulatorError, match="cannot reach"):
        EmulatorClient(url, timeout=2).health()
