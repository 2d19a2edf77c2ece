"""A Slack Web API emulator (real HTTP) for tests, the demo and users' own tests.

Start one with :class:`SlackEmulator` (a context manager), seed the standard workspace with
:meth:`SlackEmulator.seed_demo_workspace`, and point slack_sdk at :attr:`SlackEmulator.base_url`.
Act as the people in Slack (reply, react, post) through the emulator's methods, or from another
process through :class:`EmulatorClient`. Pytest users get the ``slack_emulator`` fixture.
"""

from airflow_slack_gate.testing.emulator.api import EmulatorApi
from airflow_slack_gate.testing.emulator.client import EmulatorClient
from airflow_slack_gate.testing.emulator.controls import TIER_LIMITS, CallRecord
from airflow_slack_gate.testing.emulator.emulator import SlackEmulator
from airflow_slack_gate.testing.emulator.methods import METHODS
from airflow_slack_gate.testing.emulator.seed import (
    DEMO_BOT_TOKEN,
    DEMO_CHANNEL,
    DEMO_CONN_ID,
    DemoWorkspace,
    airflow_connection_json,
)
from airflow_slack_gate.testing.emulator.state import DEFAULT_BOT_SCOPES, Bot, EmulatorError, SlackError

__all__ = [
    "DEFAULT_BOT_SCOPES",
    "DEMO_BOT_TOKEN",
    "DEMO_CHANNEL",
    "DEMO_CONN_ID",
    "METHODS",
    "TIER_LIMITS",
    "Bot",
    "CallRecord",
    "DemoWorkspace",
    "EmulatorApi",
    "EmulatorClient",
    "EmulatorError",
    "SlackEmulator",
    "SlackError",
    "airflow_connection_json",
]
