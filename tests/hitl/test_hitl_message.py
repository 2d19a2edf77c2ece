"""The Slack message of an Airflow HITL request (SlackHITLNotifier): what people read, that Slack accepts
it, and that nothing a run controls (subject, body, options, assignees) becomes Slack markup."""

from __future__ import annotations

import re

import pytest

from airflow_slack_gate.core.hitl import (
    ANSWER_BLOCK,
    CHOICES_ACTION,
    OPTION_ACTION,
    SUBMIT_ACTION,
    HITLOutcome,
    answered_message,
    chosen_indexes,
    hitl_message,
    option_index,
    outcome_line,
    outcome_message,
    outcome_update,
)
from airflow_slack_gate.core.protocol import hitl_metadata, hitl_request, options_digest
from airflow_slack_gate.core.requesters import airflow_users_for
from tests.test_messages import OUR_TOKENS, assert_valid_block_kit

ATTACKS = ["<!channel>", "<@U1>", "<http://evil.example|docs>", "<!subteam^S1>"]
LINK = "http://airflow.example/dags/d/runs/r/tasks/t/required_actions?map_index=-1"


def message(**overrides):
    kwargs = {
        "subject": "Deploy?",
        "body": None,
        "options": ["Approve", "Reject"],
        "multiple": False,
        "has_params": False,
        "link": LINK,
        "context_line": "Airflow: d.t (try 1)",
    }
    return hitl_message(**{**kwargs, **overrides})


def mrkdwn(node) -> list[str]:
    """Every text Slack reads as markup: mrkdwn objects and the fallback text (plain_text is shown as
    written: a button label ``<!channel>`` pings nobody)."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            return [node["text"]]
        return [t for value in node.values() for t in mrkdwn(value)]
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn(item)]
    return []


def markup(msg) -> list[str]:
    """Every <...> token in the message's markup that is no link of ours."""
    texts = [msg["text"], *mrkdwn(msg["blocks"])]
    tokens = [t for text in texts for t in re.findall(r"<[^<>]*>", text)]
    return [t for t in tokens if not OUR_TOKENS.fullmatch(t) and LINK not in t]


@pytest.mark.parametrize("attack", ATTACKS)
def test_nothing_a_run_controls_becomes_markup(attack):
    msg = message(
        subject=f"Deploy {attack}?",
        body=f"Changes: {attack}",
        options=[f"ok {attack}", "no"],
        assigned_users=[{"id": "a", "name": attack}],
    )
    assert_valid_block_kit(msg)
    assert markup(msg) == []
    assert attack.replace("<", "&lt;").replace(">", "&gt;") in str(msg)


def test_one_button_per_option_whose_value_is_its_index():
    msg = message(options=["Approve", "Reject", "x" * 200])
    assert_valid_block_kit(msg)
    (answer,) = [b for b in msg["blocks"] if b.get("block_id") == ANSWER_BLOCK]
    assert [e["value"] for e in answer["elements"]] == ["0", "1", "2"]
    assert [e["action_id"] for e in answer["elements"]] == [f"{OPTION_ACTION}_{i}" for i in range(3)]
    assert len(answer["elements"][2]["text"]["text"]) <= 75


def test_multiple_shows_checkboxes_and_a_submit_button():
    msg = message(options=["a", "b", "c"], multiple=True)
    assert_valid_block_kit(msg)
    (answer,) = [b for b in msg["blocks"] if b.get("block_id") == ANSWER_BLOCK]
    boxes, submit = answer["elements"]
    assert boxes["action_id"] == CHOICES_ACTION
    assert [o["value"] for o in boxes["options"]] == ["0", "1", "2"]
    assert submit["action_id"] == SUBMIT_ACTION


def test_a_form_is_answered_in_airflow_with_a_link():
    msg = message(has_params=True)
    assert_valid_block_kit(msg)
    assert not [b for b in msg["blocks"] if b.get("block_id") == ANSWER_BLOCK]
    assert "answer it in Airflow" in str(msg)
    assert LINK in str(msg)


def test_without_api_base_url_the_message_says_so():
    msg = message(link=None)
    assert_valid_block_kit(msg)
    assert "Airflow has no api.base_url configured" in str(msg)


def test_the_answered_message_names_who_answered_and_has_no_buttons():
    msg = message()
    done = answered_message(msg["blocks"], chosen=["<!channel>"], slack_user="U1", airflow_user="<!here>")
    assert_valid_block_kit(done)
    assert not [b for b in done["blocks"] if b.get("block_id") == ANSWER_BLOCK]
    assert "<@U1> answered *&lt;!channel&gt;*" in str(done)
    assert "<!here>" not in str(done)


def test_a_long_subject_and_body_are_shortened_to_fit():
    assert_valid_block_kit(message(subject="s" * 5000, body="b" * 50_000))


def test_option_values_are_indexes_into_the_requests_options():
    assert [option_index(v, 3) for v in ["0", "2", "3", "-1", "1.0", "", None, "9" * 50]] == [
        0,
        2,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
    state = {
        "values": {ANSWER_BLOCK: {CHOICES_ACTION: {"selected_options": [{"value": "0"}, {"value": "2"}]}}}
    }
    assert chosen_indexes(state) == ["0", "2"]
    assert chosen_indexes({"values": {}}) is None


def test_the_request_is_read_only_from_its_bots_metadata():
    identity = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, "try_number": 1}
    metadata = hitl_metadata(identity, ti_id="id1", options=["a"], post_id="p")
    ours = {"bot_id": "B1", "metadata": metadata}
    assert hitl_request(ours, bot_id="B1").ti_id == "id1"
    assert hitl_request(ours, bot_id="B2") is None  # another app's message with our metadata
    assert hitl_request({"metadata": metadata}, bot_id="B1") is None  # a person's
    assert (
        hitl_request({**ours, "metadata": {**metadata, "event_payload": {"task_id": "t"}}}, bot_id="B1")
        is None
    )
    assert metadata["event_payload"]["options"] == options_digest(["a"]) != options_digest(["b"])


def test_a_slack_user_is_mapped_back_by_the_requesters_rules():
    user_map = {"alice": "UA", "ops": "UA", "carol": "UC"}
    assert airflow_users_for("UA", user_map, email=None, email_domain=None) == (
        ("alice", "ops"),
        "connection",
    )
    assert airflow_users_for("UB", user_map, email="bob@example.com", email_domain="example.com") == (
        ("bob@example.com", "bob"),
        "email",
    )
    # a name the map gives to someone else is never found by email
    assert airflow_users_for("UX", user_map, email="carol@example.com", email_domain="example.com") == (
        ("carol@example.com",),
        "email",
    )
    assert airflow_users_for("UX", user_map, email="x@evil.example", email_domain="example.com") == (
        ("x@evil.example",),
        "email",
    )
    assert airflow_users_for("UX", {}, email=None, email_domain="example.com") == ((), None)


def test_every_outcome_says_who_answered_what_and_where():
    blocks = message()["blocks"]
    in_airflow = HITLOutcome(chosen=("<!channel>",), airflow_user="<!here>")
    timed_out = HITLOutcome(chosen=("Reject",))
    closed = HITLOutcome(why="nobody answered in time, and the task failed")
    for outcome in (in_airflow, timed_out, closed):
        done = outcome_message(blocks, outcome)
        assert_valid_block_kit(done)
        assert not [b for b in done["blocks"] if b.get("block_id") == ANSWER_BLOCK]
    assert outcome_line(in_airflow) == (
        ":white_check_mark: Airflow user &lt;!here&gt; answered *&lt;!channel&gt;* in Airflow."
    )
    assert outcome_line(timed_out) == (
        ":hourglass: Nobody answered in time: Airflow took the default *Reject*."
    )
    assert "Closed without an answer: nobody answered in time" in outcome_line(closed)
    assert (in_airflow.state, timed_out.state, closed.state) == ("answered", "answered", "closed")
    assert timed_out.summary == "Reject by the defaults, at the timeout"


def test_a_message_showing_an_outcome_is_not_rewritten_and_the_outcome_is_kept_in_its_metadata():
    identity = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, "try_number": 1}
    ours = {
        "bot_id": "B1",
        "blocks": message()["blocks"],
        "metadata": hitl_metadata(identity, ti_id="id1", options=["Approve", "Reject"], post_id="p"),
    }
    update = outcome_update(ours, HITLOutcome(chosen=("Reject",), airflow_user="admin"))
    assert update is not None
    answered = {**ours, "blocks": update["blocks"], "metadata": update["metadata"]}
    request = hitl_request(answered, bot_id="B1")
    assert (request.state, request.answer) == ("answered", "Reject by admin")
    assert request.asks_for({**identity, "ti_id": "id1"})
    assert not request.asks_for({**identity, "ti_id": "id2"})  # another Airflow's run with the same names
    assert not request.asks_for({**identity, "ti_id": "id1", "try_number": 2})
    assert outcome_update(answered, HITLOutcome(chosen=("Approve",), airflow_user="bob")) is None
