"""The pure rules of reminders and escalation: when each is due, whom a reminder names, what the bot
posts, which votes count through escalation, and the configuration errors that name their fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_slack_gate.core.gate import GateRef, read_step, uncounted_replies
from airflow_slack_gate.core.messages import escalation_text, reminder_text
from airflow_slack_gate.core.policy import ApprovalPolicy, validate_gate_config
from airflow_slack_gate.core.protocol import follow_up_metadata, posted_follow_ups
from airflow_slack_gate.core.reminders import (
    FollowUp,
    escalation_delay,
    follow_up_replies,
    follow_ups_due,
    missing_voters,
    next_follow_up_at,
    reminder_offsets,
)
from airflow_slack_gate.core.votes import Decision, Vote, decide, why_not_voter

ASK = "1700000000.000100"
ASKED = float(ASK)
BOT = "B0GATE"
DEFAULTS = {
    "required_approvals": 1,
    "approve_words": ("approve",),
    "reject_words": ("reject",),
    "approve_reactions": ("white_check_mark",),
    "reject_reactions": ("x",),
    "requested_by": None,
}


def at(seconds: float) -> str:
    return f"{ASKED + seconds:.6f}"


def reply(user: str, text: str, seconds: float) -> dict:
    return {"user": user, "text": text, "ts": at(seconds), "thread_ts": ASK}


def bot_follow_up(key: str, *, bot_id: str = BOT, gate_ts: str = ASK) -> dict:
    return {
        "bot_id": bot_id,
        "user": "U0BOT",
        "text": "reminder",
        "ts": at(5),
        "thread_ts": ASK,
        "metadata": follow_up_metadata(gate_ts=gate_ts, key=key),
    }


# -- when ------------------------------------------------------------------------------------------


def due(now: float, posted=(), remind_after=(10.0, 20.0, 30.0), escalate_after=None):
    found = follow_ups_due(
        ask_ts=ASK, remind_after=remind_after, escalate_after=escalate_after, now=ASKED + now, posted=posted
    )
    return [follow_up.key for follow_up in found]


def test_nothing_is_due_before_the_first_reminder():
    assert due(9.9) == []


def test_a_reminder_is_due_from_its_time_until_it_is_posted():
    assert due(10) == ["reminder:0"]
    assert due(15, posted={"reminder:0"}) == []


def test_after_an_outage_only_the_latest_reminder_due_is_posted():
    assert due(25) == ["reminder:1"]
    assert due(45, posted={"reminder:0"}) == ["reminder:2"]


def test_a_later_reminder_already_posted_makes_earlier_ones_moot():
    assert due(25, posted={"reminder:1"}) == []
    assert due(35, posted={"reminder:2"}) == []


def test_the_escalation_is_announced_once_next_to_the_reminders():
    assert due(12, escalate_after=11) == ["escalation", "reminder:0"]
    assert due(12, posted={"escalation", "reminder:0"}, escalate_after=11) == []


def test_the_next_follow_up_time_is_the_nearest_one_still_ahead():
    assert (
        next_follow_up_at(ask_ts=ASK, remind_after=(10, 20), escalate_after=15, now=ASKED + 12) == ASKED + 15
    )
    assert next_follow_up_at(ask_ts=ASK, remind_after=(10,), escalate_after=None, now=ASKED + 12) is None


# -- which replies are the gate's own reminders -------------------------------------------------------


def test_only_the_gates_own_bot_posts_a_reminder_of_this_gate():
    assert posted_follow_ups([bot_follow_up("reminder:0")], ask_ts=ASK, bot_id=BOT) == {"reminder:0"}
    forged = [
        bot_follow_up("reminder:0", bot_id="B0OTHERAPP"),  # another app's message, same metadata
        {**bot_follow_up("reminder:1"), "bot_id": None, "user": "U0MALLORY"},  # a person's
        bot_follow_up("reminder:2", gate_ts="1700000999.000100"),  # another gate's (or try's)
    ]
    assert posted_follow_ups(forged, ask_ts=ASK, bot_id=BOT) == frozenset()
    assert posted_follow_ups([bot_follow_up("reminder:0")], ask_ts=ASK, bot_id=None) == frozenset()


# -- whom a reminder names ----------------------------------------------------------------------------


def approvals_by(*users: str) -> Decision:
    return Decision("pending", tuple(Vote(user, "approve", "reply", ts=at(1)) for user in users))


def test_a_reminder_names_the_approvers_who_have_not_voted():
    policy = ApprovalPolicy(approvers=frozenset({"UA", "UB", "UC"}), required_approvals=3)
    users, groups = missing_voters({"UA", "UB", "UC"}, {}, approvals_by("UB"), policy)
    assert (users, groups) == (["UA", "UC"], [])


def test_a_group_is_named_while_a_member_has_not_voted():
    policy = ApprovalPolicy(approvers=frozenset({"UA", "UB"}), required_approvals=2)
    groups = {"S0LEADS": {"UA", "UB"}, "S0OPS": {"UA"}, "S0EMPTY": set()}
    _, named = missing_voters(set(), groups, approvals_by("UA"), policy)
    assert named == ["S0EMPTY", "S0LEADS"]  # members unknown: named; all of S0OPS voted: not


def test_the_requester_who_cannot_approve_is_not_reminded():
    policy = ApprovalPolicy(approvers=frozenset({"UA", "UB"}), requested_by="UA")
    assert missing_voters({"UA", "UB"}, {}, approvals_by(), policy)[0] == ["UB"]


def test_a_reminder_names_nobody_when_anyone_may_approve():
    (reply,) = follow_up_replies(
        [FollowUp("reminder", "reminder:0")],
        ask_ts=ASK,
        policy=ApprovalPolicy(),
        decision=approvals_by(),
        approvers=(set(), {}),
        escalated=(set(), {}),
        now=ASKED + 10,
        deadline=ASKED + 3600,
    )
    text = reply.text
    assert "<@" not in text
    assert "<!subteam^" not in text
    assert "1 more approval" in text


def test_after_the_escalation_a_reminder_names_the_escalated_people_who_have_not_voted():
    policy = ApprovalPolicy(
        approvers=frozenset({"UA"}),
        required_approvals=2,
        escalate_to=frozenset({"UE", "UF"}),
        escalate_after=5,
    )
    decision = Decision("pending", (Vote("UF", "approve", "reply", ts=at(6), escalated=True),))

    def reminder_at(seconds: float) -> str:
        (reply,) = follow_up_replies(
            [FollowUp("reminder", "reminder:0")],
            ask_ts=ASK,
            policy=policy,
            decision=decision,
            approvers=({"UA"}, {}),
            escalated=({"UE", "UF"}, {"S0X": set()}),
            now=ASKED + seconds,
            deadline=None,
        )
        assert reply.metadata == follow_up_metadata(gate_ts=ASK, key="reminder:0")
        return reply.text

    assert reminder_at(4.9).startswith(":bell: <@UA>: ")
    assert reminder_at(5).startswith(":bell: <@UA>, <@UE>, <!subteam^S0X>: ")


def test_reminder_text_mentions_as_slack_formats_them_and_shows_the_timeout_as_a_date():
    from datetime import datetime, timezone

    text = reminder_text(
        ["U0ANA"], ["S0LEADS"], needed=2, times_out=datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    )
    assert text == (
        ":bell: <@U0ANA>, <!subteam^S0LEADS>: This question still needs 2 more approvals. It times out "
        "<!date^1767323040^{date_short_pretty} at {time}|2026-01-02 03:04 UTC>."
    )


def test_mentions_are_escaped_so_an_id_cannot_break_out():
    text = escalation_text(["U1>|<!channel"], ["S1><!here"], needed=1, times_out=None)
    assert "<!channel>" not in text
    assert "<!here>" not in text
    assert "&gt;" in text


# -- who counts through escalation --------------------------------------------------------------------

ESCALATING = ApprovalPolicy(
    approvers=frozenset({"UA"}), escalate_to=frozenset({"UE"}), escalate_after=60, requested_by="UR"
)


def test_an_escalated_vote_counts_only_from_the_escalation_on():
    assert why_not_voter(ESCALATING, "UE", "approve", ask_ts=ASK, cast_at=at(59.9)) == "before_escalation"
    assert why_not_voter(ESCALATING, "UE", "approve", ask_ts=ASK, cast_at=at(60)) is None
    assert why_not_voter(ESCALATING, "UE", "approve", ask_ts=ASK, cast_at=None) == "before_escalation"
    assert why_not_voter(ESCALATING, "UX", "approve", ask_ts=ASK, cast_at=at(61)) == "not_approver"


def test_self_approval_rules_apply_to_escalated_people():
    policy = ApprovalPolicy(
        approvers=frozenset({"UA"}), escalate_to=frozenset({"UR"}), escalate_after=60, requested_by="UR"
    )
    assert why_not_voter(policy, "UR", "approve", ask_ts=ASK, cast_at=at(61)) == "self_approval"
    assert why_not_voter(policy, "UR", "reject", ask_ts=ASK, cast_at=at(61)) is None


def test_the_decision_marks_votes_that_came_through_escalation():
    early = reply("UE", "approve", 30)
    late = reply("UE", "approve", 61)
    assert decide({"ts": ASK}, [early], ESCALATING).outcome == "pending"
    decision = decide({"ts": ASK}, [early, late], ESCALATING)
    assert decision.outcome == "approved"
    assert [vote.to_dict() for vote in decision.votes] == [
        {"user": "UE", "vote": "approve", "via": "reply", "reason": None, "ts": at(61), "escalated": True}
    ]
    assert Decision.from_dict(decision.to_dict()) == decision
    ordinary = decide({"ts": ASK}, [reply("UA", "approve", 1)], ESCALATING)
    assert "escalated" not in ordinary.votes[0].to_dict()


def test_an_escalated_persons_reaction_never_counts_and_they_are_told():
    ask = {"ts": ASK, "bot_id": BOT, "reactions": [{"name": "white_check_mark", "users": ["UE"]}]}
    gate = GateRef(channel="C1", ts=ASK)
    assert read_step([ask], gate, ESCALATING, expired=False, people={"UE"}) is None
    notes = uncounted_replies([ask], gate, ESCALATING, people={"UE"})
    assert [(user, key) for user, key, _ in notes] == [("UE", f"reaction:{ASK}:UE")]
    assert "reaction" in notes[0][2]


def test_an_early_escalated_reply_gets_a_note_saying_from_when_it_counts():
    gate = GateRef(channel="C1", ts=ASK)
    thread = [{"ts": ASK, "bot_id": BOT}, reply("UE", "approve", 30)]
    notes = uncounted_replies(thread, gate, ESCALATING, people={"UE"})
    assert [(user, key) for user, key, _ in notes] == [("UE", at(30))]
    assert f"<!date^{int(ASKED + 60)}^" in notes[0][2]
    assert uncounted_replies(thread, gate, ESCALATING, people=set()) == []  # only people are told


# -- configuration ------------------------------------------------------------------------------------


def config(**overrides):
    return validate_gate_config(**{"approvers": ["UA"], **DEFAULTS, **overrides})


def test_escalation_keeps_users_in_the_policy_and_groups_for_run_time():
    rules = config(escalate_to=["UE", "S0LEADS"], escalate_after=60.0)
    assert rules.policy.escalate_to == {"UE"}
    assert rules.escalation_groups == ("S0LEADS",)
    assert ApprovalPolicy.from_dict(rules.policy.to_dict()) == rules.policy


@pytest.mark.parametrize(
    ("overrides", "fix"),
    [
        ({"escalate_to": ["UE"]}, "escalate_to is set but escalate_after is not"),
        ({"escalate_after": 60.0}, "escalate_after is set but escalate_to is empty"),
        ({"escalate_to": ["ue"], "escalate_after": 60.0}, "use 'UE'"),
        ({"escalate_to": ["<@UE>"], "escalate_after": 60.0}, "write the bare ID 'UE'"),
        ({"escalate_to": ["UE"], "escalate_after": 0}, "escalate_after must be a positive number"),
        (
            {"approvers": None, "escalate_to": ["UE"], "escalate_after": 1.0},
            "escalate_to needs a list of approvers",
        ),
    ],
)
def test_a_bad_escalation_is_refused_with_its_fix(overrides, fix):
    with pytest.raises(ValueError, match="Invalid Slack approval gate") as error:
        config(**overrides)
    assert fix in str(error.value)


def test_durations_take_seconds_or_timedeltas_and_must_come_before_the_timeout():
    assert reminder_offsets([timedelta(minutes=2), 30], timeout=3600) == (30.0, 120.0)
    assert reminder_offsets(timedelta(seconds=5), timeout=3600) == (5.0,)
    assert reminder_offsets(None, timeout=3600) == ()
    assert escalation_delay(timedelta(hours=1), timeout=7200) == 3600.0
    for bad, fix in (
        (0, "positive"),
        ([10, 10], "twice"),
        (3600, "not before the gate's timeout"),
        ("10", "positive"),
    ):
        with pytest.raises(ValueError, match=fix):
            reminder_offsets(bad, timeout=3600)
    with pytest.raises(ValueError, match="not before the gate's timeout"):
        escalation_delay(7200, timeout=7200)


# -- button clicks by escalated people ------------------------------------------------------------------


def test_a_click_by_an_escalated_person_before_the_escalation_is_refused_with_when_it_counts():
    from airflow_slack_gate.core.payloads import Click
    from airflow_slack_gate.core.protocol import ask_metadata
    from airflow_slack_gate.runtime.clicks import judge_click

    identity = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, "try_number": 1, "ti_id": "x"}
    asked = {"ts": ASK, "bot_id": BOT, "metadata": ask_metadata(identity, "open", policy=ESCALATING)}
    click = Click(kind="button", user="UE", channel="C1", ts=ASK, vote="approve", click_id="c1")

    early = judge_click([asked], click, bot_id=BOT, now=ASKED + 59)
    assert (early.action, early.why) == ("tell", "before_escalation")
    assert f"<!date^{int(ASKED + 60)}^" in (early.text or "")
    assert judge_click([asked], click, bot_id=BOT, now=ASKED + 61).action == "record"


def test_an_escalated_persons_answer_in_airflows_required_actions_says_why_it_does_not_count():
    from airflow_slack_gate.core.airflow_ui import not_counted_text

    text = not_counted_text(airflow_user="dana", vote="approve", why="before_escalation", slack_user="UE")
    assert "only through the gate's escalation" in text
    assert "reply or a button in Slack" in text


def test_the_asks_metadata_carries_the_escalation_for_whoever_judges_a_click():
    from airflow_slack_gate.core.protocol import ask_metadata, ask_rules
    from airflow_slack_gate.runtime.clicks import click_policy

    metadata = ask_metadata({"dag_id": "d"}, "open", policy=ESCALATING, escalation_groups=["S0LEADS"])
    rules = ask_rules(metadata["event_payload"])
    assert rules is not None
    assert (rules.policy, rules.escalation_groups) == (ESCALATING, {"S0LEADS"})
    assert click_policy(rules, frozenset(), frozenset({"UG"})).escalate_to == {"UE", "UG"}
