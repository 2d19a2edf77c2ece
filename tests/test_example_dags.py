"""The example DAGs parse, use no hard-coded Slack IDs, and are explained in docs/examples.md."""

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
}


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(ROOT / "example_dags"))


def test_every_example_parses_without_import_errors(bag):
    assert bag.import_errors == {}
    assert set(bag.dags) == EXAMPLE_DAG_IDS


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_DAG_IDS))
def test_slack_ids_come_from_dag_params_not_from_the_file(bag, dag_id):
    dag = bag.dags[dag_id]
    assert "channel" in dag.params
    for gate in (task for task in dag.tasks if isinstance(task, SlackApprovalSensor)):
        assert gate.channel == "{{ params.channel }}"
        assert gate.approvers is None or gate.approvers.startswith("{{ params."), gate.approvers


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_DAG_IDS))
def test_every_example_is_explained_in_the_docs(bag, dag_id):
    assert f"`{dag_id}`" in (ROOT / "docs" / "examples.md").read_text()
    assert bag.dags[dag_id].doc_md
