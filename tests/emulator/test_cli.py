"""``airflow-slack-gate emulator``: run a seeded emulator in the foreground, and act in a running one."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading

import pytest

from airflow_slack_gate.interactive.http import ROUTE, URL_PREFIX
from airflow_slack_gate.testing.emulator import DEMO_BOT_TOKEN, DemoWorkspace, EmulatorClient, SlackEmulator
from airflow_slack_gate.testing.emulator.cli import add_emulator_parser

RUN = (
    "import argparse, sys\n"
    "from airflow_slack_gate.testing.emulator.cli import add_emulator_parser\n"
    "parser = argparse.ArgumentParser()\n"
    "add_emulator_parser(parser.add_subparsers(dest='command'))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_emulator_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _read_until(process: subprocess.Popen[str], prefix: str, timeout: float) -> dict[str, str]:
    """``KEY=value`` lines printed until one starts with ``prefix`` (the process dies after ``timeout``)."""
    assert process.stdout is not None
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    found: dict[str, str] = {}
    try:
        while not any(key.startswith(prefix) for key in found):
            line = process.stdout.readline()
            assert line, f"no {prefix} line within {timeout}s; got {found}"
            key, _, value = line.strip().partition("=")
            found[key] = value
    finally:
        watchdog.cancel()
    return found


def test_foreground_emulator_prints_how_to_reach_it_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        printed = _read_until(process, "AIRFLOW_CONN_SLACK_GATE_DEFAULT", timeout=30)
        remote = EmulatorClient(printed["SLACK_EMULATOR_URL"])
        assert remote.health()
        assert printed["SLACK_BOT_TOKEN"] == DEMO_BOT_TOKEN
        assert printed["SLACK_BASE_URL"].endswith("/api/")
        connection = json.loads(printed["AIRFLOW_CONN_SLACK_GATE_DEFAULT"].strip("'"))
        assert connection["extra"]["base_url"] == printed["SLACK_BASE_URL"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_foreground_emulator_prints_the_app_token_and_signing_secret_for_the_buttons() -> None:
    """Trying the buttons needs the app's app-level token (Socket Mode) or signing secret (Request
    URL) in the connection: the emulator prints both and says which connection field takes which."""
    process = subprocess.Popen(
        [sys.executable, "-c", RUN, "emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        printed = _read_until(process, "AIRFLOW_CONN_SLACK_GATE_DEFAULT", timeout=30)
        app = EmulatorClient(printed["SLACK_EMULATOR_URL"]).app_settings()
        assert printed["SLACK_APP_TOKEN"] == app.app_token
        assert printed["SLACK_SIGNING_SECRET"] == app.signing_secret
        hints = " ".join(f"{key}={value}" for key, value in printed.items() if key.startswith("buttons"))
        assert "App-Level Token (extra app_token)" in hints
        assert "Signing Secret (extra signing_secret)" in hints
        assert f"/{URL_PREFIX.strip('/')}{ROUTE}'" in hints  # the API server's Request URL route
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_refuses_public_host() -> None:
    with pytest.raises(SystemExit):
        run("emulator", "--host", "0.0.0.0")


def test_reply_react_post_and_messages(
    slack_emulator: SlackEmulator, ws: DemoWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    url = slack_emulator.url
    ts = slack_emulator.post_as_bot(ws.approvals, ws.bot_user_id, "Deploy?")

    assert run("emulator", "reply", "--url", url, "--user", "alice", "--ts", ts, "approve") == 0
    reply_ts = capsys.readouterr().out.strip()
    assert run("emulator", "react", "--url", url, "--user", "bob", "--ts", ts, "white_check_mark") == 0
    assert run("emulator", "post", "--url", url, "--user", "carol", "--channel", "#approvals", "hello") == 0
    capsys.readouterr()
    assert run("emulator", "messages", "--url", url, "--ts", ts) == 0
    thread = json.loads(capsys.readouterr().out)
    assert run("emulator", "messages", "--url", url) == 0
    top = json.loads(capsys.readouterr().out)

    assert [(m["ts"], m["text"]) for m in thread] == [(ts, "Deploy?"), (reply_ts, "approve")]
    assert thread[0]["reactions"][0]["users"] == [ws.bob]
    assert [m["text"] for m in top] == ["Deploy?", "hello"]


def test_url_from_environment(
    slack_emulator: SlackEmulator, ws: DemoWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_EMULATOR_URL", slack_emulator.url)
    ts = slack_emulator.post_as_user(ws.approvals, "alice", "Deploy?")

    assert run("emulator", "react", "--user", "bob", "--ts", ts, "eyes") == 0
    assert slack_emulator.get_message(ws.approvals, ts)["reactions"][0]["name"] == "eyes"


def test_remote_errors(
    slack_emulator: SlackEmulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_EMULATOR_URL", raising=False)

    assert run("emulator", "react", "--user", "bob", "--ts", "1.1", "eyes") == 2
    assert "--url" in capsys.readouterr().err
    assert run("emulator", "reply", "--url", slack_emulator.url, "--user", "zoe", "--ts", "1.1", "hi") == 1
    assert "no user 'zoe'" in capsys.readouterr().err
