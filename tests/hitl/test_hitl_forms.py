"""A HITL request's form answered in a Slack modal: "Answer in Slack" opens it (views.open), the
submission (view_submission) is judged like a click on the request's message (its bot's metadata,
Airflow's own row of the request, the person's Airflow user), and its values are validated as Airflow
validates them when the task resumes, before Airflow records the answer; an invalid value is shown in
the modal (``response_action: errors``) and nothing is answered."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from airflow_slack_gate.core.hitl import FIELD_BLOCK_PREFIX, FORM_ACTION, FORM_CALLBACK
from tests.hitl.conftest import answer_in_airflow
from tests.hitl.test_hitl_answers import _post, buttons, states, told

REPLICAS = f"{FIELD_BLOCK_PREFIX}replicas"
REGION = f"{FIELD_BLOCK_PREFIX}region"
NOTE = f"{FIELD_BLOCK_PREFIX}note"


def open_form(slack, message, user):
    delivery = slack.click_button("approvals", message["ts"], user, FORM_ACTION).wait(10)
    assert (delivery.status, delivery.error) == (200, None), delivery.body
    return slack.wait_for_view(user, 10)


@pytest.mark.usefixtures("unhurried_forms")
def test_a_form_filled_in_a_modal_answers_the_request_and_the_run_goes_on(slack, api_server, run_hitl):
    ws = slack.workspace
    seen = []

    def people(run):
        message = run.message()
        (answer,) = buttons(message)
        assert [e["action_id"] for e in answer["elements"]] == [FORM_ACTION]
        view = open_form(slack, message, ws.alice)
        inputs = {b["block_id"]: b["element"] for b in view.view["blocks"] if b["type"] == "input"}
        assert {k: e["type"] for k, e in inputs.items()} == {
            REPLICAS: "number_input",
            REGION: "static_select",
            NOTE: "plain_text_input",
            f"{FIELD_BLOCK_PREFIX}ratio": "number_input",
        }
        assert "<!channel>" not in json.dumps(view.view["blocks"][0])  # the subject, escaped
        # an integer Airflow refuses (maximum 10): shown in the modal, which stays open; nothing answered
        delivery = slack.submit_view(ws.alice, {REPLICAS: "11", REGION: "us"}, view_id=view.id).wait(10)
        refused = json.loads(delivery.body)
        assert refused["response_action"] == "errors"
        assert list(refused["errors"]) == [REPLICAS]
        assert "greater than the maximum of 10" in refused["errors"][REPLICAS]  # Airflow's own check
        slack.wait_for(lambda: view.errors)
        assert not view.closed
        assert run.detail().responded_at is None
        # corrected: Airflow records the typed values, typed, as alice's answer
        delivery = slack.submit_view(ws.alice, {REPLICAS: "3", REGION: "us", NOTE: "now"}, view_id=view.id)
        assert (delivery.wait(10).status, delivery.body) == (200, "")
        detail = run.wait_for_detail(lambda d: d.responded_at is not None)
        seen.append(detail.params_input)
        assert detail.chosen_options == ["OK"]
        assert detail.responded_by == {"id": "alice", "name": "alice"}
        slack.wait_for(lambda: view.closed)
        shown = slack.wait_for(lambda: not buttons(m := slack.get_message("approvals", message["ts"])) and m)
        assert f"<@{ws.alice}> answered *OK* (Airflow user alice)" in json.dumps(shown["blocks"])

    dag_run = run_hitl("hitl_form", people)
    assert seen == [{"replicas": 3, "region": "us", "note": "now", "ratio": 0.5}]
    assert type(seen[0]["replicas"]) is int
    assert states(dag_run) == {"entry": "success", "scale": "success"}


def test_a_forged_form_submission_answers_nothing(slack, api_server, run_hitl):
    """Only the message the modal names counts, judged by its bot's metadata and Airflow's row; the
    submitter is the payload's user, answering as their own Airflow user: someone with no Airflow user,
    an unassigned one, a modal naming another message, or a request answered meanwhile answer nothing."""
    ws = slack.workspace

    def people(run):
        message = run.message()
        valid = {REPLICAS: "3", REGION: "0", NOTE: "x", f"{FIELD_BLOCK_PREFIX}ratio": "1.5"}
        # mallory has no Airflow user; bob is one, not assigned (Airflow's 403)
        for user, note in ((ws.mallory, "does not know which Airflow user"), (ws.bob, "may not answer")):
            assert (
                _post(api_server, slack, _signed_submission(slack, user, message["ts"], valid)).status_code
                == 200
            )
            assert note in told(slack, user, note)
        # a modal naming another message of the bot (no request's metadata)
        other = slack.post_as_bot(ws.approvals, ws.bot_user_id, "not a request")
        response = _post(api_server, slack, _signed_submission(slack, ws.alice, other, valid))
        assert (response.status_code, response.text) == (200, "")
        assert "no open request" in told(slack, ws.alice, "no open request")
        assert run.detail().responded_at is None
        # answered in Airflow meanwhile: Airflow's row says so
        answer_in_airflow("hitl_form", ["OK"], user="alice", role="user")
        response = _post(api_server, slack, _signed_submission(slack, ws.alice, message["ts"], valid))
        assert response.status_code == 200
        assert "already answered" in told(slack, ws.alice, "already answered")
        assert run.detail().params_input == {"replicas": 2, "region": "eu", "note": "", "ratio": 0.5}

    run_hitl("hitl_form", people)


def _signed_submission(slack, user, ts, values):
    """The body of a view_submission of the form's modal naming the message at ``ts`` in #approvals,
    with ``values`` (block_id -> the typed text, or an option's index for a select)."""
    ws = slack.workspace
    state = {}
    for block_id, value in values.items():
        if block_id == REGION:
            state[block_id] = {"value": {"type": "static_select", "selected_option": {"value": value}}}
        else:
            kind = "plain_text_input" if block_id == NOTE else "number_input"
            state[block_id] = {"value": {"type": kind, "value": value}}
    payload = {
        "type": "view_submission",
        "user": {"id": user, "username": "x", "name": "x", "team_id": ws.team_id},
        "api_app_id": slack.app_settings().app_id,
        "trigger_id": "1.2.3",
        "view": {
            "id": f"V{abs(hash((user, ts))) % 10**8}",
            "type": "modal",
            "callback_id": FORM_CALLBACK,
            "private_metadata": json.dumps({"channel": ws.approvals, "ts": ts}),
            "hash": "1.x",
            "state": {"values": state},
        },
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def test_a_form_judged_too_late_for_slacks_answer_is_still_handled(slack, api_server, run_hitl, monkeypatch):
    """Slack waits 3 s for the answer to a submission. A judgement slower than FORM_ANSWER_WITHIN (here:
    every one) answers Slack at once, so the modal closes; the submission is handled on: invalid values
    are told privately and answer nothing, valid ones are Airflow's answer."""
    from airflow_slack_gate.core import pacing

    monkeypatch.setattr(pacing, "FORM_ANSWER_WITHIN", 0.0)
    ws = slack.workspace
    seen = []

    def people(run):
        message = run.message()
        view = open_form(slack, message, ws.alice)
        delivery = slack.submit_view(ws.alice, {REPLICAS: "11", REGION: "us"}, view_id=view.id).wait(10)
        assert (delivery.status, delivery.body) == (200, "")
        assert "Some values are not valid" in told(slack, ws.alice, "not valid")
        assert run.detail().responded_at is None
        view = open_form(slack, message, ws.alice)
        delivery = slack.submit_view(ws.alice, {REPLICAS: "3", REGION: "us", NOTE: "now"}, view_id=view.id)
        assert (delivery.wait(10).status, delivery.body) == (200, "")
        seen.append(run.wait_for_detail(lambda d: d.responded_at is not None).params_input)

    dag_run = run_hitl("hitl_form", people)
    assert seen == [{"replicas": 3, "region": "us", "note": "now", "ratio": 0.5}]
    assert states(dag_run) == {"entry": "success", "scale": "success"}
