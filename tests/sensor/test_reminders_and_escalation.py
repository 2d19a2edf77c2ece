"""Reminders and escalation where the gate waits: the trigger posts each reminder once (also across a
triggerer restart), never after the decision, and counts an escalated approver only after the
escalation. Real HTTP to the emulator; times are fractions of a second after the ask."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import FOLLOW_UP_EVENT_TYPE, follow_up_metadata
from airflow_slack_gate.triggers.slack import SlackApprovalTrigger
from tests.support import first_event, trigger, until

pytestmark = pytest.mark.usefixtures("fast_slack_reads")


@pytest.fixture
def ask_ts(slack_emulator):
    ws = slack_emulator.workspace
    return slack_emulator.post_as_bot(ws.approvals, ws.bot_user_id, "Deploy?")


def follow_ups(slack, ts, key_prefix=""):
    """The gate's own bot's reminders and announcements in the thread."""
    return [
        message
        for message in slack.replies("approvals", ts)[1:]
        if message.get("bot_id") == slack.workspace.bot_id
        and (message.get("metadata") or {}).get("event_type") == FOLLOW_UP_EVENT_TYPE
        and message["metadata"]["event_payload"]["key"].startswith(key_prefix)
    ]


def reminding(slack, ts, *, remind_after, policy=None, **overrides):
    ws = slack.workspace
    policy = policy or ApprovalPolicy(approvers=frozenset({ws.alice, ws.bob, ws.carol}), required_approvals=2)
    return trigger(
        slack,
        ts,
        policy,
        remind_after=remind_after,
        deadline=float(ts) + 60,
        **{"poke_interval": 0.05, **overrides},
    )


async def test_a_reminder_mentions_exactly_the_approvers_still_missing(slack_emulator, ask_ts):
    ws = slack_emulator.workspace
    slack_emulator.reply(ws.approvals, ask_ts, ws.alice, "approve")
    running = asyncio.ensure_future(first_event(reminding(slack_emulator, ask_ts, remind_after=[0.3])))
    (reminder,) = await until(lambda: follow_ups(slack_emulator, ask_ts), what="the reminder")

    assert reminder["text"].startswith(f":bell: <@{ws.bob}>, <@{ws.carol}>: ")
    assert f"<@{ws.alice}>" not in reminder["text"]
    assert "1 more approval" in reminder["text"]
    assert f"<!date^{int(float(ask_ts) + 60)}^" in reminder["text"]
    assert float(reminder["ts"]) >= float(ask_ts) + 0.3
    slack_emulator.reply(ws.approvals, ask_ts, ws.bob, "approve")
    assert (await running)["decision"]["outcome"] == "approved"


async def test_a_group_is_mentioned_as_a_group(slack_emulator, ask_ts):
    ws = slack_emulator.workspace
    policy = ApprovalPolicy(approvers=frozenset())
    gate = reminding(
        slack_emulator, ask_ts, remind_after=[0.2], policy=policy, approver_groups=[ws.deployers]
    )
    running = asyncio.ensure_future(first_event(gate))
    (reminder,) = await until(lambda: follow_ups(slack_emulator, ask_ts), what="the reminder")
    assert reminder["text"].startswith(f":bell: <!subteam^{ws.deployers}>: ")
    slack_emulator.reply(ws.approvals, ask_ts, ws.carol, "approve")
    await running


async def test_no_reminder_is_posted_twice_across_a_triggerer_restart(slack_emulator, ask_ts):
    ws = slack_emulator.workspace
    first = reminding(slack_emulator, ask_ts, remind_after=[0.2, 30])
    running = asyncio.ensure_future(first_event(first))
    await until(lambda: follow_ups(slack_emulator, ask_ts), what="the first trigger's reminder")
    running.cancel()  # the triggerer dies after posting; its trigger row stays in the database
    with pytest.raises(asyncio.CancelledError):
        await running

    _, kwargs = first.serialize()
    recreated = SlackApprovalTrigger(**json.loads(json.dumps(kwargs)))
    assert recreated.serialize() == first.serialize()
    replies_read = slack_emulator.call_count("conversations.replies")
    running = asyncio.ensure_future(first_event(recreated))
    # the new trigger read the thread before posting (the reminder is due for it too), and posted nothing
    await until(lambda: slack_emulator.call_count("conversations.replies") > replies_read + 1)
    slack_emulator.reply(ws.approvals, ask_ts, ws.alice, "approve")
    slack_emulator.reply(ws.approvals, ask_ts, ws.bob, "approve")
    assert (await running)["decision"]["outcome"] == "approved"
    assert len(follow_ups(slack_emulator, ask_ts)) == 1


async def test_no_reminder_once_the_thread_shows_a_decision(slack_emulator, ask_ts):
    """The votes land after the watcher's read (it reads again only in 30 s): the reminder's own read
    of the thread finds them, ends the wait, and posts nothing."""
    ws = slack_emulator.workspace
    gate = reminding(slack_emulator, ask_ts, remind_after=[0.5], poke_interval=30)
    running = asyncio.ensure_future(first_event(gate))
    await until(lambda: slack_emulator.call_count("conversations.history") >= 1, what="the watcher's read")
    slack_emulator.reply(ws.approvals, ask_ts, ws.alice, "approve")
    slack_emulator.reply(ws.approvals, ask_ts, ws.bob, "approve")
    payload = await asyncio.wait_for(running, 10)

    assert payload["decision"]["outcome"] == "approved"
    assert time.time() >= float(ask_ts) + 0.5  # decided by the reminder's read, not the watcher's
    assert follow_ups(slack_emulator, ask_ts) == []


async def test_a_look_alike_reminder_neither_suppresses_nor_fakes_one(slack_emulator, ask_ts):
    ws = slack_emulator.workspace
    other_app = slack_emulator.create_bot("other-app")
    slack_emulator.add_member(ws.approvals, other_app.user_id)
    forged = follow_up_metadata(gate_ts=ask_ts, key="reminder:0")
    slack_emulator.post_as_bot(ws.approvals, other_app, "Reminder!", thread_ts=ask_ts, metadata=forged)
    slack_emulator.state.post(ws.approvals, ws.mallory, "Reminder!", thread_ts=ask_ts, metadata=forged)

    running = asyncio.ensure_future(first_event(reminding(slack_emulator, ask_ts, remind_after=[0.3])))
    (reminder,) = await until(lambda: follow_ups(slack_emulator, ask_ts), what="the gate's own reminder")
    assert reminder["text"].startswith(":bell: ")
    slack_emulator.reply(ws.approvals, ask_ts, ws.alice, "approve")
    slack_emulator.reply(ws.approvals, ask_ts, ws.bob, "approve")
    assert (await running)["decision"]["outcome"] == "approved"


async def test_an_escalated_approver_counts_only_after_the_escalation(slack_emulator, ask_ts):
    ws = slack_emulator.workspace
    policy = ApprovalPolicy(
        approvers=frozenset({ws.alice}), escalate_to=frozenset({ws.dave}), escalate_after=0.6
    )
    early = slack_emulator.reply(ws.approvals, ask_ts, ws.dave, "approve")
    running = asyncio.ensure_future(
        first_event(trigger(slack_emulator, ask_ts, policy, deadline=float(ask_ts) + 60, poke_interval=0.05))
    )
    note = await until(lambda: slack_emulator.ephemerals(user=ws.dave), what="dave's private note")
    assert "not counted" in note[0].text
    assert f"<!date^{int(float(ask_ts) + 0.6)}^" in note[0].text
    assert not running.done()

    (announcement,) = await until(lambda: follow_ups(slack_emulator, ask_ts, "escalation"), what="escalation")
    assert f"<@{ws.dave}>" in announcement["text"]
    late = slack_emulator.reply(ws.approvals, ask_ts, ws.dave, "approve")
    payload = await running

    assert float(early) < float(ask_ts) + 0.6 <= float(late)
    assert payload["decision"]["outcome"] == "approved"
    assert payload["decision"]["votes"] == [
        {"user": ws.dave, "vote": "approve", "via": "reply", "reason": None, "ts": late, "escalated": True}
    ]


async def test_a_reminder_whose_answer_was_lost_is_not_posted_again(slack_emulator, ask_ts):
    """Slack posts the reminder but its answer is lost (a 503 after carrying it out): the trigger
    does not send it again blindly; its next look at the thread finds it."""
    ws = slack_emulator.workspace
    slack_emulator.inject_fault("chat.postMessage", status=503, carried_out=True)
    running = asyncio.ensure_future(first_event(reminding(slack_emulator, ask_ts, remind_after=[0.2])))
    await until(lambda: follow_ups(slack_emulator, ask_ts), what="the reminder")
    slack_emulator.reply(ws.approvals, ask_ts, ws.alice, "approve")
    slack_emulator.reply(ws.approvals, ask_ts, ws.bob, "approve")
    assert (await running)["decision"]["outcome"] == "approved"
    assert len(follow_ups(slack_emulator, ask_ts)) == 1


# -- who may set these: the DAG's code, never the run ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("escalate_to", "{{ params.escalate_to }}"),
        ("escalate_to", ["S0LEADS", "{{ dag_run.conf['lead'] }}"]),
        ("escalate_after", "{{ params.escalate_after }}"),
        ("remind_after", ["{{ params.remind }}"]),
    ],
)
def test_a_template_in_an_escalation_or_reminder_field_is_refused_at_parse(field, value):
    from airflow_slack_gate.sensors.slack import SlackApprovalSensor

    with pytest.raises(ValueError, match=f"{field} is a template") as refused:
        SlackApprovalSensor(task_id="ask", text="Deploy?", approvers=["U0AAAA1"], **{field: value})
    assert "must come from the DAG's author" in str(refused.value)


def test_escalate_to_from_an_upstream_xcom_is_refused_at_parse():
    from airflow.sdk import DAG, task

    from airflow_slack_gate.sensors.slack import SlackApprovalSensor

    with DAG("escalate_from_xcom", schedule=None):

        @task
        def leads_from_the_run() -> list[str]:
            return ["U0MALLORY"]

        leads = leads_from_the_run()
        with pytest.raises(ValueError, match="escalate_to is a"):
            SlackApprovalSensor(
                task_id="ask", text="Deploy?", approvers=["U0AAAA1"], escalate_after=60, escalate_to=leads
            )


@pytest.mark.parametrize(
    ("settings", "fix"),
    [
        ({"escalate_to": ["S0LEADS"]}, "escalate_to is set but escalate_after is not"),
        ({"escalate_after": 60}, "escalate_after is set but escalate_to is empty"),
        (
            {"escalate_after": 60, "escalate_to": ["leads"]},
            "not a Slack user ID (U...) or user group ID (S...)",
        ),
        ({"escalate_after": -5, "escalate_to": ["S0LEADS"]}, "escalate_after must be a positive number"),
        ({"escalate_after": 7200, "escalate_to": ["S0LEADS"]}, "not before the gate's timeout"),
        ({"remind_after": 0}, "remind_after must be a positive number"),
        ({"remind_after": [60, 7200]}, "could never be posted"),
        ({"approvers": None, "escalate_after": 60, "escalate_to": ["S0LEADS"]}, "needs a list of approvers"),
    ],
)
def test_a_bad_reminder_or_escalation_fails_the_dag_import_naming_the_fix(settings, fix):
    from airflow_slack_gate.sensors.slack import SlackApprovalSensor

    with pytest.raises(ValueError, match="Task 'ask'") as refused:
        SlackApprovalSensor(
            **{"task_id": "ask", "text": "Deploy?", "approvers": ["U0AAAA1"], "timeout": 3600, **settings}
        )
    assert fix in str(refused.value)


def test_reminders_and_escalation_take_timedeltas_and_reach_the_trigger():
    from datetime import timedelta

    from airflow_slack_gate.sensors.slack import SlackApprovalSensor

    sensor = SlackApprovalSensor(
        task_id="ask",
        text="Deploy?",
        approvers=["U0AAAA1"],
        remind_after=[timedelta(minutes=30), 600],
        escalate_after=timedelta(hours=1),
        escalate_to="U0LEAD1, S0LEADS",
    )
    policy, _ = sensor._base_policy()
    assert sensor._reminder_offsets == (600.0, 1800.0)
    assert (policy.escalate_after, policy.escalate_to) == (3600.0, frozenset({"U0LEAD1"}))
    assert sensor._rules.escalation_groups == ("S0LEADS",)


async def test_an_escalation_group_is_announced_as_a_group_and_its_members_vote_after_it(
    slack_emulator, ask_ts
):
    ws = slack_emulator.workspace
    leads = slack_emulator.create_usergroup("leads", [ws.dave])
    policy = ApprovalPolicy(approvers=frozenset({ws.alice}), escalate_after=0.3)
    gate = trigger(
        slack_emulator,
        ask_ts,
        policy,
        escalation_groups=[leads],
        deadline=float(ask_ts) + 60,
        poke_interval=0.05,
    )
    running = asyncio.ensure_future(first_event(gate))
    (announcement,) = await until(lambda: follow_ups(slack_emulator, ask_ts, "escalation"), what="escalation")
    assert announcement["text"].startswith(f":arrow_up: *Escalated:* <!subteam^{leads}> may now approve")
    slack_emulator.reply(ws.approvals, ask_ts, ws.mallory, "approve")  # in no group: never counts
    slack_emulator.reply(ws.approvals, ask_ts, ws.dave, "approve")
    payload = await running
    assert payload["decision"]["decided_by"] == [ws.dave]
    assert payload["decision"]["votes"][0]["escalated"] is True
