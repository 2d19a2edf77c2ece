"""Asking again in the same try (a worker that died after asking reruns it): the question is found again
only if it asked about the same review digest; otherwise the try asks afresh and closes the old one."""

from __future__ import annotations

import logging
import time

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import gate_metadata
from airflow_slack_gate.hooks.asking import Asking, Question
from airflow_slack_gate.hooks.slack import SlackGateHook

IDENTITY = {
    "dag_id": "deploy",
    "run_id": "manual__1",
    "task_id": "ask",
    "map_index": -1,
    "try_number": 1,
    "ti_id": "0192-try-1",
}


SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy?"}}


def question(digest: str | None) -> Question:
    return Question(
        text="Deploy?",
        message=lambda: {"text": "Deploy?", "blocks": [SECTION]},
        policy=ApprovalPolicy(),
        approver_groups=[],
        review_digest=digest,
    )


def ask(slack, digest: str | None) -> str:
    asking = Asking(SlackGateHook(), log=logging.getLogger("test"))
    return asking.ask(slack.workspace.approvals, IDENTITY, question(digest), since=time.time() - 60).ts


def test_the_same_try_and_digest_waits_on_its_question(slack_emulator):
    first = ask(slack_emulator, "sha256:a")
    assert ask(slack_emulator, "sha256:a") == first
    assert slack_emulator.call_count("chat.postMessage") == 1


def test_the_same_try_about_another_digest_asks_afresh_and_closes_the_old_question(slack_emulator):
    old = ask(slack_emulator, "sha256:a")
    new = ask(slack_emulator, "sha256:b")

    assert new != old
    old_question = slack_emulator.get_message("approvals", old)
    assert gate_metadata(old_question)["state"] == "superseded"
    assert gate_metadata(old_question)["review_digest"] == "sha256:a"
    assert "what is reviewed changed" in old_question["text"]
    assert gate_metadata(slack_emulator.get_message("approvals", new))["review_digest"] == "sha256:b"
    assert ask(slack_emulator, "sha256:a") not in (old, new)  # back to a: the closed one is not reused


def test_a_question_without_a_digest_is_not_one_with_a_digest(slack_emulator):
    unbound = ask(slack_emulator, None)
    assert ask(slack_emulator, "sha256:a") != unbound
