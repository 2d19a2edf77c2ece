"""``airflow-slack-gate demo``: the approval example in a real Airflow, answered in an emulated Slack.

Starts the Slack emulator (seeded: ``#approvals``, alice, bob, carol, dave, mallory) and a real Airflow
on 127.0.0.1 in a temporary home (:class:`~airflow_slack_gate.testing.airflow_runner.AirflowRunner`), triggers
``slack_gate_approve_deploy`` (shipped in the package, in ``testing/demo_dags/``), prints where to look
and how to answer, waits for the decision (from a simulated approver with ``--auto-approve``, or from a
person: in the emulator's Slack in the browser, or through ``airflow-slack-gate emulator reply``),
prints the outcome and the branch that ran, and stops everything (with ``--keep-running``: on Ctrl-C),
also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any

from airflow_slack_gate.testing.airflow_runner import AirflowApi, AirflowRunner, AirflowRunnerError
from airflow_slack_gate.testing.emulator import SlackEmulator
from airflow_slack_gate.testing.emulator.cli import URL_ENV

DAG_ID = "slack_gate_approve_deploy"
DAG_FILE = "slack_approve_deploy.py"
GATE_TASK = "ask_for_approval"
BRANCHES = ("deploy_model", "notify_skipped")
AUTO_APPROVER = "alice"
#: The demo's DAG, shipped in the package (a checkout's example_dags/ links to it).
DEFAULT_DAGS_FOLDER = Path(__file__).resolve().parent / "demo_dags"
DAGS_FOLDER_ENV = "SLACK_GATE_EXAMPLE_DAGS"
#: How often the demo's gate reads Slack (a cluster policy sets it; the DAG file is unchanged).
POKE_INTERVAL = 1.0
#: How long the triggerer may take to open the app's Socket Mode connection once the gate waits.
SOCKET_MODE_WITHIN = 60.0
PEOPLE = ("alice", "bob", "carol", "dave", "mallory")


def add_demo_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``demo`` command on an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the approval example in a real Airflow, answered in an emulated Slack",
        description=(
            "Start the Slack emulator and a real Airflow (API server, scheduler, triggerer, DAG "
            f"processor) on 127.0.0.1 in a temporary home, run {DAG_ID}, wait for someone to answer "
            "in Slack, print the outcome and stop everything."
        ),
    )
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help=f"let a simulated approver ({AUTO_APPROVER}) approve a few seconds after the question is asked",
    )
    parser.add_argument(
        "--approve-after",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="with --auto-approve: how long the simulated approver takes (default: 3)",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="after the outcome, keep Airflow and the Slack emulator running (to look around in the "
        "Airflow UI and the Slack page) until Ctrl-C",
    )
    parser.add_argument(
        "--decision-timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="stop waiting for an answer after this long (default: 900)",
    )
    parser.add_argument(
        "--dags-folder",
        type=Path,
        default=Path(os.environ.get(DAGS_FOLDER_ENV) or DEFAULT_DAGS_FOLDER),
        help=f"a folder with {DAG_FILE} (default: ${DAGS_FOLDER_ENV}, else the one in this package)",
    )
    parser.set_defaults(func=run_demo)
    return parser


def run_demo(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Run the demo; 0 when the run finished successfully, 1 when it did not, 130 on Ctrl-C."""
    out = out or sys.stdout
    began = time.monotonic()
    if not (args.dags_folder / DAG_FILE).exists():
        say(
            out,
            f"error: {DAG_ID} not found in {args.dags_folder}; pass --dags-folder or set {DAGS_FOLDER_ENV}",
        )
        return 2
    try:
        with _stop_signals_interrupt():
            code = _demo(args, out)
    except KeyboardInterrupt:
        say(out, "\nInterrupted: Airflow and the Slack emulator are stopped.")
        return 130
    except AirflowRunnerError as error:  # Airflow did not start; the error carries its logs
        say(out, f"The demo failed: {error}")
        return 1
    say(out, f"Done in {time.monotonic() - began:.0f}s; Airflow and the Slack emulator are stopped.")
    return code


def say(out: IO[str], text: str = "") -> None:
    print(text, file=out, flush=True)


def _demo(args: argparse.Namespace, out: IO[str]) -> int:
    with SlackEmulator() as slack:
        ids = slack.seed_demo_workspace()
        names = {getattr(ids, name): name for name in PEOPLE}
        say(out, f"Slack emulator at {slack.url} (#{ids.channel_name}: {', '.join(PEOPLE)})")
        runner = AirflowRunner(
            args.dags_folder,
            env={
                "AIRFLOW_CONN_SLACK_GATE_DEFAULT": _connection_with_buttons(slack),
                **ids.example_dag_variables(),
            },
            gate_poke_interval=POKE_INTERVAL,
            wait_for_dags=[DAG_ID],
            stream=out,
        )
        with runner:
            api = runner.api
            run_id = api.trigger(DAG_ID)
            say(out, f"Triggered {DAG_ID} (run {run_id}); waiting for it to ask in Slack...")
            try:
                state = api.wait_for_task_state(DAG_ID, run_id, GATE_TASK, ["deferred"], timeout=120)
                runner.wait_until_deferral_settled(DAG_ID, run_id, GATE_TASK)
                # the question's buttons work once the triggerer holds the app's Socket Mode connection
                slack.wait_for_socket_connections(1, timeout=SOCKET_MODE_WITHIN)
                ask = api.xcom(DAG_ID, run_id, GATE_TASK, "slack_message")
            except AirflowRunnerError as error:
                return _failed(out, runner, f"the gate did not ask: {error}")
            except TimeoutError:
                why = f"the triggerer opened no Socket Mode connection within {SOCKET_MODE_WITHIN:.0f}s"
                return _failed(out, runner, why)
            question = slack.get_message(ask["channel"], ask["ts"])
            stays_up = args.keep_running or not args.auto_approve
            _print_where_to_look(out, runner, slack, run_id, ask, question["text"], state, stays_up)
            answer_at = time.monotonic() + args.approve_after if args.auto_approve else None
            if answer_at is None:
                say(out, "Waiting for an answer in Slack (Ctrl-C stops the demo)...")
            else:
                say(out, f"--auto-approve: {AUTO_APPROVER} approves in {args.approve_after:.0f}s...")
            try:
                _wait_for_decision(api, run_id, slack, ask, answer_at, args.decision_timeout, out)
                final = api.wait_for_run(DAG_ID, run_id, timeout=120)
            except AirflowRunnerError as error:
                return _failed(out, runner, str(error))
            expected = "approved" if args.auto_approve else None
            code = _print_outcome(out, runner, run_id, final, names, expected)
            if args.keep_running:
                _keep_running(out, runner, slack, run_id)
            return code


def _connection_with_buttons(slack: SlackEmulator) -> str:
    """The demo's Airflow connection, with the app-level token: the triggerer opens Socket Mode, so
    the question's buttons work."""
    connection = json.loads(slack.airflow_connection())
    connection["extra"]["app_token"] = slack.app_settings().app_token
    return json.dumps(connection)


def _this_command() -> str:
    """This command as any shell can run it: the running executable's absolute path (a shell may not
    have the virtualenv's ``bin`` on its PATH), else this Python with ``-m``."""
    program = Path(sys.argv[0]).resolve()
    if program.name == "airflow-slack-gate" and program.is_file() and os.access(program, os.X_OK):
        return shlex.quote(str(program))
    return f"{shlex.quote(sys.executable)} -m airflow_slack_gate.cli"


def _page_url(slack: SlackEmulator, ask: dict[str, str]) -> str:
    """The emulator's Slack page, open at the question's thread."""
    return f"{slack.url}#channel={ask['channel']}&thread={ask['ts']}"


def _keep_running(out: IO[str], runner: AirflowRunner, slack: SlackEmulator, run_id: str) -> None:
    say(out, "--keep-running: Airflow and the Slack emulator keep running; Ctrl-C stops them.")
    say(out, f"  Airflow UI    {runner.url}/dags/{DAG_ID}/runs/{run_id}")
    say(out, f"                log in as {runner.username} / {runner.password}")
    say(out, f"  Slack         {slack.url}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        say(out, "")


def _print_where_to_look(
    out: IO[str],
    runner: AirflowRunner,
    slack: SlackEmulator,
    run_id: str,
    ask: dict[str, str],
    text: str,
    state: str,
    stays_up: bool,
) -> None:
    emulator = f"{_this_command()} emulator"
    reply = f"{emulator} reply --url {slack.url} --ts {ask['ts']}"
    react = f"{emulator} react --url {slack.url} --ts {ask['ts']}"
    gone_soon = "it stops with the demo, in a few seconds (--keep-running keeps it)"
    login = f"log in as {runner.username} / {runner.password}" if stays_up else gone_soon
    page = "open it in a browser, choose who you are, click Approve or Reject" if stays_up else gone_soon
    lines = [
        "",
        f"The gate asked in Slack; {GATE_TASK} is {state} (it holds no worker slot while it waits).",
        "",
        f"  Slack         {_page_url(slack, ask)}",
        f"                {page}",
        f"  Airflow UI    {runner.url}/dags/{DAG_ID}/runs/{run_id}",
        f"                {login}",
        f"  The question  {' / '.join(line for line in text.splitlines() if line.strip())}",
        "",
        f"  Or answer from another shell, as one of the people in #{slack.workspace.channel_name}:",
        f"    {reply} --user alice approve",
        f"    {reply} --user bob {shlex.quote('reject: not this week')}",
        f"    {react} --user carol white_check_mark",
        f"  Read the thread:  {emulator} messages --url {slack.url} --ts {ask['ts']}",
        f"  (or export {URL_ENV}={slack.url} and leave out --url)",
        "",
    ]
    say(out, "\n".join(lines))


def _wait_for_decision(
    api: AirflowApi,
    run_id: str,
    slack: SlackEmulator,
    ask: dict[str, str],
    answer_at: float | None,
    timeout: float,
    out: IO[str],
) -> None:
    """Poll the gate until it is no longer deferred; answer as the simulated approver when it is time."""
    deadline = time.monotonic() + timeout
    while api.task_state(DAG_ID, run_id, GATE_TASK) == "deferred":
        now = time.monotonic()
        if answer_at is not None and now >= answer_at:
            slack.reply(ask["channel"], ask["ts"], AUTO_APPROVER, "approve")
            say(out, f"{AUTO_APPROVER} replied in the thread: approve")
            answer_at = None
        if now >= deadline:
            raise AirflowRunnerError(f"nobody answered within {timeout:.0f}s")
        time.sleep(0.5)
    say(out, "The gate has its answer; waiting for the run to finish...")


def _print_outcome(
    out: IO[str], runner: AirflowRunner, run_id: str, final: str, names: dict[str, str], expected: str | None
) -> int:
    """Print the decision and the branch that ran; 0 if the run succeeded (with the expected outcome)."""
    api = runner.api
    states = api.task_states(DAG_ID, run_id)
    try:
        decision = api.xcom(DAG_ID, run_id, GATE_TASK, "slack_decision")
    except AirflowRunnerError:  # the gate pushes no decision when Slack failed
        decision = None
    ran = [task for task in BRANCHES if states.get(task) == "success"]
    skipped = [task for task in BRANCHES if states.get(task) == "skipped"]
    say(out, "")
    if decision is None:
        say(out, f"Outcome: none recorded; the gate's log says why:\n{_task_log(runner, GATE_TASK)}")
        outcome = None
    else:
        outcome = decision["outcome"]
        who = ", ".join(names.get(user, user) for user in decision["decided_by"]) or "nobody"
        reason = f": {decision['reason']}" if decision.get("reason") else ""
        say(out, f"Outcome: {outcome} by {who}{reason}")
    if "deploy_model" in ran:
        say(out, f"Branch:  deploy_model ran (deployed {api.xcom(DAG_ID, run_id, 'deploy_model')})")
    if "notify_skipped" in ran:
        say(out, "Branch:  notify_skipped ran (the channel was told the deploy was skipped)")
    for task in skipped:
        say(out, f"Skipped: {task}")
    say(out, f"Run {run_id}: {final}")
    say(out, "")
    ok = final == "success" and len(ran) == 1 and expected in (None, outcome)
    return 0 if ok else 1


def _task_log(runner: AirflowRunner, task_id: str) -> str:
    logs = sorted((runner.home / "logs").glob(f"dag_id={DAG_ID}/**/task_id={task_id}/**/*.log"))
    return "\n".join(path.read_text(errors="replace")[-4000:] for path in logs) or "(no log found)"


def _failed(out: IO[str], runner: AirflowRunner, why: str) -> int:
    say(out, f"The demo failed: {why}\n{runner.logs(tail=40)}")
    return 1


@contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP stop the demo, and everything it started is cleaned up."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C too, even if this process was started with SIGINT ignored (e.g. as a background job).
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
