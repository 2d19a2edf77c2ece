"""The provider registers with Airflow: schema-valid metadata, found through its entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path

import jsonschema

from airflow_slack_gate.get_provider_info import get_provider_info


def _airflow_schema() -> dict:
    return json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())


def test_provider_info_validates_against_airflows_schema():
    jsonschema.validate(get_provider_info(), _airflow_schema())


def test_entry_point_is_registered():
    entry_points = metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in entry_points if ep.value == "airflow_slack_gate.get_provider_info:get_provider_info"]
    assert ours, "the apache_airflow_provider entry point is missing: reinstall the package"
    assert ours[0].load()()["package-name"] == "airflow-slack-gate"


def test_every_declared_module_and_class_imports():
    info = get_provider_info()
    modules = [
        m
        for section in ("hooks", "operators", "sensors", "triggers")
        for entry in info.get(section, [])
        for m in entry["python-modules"]
    ]
    classes = [c["hook-class-name"] for c in info["connection-types"]] + info["extra-links"]
    for module in modules:
        __import__(module)
    for dotted in classes:
        module, _, name = dotted.rpartition(".")
        assert hasattr(__import__(module, fromlist=[name]), name), dotted


def test_connection_type_form_matches_hook():
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == "slack_gate"
    assert set(conn_type["conn-fields"]) == {
        "default_channel",
        "app_token",
        "signing_secret",
        "slack_users",
        "email_domain",
        "base_url",
        "timeout",
        "proxy",
    }
    assert conn_type["conn-fields"]["app_token"]["schema"]["format"] == "password"
    assert conn_type["conn-fields"]["signing_secret"]["schema"]["format"] == "password"
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"].startswith("Bot User OAuth Token")
    from airflow_slack_gate.hooks.slack import SlackGateHook

    legacy = SlackGateHook.get_ui_field_behaviour()
    assert legacy["hidden_fields"] == conn_type["ui-field-behaviour"]["hidden-fields"]


def test_airflow_cli_lists_the_provider_and_its_connection_type(tmp_path: Path):
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    providers = subprocess.run(
        [airflow, "providers", "list"], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert "airflow-slack-gate" in providers.stdout
    hooks = subprocess.run(
        [airflow, "providers", "hooks"], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    line = next(row for row in hooks.stdout.splitlines() if row.startswith("slack_gate "))
    assert "airflow_slack_gate.hooks.slack.SlackGateHook" in line
