"""Slack failing while gates wait: 429 bursts, 5xx, dropped connections, answers slower than the client's
timeout, Slack unreachable for a while. Gates keep waiting, read again once Slack answers, decide
correctly and once, and their log says what happened. Triggers talk HTTP to the emulator; time is
compressed (faults for many consecutive calls, poke intervals of a tenth of a second)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.runtime.watcher import open_gates
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.reliability.conftest import CLIENT_TIMEOUT, Logs
from tests.support import WRITES, ask, fast_budgets, first_event, trigger, until, wait_until

pytestmark = pytest.mark.usefixtures("clean_loop")


def _latency(method: str, seconds: float, calls: int) -> Callable[[SlackEmulator], None]:
    """Answer ``method`` slower than the client waits, for about ``calls`` calls, then normally."""

    def inject(slack: SlackEmulator) -> None:
        slack.set_latency(method, seconds)
        start = slack.call_count(method)

        def restore() -> None:
            wait_until(
                lambda: slack.call_count(method) >= start + calls, timeout=60, what=f"{calls} slow calls"
            )
            slack.set_latency(method, 0)

        threading.Thread(target=restore, daemon=True).start()

    return inject


FAULTS: dict[str, Callable[[SlackEmulator], None]] = {
    # as many consecutive failures as the client's own retries absorb, so a whole round fails
    "429 burst with Retry-After": lambda s: s.inject_fault(
        "conversations.history", status=429, retry_after=1, count=4
    ),
    # 5xx: twice the client's 3 attempts, as aiohttp may add an attempt of its own when the server
    # closed the keep-alive connection along with the error (seen: 3 x 503 absorbed by one call)
    "500 burst": lambda s: s.inject_fault("conversations.history", status=500, count=6),
    "503 burst on thread reads": lambda s: s.inject_fault("conversations.replies", status=503, count=6),
    # aiohttp itself resends a request whose keep-alive connection was dropped, so a call may try up
    # to six times: drop enough for at least one whole round to fail
    "dropped connections": lambda s: s.drop_connections("conversations.history", count=12),
    "slower than the client timeout": _latency("conversations.history", CLIENT_TIMEOUT + 0.5, calls=3),
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
async def test_transient_faults_keep_gates_waiting_and_they_decide_once_slack_answers(
    slack: SlackEmulator, gate_logs: Logs, fault: str
) -> None:
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    approve, reject, quiet = ask(slack, "A?"), ask(slack, "B?"), ask(slack, "C?")
    slack.reply(ws.approvals, approve, ws.alice, "approve")
    slack.reply(ws.approvals, reject, ws.bob, "reject: not today")
    FAULTS[fault](slack)
    started = time.monotonic()

    payloads = await asyncio.gather(
        first_event(trigger(slack, approve)),
        first_event(trigger(slack, reject)),
        first_event(trigger(slack, quiet, deadline=time.time() + 3)),
    )

    outcomes = [(p["status"], p["decision"]["outcome"]) for p in payloads]
    assert outcomes == [("decided", "approved"), ("decided", "rejected"), ("timed_out", "pending")]
    assert payloads[0]["decision"]["decided_by"] == [ws.alice]
    assert payloads[1]["decision"]["reason"] == "not today"
    assert all(slack.call_count(method) == 0 for method in WRITES), "a trigger never writes"
    assert open_gates() == []
    log = gate_logs.text
    assert "Slack could not be read" in log, "each gate's log says that Slack failed"
    assert "still waiting" in log
    assert "Slack answers again after" in log
    assert time.monotonic() - started < 30


async def test_slack_unreachable_for_a_while_then_back_on_the_same_port(
    slack: SlackEmulator, gate_logs: Logs
) -> None:
    """Slack is down (connection refused) long enough for many failed rounds; people keep voting in
    Slack meanwhile; when it answers again on the same address every gate decides within seconds."""
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    asks = [ask(slack, f"Gate {i}?") for i in range(10)]
    running = [asyncio.ensure_future(first_event(trigger(slack, ts), timeout=60)) for ts in asks]
    await until(lambda: slack.call_count("conversations.history") >= 2, what="the watcher's first reads")

    slack.stop()
    failed_rounds = 2
    await until(
        lambda: _failure_lines(gate_logs) >= failed_rounds,
        timeout=30,
        what=f"{failed_rounds} failed rounds while Slack is down",
    )
    for i, ts in enumerate(asks):  # the people answer while the gates cannot read Slack
        slack.reply(ws.approvals, ts, ws.alice if i % 2 else ws.bob, "approve" if i % 2 else "no")
    assert not any(task.done() for task in running)
    back = time.monotonic()
    slack.start()

    payloads = await asyncio.gather(*running)
    recovery = time.monotonic() - back
    assert [p["decision"]["outcome"] for p in payloads] == [
        "approved" if i % 2 else "rejected" for i in range(10)
    ]
    assert recovery < 10, f"gates read Slack again {recovery:.1f}s after it came back"
    assert "Slack answers again after" in gate_logs.text


def _failure_lines(logs: Logs) -> int:
    return logs.count("Slack watcher of")


async def test_a_gate_times_out_on_time_while_slack_is_down_with_the_votes_it_had_seen(
    slack: SlackEmulator, gate_logs: Logs
) -> None:
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    ts = ask(slack)
    slack.reply(ws.approvals, ts, ws.alice, "approve")  # one of the two approvals needed
    policy = ApprovalPolicy(required_approvals=2).to_dict()
    deadline = time.time() + 3
    gate = trigger(slack, ts, policy=policy, deadline=deadline)
    running = asyncio.ensure_future(first_event(gate))
    await until(lambda: slack.call_count("conversations.replies") >= 1, what="the thread read")
    await until(lambda: slack.call_count("users.info") >= 1, what="alice checked as a person")
    await asyncio.to_thread(slack.stop)  # not in the gate's event loop: a slow stop is no late gate

    payload = await running
    late = time.time() - deadline
    slack.start()
    assert payload["status"] == "timed_out"
    assert [v["user"] for v in payload["decision"]["votes"]] == [ws.alice]
    assert late < 2 * CLIENT_TIMEOUT + 5, f"reported {late:.1f}s after the deadline"
    assert "deciding on the last one seen" in gate_logs.text


async def test_a_gate_whose_approver_group_was_never_read_times_out_on_time_while_slack_is_down(
    slack: SlackEmulator, gate_logs: Logs
) -> None:
    """Slack is down from the start: the group's members cannot be known, so no vote can count; the
    gate still reports its timeout at the deadline instead of waiting for Airflow's deferral timeout."""
    ws = slack.workspace
    ts = ask(slack)
    policy = ApprovalPolicy(approvers=frozenset({ws.dave})).to_dict()
    slack.stop()  # before the deadline is set: on a loaded machine stopping took seconds of it
    gate = trigger(
        slack,
        ts,
        policy=policy,
        approver_groups=[ws.deployers],
        deadline=time.time() + 2,
    )
    deadline = gate.deadline
    try:
        payload = await first_event(gate, timeout=20)
    finally:
        slack.start()
    late = time.time() - deadline
    assert (payload["status"], payload["decision"]["votes"]) == ("timed_out", [])
    assert late < 2 * CLIENT_TIMEOUT + 5, f"reported {late:.1f}s after the deadline"
    assert "the deadline passed while Slack could not be read" in gate_logs.text


async def test_the_same_gate_in_two_triggerers_decides_the_same_and_writes_nothing(
    slack: SlackEmulator,
) -> None:
    """During a triggerer hand-over Airflow may briefly run one trigger in two processes: each has its
    own event loop and watcher; both must reach the same decision, and neither writes to Slack."""
    ws = slack.workspace
    ts = ask(slack)
    policy = ApprovalPolicy(approvers=frozenset({ws.alice, ws.bob}), required_approvals=2).to_dict()
    _, kwargs = trigger(slack, ts, policy=policy).serialize()
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def triggerer() -> None:
        async def run() -> dict[str, Any]:
            from airflow_slack_gate.hooks.sessions import close_shared_sessions
            from airflow_slack_gate.triggers.slack import SlackApprovalTrigger

            try:
                return await first_event(SlackApprovalTrigger(**kwargs))
            finally:
                await close_shared_sessions()

        try:
            results.append(asyncio.run(run()))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=triggerer, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    await until(lambda: slack.call_count("conversations.history") >= 2, what="both triggerers reading")
    slack.reply(ws.approvals, ts, ws.alice, "approve")
    slack.add_reaction(ws.approvals, ts, ws.bob, "+1")
    for thread in threads:
        await asyncio.to_thread(thread.join, 60)
    assert not errors, errors
    assert [r["decision"]["outcome"] for r in results] == ["approved", "approved"]
    assert results[0]["decision"]["votes"] == results[1]["decision"]["votes"]
    assert all(slack.call_count(method) == 0 for method in WRITES)
