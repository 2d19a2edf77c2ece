"""Block Kit of a gate's messages: what people read, and that Slack accepts it."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from airflow_slack_gate.core.messages import (
    HOW_BLOCK,
    SECTION_TEXT_LIMIT,
    ask_message,
    check_block_kit_limits,
    duplicate_ask_message,
    escape_mrkdwn,
    outcome_message,
    outcome_thread_reply,
    shows_buttons,
    superseded_message,
)
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.votes import decide

DEADLINE = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
DEADLINE_TOKEN = "<!date^1704110400^{date_short_pretty} at {time}|2024-01-01 12:00 UTC>"
ATTACKS = ["<!channel>", "<@U1>", "<http://evil.example|docs>"]
# Tokens our own messages may contain; anything else in <...> would be Slack markup from data.
OUR_TOKENS = re.compile(r"<(@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|!date\^\d+\^[^|>]+\|[^>]+)>")


def assert_valid_block_kit(message: dict[str, Any]) -> None:
    """The shape chat.postMessage / chat.update accept: fallback text, and blocks that slack_sdk's own
    Block Kit models parse, validate and write back unchanged (a field they drop is a field Slack
    does not know)."""
    json.dumps(message)
    assert isinstance(message["text"], str)
    assert message["text"].strip()
    assert len(message["text"]) <= 40_000
    assert check_block_kit_limits(message["text"], message["blocks"]) == []
    assert 1 <= len(message["blocks"]) <= 50
    parsed = Block.parse_all(message["blocks"])
    for block, original in zip(parsed, message["blocks"], strict=True):
        assert block is not None, f"not a Block Kit block: {original}"
        block.validate_json()
        assert block.to_dict() == original


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = []
    for block in message["blocks"]:
        objects = [block["text"]] if block["type"] == "section" else block.get("elements", [])
        texts += [obj["text"] for obj in objects if obj["type"] == "mrkdwn"]
    return texts


def how_to_answer(message: dict[str, Any]) -> str:
    (text,) = [t for t in mrkdwn_texts(message) if t.startswith("*To answer,*")]
    return text


def ask(policy: ApprovalPolicy | None = None, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "text": "Deploy *model v7* to prod?",
        "blocks": None,
        "policy": policy or ApprovalPolicy(),
        "approver_groups": (),
        "deadline": None,
        "requested_by": None,
        "context_line": None,
    }
    message = ask_message(**{**kwargs, **overrides})
    assert_valid_block_kit(message)
    return message


# --- escaping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U1>", "&lt;@U1&gt;"),
        ("<http://evil.example|docs>", "&lt;http://evil.example|docs&gt;"),
        ("R&D", "R&amp;D"),
        ("&lt;", "&amp;lt;"),
        ("plain *bold* text", "plain *bold* text"),
    ],
)
def test_escape_mrkdwn_shows_values_as_typed(value, escaped):
    assert escape_mrkdwn(value) == escaped
    assert "<" not in escape_mrkdwn(value)
    assert ">" not in escape_mrkdwn(value)


# --- the ask ------------------------------------------------------------------------------------


def test_ask_shows_the_question_then_how_to_answer():
    message = ask()
    assert message["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Deploy *model v7* to prod?"},
    }
    assert how_to_answer(message) == (
        "*To answer,* reply in this thread with `approve` or `reject: &lt;reason&gt;`, or react "
        ":white_check_mark: / :+1: to approve, :x: / :-1: to reject.\n"
        "Anyone in this channel can answer. The first approval or rejection decides."
    )


def test_ask_fallback_text_has_the_question_and_a_hint():
    assert ask()["text"] == "Deploy *model v7* to prod?\n(Reply approve or reject in the thread.)"


def test_ask_names_user_and_group_approvers():
    policy = ApprovalPolicy(approvers=frozenset({"U2", "U1"}))
    text = how_to_answer(ask(policy, approver_groups=["S0OPS"]))
    assert "Who can answer: <@U1>, <@U2> or <!subteam^S0OPS>." in text
    assert "Anyone" not in text


def test_ask_with_only_groups_names_the_groups():
    text = how_to_answer(ask(ApprovalPolicy(approvers=frozenset()), approver_groups=["S0OPS", "S0ML"]))
    assert "Who can answer: <!subteam^S0ML> or <!subteam^S0OPS>." in text


def test_ask_names_the_users_given_rather_than_expanded_group_members():
    expanded = ApprovalPolicy(approvers=frozenset({"U1", "UMEMBER1", "UMEMBER2"}))
    text = how_to_answer(ask(expanded, approver_groups=["S0OPS"], approver_users=["U1"]))
    assert "Who can answer: <@U1> or <!subteam^S0OPS>." in text
    assert "UMEMBER" not in text


def test_ask_lets_anyone_answer_when_the_policy_does_whatever_users_are_named():
    assert "Anyone in this channel can answer." in how_to_answer(ask(approver_users=[]))


def test_ask_summarises_a_long_list_of_approvers():
    policy = ApprovalPolicy(approvers=frozenset(f"U{i:03d}" for i in range(25)))
    text = how_to_answer(ask(policy))
    assert text.count("<@U") == 20
    assert "or 5 more." in text


@pytest.mark.parametrize(
    ("required", "expected"),
    [
        (1, "The first approval or rejection decides."),
        (2, "Needs 2 approvals from different people; one rejection decides."),
        (5, "Needs 5 approvals from different people; one rejection decides."),
    ],
)
def test_ask_says_how_many_approvals_are_needed(required, expected):
    assert expected in how_to_answer(ask(ApprovalPolicy(required_approvals=required)))


def test_ask_says_the_requester_cannot_approve_their_own_request():
    text = how_to_answer(ask(ApprovalPolicy(requested_by="U9"), requested_by="U9"))
    assert "Requested by <@U9>, who cannot approve their own request." in text


def test_ask_does_not_restrict_the_requester_when_self_approval_is_allowed():
    text = how_to_answer(ask(ApprovalPolicy(requested_by="U9", allow_self_approval=True), requested_by="U9"))
    assert "Requested by <@U9>." in text
    assert "cannot approve" not in text


def test_ask_without_requester_says_nothing_about_one():
    assert "Requested" not in how_to_answer(ask())


def test_ask_uses_the_configured_words_and_reactions():
    policy = ApprovalPolicy(
        approve_words=("ship", "go"),
        reject_words=("hold",),
        approve_reactions=("rocket",),
        reject_reactions=(),
    )
    text = how_to_answer(ask(policy))
    assert text.startswith(
        "*To answer,* reply in this thread with `ship` or `hold: &lt;reason&gt;`, "
        "or react :rocket: to approve."
    )
    assert ask(policy)["text"].endswith("(Reply ship or hold in the thread.)")


def test_ask_without_reactions_does_not_mention_reacting():
    text = how_to_answer(ask(ApprovalPolicy(approve_reactions=(), reject_reactions=())))
    assert "react" not in text
    assert "reply in this thread with `approve` or `reject: &lt;reason&gt;`." in text


def test_ask_says_by_when_as_a_slack_date():
    assert f"Answer by {DEADLINE_TOKEN}." in how_to_answer(ask(deadline=DEADLINE))
    assert "Answer by" not in how_to_answer(ask(deadline=None))


def test_ask_deadline_in_another_zone_is_the_same_moment():
    local = DEADLINE.astimezone(timezone(timedelta(hours=2)))
    assert DEADLINE_TOKEN in how_to_answer(ask(deadline=local))


def test_ask_takes_a_naive_deadline_as_utc():
    assert DEADLINE_TOKEN in how_to_answer(ask(deadline=DEADLINE.replace(tzinfo=None)))


def test_ask_context_line_is_plain_text():
    message = ask(context_line="Airflow: deploy_<!channel>.gate_*x* (try 2)")
    assert message["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "plain_text", "text": "Airflow: deploy_<!channel>.gate_*x* (try 2)"}],
    }


def test_ask_shows_the_authors_blocks_first():
    authored = [{"type": "header", "text": {"type": "plain_text", "text": "Model v7"}}, {"type": "divider"}]
    message = ask(blocks=authored)
    assert message["blocks"][:2] == authored
    assert message["blocks"][2]["text"]["text"] == "Deploy *model v7* to prod?"
    assert message["blocks"][3]["type"] == "context"


def test_ask_refuses_more_blocks_than_slack_takes():
    with pytest.raises(ValueError, match="pass at most 47"):
        ask(blocks=[{"type": "divider"}] * 48)
    assert len(ask(blocks=[{"type": "divider"}] * 47, context_line="x")["blocks"]) == 50


def test_ask_shortens_a_long_question_to_fit_a_section():
    text = "word " * 1000
    message = ask(text=text)
    section = message["blocks"][0]["text"]["text"]
    assert len(section) <= SECTION_TEXT_LIMIT
    assert section.endswith("word …")
    assert len(message["text"]) <= SECTION_TEXT_LIMIT
    assert message["text"].endswith("(Reply approve or reject in the thread.)")


@pytest.mark.parametrize(
    ("text", "must_not_end_with"),
    [
        pytest.param("x" * 2990 + " <@U012AB3CD> and more " * 3, "<@U", id="mention"),
        pytest.param("x" * 2992 + " &amp;&amp;&amp;&amp;" + "y" * 100, "&am", id="entity"),
        pytest.param("x" * 2950 + " <https://example.com/" + "p" * 200 + "|link>", "<https", id="link"),
    ],
)
def test_shortening_never_cuts_slack_markup_in_half(text, must_not_end_with):
    section = ask(text=text)["blocks"][0]["text"]["text"]
    assert len(section) <= SECTION_TEXT_LIMIT
    assert section.endswith(" …")
    assert section.count("<") == section.count(">")
    assert not re.search(r"&[a-z]*$", section[: -len(" …")])
    assert must_not_end_with not in section[-30:]


def test_shortening_closes_an_open_code_block():
    section = ask(text="```\n" + "line of code\n" * 400 + "```")["blocks"][0]["text"]["text"]
    assert len(section) <= SECTION_TEXT_LIMIT
    assert section.endswith(" …\n```")
    assert section.count("```") == 2


def test_a_short_question_is_not_changed():
    text = "a" * SECTION_TEXT_LIMIT
    assert ask(text=text)["blocks"][0]["text"]["text"] == text


@pytest.mark.parametrize(
    "policy",
    [
        ApprovalPolicy(),
        ApprovalPolicy(approvers=frozenset({"U1"}), requested_by="U1", allow_self_approval=True),
        ApprovalPolicy(approvers=frozenset(f"U{i:04d}" for i in range(500)), required_approvals=3),
        ApprovalPolicy(approve_reactions=tuple(f"emoji_{i}" for i in range(200))),
    ],
)
def test_every_ask_is_valid_block_kit(policy):
    ask(
        policy,
        deadline=DEADLINE,
        requested_by="U1",
        context_line="c",
        approver_groups=["S1"],
        text="q" * 5000,
    )


# --- outcomes -----------------------------------------------------------------------------------


def outcome(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "original_text": "Deploy *model v7* to prod?",
        "outcome": "approved",
        "decided_by": ("U1",),
        "reason": None,
        "decided_at": DEADLINE,
        "on_timeout": None,
    }
    message = outcome_message(**{**kwargs, **overrides})
    assert_valid_block_kit(message)
    return message


def test_approved_keeps_the_question_and_says_who_and_when():
    message = outcome(decided_by=("U1", "U2"), reason="ship it; numbers fine")
    assert message["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy *model v7* to prod?"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f":white_check_mark: *Approved* by <@U1> and <@U2> · {DEADLINE_TOKEN}\n"
                "Reason: ship it; numbers fine",
            },
        },
    ]
    assert message["text"] == "Approved: Deploy *model v7* to prod?"


def test_rejected_says_who_and_why():
    message = outcome(outcome="rejected", decided_by=("U3",), reason="metrics regressed")
    assert message["blocks"][1]["text"]["text"] == (
        f":x: *Rejected* by <@U3> · {DEADLINE_TOKEN}\nReason: metrics regressed"
    )
    assert message["text"] == "Rejected: Deploy *model v7* to prod?"


def test_three_deciders_are_listed_naturally():
    text = outcome(decided_by=("U1", "U2", "U3"))["blocks"][1]["text"]["text"]
    assert text.startswith(":white_check_mark: *Approved* by <@U1>, <@U2> and <@U3> · ")


@pytest.mark.parametrize(
    ("on_timeout", "line"),
    [
        ("reject", ":hourglass: *No decision* in time, so treated as rejected"),
        ("approve", ":hourglass: *No decision* in time, so treated as approved"),
        ("skip", ":hourglass: *No decision* in time, so the task was skipped"),
        ("fail", ":hourglass: *No decision* in time, so the task failed"),
        (None, ":hourglass: *No decision* in time"),
    ],
)
def test_timed_out_says_what_happened(on_timeout, line):
    message = outcome(outcome="timed_out", decided_by=(), on_timeout=on_timeout)
    assert message["blocks"][1]["text"]["text"] == f"{line} · {DEADLINE_TOKEN}"
    assert (
        message["text"]
        == f"{line.replace(':hourglass: *No decision*', 'No decision')}: Deploy *model v7* to prod?"
    )


@pytest.mark.parametrize("kind", ["approved", "rejected", "timed_out"])
def test_outcome_removes_how_to_answer(kind):
    message = outcome(outcome=kind, on_timeout="reject")
    assert not any("To answer" in text or "Answer by" in text for text in mrkdwn_texts(message))
    assert [block["type"] for block in message["blocks"]] == ["section", "section"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_reasons_cannot_ping_mention_or_disguise_links(attack):
    message = outcome(outcome="rejected", decided_by=("U3",), reason=f"see {attack}")
    for text in mrkdwn_texts(message):
        assert OUR_TOKENS.sub("", text).count("<") == 0
    assert escape_mrkdwn(attack) in message["blocks"][1]["text"]["text"]
    reply = outcome_thread_reply(outcome="rejected", decided_by=("U3",), reason=f"see {attack}")
    assert OUR_TOKENS.sub("", reply).count("<") == 0


def test_a_long_reason_is_shortened():
    text = outcome(outcome="rejected", reason="because " * 500)["blocks"][1]["text"]["text"]
    assert len(text) < 1200
    assert text.endswith("because …")


def test_a_long_question_stays_valid_in_the_outcome():
    outcome(original_text="q " * 4000, reason="r" * 5000)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"outcome": "approved", "decided_by": ("U1",), "reason": None},
            ":white_check_mark: *Approved* by <@U1>.",
        ),
        (
            {"outcome": "approved", "decided_by": ("U1", "U2"), "reason": "ship it"},
            ":white_check_mark: *Approved* by <@U1> and <@U2>: ship it",
        ),
        (
            {"outcome": "rejected", "decided_by": ("U3",), "reason": "p95 > 200ms"},
            ":x: *Rejected* by <@U3>: p95 &gt; 200ms",
        ),
        (
            {"outcome": "timed_out", "decided_by": (), "reason": None, "on_timeout": "skip"},
            ":hourglass: *No decision* in time, so the task was skipped.",
        ),
        ({"outcome": "timed_out", "decided_by": (), "reason": None}, ":hourglass: *No decision* in time."),
    ],
)
def test_outcome_thread_reply_is_one_short_line(kwargs, expected):
    assert outcome_thread_reply(**kwargs) == expected


def test_an_unknown_outcome_is_a_caller_error():
    with pytest.raises(
        ValueError, match="outcome must be one of approved, rejected, timed_out, got 'pending'"
    ):
        outcome(outcome="pending")
    with pytest.raises(ValueError, match="outcome must be one of"):
        outcome_thread_reply(outcome="pending", decided_by=(), reason=None)


def test_a_late_copy_of_a_question_is_closed_keeping_the_question_without_buttons():
    author = [{"type": "header", "text": {"type": "plain_text", "text": "Release"}}]
    asked = ask_message(
        text="Deploy *v7*?",
        blocks=author,
        policy=ApprovalPolicy(),
        approver_groups=[],
        deadline=None,
        requested_by=None,
        context_line="Airflow: d.t (try 1)",
    )
    closed = duplicate_ask_message(asked["blocks"])
    assert closed is not None
    assert closed["blocks"][:2] == [
        author[0],
        {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy *v7*?"}},
    ]
    assert not [block for block in closed["blocks"] if block["type"] == "actions"]
    assert "answer the other message" in closed["text"]
    assert duplicate_ask_message(closed["blocks"]) is None, "a closed copy is not closed again"


@pytest.mark.parametrize("buttons", [True, False])
def test_a_late_copy_is_closed_with_or_without_buttons(buttons):
    asked = ask(buttons=buttons, context_line="Airflow: d.t (try 1)")
    closed = duplicate_ask_message(asked["blocks"])
    assert closed is not None
    assert closed["blocks"][0] == asked["blocks"][0], "the question stays"
    assert not [text for text in mrkdwn_texts(closed) if text.startswith("*To answer,*")]
    assert not [block for block in closed["blocks"] if block["type"] == "actions"]


def test_a_late_copy_asked_before_the_how_to_answer_block_had_an_id_is_closed():
    asked = ask()
    for block in asked["blocks"]:
        if block.get("block_id") == HOW_BLOCK:
            del block["block_id"]
    closed = duplicate_ask_message(asked["blocks"])
    assert closed is not None
    assert not [text for text in mrkdwn_texts(closed) if text.startswith("*To answer,*")]


def test_without_buttons_the_question_still_says_how_to_answer():
    with_buttons, without = ask(), ask(buttons=False)
    assert [b for b in with_buttons["blocks"] if b["type"] == "actions"]
    assert not [b for b in without["blocks"] if b["type"] == "actions"]
    assert how_to_answer(without) == how_to_answer(with_buttons)
    assert "reply in this thread" in how_to_answer(without)


@pytest.mark.parametrize(
    ("buttons", "clicks_delivered", "shown"),
    [
        ("auto", True, True),
        ("auto", False, False),
        ("always", False, True),
        ("never", True, False),
    ],
)
def test_buttons_show_where_asked_for(buttons, clicks_delivered, shown):
    assert shows_buttons(buttons, clicks_delivered=clicks_delivered) is shown


@pytest.mark.parametrize("outcome", ["approved", "rejected", "timed_out"])
def test_a_decided_question_keeps_no_buttons(outcome):
    """A question decided in an earlier try stays as it is after a clear: it must show no buttons."""
    decided = outcome_message(
        original_text="Deploy?",
        outcome=outcome,
        decided_by=[],
        reason=None,
        decided_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        on_timeout="reject" if outcome == "timed_out" else None,
    )
    assert not [block for block in decided["blocks"] if block["type"] == "actions"]


def test_superseded_keeps_the_question_and_points_to_the_new_try():
    message = superseded_message(original_text="Deploy *model v7* to prod?", new_try=3)
    assert_valid_block_kit(message)
    assert message == {
        "text": "Superseded by try 3; answer the new message. Deploy *model v7* to prod?",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy *model v7* to prod?"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": ":arrows_counterclockwise: Superseded by try 3; answer the new message.",
                    }
                ],
            },
        ],
    }


# --- our own words never vote -------------------------------------------------------------------


def test_the_bots_own_ask_and_outcome_texts_never_count_as_votes():
    ask_ts = "1700000000.000100"
    policy = ApprovalPolicy(approvers=frozenset({"U1", "UBOT"}))
    updated = outcome(decided_by=("U1",), reason="approve")
    parent = {"type": "message", "user": "UBOT", "bot_id": "B1", "ts": ask_ts, "text": updated["text"]}
    bot_says = [
        outcome_thread_reply(outcome="approved", decided_by=("U1",), reason="ok"),
        outcome_thread_reply(outcome="rejected", decided_by=("U1",), reason="no"),
        ask(policy)["text"],
        "approve",
        "reject",
    ]
    thread = [parent] + [
        {
            "type": "message",
            "user": "UBOT",
            "bot_id": "B1",
            "text": text,
            "ts": f"17000000{i:02d}.0",
            "thread_ts": ask_ts,
        }
        for i, text in enumerate(bot_says, start=1)
    ]
    assert decide(parent, thread, policy).outcome == "pending"


# --- Block Kit limits ----------------------------------------------------------------------------------


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def test_limits_name_each_problem_with_its_place_and_slacks_words():
    (problem,) = check_block_kit_limits("hi", [{"type": "divider"}, header("x" * 151)])

    assert (problem.error, problem.pointer) == ("invalid_blocks", "/blocks/1/text/text")
    assert problem.slack_message == "must be less than 151 characters"
    assert str(problem) == "a header's text has 151 characters; Slack allows 150 (at /blocks/1/text/text)"


def test_limits_say_how_many_blocks_the_gate_leaves():
    (problem,) = check_block_kit_limits(None, [{"type": "divider"}] * 48, own_blocks=3)

    assert "Slack allows 50 in a message and the approval gate adds 3 of its own: pass at most 47" in str(
        problem
    )
    assert check_block_kit_limits(None, [{"type": "divider"}] * 47, own_blocks=3) == []


def test_limits_reach_into_accessories_and_actions():
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "x" * 76},
        "action_id": "a",
        "value": "v",
    }
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "ok"}, "accessory": button},
        {"type": "actions", "elements": [button] * 26},
    ]

    pointers = [problem.pointer for problem in check_block_kit_limits(None, blocks)]

    assert pointers[:3] == [
        "/blocks/0/accessory/text/text",
        "/blocks/1/elements",
        "/blocks/1/elements/0/text/text",
    ]
    assert len(pointers) == 2 + 26


def test_limits_measure_templates_only_once_rendered():
    template = "{{ params.title }}" + "x" * 150

    assert check_block_kit_limits(template * 300, [header(template)], skip_templates=True) == []
    assert len(check_block_kit_limits(template * 300, [header(template)])) == 2


def test_limits_leave_shapes_that_are_not_block_kit_to_slack():
    assert check_block_kit_limits(None, "[not parsed]") == []
    assert check_block_kit_limits(None, ["a string", {"type": "unknown", "text": "x" * 5000}]) == []
