"""Bad gate configuration fails when the DAG is parsed, with a message that names the fix."""

from __future__ import annotations

import re
import textwrap

import pytest

from airflow_slack_gate.sensors.slack import SlackApprovalSensor
from tests.support import DagBag

GOOD = {"task_id": "ask", "text": "Deploy?"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"text": "   "}, "text must be a non-empty question"),
        ({"required_approvals": 0}, "required_approvals"),
        ({"approvers": ["U0AAAA1", "U0AAAA2"], "required_approvals": 3}, "required_approvals"),
        ({"approve_words": ("ok", "no")}, "'no'"),
        ({"approve_reactions": ("x",)}, "'x'"),
        ({"on_timeout": "maybe"}, "on_timeout"),
        ({"approvers": ["alice"]}, "member ID"),
        ({"approvers": ["U0AAAA1", "s-team"]}, "s-team"),
        ({"requested_by": "@alice"}, "requested_by"),
    ],
    ids=[
        "empty-text",
        "zero-approvals",
        "more-approvals-than-approvers",
        "word-in-both-lists",
        "reaction-in-both-lists",
        "unknown-on-timeout",
        "malformed-user-id",
        "malformed-group-id",
        "malformed-requester",
    ],
)
def test_bad_configuration_is_refused_with_a_fix(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SlackApprovalSensor(**{**GOOD, **bad})


def test_a_quorum_that_groups_may_reach_is_accepted():
    sensor = SlackApprovalSensor(**GOOD, approvers=["U0AAAA1", "S0GROUP1"], required_approvals=5)
    assert sensor.required_approvals == 5


def test_approvers_as_one_string_are_checked_when_parsed():
    """A Variable's value is one string of IDs: it is checked like a list."""
    with pytest.raises(ValueError, match="required_approvals=3"):
        SlackApprovalSensor(**GOOD, approvers="U0AAAA1, U0AAAA2", required_approvals=3)
    with pytest.raises(ValueError, match="'alice'"):
        SlackApprovalSensor(**GOOD, approvers="U0AAAA1 alice")


def test_the_error_shows_as_a_dag_import_error(tmp_path):
    (tmp_path / "bad_gate.py").write_text(
        textwrap.dedent(
            """
            from airflow.sdk import DAG
            from airflow_slack_gate.sensors.slack import SlackApprovalSensor

            with DAG("bad_gate", schedule=None):
                SlackApprovalSensor(task_id="ask", text="Deploy?", on_timeout="later")
            """
        )
    )
    bag = DagBag(dag_folder=str(tmp_path))
    (error,) = bag.import_errors.values()
    assert "on_timeout" in error
    assert "'reject'" in error


# -- Block Kit limits (issue 11, hole 5) ---------------------------------------------------------------


def test_more_blocks_than_the_gate_leaves_room_for_fail_when_parsed():
    with pytest.raises(ValueError, match="at most 47") as raised:
        SlackApprovalSensor(**GOOD, blocks=[{"type": "divider"}] * 48)
    assert "the approval gate adds 3 of its own" in str(raised.value)


def test_the_gates_own_blocks_still_fit_beside_47_of_the_authors():
    assert len(SlackApprovalSensor(**GOOD, blocks=[{"type": "divider"}] * 47).blocks) == 47


def test_json_blocks_that_are_not_json_before_rendering_fail_when_parsed():
    with pytest.raises(ValueError, match="blocks must be a list of Block Kit blocks"):
        SlackApprovalSensor(**GOOD, blocks="{{ params.blocks }}")


def test_templated_blocks_over_slacks_limits_fail_before_any_slack_call(airflow_db, slack_emulator, capfd):
    from tests.support import load_dag, task_states

    run = load_dag("gate_header").test(run_conf={"title": "x" * 151})

    assert task_states(run)["ask"] == "failed"
    out, err = capfd.readouterr()
    assert "header's text has 151 characters; Slack allows 150" in out + err
    assert slack_emulator.calls == []
