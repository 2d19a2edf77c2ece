"""Pure rules of a gate: policy, votes, the message protocol, Block Kit, pacing and the error catalogue.

No I/O, and no Airflow or slack_sdk imports (tests/test_layers.py checks).
"""
