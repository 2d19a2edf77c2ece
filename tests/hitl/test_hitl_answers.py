"""A click in Slack is Airflow's answer to its own HITL request: the notifier asks, the plugin's
Request URL receives Slack's signed click, and the core API's response code records it as the
clicking person's Airflow user (and resumes the task: on Airflow 3.3 directly, before that through
its HITLTrigger). Everything the click carries is hostile: it never chooses the request, the options
are Airflow's own, and people Airflow would refuse are refused, privately."""

from __future__ import annotations

import json
import urllib.parse

import httpx

from airflow_slack_gate.core.hitl import ANSWER_BLOCK, FORM_ACTION, OPTION_ACTION, SUBMIT_ACTION
from airflow_slack_gate.testing.emulator.interactivity import sign
from tests.hitl.conftest import BASE_URL, answer_in_airflow

APPROVE = f"{OPTION_ACTION}_0"
REJECT = f"{OPTION_ACTION}_1"


def click(slack, message, user, action_id, ticked=None):
    delivery = slack.click_button("approvals", message["ts"], user, action_id, ticked=ticked).wait(10)
    assert (delivery.status, delivery.error) == (200, None), delivery.body
    return delivery


def told(slack, user, text):
    return slack.wait_for_ephemeral(user, text_contains=text, timeout=20).text


def buttons(message):
    return [b for b in message.get("blocks") or [] if b.get("block_id") == ANSWER_BLOCK]


def states(dag_run):
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_a_click_answers_an_approval_in_airflow_and_the_run_goes_on(slack, api_server, run_hitl):
    ws = slack.workspace

    def people(run):
        message = run.message()
        assert message["metadata"]["event_payload"]["task_id"] == "approve"
        assert f"{BASE_URL}/dags/hitl_approval/runs/" in json.dumps(message["blocks"])
        click(slack, message, ws.alice, APPROVE)
        detail = run.wait_for_detail(lambda d: d.responded_at is not None)
        assert detail.chosen_options == ["Approve"]
        assert detail.responded_by == {"id": "alice", "name": "alice"}
        answered = slack.wait_for(
            lambda: not buttons(m := slack.get_message("approvals", message["ts"])) and m
        )
        assert f"<@{ws.alice}> answered *Approve* (Airflow user alice)" in json.dumps(answered["blocks"])
        assert answered["metadata"]["event_payload"]["state"] == "answered"

    dag_run = run_hitl("hitl_approval", people)
    assert states(dag_run) == {"approve": "success", "deploy": "success"}


def test_a_reject_click_skips_the_downstream_task(slack, api_server, run_hitl):
    responded = []

    def people(run):
        click(slack, run.message(), slack.workspace.bob, REJECT)  # bob: found by his email at example.com
        responded.append(run.wait_for_detail(lambda d: d.responded_at is not None).responded_by)

    dag_run = run_hitl("hitl_approval", people)
    assert states(dag_run) == {"approve": "success", "deploy": "skipped"}
    assert responded == [{"id": "bob", "name": "bob"}]


def test_the_runs_values_in_the_request_are_escaped(slack, api_server, run_hitl):
    shown = []

    def people(run):
        message = run.message()
        shown.append((json.dumps(message), run.detail().subject))
        click(slack, message, slack.workspace.alice, APPROVE)

    run_hitl("hitl_approval", people, conf={"model": "<!channel> <http://evil.example|docs>"})
    ((text, subject),) = shown
    assert "<!channel>" not in text
    assert "<http://evil.example|docs>" not in text
    assert subject == "Deploy <!channel> <http://evil.example|docs>?"  # Airflow's row, rendered
    assert "*Deploy &lt;!channel&gt; &lt;http://evil.example|docs&gt;?*" in text  # shown, escaped


def test_a_request_answered_in_airflow_refuses_a_later_click_and_shows_the_answer(
    slack, api_server, run_hitl
):
    ws = slack.workspace

    def people(run):
        message = run.message()
        answer_in_airflow("hitl_approval", ["Reject"], user="admin")  # in the Airflow UI, meanwhile
        click(slack, message, ws.alice, APPROVE)  # Airflow answers 409
        assert "already answered (Reject by admin)" in told(slack, ws.alice, "already answered")
        assert run.detail().chosen_options == ["Reject"]
        shown = slack.wait_for(lambda: not buttons(m := slack.get_message("approvals", message["ts"])) and m)
        assert "Airflow user admin answered *Reject* in Airflow" in json.dumps(shown["blocks"])

    run_hitl("hitl_approval", people)


def test_a_second_click_is_told_the_request_is_answered(slack, api_server, run_hitl):
    ws = slack.workspace

    def people(run):
        message = run.message()
        first = _signed_click(slack, message, ws.alice, APPROVE, "0")
        second = _signed_click(slack, message, ws.bob, REJECT, "1")  # shown before the answer, sent after
        assert _post(api_server, slack, first).status_code == 200
        run.wait_for_detail(lambda d: d.responded_at is not None)
        slack.wait_for(lambda: not buttons(slack.get_message("approvals", message["ts"])))
        assert _post(api_server, slack, second).status_code == 200
        assert "already answered" in told(slack, ws.bob, "already answered")
        assert run.detail().chosen_options == ["Approve"]

    run_hitl("hitl_approval", people)


def test_only_assigned_users_may_answer_and_the_others_are_told_privately(slack, api_server, run_hitl):
    ws = slack.workspace

    def people(run):
        message = run.message()
        assert "Only these Airflow users may answer: alice" in json.dumps(message["blocks"])
        click(slack, message, ws.mallory, APPROVE)  # mallory@example.com is no Airflow user
        assert "does not know which Airflow user you are" in told(slack, ws.mallory, "Airflow user")
        click(slack, message, ws.bob, APPROVE)  # an Airflow user, but not assigned: Airflow's 403
        assert "You may not answer this request" in told(slack, ws.bob, "may not answer")
        assert run.detail().responded_at is None
        click(slack, message, ws.alice, APPROVE)
        assert run.wait_for_detail(lambda d: d.responded_at is not None).responded_by["id"] == "alice"

    run_hitl("hitl_assigned", people)


def test_an_answer_that_loses_the_race_to_airflows_handler_is_told_who_answered(slack, run_hitl):
    """A click judged open, then answered by someone else before Airflow's handler runs (the step
    after judging, called as the answerer calls it): Airflow's 409 becomes the note naming the answer."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.utils.session import create_session

    from airflow_slack_gate.core.protocol import hitl_request
    from airflow_slack_gate.interactive.hitl import _update

    answers = []

    def people(run):
        message = run.message()
        request = hitl_request(message, bot_id=message["bot_id"])
        answer_in_airflow("hitl_approval", ["Reject"])
        alice = SimpleAuthManagerUser(username="alice", role="user")
        with create_session() as session:
            answers.append(_update(session, request, ["Approve"], {"model": "v7"}, alice, None))

    run_hitl("hitl_approval", people)
    ((status, chosen, by),) = [(a.status, a.chosen, a.airflow_user) for a in answers]
    assert (status, chosen, by) == ("already_answered", ("Reject",), "admin")


def test_a_user_airflow_lets_only_read_may_not_answer(slack, api_server, run_hitl):
    ws = slack.workspace

    def people(run):
        message = run.message()
        click(slack, message, ws.carol, APPROVE)  # carol is a viewer: no PUT on the DAG's HITL details
        assert "You may not answer this request" in told(slack, ws.carol, "may not answer")
        assert run.detail().responded_at is None
        assert buttons(slack.get_message("approvals", message["ts"]))

    run_hitl("hitl_approval", people)


def test_a_forged_action_value_answers_nothing(slack, api_server, run_hitl):
    ws = slack.workspace
    values = ["2", "-1", "Approve", '{"task_id": "other", "option": "Approve"}', "0" * 7]

    def people(run):
        message = run.message()
        for value in values:
            forged = _signed_click(slack, message, ws.alice, APPROVE, value)
            assert _post(api_server, slack, forged).status_code == 200
        notes = slack.wait_for(lambda: len(e := slack.ephemerals(ws.alice)) == len(values) and e, 20)
        assert {n.text.split(";")[0] for n in notes} == {"That is not one of this request's options"}
        assert run.detail().responded_at is None

    run_hitl("hitl_approval", people)


def test_a_click_answers_only_what_the_bots_message_names_whatever_the_payload_says(
    slack, api_server, run_hitl
):
    """The payload's copy of the message is not read: the message as Slack has it names the request. A
    click on another bot message (the same buttons, no request metadata) whose payload copy claims the
    request's metadata answers nothing."""
    ws = slack.workspace

    def people(run):
        message = run.message()
        other = slack.post_as_bot(ws.approvals, ws.bot_user_id, "not a request", blocks=message["blocks"])

        def claim(payload):
            payload["message"]["metadata"] = message["metadata"]
            return payload

        forged = _signed_click(slack, {**message, "ts": other}, ws.alice, APPROVE, "0", edit=claim)
        assert _post(api_server, slack, forged).status_code == 200
        assert "no open request" in told(slack, ws.alice, "no open request")
        assert run.detail().responded_at is None

    run_hitl("hitl_approval", people)


def test_several_options_are_ticked_then_submitted(slack, api_server, run_hitl):
    ws = slack.workspace

    def people(run):
        message = run.message()
        click(slack, message, ws.alice, SUBMIT_ACTION)  # nothing ticked
        assert "Tick at least one option" in told(slack, ws.alice, "Tick at least one option")
        click(slack, message, ws.alice, SUBMIT_ACTION, ticked=["0", "2"])
        assert run.wait_for_detail(lambda d: d.responded_at is not None).chosen_options == ["eu", "apac"]

    run_hitl("hitl_multiple", people)


def test_a_form_without_slack_inputs_is_answered_in_airflow(slack, api_server, run_hitl):
    """A param with no Slack input (an object) sends the whole form to Airflow: a link, no button, and
    neither an option's click nor the form's button (Slack could only send them for buttons the
    message never had) skips the form."""
    ws = slack.workspace

    def people(run):
        message = run.message()
        assert not buttons(message)
        assert "This request has a form to fill in: answer it in Airflow" in json.dumps(message["blocks"])
        forged = _signed_click(slack, message, ws.alice, APPROVE, "0")
        assert _post(api_server, slack, forged).status_code == 200
        assert "form to fill in" in told(slack, ws.alice, "form to fill in")
        forged = _signed_click(slack, message, ws.bob, FORM_ACTION, "form")
        assert _post(api_server, slack, forged).status_code == 200
        assert "form to fill in" in told(slack, ws.bob, "form to fill in")
        assert not slack.open_views()
        assert run.detail().responded_at is None

    run_hitl("hitl_object_form", people)


def test_a_failed_post_leaves_the_request_waiting_in_airflow(slack, api_server, run_hitl):
    def people(run):
        detail = run.wait_for_detail(lambda d: True, 60)
        run.wait_parked()
        assert detail.responded_at is None
        assert not run.done.is_set()
        answer_in_airflow("hitl_lost_post", ["Approve"])

    dag_run = run_hitl("hitl_lost_post", people)
    assert states(dag_run) == {"approve": "success"}


# -- requests as Slack would send them ---------------------------------------------------------------


def _signed_click(slack, message, user, action_id, value, *, edit=None):
    """The body of a click on the message's button ``action_id``, with the button's ``value`` replaced."""
    ws = slack.workspace
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "x", "name": "x", "team_id": ws.team_id},
        "api_app_id": slack.app_settings().app_id,
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": ws.approvals},
        "channel": {"id": ws.approvals, "name": "approvals"},
        "message": dict(message),
        "state": {"values": {}},
        "trigger_id": "1.2.3",
        "actions": [
            {
                "action_id": action_id,
                "block_id": ANSWER_BLOCK,
                "type": "button",
                "value": value,
                "action_ts": f"{len(value)}{abs(hash((user, value, action_id))) % 10**6}.000",
            }
        ],
    }
    if edit:
        payload = edit(payload)
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def _post(api_server, slack, body):
    headers = {
        **sign(slack.app_settings().signing_secret, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return httpx.post(api_server.url, content=body, headers=headers, timeout=10)
