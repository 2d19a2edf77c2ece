"""Deprecated path of the real-Airflow runner: now :mod:`airflow_slack_gate.testing.airflow_runner`."""

from airflow_slack_gate._moved import forward

__getattr__ = forward(__name__, "airflow_slack_gate.testing.airflow_runner")
