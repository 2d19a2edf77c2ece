"""Provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_slack_gate import __version__
from airflow_slack_gate.hooks.connection_form import conn_fields, ui_field_behaviour

INTEGRATION = "Slack Approval Gate"


def get_provider_info() -> dict[str, Any]:
    """Return the provider info dict (validated against Airflow's provider_info.schema.json in tests)."""
    return {
        "package-name": "airflow-slack-gate",
        "name": "Slack Approval Gate",
        "description": "Human approval gates for Airflow DAGs, answered in Slack: post, ask, wait deferred, "
        "branch on the answer.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://api.slack.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["airflow_slack_gate.hooks.slack"]}],
        "operators": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_slack_gate.operators.slack"]}
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_slack_gate.sensors.slack"]}
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_slack_gate.triggers.slack"]}
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_slack_gate.hooks.slack.SlackGateHook",
                "hook-name": "Slack Approval Gate",
                "connection-type": "slack_gate",
                "conn-fields": conn_fields(),
                "ui-field-behaviour": ui_field_behaviour(),
            }
        ],
        "extra-links": ["airflow_slack_gate.links.SlackMessageLink"],
        "plugins": [
            {"name": "slack_gate", "plugin-class": "airflow_slack_gate.interactive.plugin.SlackGatePlugin"}
        ],
        "config": {
            "slack_gate": {
                "description": "Approval gates answered in Slack.",
                "options": {
                    "deferral_settle_seconds": {
                        "description": "A gate decided sooner than this after its trigger started in the "
                        "triggerer (votes already in Slack, or an answer within seconds) hands its answer to "
                        "Airflow only when these seconds have passed: Airflow 3.3 fails a task whose "
                        "trigger fired before the scheduler saw its worker exit (apache/airflow#67287). "
                        "0 turns the hold off.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "10",
                        "default": "10",
                    },
                    "api_server_socket_mode": {
                        "description": "Connections (comma-separated ids) whose Slack app uses Socket Mode "
                        "and whose Socket Mode connection the API server holds while it runs, so clicks on "
                        "Airflow's HITL requests asked by SlackHITLNotifier are answered without a triggerer "
                        "(and without a public Request URL). Each connection needs its app_token. Slack "
                        "gives each event to one of an app's connections, so gates waiting in a triggerer "
                        "then hear of some votes only at their next safety-net read.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "slack_gate_default",
                        "default": "",
                    },
                },
            }
        },
    }
