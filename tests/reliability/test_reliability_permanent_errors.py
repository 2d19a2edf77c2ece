"""Errors no retry can cure end a waiting gate promptly, with a message naming the Slack error, the
connection and the fix: the token broke, the bot left or lost the channel, the channel was archived
(Slack still serves an archived channel's history, so the watcher asks conversations.info), or the
question was deleted. Never an endless wait."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_slack_gate.runtime.watcher import open_gates
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.reliability.conftest import Logs, connection_json
from tests.support import (
    ask,
    fast_budgets,
    first_event,
    load_dag,
    people,
    task_states,
    trigger,
    until,
    wait_for_reads,
    xcom,
)


def remove_bot_from_channel(slack: SlackEmulator) -> None:
    """Someone kicks the bot out of #approvals (the emulator has no Web API method for it)."""
    ws = slack.workspace
    with slack.state.lock:
        slack.state.channel(ws.approvals).members.discard(ws.bot_user_id)


BREAKS: dict[str, tuple[Callable[[SlackEmulator, str, pytest.MonkeyPatch], Any], str]] = {
    "token revoked": (lambda s, ts, mp: s.revoke_token(s.workspace.bot_token), "token_revoked"),
    "bot deactivated": (lambda s, ts, mp: s.deactivate_user(s.workspace.bot_user_id), "account_inactive"),
    "token replaced by a wrong one": (
        lambda s, ts, mp: s.inject_fault("*", error="invalid_auth", count=100),
        "invalid_auth",
    ),
    "channel deleted": (
        lambda s, ts, mp: s.inject_fault("conversations.history", error="channel_not_found", count=100),
        "channel_not_found",
    ),
    "bot removed from the channel": (lambda s, ts, mp: remove_bot_from_channel(s), "not_in_channel"),
    "scope removed": (
        lambda s, ts, mp: s.inject_fault("conversations.history", error="missing_scope", count=100),
        "missing_scope",
    ),
    "channel archived": (lambda s, ts, mp: s.archive_channel(s.workspace.approvals), "is_archived"),
    "question deleted": (lambda s, ts, mp: s.delete_message("approvals", ts), "thread_not_found"),
}


@pytest.mark.usefixtures("clean_loop")
@pytest.mark.parametrize("what", list(BREAKS), ids=list(BREAKS))
async def test_a_permanent_error_while_waiting_ends_the_gate_promptly_with_the_fix(
    slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch, gate_logs: Logs, what: str
) -> None:
    break_it, code = BREAKS[what]
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    ts, other = ask(slack, "Deploy?"), ask(slack, "Another gate in the channel")
    running = [asyncio.ensure_future(first_event(trigger(slack, t, poke_interval=0.1))) for t in (ts, other)]
    await until(lambda: slack.call_count("conversations.history") >= 2, what="the gates to be waiting")
    assert not any(task.done() for task in running)

    break_it(slack, ts, monkeypatch)
    broken = time.monotonic()
    payload = await running[0]
    ended_after = time.monotonic() - broken

    assert (payload["status"], payload["error_code"]) == ("error", code)
    assert f"'{code}'" in payload["error"]
    assert "slack_gate_default" in payload["error"], "the message names the connection"
    assert ended_after < 5, f"the gate ended {ended_after:.1f}s after the {what}"
    assert code in gate_logs.text, "the trigger's log says why the gate ended"
    if what != "question deleted":  # a channel-wide error ends every gate of the channel
        assert (await running[1])["error_code"] == code
    else:
        assert not running[1].done()
        running[1].cancel()
        await asyncio.gather(running[1], return_exceptions=True)
    await until(lambda: open_gates() == [], what="the watcher to let go of its gates")


@pytest.mark.usefixtures("clean_loop")
async def test_without_the_scope_to_look_at_channels_gates_still_decide(
    slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch, gate_logs: Logs
) -> None:
    """The archive check is an extra: an app installed without channels:read keeps working (unlike
    users:read, which tells people from bots)."""
    scopes = ("chat:write", "channels:history", "groups:history", "users:read")
    bot = slack.create_bot("narrow-bot", scopes)
    slack.add_member(slack.workspace.approvals, bot.user_id)
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack, token=bot.token))
    fast_budgets(bot.token)
    ts = slack.post_as_bot(slack.workspace.approvals, bot, "Deploy?")
    slack.reply("approvals", ts, slack.workspace.carol, "lgtm")
    payload = await first_event(trigger(slack, ts))
    assert payload["decision"]["outcome"] == "approved"
    assert "cannot notice an archived channel" in gate_logs.text
    assert "missing_scope" in gate_logs.text


# -- whole gates: a clear failure, or False, as fail_on_error says ---------------------------------------


def archive_while_waiting(slack: SlackEmulator) -> Any:
    def archive(ask: dict[str, Any]) -> None:
        wait_for_reads(slack, 1, method="conversations.info")  # the gate has looked at the channel
        slack.archive_channel("approvals")

    return archive


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
@pytest.mark.parametrize("dag_id", ["reliability_gate", "reliability_gate_poke"])
def test_an_archived_channel_ends_the_gate_with_false(
    slack: SlackEmulator, gate_logs: Logs, dag_id: str
) -> None:
    started = time.monotonic()
    with people(archive_while_waiting(slack), slack):
        run = load_dag(dag_id).test()
    assert time.monotonic() - started < 30
    assert xcom(run, "ask") is False
    assert task_states(run) | {"choose": "success"} == {
        "ask": "success",
        "choose": "success",
        "deploy": "skipped",
        "skip_deploy": "success",
    }
    assert "is_archived" in gate_logs.text
    assert "the channel is archived: unarchive it" in gate_logs.text


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
@pytest.mark.parametrize("dag_id", ["reliability_gate_strict", "reliability_gate_poke_strict"])
def test_with_fail_on_error_an_archived_channel_fails_the_task(
    slack: SlackEmulator, gate_logs: Logs, dag_id: str
) -> None:
    with people(archive_while_waiting(slack), slack):
        run = load_dag(dag_id).test()
    assert task_states(run)["ask"] == "failed"
    assert run.state == "failed"
    assert "is_archived" in gate_logs.text


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_a_token_revoked_while_waiting_fails_the_strict_gate_without_showing_the_token(
    slack: SlackEmulator, gate_logs: Logs
) -> None:
    def revoke(ask: dict[str, Any]) -> None:
        wait_for_reads(slack, 2)
        slack.revoke_token(slack.workspace.bot_token)

    with people(revoke, slack):
        run = load_dag("reliability_gate_strict").test()
    assert task_states(run)["ask"] == "failed"
    log = gate_logs.text
    assert "token_revoked" in log
    assert "reinstall the Slack app" in log
    assert slack.workspace.bot_token not in log
    assert slack.workspace.bot_token not in json.dumps(xcom(run, "ask", "slack_message"))
