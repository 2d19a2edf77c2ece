"""``airflow-slack-gate``: the emulator, the live demo and the Slack app manifest from one command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from airflow_slack_gate.demo import add_demo_parser
    from airflow_slack_gate.emulator.cli import add_emulator_parser
    from airflow_slack_gate.manifest import add_manifest_parser

    parser = argparse.ArgumentParser(
        prog="airflow-slack-gate", description="Human approval gates for Apache Airflow, answered in Slack."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_emulator_parser(subparsers)
    add_demo_parser(subparsers)
    add_manifest_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``airflow-slack-gate`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
