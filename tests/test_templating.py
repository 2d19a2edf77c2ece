"""Values pulled in by templates cannot ping a channel, mention someone or disguise a link."""

from __future__ import annotations

import pytest

from tests.gate_helpers import load_dag, people, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")

HOSTILE = "<!channel> <@UEMU0000002> <http://evil.example|docs> & co"
ESCAPED = "&lt;!channel&gt; &lt;@UEMU0000002&gt; &lt;http://evil.example|docs&gt; &amp; co"


def test_posted_text_and_blocks_escape_template_values_but_keep_the_authors_markup(slack_emulator):
    run = load_dag("post_escaped").test(run_conf={"model": HOSTILE})
    ts = xcom(run, "post", "slack_message")["ts"]
    message = slack_emulator.get_message("approvals", ts)
    assert message["text"] == f"<!here> model {ESCAPED} is ready"
    assert message["blocks"][0]["text"]["text"] == ESCAPED


def test_the_question_escapes_template_values(slack_emulator):
    alice = slack_emulator.workspace.alice
    asked = []

    def look_then_approve(ask):
        asked.append(ask)
        slack_emulator.reply("approvals", ask["ts"], alice, "approve")

    with people(look_then_approve, slack_emulator):
        load_dag("gate_escaped").test(run_conf={"model": HOSTILE})
    assert ESCAPED in asked[0]["text"]
    assert "<!channel>" not in asked[0]["text"]
