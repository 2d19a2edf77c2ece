"""SlackGateHook's async side (what triggers use): reads, identity, one shared aiohttp session per loop."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from airflow_slack_gate.hooks.sessions import close_shared_sessions, holding_shared_sessions
from airflow_slack_gate.hooks.slack import HISTORY_PAGE_SIZE, PAGE_SIZE, SlackGateHook
from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator

pytestmark = pytest.mark.usefixtures("close_sessions")

MANY = PAGE_SIZE + 50  # two pages


async def test_aread_thread_returns_every_reply_across_pages(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = slack_emulator.post_as_user("approvals", "alice", "Ship it?")
    replies = [slack_emulator.reply("approvals", parent, "bob", f"reply {i}") for i in range(MANY)]

    thread = await hook.aread_thread(channel=ws.approvals, ts=parent)

    assert [m["ts"] for m in thread] == [parent, *replies]
    assert slack_emulator.call_count("conversations.replies") == 2


async def test_aread_history_returns_every_parent_newest_first_across_pages(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    two_pages = HISTORY_PAGE_SIZE + 1
    posted = [slack_emulator.post_as_user("approvals", "alice", f"m{i}") for i in range(two_pages)]

    history = await hook.aread_history(channel=ws.approvals)

    assert [m["ts"] for m in history] == posted[::-1]
    assert slack_emulator.call_count("conversations.history") == 2


@pytest.mark.parametrize(("inclusive", "expected"), [(True, ["third", "second"]), (False, ["third"])])
async def test_aread_history_since_oldest(
    hook: SlackGateHook,
    slack_emulator: SlackEmulator,
    ws: DemoWorkspace,
    inclusive: bool,
    expected: list[str],
) -> None:
    slack_emulator.post_as_user("approvals", "alice", "first")
    oldest = slack_emulator.post_as_user("approvals", "alice", "second")
    slack_emulator.post_as_user("approvals", "alice", "third")

    history = await hook.aread_history(channel=ws.approvals, oldest=oldest, inclusive=inclusive)

    assert [m["text"] for m in history] == expected


async def test_aexpand_usergroups(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    oncall = slack_emulator.create_usergroup("oncall", ["dave"])

    assert await hook.aexpand_usergroups([ws.deployers, oncall]) == {ws.alice, ws.bob, ws.carol, ws.dave}
    assert await hook.aexpand_usergroups([]) == frozenset()


async def test_abot_identity_is_read_once(
    hook: SlackGateHook, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    first = await hook.abot_identity()
    second = await hook.abot_identity()

    assert first == second
    assert (first.user_id, first.bot_id, first.team_id) == (ws.bot_user_id, ws.bot_id, ws.team_id)
    assert slack_emulator.call_count("auth.test") == 1


async def test_hooks_in_one_loop_share_one_session(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    parent = slack_emulator.post_as_user("approvals", "alice", "Ship it?")
    reader, lister, greeter, expander = hooks = [SlackGateHook() for _ in range(4)]

    # Concurrent calls of different methods (the loop's rate limiter spaces calls of one method).
    thread, history, identity, users = await asyncio.gather(
        reader.aread_thread(channel=ws.approvals, ts=parent),
        lister.aread_history(channel=ws.approvals),
        greeter.abot_identity(),
        expander.aexpand_usergroups([ws.deployers]),
    )

    assert [m["ts"] for m in thread] == [m["ts"] for m in history] == [parent]
    assert (identity.user_id, users) == (ws.bot_user_id, {ws.alice, ws.bob, ws.carol})
    sessions = [
        (await hook.get_async_client()).session for hook in [*hooks, *(SlackGateHook() for _ in range(50))]
    ]
    assert all(session is sessions[0] for session in sessions)
    assert not sessions[0].closed


async def test_another_loop_gets_its_own_session(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> None:
    here = await SlackGateHook().get_async_client()

    async def in_other_loop() -> tuple[aiohttp.ClientSession, str]:
        hook = SlackGateHook()
        try:
            client = await hook.get_async_client()
            return client.session, (await hook.abot_identity()).user_id
        finally:
            await close_shared_sessions()

    there, user_id = await asyncio.to_thread(asyncio.run, in_other_loop())

    assert there is not here.session
    assert user_id == ws.bot_user_id
    assert there.closed
    assert not here.session.closed


async def test_one_hook_used_from_two_loops_uses_each_loops_session(
    hook: SlackGateHook, ws: DemoWorkspace
) -> None:
    here = (await hook.get_async_client()).session

    async def in_other_loop() -> tuple[aiohttp.ClientSession, frozenset[str]]:
        try:
            users = await hook.aexpand_usergroups([ws.deployers])
            return (await hook.get_async_client()).session, users
        finally:
            await close_shared_sessions()

    there, users_there = await asyncio.to_thread(asyncio.run, in_other_loop())

    assert there is not here
    assert users_there == {ws.alice, ws.bob, ws.carol}
    assert (await hook.get_async_client()).session is here
    assert await hook.aexpand_usergroups([ws.deployers]) == users_there


async def test_last_holder_closes_the_session(ws: DemoWorkspace) -> None:
    """Two gates overlap in one loop: the first to leave keeps the session open, the last closes it."""
    first_may_leave = asyncio.Event()
    first_left = asyncio.Event()

    async def first_gate() -> aiohttp.ClientSession:
        async with holding_shared_sessions():
            hook = SlackGateHook()
            await hook.abot_identity()
            session = (await hook.get_async_client()).session
            await first_may_leave.wait()
        first_left.set()
        return session

    async def second_gate() -> tuple[aiohttp.ClientSession, bool, frozenset[str]]:
        async with holding_shared_sessions():
            hook = SlackGateHook()
            session = (await hook.get_async_client()).session
            first_may_leave.set()
            await first_left.wait()
            open_after_first_left = not session.closed
            users = await hook.aexpand_usergroups([ws.deployers])
        return session, open_after_first_left, users

    first, (second, open_after_first_left, users) = await asyncio.wait_for(
        asyncio.gather(first_gate(), second_gate()), timeout=10
    )

    assert first is second
    assert open_after_first_left
    assert users == {ws.alice, ws.bob, ws.carol}
    assert first.closed
    fresh = (await SlackGateHook().get_async_client()).session
    assert fresh is not first
    assert not fresh.closed
