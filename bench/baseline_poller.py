"""The baseline the watcher benchmark compares against: each gate polls its own thread alone.

This is what a gate without the shared watcher does (and what the trigger did before it shared its
reads): every ``poke_interval`` one ``conversations.replies`` read of the gate's thread, the voters
checked with ``users.info`` (cached per loop, as in the trigger), and the same decision rules. It is
benchmark code only: the package reads through the loop's shared watcher
(:mod:`airflow_slack_gate.runtime.watcher`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow_slack_gate.core.gate import GateRef, read_step, voters_to_check
from airflow_slack_gate.core.pacing import FailureStreak, trigger_backoff
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.sessions import holding_shared_sessions
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.runtime.watcher import people_among


async def poll_alone(
    conn_id: str, channel: str, ts: str, policy: ApprovalPolicy, poke_interval: float
) -> dict[str, Any]:
    """Read the gate's thread every ``poke_interval`` until its rules decide; the event payload."""
    gate = GateRef(channel=channel, ts=ts)
    hook = SlackGateHook(slack_conn_id=conn_id)
    failures = FailureStreak()
    async with holding_shared_sessions():
        while True:
            try:
                thread = await hook.aread_thread(channel=channel, ts=ts)
                people = await people_among(hook, voters_to_check(thread, gate, policy))
            except SlackGateError as error:
                if error.is_permanent:
                    raise
                await asyncio.sleep(trigger_backoff(failures.fail(time.monotonic()), poke_interval))
                continue
            failures.end()
            payload = read_step(thread, gate, policy, expired=False, people=people)
            if payload is not None:
                return payload
            await asyncio.sleep(poke_interval)
