"""Deprecated path of the Slack emulator: now :mod:`airflow_slack_gate.testing.emulator`."""

from airflow_slack_gate._moved import forward

__getattr__ = forward(__name__, "airflow_slack_gate.testing.emulator")
