"""Deprecated path of the pure rules of a gate: now in ``core.policy``, ``core.votes``, ``core.protocol``."""

from airflow_slack_gate._moved import forward

__getattr__ = forward(
    __name__,
    "airflow_slack_gate.core.policy",
    "airflow_slack_gate.core.votes",
    "airflow_slack_gate.core.protocol",
)
