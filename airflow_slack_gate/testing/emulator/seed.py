"""The standard workspace used by the tests, the demo and the ``slack_emulator`` fixture."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from airflow_slack_gate.testing.emulator.state import Bot, Workspace

#: The seeded bot's token: fixed, so demos and docs can show it.
DEMO_BOT_TOKEN = "xoxb-emulator-bot-token"  # noqa: S105 - a fake token of the emulator, not a secret
DEMO_CHANNEL = "approvals"
DEMO_CONN_ID = "slack_gate_default"
#: The seeded people's profile emails are ``<name>@`` this domain (users.lookupByEmail finds them).
DEMO_EMAIL_DOMAIN = "example.com"


@dataclass(frozen=True)
class DemoWorkspace:
    """Ids of the seeded workspace.

    Bot ``airflow-gate`` (token :data:`DEMO_BOT_TOKEN`, default scopes), people ``alice``, ``bob``,
    ``carol``, ``dave`` and ``mallory`` (emails ``alice@example.com``...), channel ``#approvals``
    (everyone and the bot are members) and user group ``@deployers`` (alice, bob, carol).
    """

    team_id: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    app_id: str
    alice: str
    bob: str
    carol: str
    dave: str
    mallory: str
    approvals: str
    channel_name: str
    deployers: str

    def to_dict(self) -> dict[str, Any]:
        """The ids as a JSON-able dict."""
        return asdict(self)

    def example_dag_variables(self) -> dict[str, str]:
        """The Airflow Variables (as ``AIRFLOW_VAR_*`` environment) that say who may approve in the
        example DAGs, for this workspace: ``@deployers`` owns the tables, alice and carol steward data."""
        return {
            "AIRFLOW_VAR_SLACK_GATE_DB_OWNERS": self.deployers,
            "AIRFLOW_VAR_SLACK_GATE_DATA_STEWARDS": f"{self.alice}, {self.carol}",
        }


def seed_demo_workspace(workspace: Workspace) -> DemoWorkspace:
    """Create the standard bot, people, channel and user group in ``workspace``; return their ids."""
    bot: Bot = workspace.create_bot("airflow-gate", token=DEMO_BOT_TOKEN)
    people = {
        name: workspace.create_user(name, email=f"{name}@{DEMO_EMAIL_DOMAIN}")
        for name in ("alice", "bob", "carol", "dave", "mallory")
    }
    approvals = workspace.create_channel(DEMO_CHANNEL, members=[bot.user_id, *people.values()])
    deployers = workspace.create_usergroup("deployers", [people["alice"], people["bob"], people["carol"]])
    return DemoWorkspace(
        team_id=workspace.team_id,
        bot_token=bot.token,
        bot_user_id=bot.user_id,
        bot_id=bot.bot_id,
        app_id=bot.app_id,
        approvals=approvals,
        channel_name=DEMO_CHANNEL,
        deployers=deployers,
        **people,
    )


def airflow_connection_json(base_url: str, token: str, channel: str = DEMO_CHANNEL) -> str:
    """An Airflow connection (JSON form, for ``AIRFLOW_CONN_<ID>``) of type ``slack_gate``."""
    return json.dumps(
        {
            "conn_type": "slack_gate",
            "password": token,
            "extra": {"base_url": base_url, "default_channel": channel},
        }
    )
