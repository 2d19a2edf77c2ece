"""SlackEmulator itself: lifecycle, the seeded workspace, the fixture, and the in-process test API."""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest
from slack_sdk import WebClient

from airflow_slack_gate.testing.emulator import DEMO_BOT_TOKEN, DemoWorkspace, EmulatorError, SlackEmulator


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_fixture_seeds_and_sets_the_connection(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_SLACK_GATE_DEFAULT"])

    assert connection == {
        "conn_type": "slack_gate",
        "password": DEMO_BOT_TOKEN,
        "extra": {"base_url": slack_emulator.base_url, "default_channel": "approvals"},
    }
    assert slack_emulator.base_url.startswith("http://127.0.0.1:")
    assert slack_emulator.base_url.endswith("/api/")
    assert ws.bot_token == DEMO_BOT_TOKEN


def test_seeded_workspace(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    client = WebClient(token=ws.bot_token, base_url=slack_emulator.base_url)
    names = {
        client.users_info(user=getattr(ws, n))["user"]["name"]
        for n in ("alice", "bob", "carol", "dave", "mallory")
    }
    channel = client.conversations_info(channel=ws.approvals)["channel"]

    assert names == {"alice", "bob", "carol", "dave", "mallory"}
    assert (channel["name"], channel["is_member"]) == ("approvals", True)
    assert client.usergroups_users_list(usergroup=ws.deployers)["users"] == [ws.alice, ws.bob, ws.carol]


def test_stop_frees_the_port_and_is_idempotent() -> None:
    slack = SlackEmulator().start()
    port = slack.port
    assert _port_open(port)

    slack.stop()
    slack.stop()

    assert not _port_open(port)


def test_context_manager_stops_on_error() -> None:
    slack = SlackEmulator()

    def fail_inside() -> None:
        with slack:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert not _port_open(slack.port)


def test_only_local_hosts() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        SlackEmulator(host="0.0.0.0")
    assert SlackEmulator(host="localhost").host == "127.0.0.1"


def test_busy_port_fails_to_start() -> None:
    with SlackEmulator() as first, pytest.raises(RuntimeError, match="could not start"):
        SlackEmulator(port=first.port).start()


def test_start_twice_is_refused() -> None:
    with SlackEmulator() as slack, pytest.raises(RuntimeError, match="already running"):
        slack.start()


def test_workspace_needs_seeding() -> None:
    with pytest.raises(EmulatorError, match="not seeded"):
        SlackEmulator().workspace  # noqa: B018 - the property raises


def test_names_and_ids_are_interchangeable(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    by_name = slack_emulator.post_as_user("#approvals", "@alice", "one")
    by_id = slack_emulator.post_as_user(ws.approvals, ws.alice, "two")

    assert [m["user"] for m in slack_emulator.messages("approvals")] == [ws.alice, ws.alice]
    assert [m["ts"] for m in slack_emulator.messages(ws.approvals)] == [by_name, by_id]


def test_test_side_errors(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    ts = slack_emulator.post_as_user(ws.approvals, "alice", "hi")
    slack_emulator.add_reaction(ws.approvals, ts, "bob", "eyes")

    with pytest.raises(EmulatorError, match="already_reacted"):
        slack_emulator.add_reaction(ws.approvals, ts, "bob", "eyes")
    with pytest.raises(EmulatorError, match="no_reaction"):
        slack_emulator.remove_reaction(ws.approvals, ts, "carol", "eyes")
    with pytest.raises(EmulatorError, match="no channel"):
        slack_emulator.messages("nowhere")
    with pytest.raises(EmulatorError, match="not a bot"):
        slack_emulator.post_as_bot(ws.approvals, "alice", "hi")
    with pytest.raises(EmulatorError, match="already exists"):
        slack_emulator.create_user("alice")
    with pytest.raises(EmulatorError, match="already exists"):
        slack_emulator.create_channel("#approvals")
    with pytest.raises(EmulatorError, match="already in use"):
        slack_emulator.create_bot("again", token=DEMO_BOT_TOKEN)


def test_post_as_another_bot_is_visible_to_ours(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    other = slack_emulator.create_bot("deploy-bot")
    parent = slack_emulator.post_as_bot(ws.approvals, ws.bot_user_id, "Deploy?")
    slack_emulator.post_as_bot(ws.approvals, other, "approve", thread_ts=parent)
    client = WebClient(token=ws.bot_token, base_url=slack_emulator.base_url)

    reply = client.conversations_replies(channel=ws.approvals, ts=parent)["messages"][1]

    assert (reply["user"], reply["bot_id"], reply["app_id"]) == (other.user_id, other.bot_id, other.app_id)
    assert reply["bot_profile"]["name"] == "deploy-bot"


def test_deleting_a_parent_takes_its_thread(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    parent = slack_emulator.post_as_user(ws.approvals, "alice", "hi")
    reply = slack_emulator.reply(ws.approvals, parent, "bob", "hello")

    slack_emulator.delete_message(ws.approvals, parent)

    assert slack_emulator.messages(ws.approvals) == []
    with pytest.raises(EmulatorError):
        slack_emulator.get_message(ws.approvals, reply)


def test_deleting_the_only_reply_ends_the_thread(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    parent = slack_emulator.post_as_user(ws.approvals, "alice", "hi")
    reply = slack_emulator.reply(ws.approvals, parent, "bob", "hello")

    slack_emulator.delete_message(ws.approvals, reply)

    assert "thread_ts" not in slack_emulator.get_message(ws.approvals, parent)


def test_wait_for_message_wakes_on_change(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    parent = slack_emulator.post_as_user(ws.approvals, "alice", "Deploy?")
    replier = threading.Thread(target=slack_emulator.reply, args=(ws.approvals, parent, "bob", "approve"))

    replier.start()
    reply = slack_emulator.wait_for_message(ws.approvals, thread_ts=parent, user="bob", timeout=5)
    replier.join()

    assert reply["text"] == "approve"


def test_wait_for_times_out(slack_emulator: SlackEmulator) -> None:
    with pytest.raises(TimeoutError):
        slack_emulator.wait_for(lambda: False, timeout=0.05)
