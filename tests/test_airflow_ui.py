"""The pure rules of a gate in Airflow's Required actions: which resume payloads hold a vote of this try,
and how a recorded Airflow answer reads back from the thread."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_slack_gate.core import airflow_ui, pacing
from airflow_slack_gate.core.gate import GateRef, read_step
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import recorded_votes, vote_record_metadata

ASKED = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
ALICE = {"id": "alice", "name": "alice"}


def payload(**changes):
    """A resume payload as Airflow's HITLDetail.as_resume_event_payload builds it."""
    return {
        "chosen_options": ["Approve"],
        "params_input": {},
        "responded_at": ASKED + timedelta(minutes=1),
        "responded_by_user": ALICE,
        "timedout": False,
        **changes,
    }


def test_an_answer_of_this_try_is_read():
    answer = airflow_ui.read_answer(payload(), asked_at=ASKED.timestamp())
    assert answer is not None
    assert (answer.name, answer.vote) == ("alice", "approve")
    rejected = airflow_ui.read_answer(payload(chosen_options=["Reject"]), asked_at=ASKED.timestamp())
    assert rejected is not None
    assert rejected.vote == "reject"
    as_text = payload(responded_at=(ASKED + timedelta(minutes=1)).isoformat())  # serialized on the way
    assert airflow_ui.read_answer(as_text, asked_at=ASKED.timestamp()) == answer


@pytest.mark.parametrize(
    "changes",
    [
        {"responded_at": ASKED - timedelta(seconds=1)},  # before this try asked: an earlier try's
        {"timedout": True},  # a timeout's default, nobody answered
        {"responded_by_user": None},
        {"responded_by_user": {"id": "alice"}},
        {"responded_by_user": {"id": "x", "name": "  "}},
        {"chosen_options": ["Approve", "Reject"]},
        {"chosen_options": []},
        {"chosen_options": ["approve"]},  # not the request's option
        {"chosen_options": "Approve"},
        {"responded_at": "yesterday"},
        {"responded_at": None},
    ],
)
def test_a_stale_or_malformed_payload_holds_no_vote(changes):
    assert airflow_ui.read_answer(payload(**changes), asked_at=ASKED.timestamp()) is None


def test_a_gate_event_is_no_airflow_answer():
    assert airflow_ui.is_airflow_answer(payload())
    assert not airflow_ui.is_airflow_answer({"status": "decided", "chosen_options": ["Approve"], "gate": {}})


def test_the_subject_is_the_questions_plain_text():
    question = "Deploy *<https://ci/1|build 1>* `v2` to <#C1|prod>? &lt;!channel&gt; <!here>\n  <@U1> a*b"
    assert airflow_ui.subject(question) == "Deploy build 1 v2 to prod? <!channel> @here @U1 ab"
    assert len(airflow_ui.subject("x" * 5000)) == airflow_ui.SUBJECT_LIMIT


def test_an_airflow_answer_recorded_by_the_bot_is_a_vote_via_airflow_ui():
    gate = GateRef(channel="C1", ts="1700000000.000100")
    ask = {"ts": gate.ts, "bot_id": "BBOT", "user": "UBOT", "text": "Deploy?"}
    record = {
        "ts": "1700000060.000200",
        "thread_ts": gate.ts,
        "bot_id": "BBOT",
        "text": "recorded",
        "metadata": vote_record_metadata(
            voter="UALICE", vote="approve", reason=None, gate_ts=gate.ts, click_id="a", via="airflow_ui"
        ),
    }
    [vote] = recorded_votes([record], ask_ts=gate.ts, bot_id="BBOT")
    assert vote.via == "airflow_ui"
    event = read_step([ask, record], gate, ApprovalPolicy(), expired=False, people={"UALICE"})
    assert event is not None
    assert event["decision"]["votes"][0]["via"] == "airflow_ui"
    forged = {**record, "bot_id": "BOTHER"}  # another app's copy of the record
    assert recorded_votes([forged], ask_ts=gate.ts, bot_id="BBOT") == []
    unknown_via = {**record, "metadata": {**record["metadata"]}}
    unknown_via["metadata"]["event_payload"] = {**record["metadata"]["event_payload"], "via": "email"}
    assert recorded_votes([unknown_via], ask_ts=gate.ts, bot_id="BBOT") == []


def test_airflow_s_own_resume_payload_is_read_as_the_answer():
    """Airflow 3.3 resumes a deferred task answered in Required actions with its row's payload
    (``HITLDetail.as_resume_event_payload``): the gate reads the same answer from it as from its
    trigger's event."""
    hitl = pytest.importorskip("airflow.models.hitl")
    if not hasattr(hitl.HITLDetail, "as_resume_event_payload"):
        pytest.skip("Airflow before 3.3 resumes nobody: the trigger's event is the only payload")
    row = hitl.HITLDetail(
        options=list(airflow_ui.OPTIONS),
        subject="Deploy?",
        responded_at=ASKED + timedelta(minutes=1),
        responded_by={"id": "alice", "name": "alice"},
        chosen_options=["Reject"],
        params_input={},
    )
    answer = airflow_ui.read_answer(row.as_resume_event_payload(), asked_at=ASKED.timestamp())
    assert answer == airflow_ui.AirflowAnswer(
        name="alice", user_id="alice", vote="reject", responded_at=ASKED + timedelta(minutes=1)
    )


def test_the_trigger_looks_at_the_request_often_only_where_airflow_resumes_nobody():
    assert pacing.hitl_look_every(30, airflow_resumes=False) == pacing.HITL_LOOK_INTERVAL
    assert pacing.hitl_look_every(120, airflow_resumes=True) == 120  # never more often than its reads
    assert pacing.hitl_look_every(0.2, airflow_resumes=False) == 0.2  # never slower than the gate's reads
    # Airflow 3.3 resumes answered gates itself: a look is a safety net, one API call per gate
    assert pacing.hitl_look_every(0.2, airflow_resumes=True) == pacing.HITL_SAFETY_NET_INTERVAL
