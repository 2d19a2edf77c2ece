"""``airflow-slack-gate emulator``: run a seeded emulator, or act as a person in a running one.

Run::

    airflow-slack-gate emulator [--port N] [--rate-limits]

Act (``--url`` defaults to ``$SLACK_EMULATOR_URL``)::

    airflow-slack-gate emulator reply --url URL --user alice --ts TS "approve"
    airflow-slack-gate emulator react --url URL --user bob --ts TS white_check_mark
    airflow-slack-gate emulator post --url URL --user carol "hello"
    airflow-slack-gate emulator messages --url URL [--ts TS]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from typing import Any

from airflow_slack_gate.testing.emulator.client import EmulatorClient
from airflow_slack_gate.testing.emulator.emulator import LOCAL_HOSTS, SlackEmulator
from airflow_slack_gate.testing.emulator.seed import DEMO_CHANNEL, DEMO_CONN_ID
from airflow_slack_gate.testing.emulator.state import EmulatorError

URL_ENV = "SLACK_EMULATOR_URL"


def add_emulator_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``emulator`` command (and its subcommands) on an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator",
        help="run a Slack emulator, or act as a person in a running one",
        description="Without a subcommand: run a seeded Slack emulator in the foreground until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free port)")
    parser.add_argument(
        "--host", default="127.0.0.1", choices=LOCAL_HOSTS, help="only local hosts are allowed"
    )
    parser.add_argument("--rate-limits", action="store_true", help="enforce Slack's rate limits")
    parser.set_defaults(func=run_emulator)
    actions = parser.add_subparsers(dest="emulator_command", metavar="{reply,react,post,messages}")
    _add_action(actions, "reply", "reply in a thread as a person", _reply, ts_required=True).add_argument(
        "text"
    )
    _add_action(actions, "react", "react to a message as a person", _react, ts_required=True).add_argument(
        "name", help="emoji name, e.g. white_check_mark"
    )
    _add_action(
        actions, "post", "post a top-level message as a person", _post, ts_required=False
    ).add_argument("text")
    _add_action(actions, "messages", "print messages (or a thread) as JSON", _messages, ts_required=False)
    return parser


def _add_action(
    actions: Any, name: str, help_text: str, func: Any, *, ts_required: bool
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
    parser.add_argument("--url", default=os.environ.get(URL_ENV), help=f"emulator URL (default: ${URL_ENV})")
    parser.add_argument("--channel", default=DEMO_CHANNEL, help="channel id or name (default: approvals)")
    if name != "messages":
        parser.add_argument("--user", required=True, help="user id or name, e.g. alice")
    parser.add_argument("--ts", required=ts_required, help="ts of the message (the thread's parent)")
    parser.set_defaults(func=lambda args: _remote(args, func))
    return parser


def run_emulator(args: argparse.Namespace) -> int:
    """Run a seeded emulator in the foreground, print how to reach it, and serve until Ctrl-C."""
    # Ctrl-C must stop it even when it was started with SIGINT ignored (e.g. as a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with SlackEmulator(host=args.host, port=args.port, rate_limits=args.rate_limits) as emulator:
        ids = emulator.seed_demo_workspace()
        app = emulator.app_settings()
        lines = [
            f"Slack emulator running at {emulator.base_url} (Ctrl-C to stop)",
            f"Slack in the browser (act as its people, click buttons): {emulator.url}",
            f"{URL_ENV}={emulator.url}",
            f"SLACK_BASE_URL={emulator.base_url}",
            f"SLACK_BOT_TOKEN={ids.bot_token}",
            f"SLACK_CHANNEL={ids.channel_name} ({ids.approvals})",
            "users: "
            + " ".join(
                f"{name}={getattr(ids, name)}" for name in ("alice", "bob", "carol", "dave", "mallory")
            ),
            f"usergroup: deployers={ids.deployers}",
            f"SLACK_APP_TOKEN={app.app_token}",
            f"SLACK_SIGNING_SECRET={app.signing_secret}",
            "buttons (Socket Mode is on): paste SLACK_APP_TOKEN into the connection's "
            "App-Level Token (extra app_token); the triggerer then takes the clicks",
            "buttons over the Request URL instead: paste SLACK_SIGNING_SECRET into the connection's "
            "Signing Secret (extra signing_secret) and point the app at the API server with "
            "EmulatorClient(SLACK_EMULATOR_URL).app_settings(socket_mode=False, "
            "request_url='http://<API server>/slack-gate/interactions')",
            f"AIRFLOW_CONN_{DEMO_CONN_ID.upper()}={shlex.quote(emulator.airflow_connection())}",
            *(f"{name}={shlex.quote(value)}" for name, value in ids.example_dag_variables().items()),
        ]
        try:
            print("\n".join(lines), flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0


def _remote(args: argparse.Namespace, action: Any) -> int:
    if not args.url:
        print(f"error: give --url or set {URL_ENV}", file=sys.stderr)
        return 2
    try:
        action(EmulatorClient(args.url), args)
    except EmulatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _reply(client: EmulatorClient, args: argparse.Namespace) -> None:
    print(client.reply(args.channel, args.ts, args.user, args.text))


def _react(client: EmulatorClient, args: argparse.Namespace) -> None:
    client.add_reaction(args.channel, args.ts, args.user, args.name)


def _post(client: EmulatorClient, args: argparse.Namespace) -> None:
    print(client.post_as_user(args.channel, args.user, args.text, thread_ts=args.ts))


def _messages(client: EmulatorClient, args: argparse.Namespace) -> None:
    found = client.replies(args.channel, args.ts) if args.ts else client.messages(args.channel)
    print(json.dumps(found, indent=2))
