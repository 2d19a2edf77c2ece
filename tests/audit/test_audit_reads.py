"""What the audit reads and what it refuses: questions of every try (superseded ones marked), only bots'
questions (another app's look-alike marked), the dates asked for, and every Slack error it can meet as a
clear CLI error with a non-zero exit."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_slack_gate.audit import read_audit
from airflow_slack_gate.cli import main
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import ask_metadata, outcome_marks
from airflow_slack_gate.hooks.asking import Asking, Question
from airflow_slack_gate.hooks.slack import SlackGateHook

pytestmark = pytest.mark.usefixtures("fast_slack_reads")

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy?"}}


def identity(try_number: int) -> dict[str, Any]:
    return {
        "dag_id": "deploy",
        "run_id": "manual__1",
        "task_id": "ask",
        "map_index": -1,
        "try_number": try_number,
        "ti_id": f"ti-{try_number}",
    }


def ask(slack: Any, try_number: int, policy: ApprovalPolicy | None = None) -> str:
    """What the sensor's execute() does for one try (earlier tries' open questions are superseded)."""
    question = Question(
        text="Deploy?",
        message=lambda: {"text": "Deploy?", "blocks": [SECTION]},
        policy=policy or ApprovalPolicy(),
        approver_groups=[],
        review_digest=f"sha256:{try_number}",
    )
    asking = Asking(SlackGateHook(), log=logging.getLogger("test"))
    return asking.ask(slack.workspace.approvals, identity(try_number), question, since=time.time() - 60).ts


def test_every_try_is_audited_and_an_earlier_one_is_marked_superseded(slack_emulator):
    ws = slack_emulator.workspace
    first = ask(slack_emulator, 1)
    slack_emulator.reply("approvals", first, ws.alice, "approve")  # on the old question
    second = ask(slack_emulator, 2, ApprovalPolicy(approvers=frozenset({ws.bob})))
    slack_emulator.reply("approvals", second, ws.alice, "approve")  # not an approver of try 2
    slack_emulator.reply("approvals", second, ws.bob, "reject: wrong image")

    old, new = read_audit("slack_gate_default", ws.approvals)

    assert (old.ts, old.try_number, old.superseded, old.outcome) == (first, 1, True, "superseded")
    assert old.review_digest == "sha256:1"
    assert [(vote.user, vote.vote) for vote in old.votes] == [(ws.alice, "approve")]
    assert (new.ts, new.try_number, new.superseded, new.outcome) == (second, 2, False, "pending")
    assert new.approvers == [ws.bob]
    assert [(vote.user, vote.vote, vote.via, vote.reason) for vote in new.votes] == [
        (ws.bob, "reject", "reply", "wrong image")
    ]


def test_only_bots_questions_count_and_another_apps_look_alike_is_marked(slack_emulator):
    ws = slack_emulator.workspace
    own = ask(slack_emulator, 1)
    other = slack_emulator.create_bot("copycat")
    metadata = ask_metadata(identity(1), "approved")
    slack_emulator.post_as_bot(ws.approvals, other, "Deploy?", metadata=metadata)
    slack_emulator.post_as_user(ws.approvals, ws.mallory, "Deploy? (a person cannot write metadata)")

    records = read_audit("slack_gate_default", ws.approvals)

    assert [(record.ts == own, record.by_this_app) for record in records] == [(True, True), (False, False)]
    assert records[1].bot_id == other.bot_id


def test_since_and_until_choose_the_days(slack_emulator, capsys):
    ws = slack_emulator.workspace
    ask(slack_emulator, 1)
    today = date.today()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)

    assert len(read_audit("slack_gate_default", ws.approvals, since=today, until=today)) == 1
    assert read_audit("slack_gate_default", ws.approvals, until=yesterday) == []
    assert read_audit("slack_gate_default", ws.approvals, since=tomorrow.isoformat()) == []
    assert main(["audit", "--channel", ws.approvals, "--since", "last week"]) == 1
    assert "is not a date: write YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("method", "error", "fix"),
    [
        ("conversations.history", "not_in_channel", "/invite @<your app>"),
        ("conversations.history", "channel_not_found", "check the channel name or ID"),
        ("conversations.history", "missing_scope", "add the OAuth scope"),
        ("conversations.replies", "missing_scope", "add the OAuth scope"),
        ("auth.test", "invalid_auth", "check the Bot User OAuth Token"),
        ("chat.getPermalink", "channel_not_found", "invite the bot"),
    ],
)
def test_a_slack_error_is_a_clear_cli_error(slack_emulator, capsys, tmp_path, method, error, fix):
    ask(slack_emulator, 1)
    slack_emulator.inject_fault(method, error=error, count=10)
    output = tmp_path / "trail.json"

    code = main(["audit", "--channel", slack_emulator.workspace.approvals, "--output", str(output)])

    assert code == 1
    assert not output.exists()
    err = capsys.readouterr().err
    assert error in err
    assert fix in err


def test_slack_rate_limiting_for_good_is_a_clear_cli_error(slack_emulator, capsys):
    slack_emulator.inject_fault("conversations.history", status=429, retry_after=0, count=10)

    code = main(["audit", "--channel", slack_emulator.workspace.approvals])

    assert code == 1
    assert "ratelimited" in capsys.readouterr().err


def test_the_console_script_prints_the_trail(slack_emulator):
    ask(slack_emulator, 1)
    script = Path(sys.executable).with_name("airflow-slack-gate")
    done = subprocess.run(
        [str(script), "audit", "--channel", slack_emulator.workspace.approvals, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [record] = json.loads(done.stdout)
    assert (record["dag_id"], record["review_digest"]) == ("deploy", "sha256:1")


def test_an_unknown_connection_is_a_clear_cli_error(slack_emulator, capsys):
    code = main(
        ["audit", "--conn-id", "no_such_gate_connection", "--channel", slack_emulator.workspace.approvals]
    )

    assert code == 1
    err = capsys.readouterr().err
    assert "no_such_gate_connection" in err
    assert "pass its id as --conn-id" in err


def test_votes_after_the_recorded_outcome_are_not_counted(slack_emulator):
    """The worker writes when and by whom the gate was decided into the question; a reply after that
    changed nothing, so the audit leaves it out."""
    ws = slack_emulator.workspace
    ts = ask(slack_emulator, 1)
    slack_emulator.reply("approvals", ts, ws.alice, "approve: fine")
    decided = outcome_marks(time.time(), [ws.alice], "sha256:1")
    SlackGateHook().update_message(
        channel=ws.approvals,
        ts=ts,
        text="Approved",
        blocks=[SECTION],
        metadata=ask_metadata({**identity(1), **decided}, "approved", policy=ApprovalPolicy()),
    )
    slack_emulator.reply("approvals", ts, ws.bob, "reject: too late")

    [record] = read_audit("slack_gate_default", ws.approvals)

    assert (record.outcome, record.decided_by, record.review_digest) == ("approved", [ws.alice], "sha256:1")
    assert [(vote.user, vote.vote, vote.reason) for vote in record.votes] == [(ws.alice, "approve", "fine")]


def test_votes_through_escalation_are_marked_and_early_ones_left_out(slack_emulator):
    """The audit judges escalation as the gate did: a member of the group the gate escalates to counts
    only from ``escalate_after`` on, and the record says that vote came through escalation."""
    ws = slack_emulator.workspace
    policy = ApprovalPolicy(approvers=frozenset({ws.dave}), required_approvals=1, escalate_after=0.5)
    question = Question(
        text="Deploy?",
        message=lambda: {"text": "Deploy?", "blocks": [SECTION]},
        policy=policy,
        approver_groups=[],
        escalation_groups=[ws.deployers],
    )
    asking = Asking(SlackGateHook(), log=logging.getLogger("test"))
    ts = asking.ask(ws.approvals, identity(1), question, since=time.time() - 60).ts
    slack_emulator.reply("approvals", ts, ws.alice, "approve: too early")
    while time.time() < float(ts) + 0.6:  # the escalation starts 0.5 s after the ask (Slack ts clock)
        time.sleep(0.05)
    slack_emulator.reply("approvals", ts, ws.bob, "approve: covering for dave")

    [record] = read_audit("slack_gate_default", ws.approvals)

    assert [(vote.user, vote.vote, vote.escalated) for vote in record.votes] == [(ws.bob, "approve", True)]


def decide_question(
    slack: Any,
    ts: str,
    decided_by: list[str],
    policy: ApprovalPolicy,
    approver_groups: Sequence[str] = (),
    **marks: Any,
) -> None:
    """What the worker writes on the question when the gate decided, as this app's bot."""
    decided = {**outcome_marks(time.time(), decided_by, "sha256:1"), **marks}
    SlackGateHook().update_message(
        channel=slack.workspace.approvals,
        ts=ts,
        text="Approved",
        blocks=[SECTION],
        metadata=ask_metadata(
            {**identity(1), **decided}, "approved", policy=policy, approver_groups=approver_groups
        ),
    )


def test_another_apps_look_alike_claiming_how_its_deciders_were_allowed_is_not_taken(slack_emulator):
    ws = slack_emulator.workspace
    other = slack_emulator.create_bot("copycat")
    policy = ApprovalPolicy(approvers=frozenset({ws.alice}))
    claimed = outcome_marks(time.time(), [ws.mallory], None, allowed_by={ws.mallory: ["approvers"]})
    metadata = ask_metadata({**identity(1), **claimed}, "approved", policy=policy)
    slack_emulator.post_as_bot(ws.approvals, other, "Deploy?", metadata=metadata)

    [record] = read_audit("slack_gate_default", ws.approvals)

    assert (record.by_this_app, record.decided_by) == (False, [ws.mallory])
    assert (record.allowed_then, record.allowed_then_not_now, record.allowed_now_not_then) == (
        None,
        None,
        None,
    )


def test_a_malformed_allowed_by_is_ignored(slack_emulator):
    ws = slack_emulator.workspace
    ts = ask(slack_emulator, 1, ApprovalPolicy(approvers=frozenset({ws.alice})))
    slack_emulator.reply("approvals", ts, ws.alice, "approve")
    policy = ApprovalPolicy(approvers=frozenset({ws.alice}))
    decide_question(
        slack_emulator, ts, [ws.alice], policy, allowed_by=f"{ws.alice}:approvers,{ws.mallory}:<!channel>"
    )

    [record] = read_audit("slack_gate_default", ws.approvals)

    assert (record.outcome, record.decided_by, record.allowed_then) == ("approved", [ws.alice], None)
    assert (record.allowed_then_not_now, record.allowed_now_not_then) == (None, None)


def test_a_decider_allowed_now_but_not_then_is_named(slack_emulator):
    """The gate recorded carol's approval without her among the allowed (its read of @deployers, when
    it recorded the outcome, no longer had her); she is a member today, and the audit says so."""
    ws = slack_emulator.workspace
    ts = ask(slack_emulator, 1)
    slack_emulator.reply("approvals", ts, ws.carol, "approve")
    policy = ApprovalPolicy(approvers=frozenset())
    decide_question(slack_emulator, ts, [ws.carol], policy, [ws.deployers], allowed_by="")

    [record] = read_audit("slack_gate_default", ws.approvals)

    assert (record.decided_by, record.allowed_then) == ([ws.carol], {})
    assert (record.allowed_then_not_now, record.allowed_now_not_then) == ([], [ws.carol])
