"""Benchmark: from a person's click in Slack to Airflow's HITL task going on, through a real Airflow.

A real Airflow (API server, scheduler with the LocalExecutor, DAG processor, triggerer: the
end-to-end tests' :class:`AirflowRunner`) runs the example DAG ``slack_gate_hitl_approval`` with the
Slack emulator as its Slack, and the app's Request URL set to the API server's plugin route. For each
of ``--runs`` runs: trigger the DAG, wait until ``approve_deploy`` waits in ``awaiting_input`` (and the
scheduler has seen its worker exit), then POST one click, signed as Slack signs it, to
``/slack-gate/interactions`` and time, from just before the POST:

- **HTTP answer**: the route's answer (it acknowledges at once and handles the click in the background,
  as Slack asks of a Request URL);
- **left awaiting_input**: the task's state, polled through the REST API every 25 ms, is no longer
  ``awaiting_input`` (Airflow's ``update_hitl_detail`` recorded the answer and made the task schedulable);
- **Slack updated**: the request's message lost its buttons (the emulator's own clock, no polling);
- **task finished**: the task instance's ``end_date`` as Airflow recorded it (its resumed run in a
  worker, which also runs the plugin's listener);
- **run finished**: the DAG run's ``end_date`` (``deploy`` ran after it).

Run by hand (not part of the test suite): ``.venv/bin/python bench/hitl_latency.py [--runs 10]``.
It prints the table and writes bench/hitl_results.md (bench/results.md is the watcher's and links it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from watcher_bench import percentile  # noqa: E402

from airflow_slack_gate.core.hitl import ANSWER_BLOCK, OPTION_ACTION  # noqa: E402
from airflow_slack_gate.core.protocol import HITL_EVENT_TYPE  # noqa: E402
from airflow_slack_gate.testing.airflow_runner import AirflowRunner, wait_until  # noqa: E402
from airflow_slack_gate.testing.emulator import SlackEmulator  # noqa: E402
from airflow_slack_gate.testing.emulator.interactivity import sign  # noqa: E402
from airflow_slack_gate.testing.emulator.seed import DEMO_EMAIL_DOMAIN  # noqa: E402

DAG_ID, TASK_ID = "slack_gate_hitl_approval", "approve_deploy"
COLUMNS = ("answer sent back", "left awaiting_input", "Slack updated", "task finished", "run finished")
#: How each series answers, and the row label of its table.
SERIES = {"slack": "the signed click POST", "rest": "the REST API's PATCH"}


def request_message(slack: SlackEmulator, run_id: str) -> dict[str, Any] | None:
    for message in slack.messages("approvals"):
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == HITL_EVENT_TYPE and metadata["event_payload"]["run_id"] == run_id:
            return message
    return None


def signed_click(slack: SlackEmulator, message: dict[str, Any], user: str, run: int) -> tuple[bytes, dict]:
    """A click on the message's first button (Approve), as Slack would POST it to the Request URL."""
    ws = slack.workspace
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "alice", "name": "alice", "team_id": ws.team_id},
        "api_app_id": slack.app_settings().app_id,
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": ws.approvals},
        "channel": {"id": ws.approvals, "name": "approvals"},
        "message": message,
        "state": {"values": {}},
        "trigger_id": f"1.{run}.3",
        "actions": [
            {
                "action_id": f"{OPTION_ACTION}_0",
                "block_id": ANSWER_BLOCK,
                "type": "button",
                "value": "0",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        **sign(slack.app_settings().signing_secret, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body, headers


def seconds_since(started: float, iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() - started


def one_run(
    airflow: AirflowRunner, slack: SlackEmulator, url: str, run: int, *, via: str
) -> dict[str, float]:
    """One run answered ``via`` ``"slack"`` (a signed click on the Request URL) or ``"rest"`` (alice's
    ``PATCH .../hitlDetails``, as the Airflow UI sends it); times from just before the answer is sent."""
    api = airflow.api
    run_id = api.trigger(DAG_ID)
    api.wait_for_task_state(DAG_ID, run_id, TASK_ID, ["awaiting_input"], timeout=120)
    airflow.wait_until_deferral_settled(DAG_ID, run_id, TASK_ID)
    message = slack.wait_for(lambda: request_message(slack, run_id), 30)
    body, headers = signed_click(slack, message, slack.workspace.alice, run)
    alice = airflow.api_as("alice")
    alice.token()  # logged in beforehand, as a person in the Airflow UI is
    started: list[float] = []
    updated: list[float] = []

    def slack_updated() -> bool:
        blocks = slack.get_message("approvals", message["ts"])["blocks"]
        if started and not updated and not any(b.get("block_id") == ANSWER_BLOCK for b in blocks):
            updated.append(time.time() - started[0])
        return bool(updated)

    # Watched on the emulator's own changes while the rest is polled, so no poll delays this one.
    watcher = threading.Thread(target=slack.wait_for, args=(slack_updated, 60), daemon=True)
    watcher.start()
    started.append(time.time())
    if via == "slack":
        response = httpx.post(url, content=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
    else:
        alice.answer_hitl(DAG_ID, run_id, TASK_ID, ["Approve"])
    answered = time.time() - started[0]

    def left() -> float | None:
        state = api.task_state(DAG_ID, run_id, TASK_ID)
        return time.time() - started[0] if state != "awaiting_input" else None

    left_at = wait_until(left, timeout=60, what="the task to leave awaiting_input", interval=0.025)
    watcher.join(60)
    assert api.wait_for_run(DAG_ID, run_id, timeout=120) == "success"
    ti = api.get(f"/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/{TASK_ID}")
    dag_run = api.dag_run(DAG_ID, run_id)
    return {
        "answer sent back": answered,
        "left awaiting_input": left_at,
        "Slack updated": updated[0],
        "task finished": seconds_since(started[0], ti["end_date"]),
        "run finished": seconds_since(started[0], dag_run["end_date"]),
    }


def table(samples: list[dict[str, float]], what: str) -> str:
    lines = [f"| from {what} to | p50 | p95 | max |", "|---|---:|---:|---:|"]
    for column in COLUMNS:
        values = [sample[column] for sample in samples]
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        lines.append(f"| {column} | {p50:.2f} s | {p95:.2f} s | {max(values):.2f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="clicks to time (one DAG run each)")
    args = parser.parse_args()
    import airflow

    with SlackEmulator() as slack:
        slack.seed_demo_workspace()
        app = slack.app_settings()
        conn = json.loads(slack.airflow_connection())
        conn["extra"].update({"signing_secret": app.signing_secret, "email_domain": DEMO_EMAIL_DOMAIN})
        runner = AirflowRunner(
            ROOT / "example_dags",
            env={
                "AIRFLOW_CONN_SLACK_GATE_DEFAULT": json.dumps(conn),
                **slack.workspace.example_dag_variables(),
            },
            users={"alice": "user"},
            wait_for_dags=[DAG_ID],
            stream=sys.stderr,
        )
        with runner:
            url = f"{runner.url}/slack-gate/interactions"
            slack.configure_app(socket_mode=False, request_url=url)
            samples: dict[str, list[dict[str, float]]] = {via: [] for via in SERIES}
            for run in range(args.runs):
                for via in SERIES:  # interleaved, so both series see the same machine
                    sample = one_run(runner, slack, url, run, via=via)
                    samples[via].append(sample)
                    print(
                        f"run {run + 1}/{args.runs} {via}: "
                        + ", ".join(f"{k} {v:.2f} s" for k, v in sample.items())
                    )
    click_table, rest_table = (table(samples[via], what) for via, what in SERIES.items())
    print(click_table, rest_table, sep="\n\n")
    (HERE / "hitl_results.md").write_text(
        "# HITL click-to-resume latency\n\n"
        f"Produced by `bench/hitl_latency.py --runs {args.runs}` on {time.strftime('%Y-%m-%d')} "
        f"({os.cpu_count()} cores, Airflow {airflow.__version__}, SQLite, LocalExecutor). "
        "A real Airflow (API server, scheduler, DAG processor, triggerer) runs the example "
        f"`{DAG_ID}`; each run's `{TASK_ID}` waits in `awaiting_input` until it is answered. Times are "
        "from just before the answer is sent; the task's state is polled through the REST API every 25 ms, "
        "the Slack message is watched in the emulator, and the task's and run's ends are Airflow's own "
        "`end_date`s.\n\n"
        "## Answered in Slack\n\n"
        "One click, signed as Slack signs it, POSTed to the API server's `/slack-gate/interactions`.\n\n"
        f"{click_table}\n\n"
        "The route answers Slack at once and handles the click in the background: it judges the click, "
        "finds the clicker's Airflow user, and calls Airflow's `update_hitl_detail`, which records the "
        "answer and makes the task schedulable (it leaves `awaiting_input`); then it updates the message. "
        "The rest is Airflow: the scheduler queues the task, a LocalExecutor worker starts a task process "
        "that parses the DAG file and runs `execute_complete` (and the plugin's listener, which finds the "
        "message already updated and leaves it). *left awaiting_input* is an upper bound: it is polled, "
        "each look a REST call of a few tens of ms, while the route records the answer in Airflow before it "
        "updates the message, so it really comes before *Slack updated*.\n\n"
        "## Answered in Airflow (Slack follows)\n\n"
        "Alice's `PATCH .../hitlDetails` through the REST API, as the Airflow UI sends it (she is logged in "
        "already). The message is updated by the plugin's listener in the worker, when the task finishes.\n\n"
        f"{rest_table}\n"
    )


if __name__ == "__main__":
    main()
