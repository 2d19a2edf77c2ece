"""The hook's Airflow connection: `slack_gate` and official `slack` types, extras, testing a connection."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from airflow import __version__ as AIRFLOW_VERSION
from airflow.providers.common.compat.sdk import AirflowNotFoundException
from packaging.version import Version

from airflow_slack_gate.hooks.connection import aread_settings, read_settings
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator

Connect = Callable[..., str]
AIRFLOW = Path(sys.executable).with_name("airflow")


def test_slack_gate_connection_reaches_slack_with_its_token(hook: SlackGateHook, ws: DemoWorkspace) -> None:
    posted = hook.post_message(channel=ws.approvals, text="hello")

    assert hook.bot_identity().user_id == ws.bot_user_id
    assert posted.message["bot_id"] == ws.bot_id


def test_extras_of_a_slack_gate_connection_are_read(
    connect: Connect, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    conn_id = connect(extra={"base_url": slack_emulator.base_url, "timeout": "7", "default_channel": "ops"})
    hook = SlackGateHook(slack_conn_id=conn_id)

    assert hook.default_channel == "ops"
    assert hook.client.timeout == 7
    assert hook.client.base_url == slack_emulator.base_url
    assert hook.bot_identity().user_id == ws.bot_user_id


def test_official_slack_connection_works_with_its_extras(
    connect: Connect, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    conn_id = connect(
        "slack_api_ops",
        conn_type="slack",
        extra={"base_url": slack_emulator.base_url, "timeout": 9, "default_channel": "#approvals"},
    )
    hook = SlackGateHook(slack_conn_id=conn_id)

    assert hook.default_channel == "#approvals"
    assert hook.client.timeout == 9
    assert hook.post_message(channel=hook.default_channel, text="hi").channel == ws.approvals


def test_official_slack_connection_with_ui_prefixed_extras(
    connect: Connect, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    """Connections made in older Airflow UIs store extras as ``extra__slack__<field>``."""
    conn_id = connect(
        "slack_api_legacy",
        conn_type="slack",
        extra={
            "extra__slack__base_url": slack_emulator.base_url,
            "extra__slack__timeout": "11",
            "extra__slack__default_channel": "approvals",
        },
    )
    hook = SlackGateHook(slack_conn_id=conn_id)

    assert (hook.default_channel, hook.client.timeout) == ("approvals", 11)
    assert hook.bot_identity().bot_id == ws.bot_id


async def test_a_worker_and_an_event_loop_read_the_same_settings_and_never_show_a_secret(
    connect: Connect, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    extra = {
        "extra__slack__base_url": slack_emulator.base_url,
        "extra__slack__timeout": "12",
        "default_channel": "#approvals",
        "app_token": " xapp-1-secret ",
        "signing_secret": "s3cret-signing",
        "slack_users": {"alice": ws.alice},
        "email_domain": "example.com",
    }
    conn_id = connect("slack_all_extras", conn_type="slack", extra=extra)

    settings = read_settings(conn_id)

    assert await aread_settings(conn_id) == settings
    assert (settings.base_url, settings.timeout, settings.default_channel) == (
        slack_emulator.base_url,
        12,
        "#approvals",
    )
    assert (settings.token, settings.app_token, settings.signing_secret) == (
        ws.bot_token,
        "xapp-1-secret",
        "s3cret-signing",
    )
    assert (settings.slack_users, settings.email_domain) == ({"alice": ws.alice}, "example.com")
    for secret in (ws.bot_token, "xapp-1-secret", "s3cret-signing"):
        assert secret not in repr(settings)


def test_no_extras_means_slack_defaults(connect: Connect) -> None:
    hook = SlackGateHook(slack_conn_id=connect(extra={}))

    assert hook.default_channel is None
    assert hook.client.base_url == "https://slack.com/api/"
    assert hook.client.timeout == 30


def test_hook_arguments_override_the_connection(connect: Connect, slack_emulator: SlackEmulator) -> None:
    conn_id = connect(extra={"base_url": "http://127.0.0.1:9/api/", "timeout": 7})
    hook = SlackGateHook(slack_conn_id=conn_id, base_url=slack_emulator.base_url, timeout=3)

    assert hook.client.timeout == 3
    assert hook.test_connection()[0] is True


async def test_async_client_uses_the_connection_extras(
    connect: Connect, slack_emulator: SlackEmulator, ws: DemoWorkspace, close_sessions: None
) -> None:
    conn_id = connect(conn_type="slack", extra={"base_url": slack_emulator.base_url, "timeout": 4})
    hook = SlackGateHook(slack_conn_id=conn_id)

    client = await hook.get_async_client()

    assert client.base_url == slack_emulator.base_url
    assert client.session.timeout.total == 4
    assert (await hook.abot_identity()).user_id == ws.bot_user_id


@pytest.mark.usefixtures("close_sessions")
async def test_timeout_extra_bounds_a_slow_answer(connect: Connect, slack_emulator: SlackEmulator) -> None:
    conn_id = connect(extra={"base_url": slack_emulator.base_url, "timeout": 1})
    slack_emulator.set_latency("auth.test", 2)

    with pytest.raises(SlackGateError) as raised:
        await SlackGateHook(slack_conn_id=conn_id).abot_identity()

    assert raised.value.error_code == "timeout"
    assert "TimeoutError" in str(raised.value)
    assert "extra 'timeout'" in str(raised.value)


def test_timeout_extra_that_is_not_a_number_names_the_connection_and_the_extra(
    connect: Connect, slack_emulator: SlackEmulator
) -> None:
    conn_id = connect(extra={"base_url": slack_emulator.base_url, "timeout": "30s"})

    with pytest.raises(ValueError, match="timeout") as raised:
        SlackGateHook(slack_conn_id=conn_id).bot_identity()

    assert repr(conn_id) in str(raised.value)


@pytest.mark.parametrize("conn_type", ["slack_gate", "slack"])
def test_missing_token_names_the_connection_and_the_password_field(
    connect: Connect, conn_type: str, slack_emulator: SlackEmulator
) -> None:
    conn_id = connect("slack_no_token", token=None, conn_type=conn_type)

    with pytest.raises(AirflowNotFoundException) as raised:
        SlackGateHook(slack_conn_id=conn_id).post_message(channel="approvals", text="hi")

    assert "'slack_no_token'" in str(raised.value)
    assert "password field" in str(raised.value)
    assert "xoxb-" in str(raised.value)  # says which token goes there
    assert slack_emulator.calls == []


async def test_missing_token_fails_the_async_client_too(connect: Connect) -> None:
    conn_id = connect("slack_no_token", token=None)

    with pytest.raises(AirflowNotFoundException, match=r"'slack_no_token'.*password field"):
        await SlackGateHook(slack_conn_id=conn_id).get_async_client()


def test_test_connection_succeeds_with_a_good_token(hook: SlackGateHook, ws: DemoWorkspace) -> None:
    ok, message = hook.test_connection()

    assert ok is True
    assert ws.bot_user_id in message
    assert ws.bot_id in message


def test_test_connection_fails_with_a_bad_token(connect: Connect) -> None:
    conn_id = connect(token="xoxb-not-a-real-token")

    ok, message = SlackGateHook(slack_conn_id=conn_id).test_connection()

    assert ok is False
    assert "invalid_auth" in message
    assert repr(conn_id) in message
    assert "password field" in message
    assert "xoxb-not-a-real-token" not in message


def test_test_connection_fails_without_a_token(connect: Connect) -> None:
    ok, message = SlackGateHook(slack_conn_id=connect(token=None)).test_connection()

    assert ok is False
    assert "password field" in message


def test_test_connection_fails_when_slack_is_unreachable(connect: Connect, unreachable_url: str) -> None:
    ok, message = SlackGateHook(slack_conn_id=connect(extra={"base_url": unreachable_url})).test_connection()

    assert ok is False
    assert "connection_error" in message
    assert "base_url" in message


def _airflow_connections_test(conn_id: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    return subprocess.run(
        [str(AIRFLOW), "connections", "test", conn_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_airflow_cli_tests_the_connection(slack_emulator: SlackEmulator) -> None:
    result = _airflow_connections_test("slack_gate_default")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
    assert slack_emulator.call_count("auth.test") == 1


def test_airflow_cli_shows_why_the_connection_fails(connect: Connect) -> None:
    conn_id = connect(token="xoxb-not-a-real-token")

    result = _airflow_connections_test(conn_id)

    # Airflow before 3.3.2 prints "Connection failed!" but exits 0; from 3.3.2 on the CLI exits 1.
    if Version(AIRFLOW_VERSION) >= Version("3.3.2"):
        assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Connection failed!" in output
    assert "invalid_auth" in output
    assert "password field" in output
    assert "xoxb-not-a-real-token" not in output
