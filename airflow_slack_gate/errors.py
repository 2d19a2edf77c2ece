"""Deprecated path of Slack errors and their fixes: now in ``hooks.errors`` and ``core.errors``."""

from airflow_slack_gate._moved import forward

__getattr__ = forward(__name__, "airflow_slack_gate.hooks.errors", "airflow_slack_gate.core.errors")
