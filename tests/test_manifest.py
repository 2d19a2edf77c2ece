"""The Slack app manifest asks for exactly the scopes the package's Slack calls need.

The Slack methods are read from the source code (not from a hand-kept list), mapped to scopes with
``manifest.METHOD_SCOPES``, and compared with the manifest; then a bot installed in the emulator with
exactly the manifest's scopes runs every call the package makes, and loses one call per scope removed.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

import pytest
import yaml

import airflow_slack_gate
from airflow_slack_gate import cli
from airflow_slack_gate.core import manifest
from airflow_slack_gate.core.messages import reason_modal
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.testing.emulator import SlackEmulator, airflow_connection_json

PACKAGE = Path(airflow_slack_gate.__file__).parent
REPO = PACKAGE.parent
MANIFEST_FILE = REPO / "docs" / "slack-app-manifest.yaml"
SOCKET_MODE_MANIFEST_FILE = REPO / "docs" / "slack-app-manifest-socket-mode.yaml"

#: Code that talks to Slack on behalf of users. Not scanned: the emulator (it implements Slack),
#: the pytest plugin, the CLI (its demo talks to the emulator only) and the manifest itself.
NOT_SLACK_CALLERS = ("emulator", "testing", "cli.py", "manifest.py")
#: The hook's wrappers whose first argument names the Slack method they call.
METHOD_NAMING_CALLS = {"_call", "_acall", "acall", "_collect", "_acollect", "api_call", "call"}
#: Families of Slack Web API methods (``chat.postMessage`` is ``chat_postMessage`` in slack_sdk), so a
#: client attribute such as ``client.base_url`` is not mistaken for a method.
# fmt: off
SLACK_METHOD_FAMILIES = {
    "admin", "api", "apps", "auth", "bookmarks", "bots", "calls", "chat", "conversations", "dialog",
    "dnd", "emoji", "files", "functions", "migration", "oauth", "openid", "pins", "reactions",
    "reminders", "rtm", "search", "stars", "team", "tooling", "usergroups", "users", "views", "workflows",
}
# fmt: on
#: Helpers inherited from the official SlackHook, and the Slack method each calls.
SLACK_HOOK_HELPERS = {
    "get_channel_id": "conversations.list",
    "send_file": "files.upload",
    "send_file_v2": "files.getUploadURLExternal",
    "send_file_v1_to_v2": "files.getUploadURLExternal",
}


def slack_sources() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if not any(part in NOT_SLACK_CALLERS for part in path.relative_to(PACKAGE).parts)
    )


def _is_client(node: ast.expr) -> bool:
    """``client``, ``self.client``, ``hook.client``, ``self._async_client``..."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name.endswith("client")


def slack_methods_called(path: Path) -> set[str]:
    """Slack methods a module calls: ``client.chat_postMessage`` (a call or a reference, as in
    ``partial(client.usergroups_users_list, ...)``), ``_call("chat.update", ...)`` and friends, and
    SlackHook helpers such as ``self.get_channel_id(...)``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and _is_client(node.value):
            family, _, rest = node.attr.partition("_")
            if family in SLACK_METHOD_FAMILIES and rest:
                found.add(node.attr.replace("_", "."))
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            if name in METHOD_NAMING_CALLS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
            if name in SLACK_HOOK_HELPERS:
                found.add(SLACK_HOOK_HELPERS[name])
    return found


def called_methods() -> set[str]:
    return set().union(*(slack_methods_called(path) for path in slack_sources()))


def manifest_scopes(text: str) -> list[str]:
    return yaml.safe_load(text)["oauth_config"]["scopes"]["bot"]


def test_the_source_scan_sees_the_hook_the_sensor_and_the_trigger():
    scanned = {str(path.relative_to(PACKAGE)) for path in slack_sources()}
    assert {"hooks/slack.py", "operators/slack.py", "sensors/slack.py", "triggers/slack.py"} <= scanned
    assert "chat.postMessage" in slack_methods_called(PACKAGE / "hooks" / "slack.py")


def test_used_methods_are_exactly_the_methods_the_code_calls():
    called = called_methods()
    assert called == set(manifest.USED_METHODS), (
        f"the code calls {sorted(called - set(manifest.USED_METHODS))} not in manifest.USED_METHODS, "
        f"and USED_METHODS lists {sorted(set(manifest.USED_METHODS) - called)} the code no longer calls"
    )
    assert called <= set(manifest.METHOD_SCOPES), "map every called method in manifest.METHOD_SCOPES"


def test_manifest_scopes_are_exactly_those_of_the_called_methods():
    needed = manifest.scopes_for(called_methods())
    assert sorted(manifest_scopes(manifest.render_manifest(False))) == needed
    assert needed == [
        "channels:history",
        "channels:read",
        "chat:write",
        "groups:history",
        "groups:read",
        "usergroups:read",
        "users:read",
        "users:read.email",
    ]


def test_docs_manifest_file_is_the_rendered_manifest():
    assert MANIFEST_FILE.read_text() == manifest.render_manifest(False), (
        "regenerate it: airflow-slack-gate manifest > docs/slack-app-manifest.yaml"
    )


def test_docs_socket_mode_manifest_file_is_the_rendered_manifest():
    assert SOCKET_MODE_MANIFEST_FILE.read_text() == manifest.render_manifest(True), (
        "regenerate it: airflow-slack-gate manifest --socket-mode > docs/slack-app-manifest-socket-mode.yaml"
    )


def test_polling_manifest_has_no_socket_mode_events_or_interactivity():
    settings = yaml.safe_load(manifest.render_manifest(False))["settings"]
    assert settings["socket_mode_enabled"] is False
    assert "event_subscriptions" not in settings
    assert "interactivity" not in settings


def test_socket_mode_manifest_adds_events_interactivity_and_only_the_events_scopes():
    data = yaml.safe_load(manifest.render_manifest(True))
    settings = data["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True}
    assert settings["event_subscriptions"]["bot_events"] == [
        "message.channels",
        "message.groups",
        "reaction_added",
        "reaction_removed",
    ]
    expected = set(manifest.scopes_for(called_methods())) | {"reactions:read"}
    assert sorted(data["oauth_config"]["scopes"]["bot"]) == sorted(expected)


def test_manifest_command_prints_the_manifest(capsys):
    parser = argparse.ArgumentParser(prog="airflow-slack-gate")
    cli.add_manifest_parser(parser.add_subparsers(dest="command", required=True))

    for argv, socket_mode in ((["manifest"], False), (["manifest", "--socket-mode"], True)):
        args = parser.parse_args(argv)
        assert args.func(args) == 0
        assert capsys.readouterr().out == manifest.render_manifest(socket_mode)
    url = "https://airflow.example.com/slack-gate/interactions"
    args = parser.parse_args(["manifest", "--request-url", url])
    assert args.func(args) == 0
    assert capsys.readouterr().out == manifest.render_manifest(request_url=url)


def test_request_url_manifest_sends_clicks_to_the_api_server_and_subscribes_no_events():
    url = "https://airflow.example.com/slack-gate/interactions"
    data = yaml.safe_load(manifest.render_manifest(request_url=url))
    settings = data["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": url}
    assert settings["socket_mode_enabled"] is False
    assert "event_subscriptions" not in settings  # the route takes interactions only
    assert manifest_scopes(manifest.render_manifest(request_url=url)) == manifest.bot_scopes()
    with pytest.raises(ValueError, match="not both"):
        manifest.render_manifest(True, request_url=url)


def test_an_unmapped_method_is_named():
    with pytest.raises(KeyError, match=r"files\.upload"):
        manifest.scopes_for(["files.upload"])


# -- the scopes work against the emulator (which checks scopes as Slack documents them) ------------------


@pytest.fixture(scope="module")
def slack():
    with SlackEmulator() as emulator:
        emulator.seed_demo_workspace()
        yield emulator


def run_every_call(slack: SlackEmulator, scopes: list[str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Install a bot with ``scopes`` and make every Slack call the package makes, in a public and a
    private channel; return the Slack methods that reached the emulator."""
    bot = slack.create_bot(f"scoped-{len(slack.calls)}", scopes=scopes)
    ids = slack.workspace
    public = slack.create_channel(f"public-{bot.user_id.lower()}", members=[bot.user_id, ids.alice])
    private = slack.create_channel(
        f"private-{bot.user_id.lower()}", members=[bot.user_id, ids.alice], is_private=True
    )
    conn = json.loads(airflow_connection_json(slack.base_url, bot.token))
    monkeypatch.setenv("AIRFLOW_CONN_SCOPED_BOT", json.dumps(conn))
    slack.reset_counters()

    hook = SlackGateHook(slack_conn_id="scoped_bot")
    hook.bot_identity()
    for name, channel_id in (
        (f"#public-{bot.user_id.lower()}", public),
        (f"private-{bot.user_id.lower()}", private),
    ):
        assert hook.channel_id(name) == channel_id
        assert hook.channel_info(channel_id)["is_archived"] is False
        posted = hook.post_message(channel=channel_id, text="Deploy?")
        slack.reply(channel_id, posted.ts, "alice", "approve")
        assert [m["text"] for m in hook.read_thread(channel=channel_id, ts=posted.ts)][1:] == ["approve"]
        assert posted.ts in {m["ts"] for m in hook.read_history(channel=channel_id)}
        hook.update_message(channel=channel_id, ts=posted.ts, text="Deploy? Approved")
        assert hook.get_permalink(channel=channel_id, ts=posted.ts)
    assert hook.expand_usergroups([ids.deployers]) == {ids.alice, ids.bob, ids.carol}
    assert hook.user_kinds([ids.alice]) == {ids.alice: "person"}
    assert hook.lookup_user_by_email("alice@example.com") == ids.alice
    # what a button click makes the bot do: tell a person ephemerally, open the reject-reason modal
    client = hook.get_conn()
    client.chat_postEphemeral(channel=public, user=ids.alice, text="You are not an approver of this gate")
    trigger_id = slack.interactivity.new_trigger_id(ids.alice, bot.app_id)
    client.views_open(trigger_id=trigger_id, view=reason_modal(channel=public, ts=posted.ts, question="?"))
    return {call.method for call in slack.calls}


def test_a_bot_with_exactly_the_manifest_scopes_can_make_every_call(slack, monkeypatch):
    reached = run_every_call(slack, manifest_scopes(manifest.render_manifest(False)), monkeypatch)
    assert reached == set(manifest.USED_METHODS) - set(manifest.APP_TOKEN_METHODS)


def test_the_app_token_opens_socket_mode_with_connections_write_only(slack):
    """apps.connections.open takes the app-level token (connections:write), which no manifest grants."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(base_url=slack.base_url)
    assert client.apps_connections_open(app_token=slack.app_settings().app_token)["url"].startswith("ws")
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        client.apps_connections_open(app_token=slack.workspace.bot_token)
    assert set(manifest.APP_TOKEN_METHODS.values()) == {"connections:write"}


@pytest.mark.parametrize("scope", manifest.bot_scopes())
def test_every_manifest_scope_is_needed(slack, monkeypatch, scope):
    fewer = [s for s in manifest_scopes(manifest.render_manifest(False)) if s != scope]
    with pytest.raises(SlackGateError, match=f"add the OAuth scope {scope}") as raised:
        run_every_call(slack, fewer, monkeypatch)
    assert raised.value.error_code == "missing_scope"
