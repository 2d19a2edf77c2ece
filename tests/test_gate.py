"""Which of one try's open questions its gate waits on (pure rules of airflow_slack_gate.core.gate)."""

from __future__ import annotations

from airflow_slack_gate.core.protocol import kept_ask, same_try

IDENTITY = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, "try_number": 2}


def test_the_repost_is_kept_and_the_late_first_attempt_is_not():
    """The first post's answer was lost; the repost names it in ``replaces``; the first lands later."""
    repost = ("1700000002.000000", {"ask_id": "b", "replaces": "a"})
    late_first = ("1700000003.000000", {"ask_id": "a"})
    assert kept_ask([late_first, repost]) == repost[0]


def test_of_questions_no_one_replaces_the_oldest_is_kept():
    assert kept_ask([("2.0", {"ask_id": "b"}), ("1.0", {"ask_id": "a"})]) == "1.0"
    assert kept_ask([("2.0", {}), ("1.0", {})]) == "1.0"  # questions posted before ask ids existed


def test_questions_that_replace_each_other_still_keep_one():
    assert (
        kept_ask([("2.0", {"ask_id": "b", "replaces": "a"}), ("1.0", {"ask_id": "a", "replaces": "b"})])
        == "1.0"
    )
    assert kept_ask([]) is None


def test_same_try_needs_the_same_task_instance_and_try():
    assert same_try(dict(IDENTITY, state="open"), IDENTITY)
    assert not same_try(dict(IDENTITY, try_number=1), IDENTITY)
    assert not same_try(dict(IDENTITY, map_index=0), IDENTITY)


def test_same_try_needs_the_same_airflow_task_instance_id():
    """Another Airflow deployment's run of the same DAG can have the same names and try."""
    mine = dict(IDENTITY, ti_id="01a246ee-4ba9-790d-b543-7cd4fbcea8cb")
    assert same_try(dict(mine, state="open"), mine)
    assert not same_try(dict(IDENTITY, ti_id="0190c6a0-0000-7000-8000-000000000000"), mine)
    assert not same_try(IDENTITY, mine)  # a question from before questions named their try's id
