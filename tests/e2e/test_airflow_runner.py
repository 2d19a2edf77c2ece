"""The runner's safety and speed settings, checked without starting Airflow (fast; not marked e2e)."""

from __future__ import annotations

import pytest

from airflow_slack_gate.operators.slack import SlackPostOperator
from airflow_slack_gate.sensors.slack import SlackApprovalSensor
from airflow_slack_gate.testing.airflow_runner import (
    HOST,
    POKE_POLICY,
    AirflowRunner,
    AirflowRunnerError,
    wait_until,
)


def test_the_callers_airflow_settings_never_reach_the_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://prod-db/airflow")
    monkeypatch.setenv("AIRFLOW_HOME", "/srv/airflow")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_GATE_DEFAULT", '{"conn_type": "slack_gate", "password": "xoxb-real"}'
    )
    runner = AirflowRunner(tmp_path / "dags", home=tmp_path / "home", env={"AIRFLOW_VAR_X": "1"})
    runner.home.mkdir()

    env = runner._environment()

    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'home' / 'airflow.db'}"
    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")
    assert "AIRFLOW_CONN_SLACK_GATE_DEFAULT" not in env
    assert env["AIRFLOW_VAR_X"] == "1"


def test_everything_listens_on_loopback_only(tmp_path):
    runner = AirflowRunner(tmp_path / "dags", home=tmp_path / "home")
    runner.home.mkdir()

    env = runner._environment()

    assert env["AIRFLOW__API__HOST"] == HOST == "127.0.0.1"
    assert env["AIRFLOW__API__BASE_URL"].startswith("http://127.0.0.1:")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://127.0.0.1:")


def test_the_poke_policy_changes_only_the_approval_sensors_poke_interval():
    namespace: dict = {}
    exec(POKE_POLICY.format(poke_interval=0.5), namespace)
    gate = SlackApprovalSensor(task_id="gate", text="Deploy?", poke_interval=30, timeout=600)
    post = SlackPostOperator(task_id="post", text="hi")

    namespace["task_policy"](gate)
    namespace["task_policy"](post)

    assert gate.poke_interval == 0.5
    assert gate.timeout == 600
    assert not hasattr(post, "poke_interval")


def test_unknown_components_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown Airflow components \\['webserver'\\]"):
        AirflowRunner(tmp_path, components=["webserver"])


def test_wait_until_returns_the_value_or_names_what_it_waited_for():
    values = iter([None, False, "ready"])
    assert wait_until(lambda: next(values), timeout=5, what="x", interval=0.01) == "ready"
    with pytest.raises(AirflowRunnerError, match="timed out after 0s waiting for the moon"):
        wait_until(lambda: None, timeout=0.05, what="the moon", interval=0.01)
