"""How each decider was allowed, as a decided question's metadata keeps it: the gate's rule
(``ways_allowed``) and the flat metadata value it is written as and read back from."""

from __future__ import annotations

import pytest

from airflow_slack_gate.core.gate import ways_allowed
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import ALLOWED_BY_KEY, decided_allowed_by, outcome_marks

DEPLOYERS, LEADS = "S0DEPLOY", "S0LEADS"


def test_each_way_a_decider_was_allowed_round_trips_through_the_metadata():
    policy = ApprovalPolicy(
        approvers=frozenset({"U0ALICE"}), escalate_to=frozenset({"U0ERIN"}), escalate_after=60.0
    )
    allowed = ways_allowed(
        ["U0ALICE", "U0BOB", "U0DAVE", "U0ERIN", "U0MALLORY"],
        policy,
        approver_groups={DEPLOYERS: frozenset({"U0ALICE", "U0BOB"}), "S0EMPTY": frozenset()},
        escalation_groups={LEADS: frozenset({"U0DAVE", "U0BOB"})},
    )

    assert allowed == {
        "U0ALICE": ("approvers", DEPLOYERS),
        "U0BOB": (DEPLOYERS,),  # an approver: escalation is not how they were allowed
        "U0DAVE": (f"escalate_to:{LEADS}",),
        "U0ERIN": ("escalate_to",),
    }
    marks = outcome_marks(1700000000.5, list(allowed), None, allowed_by=allowed)
    assert isinstance(marks[ALLOWED_BY_KEY], str)  # Slack metadata values are flat
    assert decided_allowed_by(marks) == allowed


def test_without_an_approvers_rule_anyone_in_the_channel_was_allowed():
    allowed = ways_allowed(["U0ALICE"], ApprovalPolicy(), approver_groups={}, escalation_groups={})

    assert decided_allowed_by(outcome_marks(1.0, ["U0ALICE"], None, allowed_by=allowed)) == {
        "U0ALICE": ("anyone",)
    }


def test_a_question_decided_before_it_was_recorded_says_nothing():
    assert decided_allowed_by(outcome_marks(1.0, ["U0ALICE"], None)) is None
    assert decided_allowed_by(outcome_marks(1.0, [], None, allowed_by={})) == {}


@pytest.mark.parametrize(
    "value",
    [
        "U0ALICE:approvers,U0BOB:admins",  # an unknown way
        "U0ALICE:approvers,mallory:approvers",  # not a user ID
        "U0ALICE",  # no way
        "U0ALICE:s0deploy",  # not a group ID
        "U0ALICE:escalate_to:U0BOB",  # escalation through a user, not a group
        "U0ALICE:approvers,",
        ["U0ALICE:approvers"],  # not flat
        {"U0ALICE": ["approvers"]},
    ],
)
def test_a_malformed_allowed_by_is_ignored_whole(value):
    assert decided_allowed_by({ALLOWED_BY_KEY: value}) is None
