"""
### Two of three approvers from a Slack user group, by reply or reaction

A destructive step (dropping legacy tables in production) needs two approvals from the members of a
Slack user group (say `@db-owners` with three people). Each member approves with a thread reply
(`approve`, `lgtm`...) or a reaction (:white_check_mark: or :+1:); one reject (`reject: <reason>`,
:x: or :-1:) from a member stops it. Votes from people outside the group do not count. The group is
expanded when the gate runs, so changing its members in Slack needs no DAG change.

**Configure without editing this file:** the Airflow Variable `slack_gate_db_owners` is the user
group's ID (`S...`, from Slack's *Copy group ID*; `airflow variables set slack_gate_db_owners
S0123ABCD`); the DAG does not load without it. It is read in the DAG's code, so whoever triggers a
run cannot name other approvers (a run's conf overrides its params). `slack_gate_channel`, if set,
is the channel to ask in instead of the connection's default.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Variable, task

from airflow_slack_gate.sensors.slack import SlackApprovalSensor

TABLES = ["events_2019", "events_2020", "sessions_legacy"]
DB_OWNERS = Variable.get("slack_gate_db_owners", default=None)
if not DB_OWNERS:
    raise ValueError(
        "Set the Airflow Variable slack_gate_db_owners to the Slack user group ID (S...) whose members "
        "may approve dropping tables, e.g. airflow variables set slack_gate_db_owners S0123ABCD"
    )

with DAG(
    dag_id="slack_gate_two_of_three",
    schedule=None,
    catchup=False,
    tags=["slack-gate", "example"],
    doc_md=__doc__,
):

    @task
    def back_up_tables() -> list[str]:
        """Stand-in for taking a backup before the destructive step."""
        return TABLES

    ask_owners = SlackApprovalSensor(
        task_id="ask_owners",
        channel="{{ var.value.get('slack_gate_channel', '') }}",  # Variables only, never the run's params
        text=(
            ":warning: Drop the legacy tables "
            + ", ".join(f"`{table}`" for table in TABLES)
            + " in *production*? A backup was taken."
        ),
        approvers=DB_OWNERS,
        required_approvals=2,
        approve_reactions=["white_check_mark", "+1"],
        reject_reactions=["x", "-1"],
        timeout=timedelta(days=1),
        on_timeout="reject",
    )

    @task.branch
    def decide(approved: bool) -> str:
        return "drop_tables" if approved else "keep_tables"

    @task
    def drop_tables(tables: list[str]) -> list[str]:
        """Stand-in for the migration."""
        print(f"DROP TABLE {', '.join(tables)}")
        return tables

    @task
    def keep_tables() -> str:
        return "kept"

    tables = back_up_tables()
    tables >> ask_owners
    decide(ask_owners.output) >> [drop_tables(tables), keep_tables()]
