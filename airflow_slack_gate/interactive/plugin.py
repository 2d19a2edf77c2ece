"""The Airflow plugin that mounts the Slack interactions endpoint on the API server.

Airflow 3 mounts each ``fastapi_apps`` entry of a plugin on its API server under ``url_prefix``; the
endpoint is then ``https://<airflow>/slack-gate/interactions`` (add ``?conn_id=<id>`` for another
connection than ``slack_gate_default``). Give that URL to Slack as the app's Request URL (Interactivity
& Shortcuts) when the app does not use Socket Mode. The route needs no Airflow login: Slack cannot
log in, so every request is verified with the connection's signing secret instead.

It also registers the listener that shows a HITL request's outcome in Slack when its task finishes
(Airflow calls plugins' listeners in the worker's task runner).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_slack_gate.interactive.http import URL_PREFIX, create_app
from airflow_slack_gate.notifiers.sync import listener

PLUGIN_NAME = "slack_gate"


class SlackGatePlugin(AirflowPlugin):
    """Mounts ``/slack-gate/interactions`` (Slack's Request URL for the gates' buttons), and listens for
    HITL tasks finishing, to show their outcome in Slack (:mod:`airflow_slack_gate.notifiers.sync`)."""

    name = PLUGIN_NAME
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Slack gate interactions"}]
    listeners = [listener]
