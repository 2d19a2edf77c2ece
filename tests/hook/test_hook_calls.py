"""SlackGateHook's sync methods against the emulator: posting, updating, permalinks, reading, directory."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import PAGE_SIZE, SlackGateHook
from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator

MANY = 2 * PAGE_SIZE + 50  # three pages


def sent_channels(slack: SlackEmulator, method: str = "chat.postMessage") -> list[str]:
    """The ``channel`` argument of every call of ``method`` the emulator received, in order."""
    return [call.params["channel"] for call in slack.calls if call.method == method]


# -- posting ----------------------------------------------------------------------------------------


def test_post_to_channel_id(hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    posted = hook.post_message(channel=ws.approvals, text="Deploy *v2*?")

    assert posted.channel == ws.approvals
    stored = slack_emulator.get_message("approvals", posted.ts)
    assert (stored["text"], stored["bot_id"]) == ("Deploy *v2*?", ws.bot_id)
    assert posted.message["ts"] == posted.ts
    assert slack_emulator.call_count("conversations.list") == 0


@pytest.mark.parametrize("name", ["#approvals", "approvals"])
def test_post_by_name_returns_the_id_and_caches_it(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace, name: str
) -> None:
    first = hook.post_message(channel=name, text="one")
    second = hook.post_message(channel=name, text="two")

    assert (first.channel, second.channel) == (ws.approvals, ws.approvals)
    assert [m["text"] for m in slack_emulator.messages("approvals")] == ["one", "two"]
    # The first post names the channel; the second already uses the id the first one returned.
    assert sent_channels(slack_emulator) == ["approvals", ws.approvals]
    assert slack_emulator.call_count("conversations.list") == 0


def test_name_cache_is_shared_by_both_spellings(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    hook.post_message(channel="#approvals", text="one")
    hook.post_message(channel="approvals", text="two")

    assert sent_channels(slack_emulator) == ["approvals", ws.approvals]


def test_post_with_blocks_metadata_and_thread(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = slack_emulator.post_as_user("approvals", "alice", "Can we ship?")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Yes*"}}]
    metadata = {"event_type": "gate_asked", "event_payload": {"run_id": "r1"}}

    posted = hook.post_message(
        channel=ws.approvals, text="Yes", blocks=blocks, thread_ts=parent, metadata=metadata
    )

    thread = slack_emulator.replies("approvals", parent)
    assert [m["ts"] for m in thread] == [parent, posted.ts]
    assert thread[1]["blocks"] == blocks
    assert thread[1]["metadata"] == metadata


def test_update_message_replaces_text_and_blocks(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    posted = hook.post_message(channel=ws.approvals, text="Waiting for approval")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Approved by <@alice>"}}]

    hook.update_message(channel=posted.channel, ts=posted.ts, text="Approved", blocks=blocks)

    stored = slack_emulator.get_message("approvals", posted.ts)
    assert (stored["text"], stored["blocks"]) == ("Approved", blocks)
    assert "edited" in stored


def test_get_permalink_is_slacks_link_to_the_message(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    posted = hook.post_message(channel=ws.approvals, text="hi")
    raw = WebClient(token=ws.bot_token, base_url=slack_emulator.base_url)

    permalink = hook.get_permalink(channel=posted.channel, ts=posted.ts)

    assert permalink == raw.chat_getPermalink(channel=ws.approvals, message_ts=posted.ts)["permalink"]
    assert permalink.endswith(f"/archives/{ws.approvals}/p{posted.ts.replace('.', '')}")


# -- reading ----------------------------------------------------------------------------------------


def test_read_thread_returns_every_reply_across_pages(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = slack_emulator.post_as_user("approvals", "alice", "Ship it?")
    replies = [slack_emulator.reply("approvals", parent, "bob", f"reply {i}") for i in range(MANY)]

    thread = hook.read_thread(channel=ws.approvals, ts=parent)

    assert [m["ts"] for m in thread] == [parent, *replies]
    assert thread[-1]["text"] == f"reply {MANY - 1}"
    assert slack_emulator.call_count("conversations.replies") == 3


def test_read_thread_of_a_message_without_replies(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = slack_emulator.post_as_user("approvals", "alice", "Anyone?")

    assert [m["ts"] for m in hook.read_thread(channel=ws.approvals, ts=parent)] == [parent]


def test_read_history_returns_every_parent_newest_first_across_pages(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    posted = [slack_emulator.post_as_user("approvals", "alice", f"m{i}") for i in range(MANY)]
    slack_emulator.reply("approvals", posted[0], "bob", "a reply is not a parent")

    history = hook.read_history(channel=ws.approvals)

    assert [m["ts"] for m in history] == posted[::-1]
    assert slack_emulator.call_count("conversations.history") == 3


@pytest.mark.parametrize(("inclusive", "expected"), [(True, ["third", "second"]), (False, ["third"])])
def test_read_history_since_oldest(
    hook: SlackGateHook,
    slack_emulator: SlackEmulator,
    ws: DemoWorkspace,
    inclusive: bool,
    expected: list[str],
) -> None:
    slack_emulator.post_as_user("approvals", "alice", "first")
    oldest = slack_emulator.post_as_user("approvals", "alice", "second")
    slack_emulator.post_as_user("approvals", "alice", "third")

    history = hook.read_history(channel=ws.approvals, oldest=oldest, inclusive=inclusive)

    assert [m["text"] for m in history] == expected


def test_read_history_includes_metadata_only_when_asked(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    metadata = {"event_type": "slack_gate", "event_payload": {"dag_id": "deploy"}}
    hook.post_message(channel=ws.approvals, text="ask", metadata=metadata)

    (with_metadata,) = hook.read_history(channel=ws.approvals, include_all_metadata=True)
    (without,) = hook.read_history(channel=ws.approvals)

    assert with_metadata["metadata"] == metadata
    assert "metadata" not in without


# -- directory --------------------------------------------------------------------------------------


def test_expand_usergroups(hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    oncall = slack_emulator.create_usergroup("oncall", ["carol", "dave"])

    assert hook.expand_usergroups([ws.deployers]) == {ws.alice, ws.bob, ws.carol}
    assert hook.expand_usergroups([ws.deployers, oncall]) == {ws.alice, ws.bob, ws.carol, ws.dave}
    assert hook.expand_usergroups([]) == frozenset()


def test_bot_identity_is_read_once(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    first = hook.bot_identity()
    second = hook.bot_identity()

    assert first == second
    assert (first.user_id, first.bot_id, first.team_id) == (ws.bot_user_id, ws.bot_id, ws.team_id)
    assert slack_emulator.call_count("auth.test") == 1


def test_channel_id_passes_ids_through_without_calling_slack(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    assert hook.channel_id(ws.approvals) == ws.approvals
    assert slack_emulator.calls == []


def test_channel_id_looks_names_up_once(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    assert hook.channel_id("#approvals") == ws.approvals
    assert hook.channel_id("approvals") == ws.approvals
    assert slack_emulator.call_count("conversations.list") == 1


def test_channel_id_finds_private_channels_of_the_bot_and_follows_pages(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    for i in range(PAGE_SIZE + 50):
        slack_emulator.create_channel(f"team-{i:03d}")
    secret = slack_emulator.create_channel("secret", members=[ws.bot_user_id], is_private=True)

    assert hook.channel_id("#secret") == secret  # listed last: on the last page
    assert slack_emulator.call_count("conversations.list") >= 2


def test_channel_id_after_posting_by_name_needs_no_lookup(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    hook.post_message(channel="#approvals", text="hi")

    assert hook.channel_id("#approvals") == ws.approvals
    assert slack_emulator.call_count("conversations.list") == 0


def test_channel_id_of_an_unknown_name(hook: SlackGateHook, slack_emulator: SlackEmulator) -> None:
    with pytest.raises(SlackGateError) as raised:
        hook.channel_id("#no-such-channel")

    assert raised.value.error_code == "channel_not_found"
    assert "no-such-channel" in str(raised.value)
    assert "'slack_gate_default'" in str(raised.value)
    assert "/invite" in str(raised.value)


def test_channel_id_of_a_private_channel_the_bot_is_not_in(
    hook: SlackGateHook, slack_emulator: SlackEmulator
) -> None:
    slack_emulator.create_channel("hr", members=["alice"], is_private=True)

    with pytest.raises(SlackGateError) as raised:
        hook.channel_id("hr")

    assert raised.value.error_code == "channel_not_found"
