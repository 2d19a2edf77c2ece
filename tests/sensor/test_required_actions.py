"""A Slack gate in Airflow's Required actions (``airflow_ui=True``, the default): a real Airflow run
(dag.test()) with the emulator, answered as the Airflow UI answers (the core API's PATCH handler, as a
simple-auth-manager user). An answer there is the responder's Slack user's vote, under the gate's rules,
recorded in the question's thread.

dag.test() runs the trigger in-process, with a stand-in for the triggerer that cannot read HITL
requests; ``triggerer_reads_hitl`` gives it the triggerer's one handler for that read, so the trigger's
look at the request (the path of Airflow 3.1 and 3.2, and of 3.3 when a task is not deferred as the
answer comes) runs as in a triggerer. The task is queued, not deferred, while dag.test() runs its
trigger, so Airflow 3.3's own resume never fires here; the trigger's event has the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_slack_gate.core import pacing
from airflow_slack_gate.core.protocol import VOTE_EVENT_TYPE
from airflow_slack_gate.testing.emulator import SlackEmulator
from tests.hitl.conftest import (
    AIRFLOW_USERS,
    Run,
    answer_in_airflow,
    forget_runs,
    serve_hitl_as_the_triggerer,
)
from tests.support import SUCCESS, load_dag, people, task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads", "triggerer_reads_hitl")


@pytest.fixture
def triggerer_reads_hitl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let dag.test()'s in-process trigger read HITL requests, exactly as Airflow's triggerer serves
    that read (``TriggerRunnerSupervisor``: the execution API's GET /hitlDetails/{ti_id}). dag.test()
    cannot resume a deferred task answered in Airflow as Airflow 3.3 does, so there the trigger's
    safety-net look (every minute) stands in for it, at the gate's poke_interval."""
    serve_hitl_as_the_triggerer(monkeypatch)
    monkeypatch.setattr(pacing, "HITL_SAFETY_NET_INTERVAL", 0.0)


@pytest.fixture
def slack(slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> SlackEmulator:
    """The seeded emulator; the connection maps Airflow user alice by ``slack_users`` and everyone else
    by email at example.com (bob, carol, dave are Airflow users found that way; admin has no Slack
    user)."""
    conn = json.loads(slack_emulator.airflow_connection())
    conn["extra"].update(slack_users={"alice": slack_emulator.workspace.alice}, email_domain="example.com")
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", AIRFLOW_USERS)
    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()
    return slack_emulator


def run_gate(slack: SlackEmulator, dag_id: str, action: Callable[[dict, Run], None]) -> Any:
    forget_runs(dag_id)
    request = Run(slack, dag_id)
    with people(lambda ask: action(ask, request), slack):
        return load_dag(dag_id).test()


def answer(request: Run, option: str, user: str) -> None:
    """``user`` answers the pending request in Airflow's Required actions."""
    request.wait_for_detail(lambda detail: detail.responded_at is None)
    answer_in_airflow(request.dag_id, [option], user=user, role="admin" if user == "admin" else "user")


def thread_reply(slack: SlackEmulator, ask: dict, condition: Callable[[dict], bool]) -> dict:
    """The bot's reply in the question's thread that meets ``condition``, once it is there."""

    def found() -> dict | None:
        replies = slack.replies("approvals", ask["ts"])[1:]
        return next((r for r in replies if r.get("bot_id") and condition(r)), None)

    return slack.wait_for(found, 30)


def recorded_via_airflow(reply: dict) -> bool:
    metadata = reply.get("metadata") or {}
    return (
        metadata.get("event_type") == VOTE_EVENT_TYPE
        and (metadata.get("event_payload") or {}).get("via") == "airflow_ui"
    )


def votes(run: Any) -> list[tuple[str, str, str]]:
    return [(v["user"], v["vote"], v["via"]) for v in xcom(run, "ask", "slack_decision")["votes"]]


@pytest.fixture
def approvers(slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def set_approvers(*users: str, requested_by: str | None = None, quorum: bool = False) -> None:
        variable = "AIRFLOW_VAR_GATE_QUORUM_APPROVERS" if quorum else "AIRFLOW_VAR_GATE_APPROVERS"
        monkeypatch.setenv(variable, ",".join(users))
        if requested_by:
            monkeypatch.setenv("AIRFLOW_VAR_GATE_REQUESTED_BY", requested_by)

    return set_approvers


def test_an_approver_approves_in_required_actions(slack, approvers):
    ws = slack.workspace
    approvers(ws.alice, ws.bob)
    seen: dict[str, Any] = {}

    def alice_approves_in_airflow(ask: dict, request: Run) -> None:
        seen["request"] = request.wait_for_detail(lambda detail: True)
        answer(request, "Approve", "alice")

    run = run_gate(slack, "gate_in_airflow", alice_approves_in_airflow)

    assert run.state == SUCCESS
    assert xcom(run, "ask") is True
    assert task_states(run)["deploy"] == "success"
    assert votes(run) == [(ws.alice, "approve", "airflow_ui")]
    assert xcom(run, "ask", "slack_decision")["decided_by"] == [ws.alice]
    request = seen["request"]
    assert request.options == ["Approve", "Reject"]
    assert request.subject == f"Deploy model {run.run_id}?"
    # alice by slack_users; bob by his Slack email, as both names Airflow may know him by
    assert sorted(user["name"] for user in request.assigned_users) == ["alice", "bob", "bob@example.com"]
    ask = xcom(run, "ask", "slack_message")
    record = thread_reply(slack, ask, recorded_via_airflow)
    assert record["metadata"]["event_payload"]["voter"] == ws.alice
    assert "Required actions" in record["text"]


def test_a_reject_in_required_actions_rejects(slack, approvers):
    ws = slack.workspace
    approvers(ws.alice, ws.bob)
    run = run_gate(slack, "gate_in_airflow", lambda ask, request: answer(request, "Reject", "bob"))

    assert xcom(run, "ask") is False
    assert task_states(run)["skip_deploy"] == "success"
    assert votes(run) == [(ws.bob, "reject", "airflow_ui")]  # bob is found by email


def test_a_non_approvers_answer_counts_nothing_and_the_gate_keeps_waiting(slack, approvers):
    ws = slack.workspace
    erin = slack.create_user("erin")  # no email: no Airflow user found, so the request is not assigned
    approvers(ws.alice, erin)
    requests: list[Any] = []

    def outsider_then_approver(ask: dict, request: Run) -> None:
        requests.append(request.wait_for_detail(lambda detail: True))
        answer(request, "Approve", "bob")  # an Airflow user, found in Slack by email; no approver
        note = thread_reply(slack, ask, lambda r: "bob" in r["text"])
        assert "not an approver" in note["text"]
        answer(request, "Approve", "alice")  # the request was armed again

    run = run_gate(slack, "gate_in_airflow", outsider_then_approver)

    assert xcom(run, "ask") is True
    assert votes(run) == [(ws.alice, "approve", "airflow_ui")]
    assert requests[0].assigned_users == []  # erin would be locked out


def test_airflow_users_without_a_slack_user_who_may_vote_count_nothing(slack):
    ws = slack.workspace

    def admin_carol_then_dave(ask: dict, request: Run) -> None:
        answer(request, "Approve", "admin")  # admin has no Slack user: not mapped, no email there
        note = thread_reply(slack, ask, lambda r: "admin" in r["text"])
        assert "no Slack user is found" in note["text"]
        slack.deactivate_user(ws.carol)
        answer(request, "Approve", "carol")  # found by email, but Slack shows no person who may vote
        note = thread_reply(slack, ask, lambda r: "carol" in r["text"])
        assert "does not count" in note["text"]
        slack.reply("approvals", ask["ts"], ws.dave, "approve")

    run = run_gate(slack, "gate_anyone", admin_carol_then_dave)

    assert votes(run) == [(ws.dave, "approve", "reply")]


def test_two_of_three_with_one_vote_in_airflow_and_one_in_slack(slack, approvers):
    ws = slack.workspace
    approvers(ws.alice, ws.bob, ws.carol, quorum=True)

    def alice_in_airflow_then_carol_in_slack(ask: dict, request: Run) -> None:
        answer(request, "Approve", "alice")
        thread_reply(slack, ask, recorded_via_airflow)
        request.wait_for_detail(lambda detail: detail.responded_at is None)  # still waiting, armed again
        slack.reply("approvals", ask["ts"], ws.carol, "approve")

    run = run_gate(slack, "gate_in_airflow_quorum", alice_in_airflow_then_carol_in_slack)

    assert xcom(run, "ask") is True
    assert votes(run) == [(ws.alice, "approve", "airflow_ui"), (ws.carol, "approve", "reply")]


def test_the_requester_cannot_approve_their_own_request_in_airflow(slack, approvers):
    ws = slack.workspace
    approvers(ws.alice, ws.bob, requested_by=ws.alice)

    def requester_then_peer(ask: dict, request: Run) -> None:
        answer(request, "Approve", "alice")
        note = thread_reply(slack, ask, lambda r: "alice" in r["text"])
        assert "cannot approve their own request" in note["text"]
        answer(request, "Approve", "bob")

    run = run_gate(slack, "gate_in_airflow", requester_then_peer)

    assert xcom(run, "ask", "slack_decision")["decided_by"] == [ws.bob]
    assert votes(run) == [(ws.bob, "approve", "airflow_ui")]


def test_an_answer_slack_cannot_take_yet_is_kept_and_counted_later(slack, approvers):
    ws = slack.workspace
    approvers(ws.alice, ws.bob)

    def alice_answers_while_slack_refuses_posts(ask: dict, request: Run) -> None:
        slack.inject_fault("chat.postMessage", status=503)  # the record of the first resume fails
        answer(request, "Approve", "alice")

    run = run_gate(slack, "gate_in_airflow", alice_answers_while_slack_refuses_posts)

    assert xcom(run, "ask") is True
    assert votes(run) == [(ws.alice, "approve", "airflow_ui")]


@pytest.mark.parametrize("dag_id", ["gate_not_in_airflow", "gate_poke_mode"])
def test_no_request_is_written_with_airflow_ui_false_nor_in_the_workers_modes(slack, dag_id):
    """airflow_ui=False lists nothing; poke and reschedule modes neither: a worker cannot read an
    answer through Airflow's task SDK, so the gate would never hear of one."""
    ws = slack.workspace
    requests: list[Any] = []

    def approve_in_slack(ask: dict, request: Run) -> None:
        requests.append(request.detail())
        slack.reply("approvals", ask["ts"], ws.alice, "approve")

    run = run_gate(slack, dag_id, approve_in_slack)

    assert xcom(run, "ask") is True
    assert requests == [None]
    assert Run(slack, dag_id).detail() is None
