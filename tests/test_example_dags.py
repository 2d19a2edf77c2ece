"""The example DAGs parse, take no Slack IDs from the file or the run, and are explained in the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

try:  # Airflow >= 3.2
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

from airflow_slack_gate.sensors.slack import SlackApprovalSensor

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAG_IDS = {
    "slack_gate_post_metric",
    "slack_gate_approve_deploy",
    "slack_gate_two_of_three",
    "slack_gate_short_circuit",
    "slack_gate_hitl_approval",
    "slack_gate_hitl_branch",
    "slack_gate_audit_archive",
}


#: The Variables the examples read in their code (who may approve), as an admin would set them.
EXAMPLE_VARIABLES = {
    "AIRFLOW_VAR_SLACK_GATE_DB_OWNERS": "S0DBOWNERS",
    "AIRFLOW_VAR_SLACK_GATE_DATA_STEWARDS": "U0ALICE01, U0CAROL01",
    "AIRFLOW_VAR_SLACK_GATE_RELEASE_MANAGERS": "alice, bob",
}


@pytest.fixture(scope="module")
def bag() -> DagBag:
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in EXAMPLE_VARIABLES.items():
            monkeypatch.setenv(name, value)
        return DagBag(dag_folder=str(ROOT / "example_dags"))


def test_every_example_parses_without_import_errors(bag):
    assert bag.import_errors == {}
    assert set(bag.dags) == EXAMPLE_DAG_IDS


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_DAG_IDS))
def test_no_example_lets_a_run_choose_approvers_or_the_channel(bag, dag_id):
    """Slack IDs come from Variables read in the DAG's code or from the connection, never the file or
    the run: the DAGs have no params a run's conf could use to pick approvers or the channel."""
    dag = bag.dags[dag_id]
    assert not {"approvers", "approver_group", "channel", "requested_by"} & set(dag.params)
    for task in dag.tasks:
        assert getattr(task, "channel", None) in (None, "{{ var.value.get('slack_gate_channel', '') }}")
    gates = {task.task_id: task.approvers for task in dag.tasks if isinstance(task, SlackApprovalSensor)}
    assert (
        gates
        == {
            "slack_gate_approve_deploy": {"ask_for_approval": None},
            "slack_gate_two_of_three": {"ask_owners": "S0DBOWNERS"},
            "slack_gate_short_circuit": {"ask_data_stewards": "U0ALICE01, U0CAROL01"},
            "slack_gate_post_metric": {},
            "slack_gate_hitl_approval": {},
            "slack_gate_hitl_branch": {},
            "slack_gate_audit_archive": {},
        }[dag_id]
    )


def test_a_restricted_example_does_not_load_without_its_approvers_variable():
    bag = DagBag(dag_folder=str(ROOT / "example_dags"))
    errors = {Path(path).name: error for path, error in bag.import_errors.items()}
    assert set(errors) == {"slack_two_of_three.py", "slack_short_circuit.py"}
    assert "Set the Airflow Variable slack_gate_db_owners" in errors["slack_two_of_three.py"]
    assert "Set the Airflow Variable slack_gate_data_stewards" in errors["slack_short_circuit.py"]


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_DAG_IDS))
def test_every_example_is_explained_in_the_docs(bag, dag_id):
    assert f"`{dag_id}`" in (ROOT / "docs" / "examples.md").read_text()
    assert bag.dags[dag_id].doc_md


def test_the_branch_example_is_answered_by_the_release_managers_its_variable_names(bag):
    (choose,) = [
        task for task in bag.dags["slack_gate_hitl_branch"].tasks if task.task_id == "choose_rollout"
    ]
    assert choose.assigned_users == [{"id": "alice", "name": "alice"}, {"id": "bob", "name": "bob"}]
    assert set(choose.options_mapping.values()) == set(bag.dags["slack_gate_hitl_branch"].task_ids) - {
        "choose_rollout"
    }
