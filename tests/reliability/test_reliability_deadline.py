"""A vote that arrives at the moment of the timeout is either honoured or reported as timed out, never
both: the trigger's event, the task's XCom, the question's outcome in Slack and the one outcome reply
all tell the same story."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.support import ask, fast_budgets, first_event, load_dag, people, trigger, xcom

#: Vote this many seconds before or after the gate's deadline.
OFFSETS = [round(-0.3 + 0.05 * i, 2) for i in range(13)]  # -0.3 ... +0.3


def vote_at(moment: float, vote: Any) -> threading.Timer:
    """Cast ``vote()`` at the wall-clock time ``moment`` (a person who answers just then)."""
    timer = threading.Timer(max(0.0, moment - time.time()), vote)
    timer.start()
    return timer


@pytest.mark.usefixtures("clean_loop")
async def test_votes_around_the_deadline_are_honoured_or_timed_out_never_both(slack: SlackEmulator) -> None:
    ws = slack.workspace
    fast_budgets(ws.bot_token)
    deadline = time.time() + 2
    asks = [ask(slack, f"Gate {offset:+.2f}?") for offset in OFFSETS]
    timers = [
        vote_at(deadline + offset, lambda ts=ts: slack.reply(ws.approvals, ts, ws.alice, "approve"))
        for ts, offset in zip(asks, OFFSETS, strict=True)
    ]

    payloads = await asyncio.gather(*(first_event(trigger(slack, ts, deadline=deadline)) for ts in asks))
    for timer in timers:
        timer.join(5)

    seen = {}
    for offset, payload in zip(OFFSETS, payloads, strict=True):
        decision = payload["decision"]
        if payload["status"] == "decided":
            assert (decision["outcome"], decision["decided_by"]) == ("approved", [ws.alice]), offset
        else:
            assert payload["status"] == "timed_out", offset
            assert (decision["outcome"], decision["votes"]) == ("pending", []), offset
        seen[offset] = payload["status"]
    # A vote in Slack before the deadline is always honoured (the last read comes after the deadline).
    assert all(seen[offset] == "decided" for offset in OFFSETS if offset <= -0.15), seen


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
@pytest.mark.parametrize("offset", [-0.2, 0.0, 0.2])
def test_a_whole_gate_voted_at_its_deadline_tells_one_story(slack: SlackEmulator, offset: float) -> None:
    """reliability_gate_deadline: timeout 1.5 s from the question, on_timeout='reject'."""
    ws = slack.workspace
    timers: list[threading.Timer] = []

    def vote_at_the_deadline(question: dict[str, Any]) -> None:
        deadline = float(question["ts"]) + 1.5
        timers.append(
            vote_at(deadline + offset, lambda: slack.reply("approvals", question["ts"], ws.alice, "approve"))
        )

    with people(vote_at_the_deadline, slack):
        run = load_dag("reliability_gate_deadline").test()
    for timer in timers:
        timer.join(5)

    decision = xcom(run, "ask", "slack_decision")
    question = slack.get_message("approvals", decision["ts"])
    outcome_replies = [
        m for m in slack.replies("approvals", decision["ts"])[1:] if m.get("bot_id") == ws.bot_id
    ]
    assert len(outcome_replies) == 1
    if decision["outcome"] == "approved":
        assert xcom(run, "ask") is True
        assert decision["decided_by"] == [ws.alice]
        assert "Approved" in question["text"]
        assert "Approved" in outcome_replies[0]["text"]
    else:
        assert decision["outcome"] == "timed_out"
        assert xcom(run, "ask") is False
        assert decision["votes"] == []
        assert "No decision" in question["text"]
        assert "Approved" not in question["text"]
        assert "No decision" in outcome_replies[0]["text"]
