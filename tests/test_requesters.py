"""Who the requester of a run is, and how the connection's extras map them to Slack (pure rules)."""

from __future__ import annotations

import pytest

from airflow_slack_gate.core.requesters import email_of, mapped_slack_user, parse_user_map, run_starter


@pytest.mark.parametrize(
    ("run_type", "user", "expected"),
    [
        ("manual", "alice", (True, "alice")),
        ("manual", None, (True, None)),  # a person started it, but Airflow did not record who
        ("backfill", "bob@example.com", (True, "bob@example.com")),
        ("asset_materialization", "carol", (True, "carol")),
        ("operator_triggered", "dave", (True, "dave")),  # inherited from the run that triggered it
        ("operator_triggered", None, (False, None)),  # triggered by a scheduled run
        ("scheduled", None, (False, None)),
        ("scheduled", "alice", (False, None)),  # nobody asks for a scheduled run
        ("asset_triggered", None, (False, None)),
    ],
)
def test_scheduled_runs_have_no_requester_and_runs_people_start_do(run_type, user, expected):
    assert run_starter(run_type, user) == expected


def test_the_user_map_matches_names_in_any_case_and_accepts_the_forms_text():
    mapping = parse_user_map('{"Alice": "U012AB3CD", "bob@example.com": "W045EF6GH"}', conn_id="c")
    assert mapped_slack_user(mapping, "alice") == "U012AB3CD"
    assert mapped_slack_user(mapping, "BOB@example.com") == "W045EF6GH"
    assert mapped_slack_user(mapping, "mallory") is None
    assert parse_user_map({"alice": "U012AB3CD"}, conn_id="c") == {"alice": "U012AB3CD"}
    assert parse_user_map(None, conn_id="c") == parse_user_map("", conn_id="c") == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("alice=U012AB3CD", "must be a JSON object"),
        ('["U012AB3CD"]', "must be a JSON object"),
        ('{"alice": "@alice"}', "['alice']"),
        ('{"alice": "S0123GRP"}', "Copy member ID"),
    ],
)
def test_a_bad_user_map_names_the_connection_and_the_fix(value, message):
    with pytest.raises(ValueError, match="'slack_gate_default'") as refused:
        parse_user_map(value, conn_id="slack_gate_default")
    assert message in str(refused.value)
    assert '{"alice": "U012AB3CD"' in str(refused.value)


def test_the_email_to_look_up():
    assert email_of("alice@example.com", None) == "alice@example.com"
    assert email_of("alice@example.com", "other.example") == "alice@example.com"
    assert email_of("alice", "example.com") == "alice@example.com"
    assert email_of("alice", "@example.com") == "alice@example.com"
    assert email_of("alice", None) is None
    assert email_of("alice", " ") is None
