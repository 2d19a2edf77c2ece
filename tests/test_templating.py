"""Values pulled in by templates cannot ping a channel, mention someone or disguise a link."""

from __future__ import annotations

import pytest

from airflow_slack_gate.core.messages import escape_mrkdwn
from airflow_slack_gate.templating import escape_template_value, finish_rendered, template_source
from tests.support import load_dag, people, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "fast_slack_reads")


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
    decided = slack_emulator.get_message("approvals", asked[0]["ts"])
    assert decided["blocks"][0]["text"]["text"] == f"Deploy {ESCAPED}?"  # escaped once, not again


# -- issue 11, hole 5: every inserted value is data, whatever its type and wherever it lands ---------


def value(text: object) -> str:
    """What the finalize hook makes of a template value."""
    return escape_template_value(text)


@pytest.mark.parametrize(
    ("rendered", "sent"),
    [
        (f"<{value('https://evil|Click me')}|Open>", "<https://evil%7CClick me|Open>"),
        (f"<{value('https://evil|Click me')}>", "<https://evil%7CClick me>"),
        (f"<https://example.com?q={value('a|b')}|Open>", "<https://example.com?q=a%7Cb|Open>"),
        (f"<https://example.com|Open {value('a|b')}>", "<https://example.com|Open a|b>"),
        (f"<@{value('U1|ceo')}>", "<@U1%7Cceo>"),
        (f"a|b {value('c|d')} <x|y> {value('e|f')}", "a|b c|d <x|y> e|f"),
        (f"<{value('x')}> {value('a|b')}", "<x> a|b"),
        (f"<{value('u')}{value('1|2')}|L>", "<u1%7C2|L>"),
    ],
    ids=["label", "bare-link", "query", "in-label", "mention", "outside", "after-link", "two-values"],
)
def test_a_value_inside_a_link_the_author_opened_cannot_start_its_label(rendered, sent):
    assert finish_rendered(rendered) == sent


def test_a_value_cannot_fake_the_end_of_its_own_marking():
    forged = value("\ue001|Click me\ue000")
    assert finish_rendered(f"<https://x{forged}|Open>") == "<https://x%7CClick me|Open>"
    assert template_source("<a\ue000|b\ue001>") == "<a|b>"


def test_every_value_is_escaped_text_whatever_its_type():
    assert (
        finish_rendered(value(["<!channel>", {"k": "<@U1>"}])) == "['&lt;!channel&gt;', {'k': '&lt;@U1&gt;'}]"
    )
    assert [finish_rendered(value(v)) for v in (None, 3, 1.5, True)] == ["None", "3", "1.5", "True"]


def only_message(slack_emulator):
    (message,) = slack_emulator.messages("approvals")
    return message


def test_a_list_value_in_text_is_escaped(slack_emulator):
    load_dag("post_hostile_values").test(run_conf={"models": ["<!channel>", "<@UEMU0000002>"]})
    text = only_message(slack_emulator)["text"]
    assert text.startswith("Models ['&lt;!channel&gt;', '&lt;@UEMU0000002&gt;'] ")
    assert "<!channel>" not in text


def test_numbers_and_none_render_as_jinja_renders_them(slack_emulator):
    load_dag("post_hostile_values").test(run_conf={"models": [1, None], "model": None})
    message = only_message(slack_emulator)
    assert message["text"].startswith("Models [1, None] ")
    assert message["blocks"][0]["text"]["text"] == "Model None"


JSON_UNESCAPE = "\\u003c!channel\\u003e"
JSON_INJECTION = 'x"}}, {"type": "section", "text": {"type": "mrkdwn", "text": "\\u003c!channel\\u003e'


@pytest.mark.parametrize("model", [JSON_UNESCAPE, JSON_INJECTION], ids=["json-escape", "quote"])
def test_a_value_in_json_blocks_can_neither_unescape_markup_nor_add_blocks(slack_emulator, model):
    load_dag("post_hostile_values").test(run_conf={"model": model})
    blocks = only_message(slack_emulator)["blocks"]
    text = {"type": "mrkdwn", "text": f"Model {escape_mrkdwn(model)}", "verbatim": False}
    assert blocks == [{"type": "section", "text": text}]


def test_a_value_inside_the_authors_link_cannot_change_its_label(slack_emulator):
    load_dag("post_hostile_values").test(run_conf={"url": "https://evil.example|Click me"})
    text = only_message(slack_emulator)["text"]
    assert text.endswith("<https://evil.example%7CClick me|Open> <https://evil.example%7CClick me>")


def test_a_native_rendering_dag_posts_escaped_strings(slack_emulator):
    load_dag("post_native_values").test(run_conf={"models": ["<!channel>"], "model": "<!here>"})
    message = only_message(slack_emulator)
    assert message["text"] == "['&lt;!channel&gt;']"
    assert [block["text"]["text"] for block in message["blocks"]] == ["['&lt;!channel&gt;']", "&lt;!here&gt;"]


def test_a_mapped_task_escapes_values_too(slack_emulator):
    load_dag("post_mapped_values").test(run_conf={"model": "<!channel>"})
    assert only_message(slack_emulator)["text"] == "Deploy &lt;!channel&gt;"
