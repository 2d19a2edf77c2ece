"""conversations.info, conversations.list, users.info and usergroups.users.list."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator


def _error(call: object, **kwargs: object) -> dict:
    with pytest.raises(SlackApiError) as raised:
        call(**kwargs)  # type: ignore[operator]
    return raised.value.response.data  # type: ignore[return-value]


def _limited_client(slack: SlackEmulator, *scopes: str) -> WebClient:
    return WebClient(token=slack.create_bot("limited", scopes).token, base_url=slack.base_url)


def test_conversation_info(client: WebClient, ws: DemoWorkspace) -> None:
    channel = client.conversations_info(channel=ws.approvals, include_num_members=True)["channel"]

    assert (channel["id"], channel["name"], channel["is_member"], channel["num_members"]) == (
        ws.approvals,
        "approvals",
        True,
        6,
    )
    assert (channel["is_private"], channel["is_archived"], channel["is_channel"]) == (False, False, True)


def test_conversation_info_errors(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    secret = slack_emulator.create_channel("secret", members=["alice"], is_private=True)

    assert _error(client.conversations_info, channel="CNOPE00000")["error"] == "channel_not_found"
    assert _error(client.conversations_info, channel=secret)["error"] == "channel_not_found"
    limited = _limited_client(slack_emulator, "groups:read")
    assert _error(limited.conversations_info, channel=ws.approvals)["needed"] == "channels:read"


def test_conversation_list_types_membership_archive(
    client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    general = slack_emulator.create_channel("general", members=["alice"])
    old = slack_emulator.create_channel("old", is_archived=True)
    mine = slack_emulator.create_channel("mine", members=[ws.bot_user_id], is_private=True)
    slack_emulator.create_channel("theirs", members=["alice"], is_private=True)

    def ids(**kwargs: object) -> list[str]:
        return [c["id"] for c in client.conversations_list(**kwargs)["channels"]]  # type: ignore[arg-type]

    assert ids() == [ws.approvals, general, old]
    assert ids(exclude_archived=True) == [ws.approvals, general]
    assert ids(types="private_channel") == [mine]
    assert ids(types="public_channel,private_channel") == [ws.approvals, general, old, mine]


def test_conversation_list_pages(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    created = [slack_emulator.create_channel(f"c{i}") for i in range(4)]

    first = client.conversations_list(limit=3)
    rest = client.conversations_list(limit=3, cursor=first["response_metadata"]["next_cursor"])

    assert [c["id"] for c in first["channels"] + rest["channels"]] == [ws.approvals, *created]
    assert rest["response_metadata"]["next_cursor"] == ""


def test_conversation_list_scopes(slack_emulator: SlackEmulator) -> None:
    limited = _limited_client(slack_emulator, "channels:read")

    assert limited.conversations_list()["ok"]
    assert _error(limited.conversations_list, types="private_channel")["needed"] == "groups:read"
    assert _error(limited.conversations_list, types="im")["needed"] == "im:read"


def test_users_info(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    gone = slack_emulator.create_user("zed", deleted=True)

    alice = client.users_info(user=ws.alice)["user"]
    bot = client.users_info(user=ws.bot_user_id)["user"]

    assert (alice["name"], alice["is_bot"], alice["deleted"]) == ("alice", False, False)
    assert (bot["is_bot"], bot["profile"]["bot_id"]) == (True, ws.bot_id)
    assert client.users_info(user=gone)["user"]["deleted"] is True


def test_users_info_errors(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    assert _error(client.users_info, user="UNOPE00000")["error"] == "user_not_found"
    limited = _limited_client(slack_emulator, "chat:write")
    assert _error(limited.users_info, user=ws.alice)["needed"] == "users:read"


def test_usergroup_users(client: WebClient, ws: DemoWorkspace) -> None:
    assert client.usergroups_users_list(usergroup=ws.deployers)["users"] == [ws.alice, ws.bob, ws.carol]


def test_usergroup_errors(client: WebClient, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    assert _error(client.usergroups_users_list, usergroup="SNOPE00000")["error"] == "no_such_subteam"
    limited = _limited_client(slack_emulator, "users:read")
    assert _error(limited.usergroups_users_list, usergroup=ws.deployers)["needed"] == "usergroups:read"
