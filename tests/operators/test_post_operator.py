"""SlackPostOperator in real Airflow runs (dag.test()) against the emulator: post, template, fail softly.

The DAGs are in tests/dags/posts/post_dags.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk import WebClient

from airflow_slack_gate.hooks.slack import MAX_RATE_LIMIT_RETRIES
from airflow_slack_gate.testing.emulator import DemoWorkspace, SlackEmulator

RunPost = Callable[..., Any]  # conftest.run_post: returns a PostRun
SetConnection = Callable[..., None]
WRONG_TOKEN = "xoxb-wrong-token-from-another-workspace"


@pytest.fixture
def ws(slack_emulator: SlackEmulator) -> DemoWorkspace:
    return slack_emulator.workspace


@pytest.fixture
def releases(slack_emulator: SlackEmulator, ws: DemoWorkspace) -> str:
    """A second channel the bot is in: ``#releases``."""
    return slack_emulator.create_channel("releases", members=[ws.bot_user_id, ws.alice])


def permalink_of(slack: SlackEmulator, channel: str, ts: str) -> str:
    """The permalink Slack itself gives for a message."""
    client = WebClient(token=slack.workspace.bot_token, base_url=slack.base_url)
    return client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]


# -- posting --------------------------------------------------------------------------------------


def test_posts_returns_true_and_points_at_the_message(
    run_post: RunPost, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    run = run_post("post_message")

    assert run.state == "success"
    assert run.returned is True
    (message,) = slack_emulator.messages("approvals")
    assert message["text"] == f"Model {run.dag_run.run_id}: AUC 0.91"
    assert message["bot_id"] == ws.bot_id
    permalink = permalink_of(slack_emulator, ws.approvals, message["ts"])
    assert run.slack_message == {"channel": ws.approvals, "ts": message["ts"], "permalink": permalink}
    assert run.link == permalink


def test_templated_channel_text_and_json_blocks(
    run_post: RunPost, slack_emulator: SlackEmulator, releases: str
) -> None:
    run = run_post("post_templated", channel="#releases", env="staging")

    assert run.returned is True
    run_id = run.dag_run.run_id
    (message,) = slack_emulator.messages("releases")
    assert message["text"] == f"Release {run_id} to staging"
    assert message["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Run* {run_id} in staging"}}
    ]
    assert run.slack_message["channel"] == releases  # the id, though the task named the channel
    assert slack_emulator.messages("approvals") == []


def test_templates_inside_a_blocks_list(run_post: RunPost, slack_emulator: SlackEmulator) -> None:
    run = run_post("post_blocks_list", env="dev")

    assert run.returned is True
    (message,) = slack_emulator.messages("approvals")
    assert message["blocks"] == [{"type": "section", "text": {"type": "mrkdwn", "text": "to dev"}}]


def test_templated_thread_ts_replies_in_the_thread(
    run_post: RunPost, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    parent = slack_emulator.post_as_user("approvals", "alice", "Release notes?")

    run = run_post("post_in_thread", thread_ts=parent)

    assert run.returned is True
    thread = slack_emulator.replies("approvals", parent)
    assert [(m["text"], m.get("bot_id")) for m in thread[1:]] == [("Follow-up", ws.bot_id)]
    assert run.slack_message["ts"] == thread[1]["ts"]
    assert [m["ts"] for m in slack_emulator.messages("approvals")] == [parent]


def test_channel_id_from_params(run_post: RunPost, slack_emulator: SlackEmulator, releases: str) -> None:
    run = run_post("post_message", channel=releases)

    assert run.returned is True
    assert run.slack_message["channel"] == releases
    assert len(slack_emulator.messages("releases")) == 1


# -- the channel ------------------------------------------------------------------------------------


def test_no_channel_uses_the_connections_default_channel(
    run_post: RunPost, set_connection: SetConnection, slack_emulator: SlackEmulator, releases: str
) -> None:
    set_connection(default_channel="releases")

    run = run_post("post_to_default_channel")

    assert run.returned is True
    (message,) = slack_emulator.messages("releases")
    assert message["text"] == "To the connection's channel"
    assert run.slack_message["channel"] == releases


def test_no_channel_anywhere_fails_before_calling_slack(
    run_post: RunPost, set_connection: SetConnection, slack_emulator: SlackEmulator
) -> None:
    set_connection(default_channel=None)

    run = run_post("post_to_default_channel")

    assert run.state == "failed"
    assert slack_emulator.call_count("chat.postMessage") == 0
    assert slack_emulator.calls == []
    assert "has no Slack channel" in run.output
    assert "channel='#name'" in run.output
    assert "'default_channel' on Airflow connection 'slack_gate_default'" in run.output


# -- Slack errors ------------------------------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param(("invalid_auth", "password field"), id="invalid_token"),
        pytest.param(("channel_not_found", "/invite"), id="unknown_channel"),
        pytest.param(("not_in_channel", "/invite"), id="bot_not_in_channel"),
    ]
)
def slack_trouble(
    request: pytest.FixtureRequest, set_connection: SetConnection, slack_emulator: SlackEmulator
) -> tuple[str, str, dict[str, str]]:
    """A way for the post to fail in Slack: (error code, a phrase of its fix, the run's conf)."""
    code, fix = request.param
    if code == "invalid_auth":
        set_connection(token=WRONG_TOKEN, default_channel="approvals")
        return code, fix, {}
    if code == "channel_not_found":
        return code, fix, {"channel": "#no-such-channel"}
    slack_emulator.create_channel("general", members=["alice"])
    return code, fix, {"channel": "#general"}


def test_slack_error_returns_false_and_logs_the_fix(
    run_post: RunPost, slack_emulator: SlackEmulator, slack_trouble: tuple[str, str, dict[str, str]]
) -> None:
    code, fix, conf = slack_trouble

    run = run_post("post_message", **conf)

    assert run.state == "success"
    assert run.returned is False
    assert run.slack_message is None
    assert not run.link
    slack_errors = [line for line in run.errors() if f"error {code!r}" in line]
    assert slack_errors, run.errors()
    assert "connection 'slack_gate_default'" in slack_errors[0]
    assert fix in slack_errors[0]
    assert WRONG_TOKEN not in run.output
    assert slack_emulator.messages("approvals") == []


def test_slack_error_fails_the_task_with_fail_on_error(
    run_post: RunPost, slack_trouble: tuple[str, str, dict[str, str]]
) -> None:
    code, fix, conf = slack_trouble

    run = run_post("post_message_strict", **conf)

    assert run.state == "failed"
    assert run.dag_run.state == "failed"
    assert run.returned is None
    raised = [
        line
        for line in run.output.splitlines()
        if line.startswith("airflow_slack_gate.hooks.errors.SlackGateError")
    ]
    assert raised, run.output[-3000:]
    assert f"error {code!r}" in raised[0]
    assert fix in raised[0]
    assert WRONG_TOKEN not in run.output


def test_permalink_trouble_does_not_undo_the_post(
    run_post: RunPost, slack_emulator: SlackEmulator, ws: DemoWorkspace
) -> None:
    slack_emulator.inject_fault("chat.getPermalink", error="message_not_found")

    run = run_post("post_message")

    assert run.returned is True
    (message,) = slack_emulator.messages("approvals")
    assert run.slack_message == {"channel": ws.approvals, "ts": message["ts"], "permalink": ""}
    assert "could not read the message's permalink" in run.output


# -- rate limits ------------------------------------------------------------------------------------


def test_429_is_retried_and_posts_once(run_post: RunPost, slack_emulator: SlackEmulator) -> None:
    slack_emulator.inject_fault("chat.postMessage", status=429, retry_after=1)

    run = run_post("post_message")

    assert run.returned is True
    assert slack_emulator.call_count("chat.postMessage") == 2
    assert len(slack_emulator.messages("approvals")) == 1


def test_persistent_429_returns_false_and_says_rate_limited(
    run_post: RunPost, slack_emulator: SlackEmulator
) -> None:
    slack_emulator.inject_fault("chat.postMessage", status=429, retry_after=0, count=10)

    run = run_post("post_message")

    assert run.state == "success"
    assert run.returned is False
    assert slack_emulator.call_count("chat.postMessage") == 1 + MAX_RATE_LIMIT_RETRIES
    assert any("'ratelimited'" in line and "rate limited" in line for line in run.errors()), run.errors()
    assert slack_emulator.messages("approvals") == []


# -- blocks and Block Kit limits (issue 11, hole 5) ----------------------------------------------------


def test_blocks_over_slacks_limits_fail_at_render_time_and_post_nothing(
    run_post: RunPost, slack_emulator: SlackEmulator
) -> None:
    run = run_post("post_header", title="x" * 151)

    assert run.state == "failed"  # not False: the DAG's message cannot be posted, whatever fail_on_error says
    assert "header's text has 151 characters; Slack allows 150" in run.output
    assert "/blocks/0/text/text" in run.output
    assert slack_emulator.call_count("chat.postMessage") == 0


def test_blocks_within_slacks_limits_post(run_post: RunPost, slack_emulator: SlackEmulator) -> None:
    run = run_post("post_header", title="x" * 150)

    assert run.returned is True
    assert slack_emulator.messages("approvals")[0]["blocks"][0]["text"]["text"] == "x" * 150


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([{"type": "divider"}] * 51, "51 blocks; Slack allows 50"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "3001 characters"),
        ('[{"type": "divider"}' + ', {"type": "divider"}' * 50 + "]", "51 blocks; Slack allows 50"),
    ],
    ids=["too-many-blocks", "long-section", "json-string"],
)
def test_literal_blocks_over_slacks_limits_fail_when_the_dag_is_parsed(blocks: Any, message: str) -> None:
    from airflow_slack_gate.operators.slack import SlackPostOperator

    with pytest.raises(ValueError, match=message):
        SlackPostOperator(task_id="post", text="hi", blocks=blocks)


def test_text_over_slacks_limit_fails_when_the_dag_is_parsed() -> None:
    from airflow_slack_gate.operators.slack import SlackPostOperator

    with pytest.raises(ValueError, match="msg_too_long"):
        SlackPostOperator(task_id="post", text="x" * 40_001)


@pytest.mark.parametrize(
    "blocks",
    [
        '{"type": "section"}',
        "not json at all",
        '"a string"',
        "{{ params.blocks }}",
        '[{% for m in params.models %}{"type": "section", "text": {"type": "mrkdwn", "text": "{{ m }}"}}'
        "{% endfor %}]",
    ],
    ids=["object", "not-json", "string", "whole-template", "for-loop"],
)
def test_json_blocks_whose_templates_are_not_inside_strings_fail_when_parsed(blocks: str) -> None:
    from airflow_slack_gate.operators.slack import SlackPostOperator

    with pytest.raises(ValueError, match="blocks must be a list of Block Kit blocks") as raised:
        SlackPostOperator(task_id="post", text="hi", blocks=blocks)
    assert "list of dicts" in str(raised.value)


def test_double_quotes_inside_a_template_in_json_blocks_are_refused_with_the_fix() -> None:
    from airflow_slack_gate.operators.slack import SlackPostOperator

    blocks = (
        '[{"type": "section", "text": {"type": "mrkdwn", "text": "{{ ti.xcom_pull(task_ids="build") }}"}}]'
    )
    with pytest.raises(ValueError, match="not JSON") as raised:
        SlackPostOperator(task_id="post", text="hi", blocks=blocks)
    assert "{{ ti.xcom_pull(task_ids='build') }}" in str(raised.value)
    single = blocks.replace('"build"', "'build'")
    assert SlackPostOperator(task_id="post", text="hi", blocks=single).blocks == single
