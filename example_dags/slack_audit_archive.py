"""
### Archive the gates' audit trail every week

`archive_audit_trail` reads last week's gate questions in the gates' channel from Slack
(`airflow_slack_gate.audit.read_audit`: who asked, the rules, the review digest, the outcome, every vote
and the link to each question) and writes them to one JSON file per week. It reads Slack alone, so it
works after XCom and the runs are gone, paced to Slack's rate limits.

**Configure without editing this file:** the connection `slack_gate_default` (its default channel is
the one audited; the Airflow Variable `slack_gate_channel`, if set, audits that channel instead) and the
Variable `slack_gate_audit_dir`, the folder the files go to (default: `slack-gate-audit` in the
worker's temporary folder). The bot must be a member of the channel. The DAG starts paused: unpause
it once they are set.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Variable, get_current_context, task

from airflow_slack_gate.audit import read_audit, records_json

with DAG(
    dag_id="slack_gate_audit_archive",
    schedule="@weekly",
    catchup=False,
    is_paused_upon_creation=True,  # unpause it once the connection and the Variables are set
    tags=["slack-gate", "example"],
    doc_md=__doc__,
):

    @task
    def archive_audit_trail() -> str:
        """Write the week's records to <slack_gate_audit_dir>/slack-gate-audit-<first day>.json."""
        context = get_current_context()
        # a scheduled run has its week; a run triggered by hand audits the 7 days before it
        end = context.get("data_interval_end") or context["dag_run"].run_after
        start = context.get("data_interval_start") or end - timedelta(days=7)
        channel = Variable.get("slack_gate_channel", default=None) or None
        records = read_audit(
            "slack_gate_default", channel, since=start, until=end - timedelta(microseconds=1)
        )
        folder = Path(
            Variable.get("slack_gate_audit_dir", default=f"{tempfile.gettempdir()}/slack-gate-audit")
        )
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"slack-gate-audit-{start:%Y-%m-%d}.json"
        path.write_text(records_json(records))
        print(f"Archived {len(records)} gate questions to {path}")
        return str(path)

    archive_audit_trail()
