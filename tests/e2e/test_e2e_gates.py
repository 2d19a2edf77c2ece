"""The example DAGs in a real Airflow: people answer in the Slack emulator, Airflow's REST API shows
what happened (run state, branches, XCom) and that the gate waited deferred, holding no worker slot."""

from __future__ import annotations

from typing import Any

from airflow_slack_gate.core.pacing import SAFETY_NET_INTERVAL
from airflow_slack_gate.testing.airflow_runner import AirflowApi, AirflowRunner, wait_until
from airflow_slack_gate.testing.emulator import SlackEmulator

RUN_TIMEOUT = 120.0
SLACK_READS = frozenset({"conversations.history", "conversations.replies", "reactions.get"})


def ask_and_wait_deferred(airflow: AirflowRunner, dag_id: str, gate: str) -> tuple[str, dict]:
    """Trigger ``dag_id``; return its run id and the gate's Slack message once the gate is deferred.

    Also waits until the scheduler has seen the deferring worker exit, so that a quick answer cannot
    hit Airflow's stale-executor-event race (see AirflowRunner.wait_until_deferral_settled).
    """
    api = airflow.api
    run_id = api.trigger(dag_id)
    api.wait_for_task_state(dag_id, run_id, gate, ["deferred"], timeout=RUN_TIMEOUT)
    airflow.wait_until_deferral_settled(dag_id, run_id, gate)
    return run_id, api.xcom(dag_id, run_id, gate, "slack_message")


def assert_waits_without_a_worker_slot(api: AirflowApi, dag_id: str, run_id: str, gate: str) -> None:
    """The gate is deferred, and no task of the run holds a slot of the pool while people decide."""
    assert api.task_state(dag_id, run_id, gate) == "deferred"
    pool = api.get("/pools/default_pool")
    assert pool["running_slots"] == 0
    assert pool["deferred_slots"] >= 1


def slack_reads(slack: SlackEmulator) -> int:
    """How many times anything read messages or reactions from the emulator so far."""
    return sum(1 for call in slack.calls if call.method in SLACK_READS)


def votes(decision: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(vote["user"], vote["vote"], vote["via"]) for vote in decision["votes"]]


def test_approve_in_a_thread_runs_the_deploy_branch(airflow: AirflowRunner, e2e_slack: SlackEmulator):
    api, alice, dag_id = airflow.api, e2e_slack.workspace.alice, "slack_gate_approve_deploy"
    run_id, ask = ask_and_wait_deferred(airflow, dag_id, "ask_for_approval")
    question = e2e_slack.get_message(ask["channel"], ask["ts"])
    assert "Deploy *churn-classifier*" in question["text"]
    assert ask["channel"] == e2e_slack.workspace.approvals  # the connection's default channel
    assert_waits_without_a_worker_slot(api, dag_id, run_id, "ask_for_approval")

    e2e_slack.reply("approvals", ask["ts"], alice, "approve")

    assert api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.task_states(dag_id, run_id) == {
        "train_model": "success",
        "format_message": "success",
        "ask_for_approval": "success",
        "decide": "success",
        "deploy_model": "success",
        "notify_skipped": "skipped",
    }
    assert api.xcom(dag_id, run_id, "ask_for_approval") is True
    decision = api.xcom(dag_id, run_id, "ask_for_approval", "slack_decision")
    assert decision["approved"] is True
    assert decision["outcome"] == "approved"
    assert decision["decided_by"] == [alice]
    assert votes(decision) == [(alice, "approve", "reply")]
    assert (decision["channel"], decision["ts"]) == (ask["channel"], ask["ts"])
    assert api.xcom(dag_id, run_id, "deploy_model").startswith("churn-classifier ")
    assert "Approved" in e2e_slack.get_message(ask["channel"], ask["ts"])["text"]


def test_reject_with_a_reason_runs_the_skipped_branch(airflow: AirflowRunner, e2e_slack: SlackEmulator):
    api, bob, dag_id = airflow.api, e2e_slack.workspace.bob, "slack_gate_approve_deploy"
    run_id, ask = ask_and_wait_deferred(airflow, dag_id, "ask_for_approval")
    assert_waits_without_a_worker_slot(api, dag_id, run_id, "ask_for_approval")

    e2e_slack.reply("approvals", ask["ts"], bob, "reject: AUC regressed on the holdout set")

    assert api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) == "success"
    states = api.task_states(dag_id, run_id)
    assert (states["deploy_model"], states["notify_skipped"]) == ("skipped", "success")
    assert api.xcom(dag_id, run_id, "ask_for_approval") is False
    decision = api.xcom(dag_id, run_id, "ask_for_approval", "slack_decision")
    assert decision["approved"] is False
    assert decision["outcome"] == "rejected"
    assert decision["reason"] == "AUC regressed on the holdout set"
    assert decision["decided_by"] == [bob]
    notice = api.xcom(dag_id, run_id, "notify_skipped", "slack_message")
    text = e2e_slack.get_message(notice["channel"], notice["ts"])["text"]
    assert "was not deployed: rejected (AUC regressed on the holdout set)" in text


def test_two_of_three_group_members_approve_by_reaction_and_reply(
    airflow: AirflowRunner, e2e_slack: SlackEmulator
):
    api, ids, dag_id = airflow.api, e2e_slack.workspace, "slack_gate_two_of_three"
    run_id, ask = ask_and_wait_deferred(airflow, dag_id, "ask_owners")  # @deployers, from a Variable
    assert_waits_without_a_worker_slot(api, dag_id, run_id, "ask_owners")

    e2e_slack.add_reaction("approvals", ask["ts"], ids.dave, "white_check_mark")  # not in @deployers
    e2e_slack.add_reaction("approvals", ask["ts"], ids.alice, "white_check_mark")
    reads = slack_reads(e2e_slack)
    wait_until(  # the gate has read Slack since, so it has seen both reactions; with Socket Mode on
        # the reaction events wake it at once, else its safety net reads within SAFETY_NET_INTERVAL
        lambda: slack_reads(e2e_slack) > reads,
        timeout=SAFETY_NET_INTERVAL + 15,
        what="a read of Slack after both reactions",
    )
    assert api.task_state(dag_id, run_id, "ask_owners") == "deferred"  # one valid approval of two

    e2e_slack.reply("approvals", ask["ts"], ids.bob, "lgtm")

    assert api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) == "success"
    states = api.task_states(dag_id, run_id)
    assert (states["drop_tables"], states["keep_tables"]) == ("success", "skipped")
    assert api.xcom(dag_id, run_id, "ask_owners") is True
    decision = api.xcom(dag_id, run_id, "ask_owners", "slack_decision")
    assert decision["outcome"] == "approved"
    assert sorted(decision["decided_by"]) == sorted([ids.alice, ids.bob])
    assert sorted(votes(decision)) == sorted(
        [(ids.alice, "approve", "reaction"), (ids.bob, "approve", "reply")]
    )


def test_short_circuit_skips_everything_after_a_rejection(airflow: AirflowRunner, e2e_slack: SlackEmulator):
    api, ids, dag_id = airflow.api, e2e_slack.workspace, "slack_gate_short_circuit"
    run_id, ask = ask_and_wait_deferred(airflow, dag_id, "ask_data_stewards")  # alice, carol: a Variable
    assert_waits_without_a_worker_slot(api, dag_id, run_id, "ask_data_stewards")

    e2e_slack.add_reaction("approvals", ask["ts"], ids.carol, "x")

    assert api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.task_states(dag_id, run_id) == {
        "build_release": "success",
        "ask_data_stewards": "success",
        "continue_if_approved": "success",
        "publish_release": "skipped",
        "announce_release": "skipped",
    }
    decision = api.xcom(dag_id, run_id, "ask_data_stewards", "slack_decision")
    assert (decision["outcome"], decision["decided_by"]) == ("rejected", [ids.carol])
    assert votes(decision) == [(ids.carol, "reject", "reaction")]


def test_post_metric_posts_to_the_channel(airflow: AirflowRunner, e2e_slack: SlackEmulator):
    api, dag_id = airflow.api, "slack_gate_post_metric"
    run_id = api.trigger(dag_id)

    assert api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.xcom(dag_id, run_id, "post_metric") is True
    posted = api.xcom(dag_id, run_id, "post_metric", "slack_message")
    text = e2e_slack.get_message(posted["channel"], posted["ts"])["text"]
    assert "*churn-classifier* test AUC: *0.912*" in text
    assert run_id in text


def test_an_answer_in_slack_before_the_gate_even_defers_runs_the_deploy_branch(
    airflow: AirflowRunner, e2e_slack: SlackEmulator
):
    """Someone approves the moment the question appears, before the task has even deferred: the
    trigger finds the vote in its first read and the run takes the deploy branch. (The trigger holds
    such an answer for [slack_gate] deferral_settle_seconds against Airflow 3.3's stale-executor-event
    race, apache/airflow#67287; the race itself does not show reliably here.)"""
    api, alice, dag_id = airflow.api, e2e_slack.workspace.alice, "slack_gate_approve_deploy"
    bot = e2e_slack.workspace.bot_id
    before = {m["ts"] for m in e2e_slack.messages("approvals")}
    run_id = api.trigger(dag_id)

    def new_question() -> str | None:
        asked = [m["ts"] for m in e2e_slack.messages("approvals") if m.get("bot_id") == bot]
        return next((ts for ts in asked if ts not in before), None)

    question = wait_until(new_question, timeout=RUN_TIMEOUT, what="the question in Slack")
    e2e_slack.reply("approvals", question, alice, "approve")

    assert api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT) == "success"
    assert api.task_state(dag_id, run_id, "deploy_model") == "success"
    assert api.xcom(dag_id, run_id, "ask_for_approval") is True
