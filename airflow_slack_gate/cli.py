"""``airflow-slack-gate``: the emulator, the live demo and the Slack app manifest from one command."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_slack_gate.core.manifest import render_manifest


def build_parser() -> argparse.ArgumentParser:
    # The test kit (emulator, demo) is imported only when the command runs, never by the provider.
    from airflow_slack_gate.testing.demo import add_demo_parser
    from airflow_slack_gate.testing.emulator.cli import add_emulator_parser

    parser = argparse.ArgumentParser(
        prog="airflow-slack-gate", description="Human approval gates for Apache Airflow, answered in Slack."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_emulator_parser(subparsers)
    add_demo_parser(subparsers)
    add_manifest_parser(subparsers)
    add_audit_parser(subparsers)
    return parser


def add_manifest_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``manifest`` command to an argparse ``add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "manifest",
        help="print the Slack app manifest (YAML) with exactly the scopes this package needs",
        description="Print the Slack app manifest to paste at https://api.slack.com/apps > Create New "
        "App > From an app manifest.",
    )
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument(
        "--socket-mode",
        action="store_true",
        help="enable Socket Mode, interactivity and the message/reaction events (needs an app-level "
        "token with connections:write)",
    )
    variant.add_argument(
        "--request-url",
        metavar="URL",
        help="enable interactivity with this Request URL, e.g. "
        "https://airflow.example.com/slack-gate/interactions (needs the signing secret)",
    )
    parser.set_defaults(func=print_manifest)
    return parser


def print_manifest(args: argparse.Namespace) -> int:
    """Write the manifest for ``args.socket_mode`` to stdout."""
    sys.stdout.write(render_manifest(socket_mode=args.socket_mode, request_url=args.request_url))
    return 0


def add_audit_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` command to an argparse ``add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit",
        help="print the audit trail of a channel's gate questions, read from Slack (docs/audit.md)",
        description="Print one record per gate question in a channel: who asked, the rules, the review "
        "digest, the outcome and every vote, read from Slack alone (it works after XCom is gone).",
    )
    parser.add_argument("--conn-id", default="slack_gate_default", help="the gates' Airflow connection")
    parser.add_argument("--channel", help="channel ID (default: the connection's default_channel)")
    parser.add_argument("--since", help="first day (YYYY-MM-DD, UTC) or ISO 8601 time")
    parser.add_argument("--until", help="last day, included (YYYY-MM-DD, UTC) or ISO 8601 time")
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="output format")
    parser.add_argument("--output", metavar="PATH", help="write the records to this file (default: stdout)")
    parser.set_defaults(func=print_audit)
    return parser


def print_audit(args: argparse.Namespace) -> int:
    """Write the audit records to stdout (or ``--output``); a Slack error or a bad argument goes to
    stderr (exit 1). Airflow's own log lines go to stderr too, so stdout holds the records alone."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    from airflow_slack_gate.audit import read_audit, records_csv, records_json
    from airflow_slack_gate.hooks.errors import SlackGateError

    try:
        with contextlib.redirect_stdout(sys.stderr):  # Airflow may log to stdout: keep it for the records
            records = read_audit(args.conn_id, args.channel, since=args.since, until=args.until)
    except AirflowNotFoundException as error:
        sys.stderr.write(
            f"airflow-slack-gate audit: {error}: create the connection of the gates' Slack app where this "
            "command runs (e.g. the AIRFLOW_CONN_<ID> environment variable) or pass its id as --conn-id\n"
        )
        return 1
    except (SlackGateError, ValueError) as error:
        sys.stderr.write(f"airflow-slack-gate audit: {error}\n")
        return 1
    text = records_csv(records) if args.format == "csv" else records_json(records)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``airflow-slack-gate`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
