"""A gate bound to what was reviewed: the review digest is shown, kept in Slack and in the decision
record, refused when it is missing or malformed, and a deploy checks it right before acting."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_slack_gate.core.protocol import gate_metadata
from airflow_slack_gate.sensors.slack import SlackApprovalSensor
from tests.sensor.test_required_actions import slack, triggerer_reads_hitl  # noqa: F401 (fixtures)
from tests.support import load_dag, people, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")

DIGEST = "sha256:4f2a9c0d1e"


def bot_messages(emulator):
    return [m for m in emulator.messages("approvals") if m.get("bot_id") == emulator.workspace.bot_id]


def approved_run(emulator, digest: str) -> tuple[Any, dict]:
    """Run review_gate for ``digest``, alice approving; the run and the question as it was asked."""
    seen = {}

    def approve(ask):
        seen["ask"] = ask
        emulator.reply("approvals", ask["ts"], emulator.workspace.alice, "approve")

    with people(approve, emulator):
        run = load_dag("review_gate").test(run_conf={"digest": digest})
    return run, seen


def test_an_approved_digest_is_shown_kept_and_deployed(slack_emulator):
    run, seen = approved_run(slack_emulator, DIGEST)

    assert task_states(run) == {"build": "success", "ask": "success", "deploy": "success"}
    assert xcom(run, "deploy") == f"deployed {DIGEST}"
    assert f"*Review digest:* `{DIGEST}`" in str(seen["ask"]["blocks"])
    assert gate_metadata(seen["ask"])["review_digest"] == DIGEST
    decision = xcom(run, "ask", "slack_decision")
    assert decision["review_digest"] == DIGEST
    assert (decision["dag_id"], decision["task_id"]) == ("review_gate", "ask")
    question = slack_emulator.get_message("approvals", decision["ts"])
    assert gate_metadata(question)["review_digest"] == DIGEST  # kept when the outcome is shown
    assert f"`{DIGEST}`" in str(question["blocks"])


def test_a_deploy_of_another_digest_fails_although_the_gate_approved(slack_emulator, capsys):
    alice = slack_emulator.workspace.alice
    with people(lambda ask: slack_emulator.reply("approvals", ask["ts"], alice, "approve"), slack_emulator):
        run = load_dag("review_gate").test(run_conf={"digest": DIGEST, "deploy": "sha256:evil"})

    assert xcom(run, "ask") is True
    assert task_states(run)["deploy"] == "failed"
    log = capsys.readouterr().out
    assert "AirflowFailException" in log
    assert f"approved '{DIGEST}', but you are about to act on 'sha256:evil'" in log
    assert "review_gate.ask" in log


def test_a_rejected_gate_stops_the_deploy(slack_emulator, capsys):
    bob = slack_emulator.workspace.bob
    with people(lambda ask: slack_emulator.reply("approvals", ask["ts"], bob, "reject: no"), slack_emulator):
        run = load_dag("review_gate").test(run_conf={"digest": DIGEST})

    assert task_states(run)["deploy"] == "failed"
    assert "was not approved (outcome 'rejected')" in capsys.readouterr().out


# -- attacks: what the run's data makes of the digest ----------------------------------------------


def test_a_missing_upstream_digest_asks_nothing(slack_emulator, capsys):
    """``{{ ti.xcom_pull(...) }}`` renders "None" when the build pushed nothing: approving "None" would
    approve whatever is deployed later."""
    run = load_dag("review_gate").test(run_conf={})

    assert task_states(run)["ask"] == "failed"
    assert bot_messages(slack_emulator) == []
    assert "the upstream XCom it reads is missing" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("digest", "said"),
    [
        ("sha256:abc\n*Approved by the CTO*", "newline or another control"),
        ("sha256:" + "a" * 300, "at most 200 are allowed"),
        ("sha256:abc\u202e", "control or invisible"),
        ("sha256:abc` <!channel>", "backtick"),
        ("", "the upstream XCom it reads is missing"),
    ],
)
def test_a_malformed_digest_from_upstream_asks_nothing(slack_emulator, capsys, digest, said):
    run = load_dag("review_gate").test(run_conf={"digest": digest})

    assert task_states(run)["ask"] == "failed"
    assert bot_messages(slack_emulator) == []
    assert said in capsys.readouterr().out


def test_a_digest_is_shown_as_data(slack_emulator):
    """A digest that holds Slack markup shows as typed: it pings nobody and links nowhere."""
    digest = "<!channel> <http://evil.example|sha256:good> &amp;"
    run, seen = approved_run(slack_emulator, digest)

    shown = str(seen["ask"]["blocks"])
    assert "`&lt;!channel&gt; &lt;http://evil.example|sha256:good&gt; &amp;amp;`" in shown
    assert "<!channel>" not in shown
    assert xcom(run, "ask", "slack_decision")["review_digest"] == digest  # kept exactly


def test_a_literal_bad_digest_fails_when_the_dag_is_parsed():
    with pytest.raises(ValueError, match=r"review_digest rendered to 'None'.*upstream XCom"):
        SlackApprovalSensor(task_id="ask", text="Deploy?", review_digest="None")


# -- a retry whose digest changed asks afresh ------------------------------------------------------


def test_a_retry_about_a_new_digest_asks_afresh_and_old_votes_never_count(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_REVIEW_DIGEST", "sha256:old")

    def vote_on_both(first):
        monkeypatch.setenv("AIRFLOW_VAR_REVIEW_DIGEST", "sha256:new")  # the retry renders the new one
        slack_emulator.inject_fault("conversations.history", error="missing_scope", count=1)  # try 1 ends
        second = slack_emulator.wait_for(lambda: bot_messages(slack_emulator)[1:], timeout=30)[0]
        slack_emulator.reply("approvals", first["ts"], ws.alice, "approve")  # on the old question
        slack_emulator.reply("approvals", second["ts"], ws.bob, "reject: wrong image")

    with people(vote_on_both, slack_emulator):
        run = load_dag("review_retry").test()

    assert xcom(run, "ask") is False
    decision = xcom(run, "ask", "slack_decision")
    assert decision["review_digest"] == "sha256:new"
    assert [(v["user"], v["vote"]) for v in decision["votes"]] == [(ws.bob, "reject")]
    old, new = bot_messages(slack_emulator)
    assert gate_metadata(old)["review_digest"] == "sha256:old"
    assert gate_metadata(old)["state"] == "superseded"
    assert gate_metadata(new)["review_digest"] == "sha256:new"


# -- the same digest in Airflow's Required actions -------------------------------------------------


@pytest.mark.usefixtures("triggerer_reads_hitl")
def test_required_actions_shows_the_digest_too(slack):  # noqa: F811 (the fixture)
    """An approver answering in Airflow's Required actions sees what they approve, as in Slack."""
    from tests.hitl.conftest import Run, forget_runs

    seen = {}
    forget_runs("review_gate")  # the attack tests ran it in this worker too

    def read_request_then_approve(ask):
        seen["request"] = Run(slack, "review_gate").wait_for_detail(lambda detail: True)
        slack.reply("approvals", ask["ts"], slack.workspace.bob, "approve")

    with people(read_request_then_approve, slack):
        run = load_dag("review_gate").test(run_conf={"digest": DIGEST})

    assert xcom(run, "ask") is True

    assert seen["request"].body.startswith(f"Review digest: `{DIGEST}`. Asked in Slack")
