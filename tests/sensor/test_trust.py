"""Only the people a DAG's author named can approve, and nothing a run's trigger supplies changes that.

A run's ``conf`` overrides its params, and anyone who may trigger the DAG chooses the ``conf``. So the
rule fields of a gate are not templates, the question's channel and connection render with trusted
values only, and the person who triggered the run (``dag_run.triggering_user_name``: ``dag_test``
under dag.test()) is the gate's requester, who cannot approve their own request.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import DAG

from airflow_slack_gate.core.messages import unknown_requester_note
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import ask_metadata, ask_rules, gate_metadata
from airflow_slack_gate.sensors.slack import SlackApprovalSensor
from tests.support import load_dag, people, task_states, wait_for_ask, wait_for_reads, xcom

DAG_TEST_USER = "dag_test"  # the triggering user dag.test() records on its runs
SAFE_ALTERNATIVES = ("in the DAG's code", "Variable.get(", "extra_dejson")


def run_gate(slack, dag_id, action, **run_conf):
    with people(action, slack):
        return load_dag(dag_id).test(run_conf=run_conf or None)


def connection_extras(monkeypatch, slack, **extras):
    """Point slack_gate_default at the emulator with these extras added."""
    connection = json.loads(slack.airflow_connection())
    connection["extra"].update(extras)
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", json.dumps(connection))


# -- hole 1: the run's trigger cannot choose the rules, the channel or the connection ---------------


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_conf_cannot_choose_approvers(slack_emulator, monkeypatch):
    """Mallory triggers the release with herself as approver in conf; only the DAG's approvers count."""
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_APPROVERS", ws.alice)

    def attacker_then_approver(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.mallory, "approve")
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")

    run = run_gate(
        slack_emulator, "gate_restricted", attacker_then_approver, approvers=ws.mallory, requested_by=""
    )

    decision = xcom(run, "ask", "slack_decision")
    assert decision["decided_by"] == [ws.alice]
    assert ws.mallory not in {vote["user"] for vote in decision["votes"]}


@pytest.mark.parametrize(
    ("field", "template"),
    [
        ("approvers", "{{ params.approvers }}"),
        ("approvers", ["U0AAAA1", "{{ dag_run.conf['approver'] }}"]),
        ("requested_by", "{{ params.requested_by }}"),
        ("required_approvals", "{{ params.required }}"),
        ("allow_self_approval", "{% if params.self %}True{% endif %}"),
        ("on_timeout", "{{ params.on_timeout }}"),
    ],
)
def test_a_template_in_a_rule_field_is_refused_at_parse(field, template):
    with pytest.raises(ValueError, match=re.escape(field)) as refused:
        SlackApprovalSensor(task_id="ask", text="Deploy?", **{field: template})
    message = str(refused.value)
    assert "template" in message
    for alternative in SAFE_ALTERNATIVES:
        assert alternative in message


def test_no_rule_field_is_a_template_field():
    rules = {"approvers", "requested_by", "required_approvals", "allow_self_approval", "on_timeout"}
    assert not rules & set(SlackApprovalSensor.template_fields)


def test_approvers_from_a_variable_may_be_one_string_of_ids():
    """A Variable's value is a string: IDs separated by commas or spaces are accepted (not a template)."""
    sensor = SlackApprovalSensor(task_id="ask", text="Deploy?", approvers="U0AAAA1, U0AAAA2 S0GROUP1")
    policy, groups = sensor._base_policy()
    assert policy.approvers == frozenset({"U0AAAA1", "U0AAAA2"})
    assert groups == ["S0GROUP1"]


@pytest.mark.parametrize(
    ("field", "template", "reaches"),
    [
        ("channel", "{{ params.channel }}", "params"),
        ("channel", "#{{ dag_run.conf['channel'] }}", "dag_run"),
        ("channel", "{{ ti.xcom_pull(task_ids='choose') }}", "ti"),
        ("slack_conn_id", "{{ params.conn }}", "params"),
    ],
)
def test_the_channel_and_connection_cannot_come_from_the_run(field, template, reaches):
    """With approvers=None anyone in the channel answers: a conf-chosen private channel would let the
    triggerer approve alone, and a conf-chosen connection another workspace."""
    with pytest.raises(ValueError, match=re.escape(field)) as refused:
        SlackApprovalSensor(task_id="ask", text="Deploy?", **{field: template})
    message = str(refused.value)
    assert repr(reaches) in message
    assert "var.value" in message


def test_the_channel_renders_without_the_runs_values_even_if_set_after_parse():
    """Defence in depth: the render itself sees only var, conn and macros, whatever the field holds."""
    with DAG("channel_render", schedule=None):
        sensor = SlackApprovalSensor(task_id="ask", text="Deploy {{ params.model }}?")
    sensor.channel = "{{ params.channel }}"  # as if the parse-time check had been bypassed
    context = {"params": {"channel": "#mallory-private", "model": "churn"}, "var": {}, "conn": None}

    with pytest.raises(ValueError, match=r"channel.*'params'.*var\.value") as refused:
        sensor.render_template_fields(context)  # type: ignore[arg-type]
    assert "#mallory-private" not in str(refused.value)


def test_a_channel_from_a_variable_renders(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_GATE_CHANNEL", "#approvals")
    from airflow.sdk.execution_time.context import VariableAccessor

    with DAG("channel_from_variable", schedule=None):
        sensor = SlackApprovalSensor(
            task_id="ask", text="Deploy {{ params.model }}?", channel="{{ var.value.gate_channel }}"
        )
    context = {
        "params": {"channel": "#mallory-private", "model": "churn"},
        "var": {"value": VariableAccessor(deserialize_json=False)},
    }
    sensor.render_template_fields(context)  # type: ignore[arg-type]
    assert sensor.channel == "#approvals"
    assert sensor.text == "Deploy churn?"  # the question still describes the run


# -- hole 2: four eyes by default -------------------------------------------------------------------


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_the_triggering_user_cannot_approve_their_own_gate(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    connection_extras(monkeypatch, slack_emulator, slack_users={DAG_TEST_USER: ws.alice})
    asked: list[dict] = []

    def requester_then_peer(ask):
        asked.append(ask)
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        slack_emulator.add_reaction("approvals", ask["ts"], ws.alice, "white_check_mark")
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve")

    run = run_gate(slack_emulator, "gate_anyone", requester_then_peer)

    decision = xcom(run, "ask", "slack_decision")
    assert decision["decided_by"] == [ws.bob]
    assert ws.alice not in {vote["user"] for vote in decision["votes"]}
    assert decision["requester"] == {
        "airflow_user": DAG_TEST_USER,
        "slack_user": ws.alice,
        "found_by": "connection",
    }
    assert f"Requested by <@{ws.alice}>, who cannot approve their own request." in str(asked[0]["blocks"])


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_the_triggering_user_is_found_by_email(slack_emulator, monkeypatch):
    """An auth manager whose user names are not emails: the connection's email_domain completes them."""
    ws = slack_emulator.workspace
    requester = slack_emulator.create_user(DAG_TEST_USER, email=f"{DAG_TEST_USER}@example.com")
    connection_extras(monkeypatch, slack_emulator, email_domain="example.com")

    def requester_then_peer(ask):
        slack_emulator.reply("approvals", ask["ts"], requester, "approve")
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.carol, "approve")

    run = run_gate(slack_emulator, "gate_anyone", requester_then_peer)

    decision = xcom(run, "ask", "slack_decision")
    assert decision["decided_by"] == [ws.carol]
    assert decision["requester"] == {
        "airflow_user": DAG_TEST_USER,
        "slack_user": requester,
        "found_by": "email",
    }
    assert slack_emulator.call_count("users.lookupByEmail") == 1


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_an_unmapped_requester_is_stated_in_the_question(slack_emulator):
    ws = slack_emulator.workspace
    asked: list[dict] = []

    def look_then_approve(ask):
        asked.append(ask)
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")

    run = run_gate(slack_emulator, "gate_anyone", look_then_approve)

    shown = str(asked[0]["blocks"])
    assert f"Requested by Airflow user `{DAG_TEST_USER}`" in shown
    assert "no Slack user" in shown
    assert "slack_users" in shown
    decision = xcom(run, "ask", "slack_decision")
    assert decision["requester"] == {"airflow_user": DAG_TEST_USER, "slack_user": None, "found_by": None}
    assert decision["decided_by"] == [ws.alice]


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_require_known_requester_fails_closed_before_asking(slack_emulator):
    run = load_dag("gate_known_requester").test()

    assert task_states(run)["ask"] == "failed"
    assert slack_emulator.call_count("chat.postMessage") == 0
    assert slack_emulator.messages("approvals") == []


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_require_known_requester_asks_when_the_requester_is_mapped(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    connection_extras(monkeypatch, slack_emulator, slack_users=json.dumps({DAG_TEST_USER: ws.dave}))

    run = run_gate(
        slack_emulator,
        "gate_known_requester",
        lambda ask: slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve"),
    )

    assert xcom(run, "ask") is True
    assert xcom(run, "ask", "slack_decision")["requester"]["slack_user"] == ws.dave


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_the_dags_requested_by_wins_over_the_triggering_user(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_APPROVERS", f"{ws.alice} {ws.bob}")
    monkeypatch.setenv("AIRFLOW_VAR_GATE_REQUESTED_BY", ws.alice)
    connection_extras(monkeypatch, slack_emulator, slack_users={DAG_TEST_USER: ws.bob})

    def requester_then_peer(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        wait_for_reads(slack_emulator)
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve")

    run = run_gate(slack_emulator, "gate_restricted", requester_then_peer)

    decision = xcom(run, "ask", "slack_decision")
    assert decision["decided_by"] == [ws.bob]
    assert decision["requester"] == {"airflow_user": DAG_TEST_USER, "slack_user": ws.alice, "found_by": "dag"}


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_a_requester_who_leaves_too_few_approvers_fails_the_task_before_asking(slack_emulator, monkeypatch):
    """Alice is the only approver and triggers the run herself: nobody could approve, so say so now."""
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_APPROVERS", ws.alice)
    connection_extras(monkeypatch, slack_emulator, slack_users={DAG_TEST_USER: ws.alice})

    run = load_dag("gate_restricted").test()

    assert task_states(run)["ask"] == "failed"
    assert slack_emulator.messages("approvals") == []


def test_the_unknown_requesters_name_is_data_not_markup():
    note = unknown_requester_note("<!channel> `x`", conn_id="slack_gate_default")
    assert "<!channel>" not in note
    assert "&lt;!channel&gt; 'x'" in note
    assert "slack_users" in note


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
@pytest.mark.parametrize("dag_id", ["gate_poke_mode", "gate_reschedule_mode"])
def test_the_triggering_user_cannot_approve_in_the_workers_modes_either(slack_emulator, monkeypatch, dag_id):
    """Poke and reschedule modes read Slack in the worker, with the same requester."""
    ws = slack_emulator.workspace
    connection_extras(monkeypatch, slack_emulator, slack_users={DAG_TEST_USER: ws.alice})

    def requester_then_peer(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "approve")
        wait_for_reads(slack_emulator, method="conversations.replies")
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve")

    run = run_gate(slack_emulator, dag_id, requester_then_peer)

    decision = xcom(run, "ask", "slack_decision")
    assert decision["decided_by"] == [ws.bob]
    assert decision["requester"]["slack_user"] == ws.alice


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_a_click_is_judged_with_the_triggering_user_as_requester(slack_emulator, monkeypatch):
    """Button clicks are judged by the rules in the question's metadata: they hold the run's requester,
    from asking to the outcome, so the triggering user's click cannot approve either."""
    ws = slack_emulator.workspace
    connection_extras(monkeypatch, slack_emulator, slack_users={DAG_TEST_USER: ws.alice})
    asked = {}

    def read_rules_then_approve(ask):
        asked["rules"] = ask_rules(gate_metadata(ask) or {})
        slack_emulator.reply("approvals", ask["ts"], ws.bob, "approve")

    run = run_gate(slack_emulator, "gate_anyone", read_rules_then_approve)

    assert asked["rules"].policy.requested_by == ws.alice
    assert asked["rules"].policy.allow_self_approval is False
    question = slack_emulator.get_message("approvals", xcom(run, "ask", "slack_message")["ts"])
    assert ask_rules(gate_metadata(question)) == asked["rules"]


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_a_mapped_gate_cannot_take_its_rules_from_an_upstream_task(slack_emulator):
    """``.expand(approvers=task())`` or ``.expand_kwargs(task())`` hands the rules to whatever the
    upstream task returns: here the run's conf. Mapped tasks are built after parsing, so the sensor
    refuses when it runs, before anything is asked."""
    ws = slack_emulator.workspace
    run = load_dag("gate_mapped_rules").test(run_conf={"approvers": ws.mallory})

    states = task_states(run)
    assert states["ask_mapped"] == "failed"
    assert states["ask_mapped_kwargs"] == "failed"
    assert not [m for m in slack_emulator.messages("approvals") if m.get("bot_id") == ws.bot_id]


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_a_mapped_gate_may_map_its_question(slack_emulator, monkeypatch):
    ws = slack_emulator.workspace
    monkeypatch.setenv("AIRFLOW_VAR_GATE_APPROVERS", ws.alice)

    def reject_each(ask):
        slack_emulator.reply("approvals", ask["ts"], ws.alice, "reject: not today")
        second = slack_emulator.wait_for(
            lambda: [m for m in slack_emulator.messages("approvals") if m.get("bot_id") == ws.bot_id][1:],
            30,
        )
        slack_emulator.reply("approvals", second[0]["ts"], ws.alice, "reject: not today")

    run = run_gate(slack_emulator, "gate_mapped_text", reject_each)

    assert task_states(run)["ask"] == "success"
    questions = [m["text"] for m in slack_emulator.messages("approvals") if m.get("bot_id") == ws.bot_id]
    assert any("staging" in text for text in questions)
    assert any("prod" in text for text in questions)


# -- two Airflow deployments on one Slack app and channel --------------------------------------------


@pytest.mark.usefixtures("airflow_db", "fast_slack_reads")
def test_another_deployments_question_of_the_same_run_is_never_this_gates(slack_emulator):
    """Staging and production share one Slack app and channel and run the same DAG, so a run of each
    can have the same dag_id, run_id, task_id and try (scheduled runs are named by their date). An
    approval on staging's question must not approve production's gate, and production's gate must not
    close staging's question as a copy of its own: the question names the task instance's Airflow id."""
    ws = slack_emulator.workspace
    when = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    staging = {"dag_id": "gate_anyone", "run_id": f"manual__{when.isoformat()}", "task_id": "ask"}
    staging.update(map_index=-1, try_number=1, ti_id="0190c6a0-0000-7000-8000-000000000000")
    staging_ts = slack_emulator.post_as_bot(
        ws.approvals,
        ws.bot_user_id,
        "Deploy churn? (staging)",
        metadata=ask_metadata(staging, "open", policy=ApprovalPolicy(), approver_groups=()),
    )
    slack_emulator.reply("approvals", staging_ts, ws.bob, "approve")

    def reject_on_productions_question(_staging_question):
        ask = wait_for_ask(slack_emulator, after=staging_ts)  # production's own question
        slack_emulator.reply("approvals", ask["ts"], ws.carol, "reject: not in production")

    with people(reject_on_productions_question, slack_emulator):
        run = load_dag("gate_anyone").test(logical_date=when, run_after=when)

    assert run.run_id == staging["run_id"]  # the same run, as another deployment names it
    decision = xcom(run, "ask", "slack_decision")
    assert (decision["outcome"], decision["decided_by"]) == ("rejected", [ws.carol])
    assert decision["ts"] != staging_ts
    staging_question = slack_emulator.get_message(ws.approvals, staging_ts)
    assert staging_question["metadata"]["event_payload"]["state"] == "open"
