"""The Slack app manifest: exactly the OAuth scopes the package's Slack calls need, and no more.

``airflow-slack-gate manifest [--socket-mode | --request-url URL]`` prints it;
``docs/slack-app-manifest.yaml`` is the polling variant, ``docs/slack-app-manifest-socket-mode.yaml`` the
Socket Mode one. Paste it at https://api.slack.com/apps > Create New App > From an app manifest.

The scopes are derived, not listed by hand: :data:`USED_METHODS` names every Slack Web API method the
package calls (a test re-reads the source code and checks that list), :data:`METHOD_SCOPES` maps each
method to the bot scopes Slack requires for it, and the manifest holds their union.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Bot-token scopes each Slack Web API method needs, for the channel types the package supports
#: (public ``C...`` and private ``G...``/``C...`` channels; direct messages are not supported).
#: Methods the package does not call are listed too, so adding a call means adding it to
#: :data:`USED_METHODS` only.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "apps.connections.open": (),  # app-level token, see APP_TOKEN_METHODS
    "auth.test": (),
    "chat.getPermalink": (),
    "chat.postEphemeral": ("chat:write",),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "conversations.info": ("channels:read", "groups:read"),
    "conversations.list": ("channels:read", "groups:read"),
    "reactions.get": ("reactions:read",),
    "users.info": ("users:read",),
    "users.lookupByEmail": ("users:read", "users:read.email"),  # Slack grants .email only with users:read
    "usergroups.users.list": ("usergroups:read",),
    "views.open": (),
}

#: Methods called with the app-level token (``xapp-...``), not the bot token, and the app-level
#: scope each needs (granted when the token is generated, not in the manifest).
APP_TOKEN_METHODS: dict[str, str] = {"apps.connections.open": "connections:write"}

#: Every Slack Web API method the package calls (hook, operators, sensor, trigger, buttons), and why.
USED_METHODS: dict[str, str] = {
    "apps.connections.open": "open the triggerer's Socket Mode connection (app-level token)",
    "auth.test": "the connection's Test button; the bot's own id, so its messages never count as votes",
    "chat.postMessage": "post the question, notices, the outcome reply and a button click's vote record",
    "chat.postEphemeral": "tell a person why their click or vote-like reply did not count (only they see it)",
    "chat.update": "show the outcome on the question; mark an earlier try's question superseded",
    "chat.getPermalink": "the message link in XCom and the task's 'Slack message' button",
    "conversations.history": "find the question an earlier attempt of the same try already posted",
    "conversations.replies": "read the votes: thread replies and the question's reactions",
    "conversations.list": "turn a channel name (#approvals) into its ID",
    "conversations.info": "notice a waiting gate's channel was archived (Slack still serves its history)",
    "usergroups.users.list": "expand approver user groups (S...) to their members",
    "users.info": "check that whoever reacted or replied is a person, not another app's bot or deactivated",
    "users.lookupByEmail": "find the Slack user of the Airflow user who triggered a run (the requester)",
    "views.open": "open the reject-reason dialog when someone clicks Reject, and an Airflow request's form",
}

#: Why each scope is requested (comments in the manifest and the docs).
SCOPE_REASONS: dict[str, str] = {
    "chat:write": "chat.postMessage, chat.update, chat.postEphemeral: post the question, record "
    "clicks, show the outcome",
    "channels:history": "conversations.replies, conversations.history: read votes in public channels",
    "groups:history": "conversations.replies, conversations.history: read votes in private channels",
    "channels:read": "conversations.list, conversations.info: a public channel's ID; is it archived",
    "groups:read": "conversations.list, conversations.info: the same for private channels",
    "usergroups:read": "usergroups.users.list: expand approver user groups",
    "reactions:read": "the reaction_added / reaction_removed events (instant wake-ups)",
    "users:read": "users.info: only people vote (reactions carry no bot_id); Slack grants users:read.email "
    "only with it",
    "users:read.email": "users.lookupByEmail: the requester's Slack user, from their Airflow email",
}

#: Bot events of the Socket Mode variant, and the scope Slack requires to subscribe to each.
SOCKET_MODE_EVENTS: dict[str, str] = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
}

APP_NAME = "Airflow Gate"
#: The bot's handle in Slack: people invite it with ``/invite @airflow-gate``.
BOT_DISPLAY_NAME = "airflow-gate"
APP_DESCRIPTION = "Approval gates for Apache Airflow, answered in Slack."
APP_COLOR = "#017cee"


def scopes_for(methods: Iterable[str]) -> list[str]:
    """The bot scopes the given Slack methods need, sorted; ``KeyError`` names a method not in the table."""
    scopes: set[str] = set()
    for method in methods:
        if method not in METHOD_SCOPES:
            raise KeyError(
                f"Slack method {method!r} has no entry in METHOD_SCOPES (airflow_slack_gate/manifest.py)"
            )
        scopes.update(METHOD_SCOPES[method])
    return sorted(scopes)


def bot_scopes(*, socket_mode: bool = False) -> list[str]:
    """The manifest's bot scopes: those of :data:`USED_METHODS`, plus the events' scopes in Socket Mode."""
    scopes = set(scopes_for(USED_METHODS))
    if socket_mode:
        scopes.update(SOCKET_MODE_EVENTS.values())
    return sorted(scopes)


def render_manifest(socket_mode: bool = False, request_url: str | None = None) -> str:
    """The Slack app manifest (YAML): polling only; with Socket Mode (events and button clicks over an
    app-level token's websocket); or with ``request_url``, where Slack POSTs button clicks (the Airflow
    API server's ``/slack-gate/interactions``)."""
    if socket_mode and request_url:
        raise ValueError("choose Socket Mode or a Request URL, not both")
    variant = " (Socket Mode variant)." if socket_mode else " (Request URL variant)." if request_url else "."
    command = " --socket-mode" if socket_mode else f" --request-url {request_url}" if request_url else ""
    lines = [
        "# Slack app manifest for airflow-slack-gate" + variant,
        f"# Generated by `airflow-slack-gate manifest{command}`.",
        "# 1. https://api.slack.com/apps > Create New App > From an app manifest > paste this file.",
        "# 2. Install to Workspace, then copy the Bot User OAuth Token (xoxb-...) into the password",
        "#    field of an Airflow connection of type 'Slack Approval Gate'.",
        f"# 3. Invite the bot to every approval channel: /invite @{BOT_DISPLAY_NAME}",
    ]
    if socket_mode:
        lines += [
            "# 4. Basic Information > App-Level Tokens > Generate Token and Scopes, scope connections:write;",
            "#    put the xapp-... token into the connection's App-Level Token field.",
        ]
    if request_url:
        lines += [
            "# 4. Basic Information > App Credentials > Signing Secret: put it into the connection's",
            "#    Signing Secret field (the API server refuses clicks it cannot verify).",
        ]
    lines += [
        "display_information:",
        f"  name: {APP_NAME}",
        f"  description: {APP_DESCRIPTION}",
        f'  background_color: "{APP_COLOR}"',
        "features:",
        "  bot_user:",
        f"    display_name: {BOT_DISPLAY_NAME}",
        "    always_online: true",
        "oauth_config:",
        "  scopes:",
        "    bot:",
    ]
    lines += [f"      - {scope}  # {SCOPE_REASONS[scope]}" for scope in bot_scopes(socket_mode=socket_mode)]
    lines.append("settings:")
    if socket_mode:
        lines += ["  event_subscriptions:", "    bot_events:"]
        lines += [f"      - {event}" for event in SOCKET_MODE_EVENTS]
        lines += ["  interactivity:", "    is_enabled: true"]
    if request_url:
        lines += ["  interactivity:", "    is_enabled: true", f"    request_url: {request_url}"]
    lines += [
        "  org_deploy_enabled: false",
        f"  socket_mode_enabled: {'true' if socket_mode else 'false'}",
        "  token_rotation_enabled: false",
    ]
    return "\n".join(lines) + "\n"
