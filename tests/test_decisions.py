"""The pure rules of a gate: what is a vote, whose vote counts, and when a gate is decided."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from airflow_slack_gate.core.policy import (
    DEFAULT_APPROVE_REACTIONS,
    DEFAULT_APPROVE_WORDS,
    DEFAULT_REJECT_REACTIONS,
    DEFAULT_REJECT_WORDS,
    ApprovalPolicy,
    split_approvers,
    validate_gate_config,
    validate_on_timeout,
)
from airflow_slack_gate.core.votes import (
    Decision,
    Vote,
    collect_votes,
    decide,
    is_short_approve_word,
    parse_reply_vote,
    read_reply,
    replies_to_note,
    uncounted_reply_note,
    voters_to_verify,
)

ASK_TS = "1700000000.000100"
BOT = "UBOT"
DEFAULT = ApprovalPolicy()


def ask(*reactions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The gate's message as our bot posted it, with the given reactions."""
    message: dict[str, Any] = {
        "type": "message",
        "user": BOT,
        "bot_id": "B0BOT",
        "text": "Deploy model v7?",
        "ts": ASK_TS,
    }
    if reactions:
        message["reactions"] = list(reactions)
    return {**message, **fields}


def reply(user: str, text: str, ts: str = "1700000001.000000", **fields: Any) -> dict[str, Any]:
    """A reply in the gate's thread."""
    return {"type": "message", "user": user, "text": text, "ts": ts, "thread_ts": ASK_TS, **fields}


def reaction(name: str, *users: str) -> dict[str, Any]:
    return {"name": name, "users": list(users), "count": len(users)}


def ts(n: int) -> str:
    return f"17000000{n:02d}.000000"


def outcome(*replies: dict[str, Any], ask_message: dict[str, Any] | None = None, **policy: Any) -> str:
    return decide(ask_message or ask(), list(replies), ApprovalPolicy(**policy)).outcome


# --- reading a reply ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve", ("approve", None)),
        ("approved", ("approve", None)),
        ("lgtm", ("approve", None)),
        ("ok", ("approve", None)),
        ("yes", ("approve", None)),
        ("reject", ("reject", None)),
        ("rejected", ("reject", None)),
        ("decline", ("reject", None)),
        ("disapprove", ("reject", None)),
        ("no", ("reject", None)),
        ("LGTM!", ("approve", None)),
        ("Approve.", ("approve", None)),
        ("APPROVED", ("approve", None)),
        ("*approve*", ("approve", None)),
        ("  approve  ", ("approve", None)),
        ("Reject: metrics regressed", ("reject", "metrics regressed")),
        ("reject:too risky", ("reject", "too risky")),
        ("reject - p95 latency up", ("reject", "p95 latency up")),
        ("reject — wrong region", ("reject", "wrong region")),
        ("approve ship it", ("approve", "ship it")),
        ("lgtm, ship it", ("approve", "ship it")),
        ("reject\nsee the dashboard", ("reject", "see the dashboard")),
        ("reject: latency &gt; 200ms &amp; rising", ("reject", "latency > 200ms & rising")),
        ("reject:", ("reject", None)),
    ],
)
def test_reply_first_word_is_the_vote_and_the_rest_is_the_reason(text, expected):
    assert parse_reply_vote(text, DEFAULT) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("please approve", id="vote word not first"),
        pytest.param("approval pending", id="longer word"),
        pytest.param("okay", id="okay is not ok"),
        pytest.param("yes/no?", id="two words glued by slash"),
        pytest.param("nope", id="nope is not no"),
        pytest.param(":white_check_mark:", id="emoji in text is not a reaction"),
        pytest.param("&gt; approve", id="quoted approve"),
        pytest.param("<@U1> approve", id="mention first"),
        pytest.param("\u0430pprove", id="cyrillic a"),
        pytest.param("\u0430\u0440\u0440\u0433\u043ev\u0435", id="mostly cyrillic"),
        pytest.param("\u200bapprove", id="zero-width space before"),
        pytest.param("app\u200brove", id="zero-width space inside"),
        pytest.param("approve\u200d", id="zero-width joiner after"),
        pytest.param("\uff41\uff50\uff50\uff52\uff4f\uff56\uff45", id="fullwidth approve"),
        pytest.param("\uff2c\uff27\uff34\uff2d", id="fullwidth LGTM"),
        pytest.param("O\u212a", id="kelvin sign lower-cases to k"),
        pytest.param("n\u043e", id="cyrillic o in no"),
    ],
)
def test_text_that_is_not_a_vote(text):
    assert parse_reply_vote(text, DEFAULT) is None


# The strict grammar: an ambiguous reply may reject, but it never approves. Each row is
# (reply text, what it counts as, the problem of a reply that looks like a vote but is not counted).
GRAMMAR = [
    # explicit approve words, alone or with a reason
    ("approve", ("approve", None), None),
    ("Approve.", ("approve", None), None),
    ("LGTM!", ("approve", None), None),
    ("lgtm!!", ("approve", None), None),
    ("*approve*", ("approve", None), None),
    ("_approved_", ("approve", None), None),
    ("*lgtm*: ship it", ("approve", "ship it"), None),
    ("approve: metrics look good", ("approve", "metrics look good"), None),
    ("approved, ship it", ("approve", "ship it"), None),
    ("LGTM! ship it", ("approve", "ship it"), None),
    ("approve\nAUC 0.91 as expected", ("approve", "AUC 0.91 as expected"), None),
    # short approve words count only alone (a trailing . or ! is fine)
    ("ok", ("approve", None), None),
    ("OK", ("approve", None), None),
    ("ok.", ("approve", None), None),
    ("Yes!", ("approve", None), None),
    ("yes!!!", ("approve", None), None),
    ("*ok*", ("approve", None), None),
    ("  yes  ", ("approve", None), None),
    ("ok, but the AUC looks wrong - hold on", None, ("approve", "not_alone")),
    ("yes, ship it", None, ("approve", "not_alone")),
    ("yes ship it", None, ("approve", "not_alone")),
    ("ok go", None, ("approve", "not_alone")),
    ("ok. wait, no", None, ("approve", "not_alone")),
    ("ok\nthanks", None, ("approve", "not_alone")),
    ("ok :+1:", None, ("approve", "not_alone")),
    ("yes: looks fine", None, ("approve", "not_alone")),
    # questions are never approvals, nor any vote when the vote word carries the "?"
    ("ok?", None, ("approve", "question")),
    ("Approve?", None, ("approve", "question")),
    ("lgtm?", None, ("approve", "question")),
    ("yes??", None, ("approve", "question")),
    ("*ok?*", None, ("approve", "question")),
    ("*approve*?", None, ("approve", "question")),
    ("approve, any concerns?", None, ("approve", "question")),
    ("approve: is the AUC right ?", None, ("approve", "question")),
    ("approve?!", None, ("approve", "question")),
    ("approve (any concerns?) thanks", None, ("approve", "question")),
    ("ok\uff1f", None, ("approve", "question")),
    ("lgtm \u00bfseguro?", None, ("approve", "question")),
    (
        "approve: see <https://dash.test/d?id=3|the dashboard>",
        ("approve", "see <https://dash.test/d?id=3|the dashboard>"),
        None,
    ),
    ("lgtm, `WHERE id = ?` is fine", ("approve", "`WHERE id = ?` is fine"), None),
    ("reject?", None, ("reject", "question")),
    ("no?", None, ("reject", "question")),
    # strike-through, quotes and code never count
    ("~approve~", None, ("approve", "formatted")),
    ("~ok~", None, ("approve", "formatted")),
    ("~reject~", None, ("reject", "formatted")),
    ("`approve`", None, ("approve", "formatted")),
    ("`reject`", None, ("reject", "formatted")),
    ("```approve```", None, ("approve", "formatted")),
    ("```\napprove\n```", None, ("approve", "formatted")),
    ("&gt; approve", None, ("approve", "formatted")),
    ("&gt;approve", None, ("approve", "formatted")),
    ("&gt;&gt;&gt; approve", None, ("approve", "formatted")),
    ("> approve", None, ("approve", "formatted")),
    ('"approve"', None, ("approve", "formatted")),
    ("'approve'", None, ("approve", "formatted")),
    ("\u201capprove\u201d", None, ("approve", "formatted")),
    ("\u2018lgtm\u2019", None, ("approve", "formatted")),
    ("\u00abapprove\u00bb", None, ("approve", "formatted")),
    ("*approve", None, ("approve", "formatted")),
    ("*approve_", None, ("approve", "formatted")),
    ("&gt; Deploy?\napprove", None, None),
    ("&gt; tno", None, None),
    ("&gt; &amp;no", None, None),
    # reject words, short or long, may carry a reason
    ("reject", ("reject", None), None),
    ("no", ("reject", None), None),
    ("No.", ("reject", None), None),
    ("no, the AUC looks wrong", ("reject", "the AUC looks wrong"), None),
    ("no - not today", ("reject", "not today"), None),
    ("Reject: why was this not tested?", ("reject", "why was this not tested?"), None),
    ("*reject*: too risky", ("reject", "too risky"), None),
    ("decline!", ("reject", None), None),
    ("no problem, ship it", ("reject", "problem, ship it"), None),  # erring safe: it may reject
    # not votes at all (no note either)
    ("approve/reject", None, None),
    ("yes/no?", None, None),
    ("ok's", None, None),
    ("okay", None, None),
    ("please approve", None, None),
    ("approve\u200d", None, None),
    ("O\u212a", None, None),
    ("\u0430pprove?", None, None),
    ("what about case 12?", None, None),
]


@pytest.mark.parametrize(("text", "vote", "uncounted"), GRAMMAR, ids=[row[0] for row in GRAMMAR])
def test_reply_grammar_is_strict_and_never_approves_an_ambiguous_reply(text, vote, uncounted):
    reading = read_reply(text, DEFAULT)
    assert parse_reply_vote(text, DEFAULT) == vote
    assert (reading.vote, reading.reason) == (vote or (None, None))
    assert (None if reading.looks_like is None else (reading.looks_like, reading.problem)) == uncounted
    note = uncounted_reply_note(text, DEFAULT)
    assert (note is not None) == (uncounted is not None)


@pytest.mark.parametrize(
    "text", ["ok?", "Approve?", "~approve~", "ok, but the AUC looks wrong - hold on"], ids=str
)
def test_hedges_and_questions_from_the_issue_do_not_approve(text):
    assert outcome(reply("U1", text)) == "pending"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ok?", "a question is never a vote"),
        ("Approve?", "a question is never a vote"),
        ("yes, ship it", "`yes` counts only on its own"),
        ("ok, but the AUC looks wrong - hold on", "`ok` counts only on its own"),
        ("~approve~", "struck-through, quoted and code text never count"),
        ("&gt; approve", "struck-through, quoted and code text never count"),
        ("reject?", "a question is never a vote"),
    ],
)
def test_the_note_says_why_the_reply_did_not_count_and_what_to_write(text, says):
    note = uncounted_reply_note(text, DEFAULT)
    assert note is not None
    assert says in note
    assert "`approve`" in note
    assert "`reject: <reason>`" in note.replace("&lt;", "<").replace("&gt;", ">")


def test_the_note_names_the_configured_words():
    policy = ApprovalPolicy(approve_words=("ship", "y"), reject_words=("hold",))
    note = uncounted_reply_note("y, go", policy)
    assert note is not None
    assert "`y` counts only on its own" in note
    assert "`ship`" in note
    assert "`hold: " in note


def test_the_note_suggests_a_short_word_alone_when_no_explicit_word_is_configured():
    policy = ApprovalPolicy(approve_words=("ok",))
    note = uncounted_reply_note("ok?", policy)
    assert note is not None
    assert "`ok` on its own" in note


@pytest.mark.parametrize(
    ("word", "short"),
    [
        ("ok", True),
        ("y", True),
        ("k", True),
        ("yes", True),
        ("yep", True),
        ("sure", True),
        ("okay", True),
        ("yeah", True),
        ("go", True),
        ("SURE", True),
        ("lgtm", False),
        ("approve", False),
        ("approved", False),
        ("ship", False),
        ("deploy", False),
    ],
)
def test_short_approve_words_count_only_alone(word, short):
    policy = ApprovalPolicy(approve_words=(word,), reject_words=("hold",))
    assert is_short_approve_word(word) is short
    assert parse_reply_vote(f"{word} ship it", policy) == (None if short else ("approve", "ship it"))
    assert parse_reply_vote(f"{word}!", policy) == ("approve", None)


def test_words_with_characters_the_grammar_cannot_read_are_refused():
    with pytest.raises(
        ValueError, match=r"approve_words holds 'ship_it': .*letters, digits and inner hyphens"
    ):
        validate_gate_config(**{**VALID, "approve_words": ["ship_it"]})
    # a policy already serialized into a trigger keeps such a word: it simply never matches
    assert parse_reply_vote("ship_it", ApprovalPolicy(approve_words=("ship_it",))) is None
    assert parse_reply_vote("go-ahead: fine", ApprovalPolicy(approve_words=("go-ahead",))) == (
        "approve",
        "fine",
    )


def test_configured_words_replace_the_defaults_and_match_case_insensitively():
    policy = ApprovalPolicy(approve_words=("Ship",), reject_words=("HOLD",))
    assert parse_reply_vote("ship it", policy) == ("approve", "it")
    assert parse_reply_vote("Hold: wait for QA", policy) == ("reject", "wait for QA")
    assert parse_reply_vote("approve", policy) is None
    assert parse_reply_vote("no", policy) is None


# --- which messages are votes -------------------------------------------------------------------


def test_a_reply_in_the_thread_is_a_vote():
    votes = collect_votes(ask(), [reply("U1", "approve looks good", ts(1))], DEFAULT)
    assert votes == [Vote(user="U1", vote="approve", via="reply", reason="looks good", ts=ts(1))]


def test_the_parent_in_the_replies_is_not_a_vote():
    parent = ask(user="U9", text="approve the deploy?", thread_ts=ASK_TS)
    del parent["bot_id"]
    assert collect_votes(parent, [parent], DEFAULT) == []


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(reply("U1", "approve", thread_ts="1699999999.000000"), id="another thread"),
        pytest.param({"type": "message", "user": "U1", "text": "approve", "ts": ts(1)}, id="channel message"),
        pytest.param(reply("U1", "approve", thread_ts=None), id="thread_ts None"),
        pytest.param(reply("U1", "approve", thread_ts=ASK_TS + "0"), id="thread_ts look-alike"),
    ],
)
def test_messages_outside_the_ask_thread_are_not_votes(message):
    assert collect_votes(ask(), [message], DEFAULT) == []


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(reply("U1", "approve", bot_id="B2"), id="bot_id"),
        pytest.param(reply("U1", "approve", subtype="bot_message"), id="bot_message subtype"),
        pytest.param(reply(BOT, "approved by U1", bot_id="B0BOT"), id="our own bot"),
        pytest.param({**reply("U1", "approve", subtype="bot_message"), "user": None}, id="bot without user"),
    ],
)
def test_bot_replies_are_never_votes(message):
    assert collect_votes(ask(), [message], DEFAULT) == []


def test_our_own_outcome_message_in_the_thread_does_not_decide_anything():
    announcement = reply(BOT, "Approved by <@U1>", ts(3), bot_id="B0BOT")
    assert decide(ask(), [announcement], DEFAULT).outcome == "pending"
    rejected_note = reply(BOT, "Rejected: timed out", ts(3), bot_id="B0BOT")
    assert decide(ask(), [rejected_note], DEFAULT).outcome == "pending"


@pytest.mark.parametrize(
    ("ask_message", "replies", "bot_users"),
    [
        pytest.param(ask(reaction("+1", BOT)), [], (), id="the bot that posted the ask"),
        pytest.param(
            ask(reaction("x", "UB2")), [reply("UB2", "hello", bot_id="B2")], (), id="a bot seen in thread"
        ),
        pytest.param(ask(reaction("x", "UB3")), [], ("UB3",), id="bot_users"),
        pytest.param(ask(reaction("x", "USLACKBOT")), [], (), id="slackbot"),
    ],
)
def test_bot_reactions_are_never_votes(ask_message, replies, bot_users):
    assert collect_votes(ask_message, replies, DEFAULT, bot_users=bot_users) == []


def test_a_reaction_or_reply_by_someone_slack_did_not_confirm_as_a_person_never_votes():
    """Reactions carry no bot_id: another app's bot user or a deactivated account is told apart only by
    users.info. With ``people`` given, only those users vote."""
    approve_reaction = ask(reaction("white_check_mark", "UOTHERAPP"))
    assert decide(approve_reaction, [], DEFAULT).outcome == "approved"  # nothing checked: pure example
    assert decide(approve_reaction, [], DEFAULT, people=()).outcome == "pending"
    assert decide(approve_reaction, [], DEFAULT, people={"U1"}).outcome == "pending"
    assert decide(approve_reaction, [], DEFAULT, people={"UOTHERAPP"}).outcome == "approved"
    botlike_reply = reply("UOTHERAPP", "reject: no")  # a bot posting as a user, without bot_id
    assert decide(ask(), [botlike_reply], DEFAULT, people={"U1"}).outcome == "pending"
    button = Vote("UGONE", "approve", "button", ts=ts(1))
    assert decide(ask(), [], DEFAULT, extra_votes=[button], people={"U1"}).outcome == "pending"


def test_only_users_whose_vote_could_count_are_to_be_verified():
    message = ask(
        reaction("eyes", *(f"UWATCH{i}" for i in range(300))),
        reaction("white_check_mark", "U1", BOT),
        reaction("x", "U2"),
    )
    replies = [
        reply("U3", "approve", ts(1)),
        reply("U4", "what about case 12?", ts(2)),
        reply("U5", "ok?", ts(3)),  # not counted, but noted: its author is checked before being told
        reply("UB", "approve", ts(4), bot_id="B2"),
        reply("U6", "reject", ts(5), thread_ts="1699999999.000000"),
    ]
    assert voters_to_verify(message, replies, DEFAULT) == {"U1", "U2", "U3", "U5"}
    policy = ApprovalPolicy(approvers=frozenset({"U2", "U5"}), requested_by="U5")
    assert voters_to_verify(message, replies, policy) == {"U2"}  # U5 cannot approve their own request
    clicked = [Vote("U7", "approve", "button", ts=ts(6))]
    assert "U7" in voters_to_verify(ask(), [], DEFAULT, extra_votes=clicked)


def test_replies_that_look_like_votes_are_noted_for_people_who_may_vote():
    replies = [
        reply("U1", "ok?", ts(1)),
        reply("U2", "approve", ts(2)),
        reply("U3", "~approve~", ts(3)),
        reply("U4", "yes, ship it", ts(4)),
        reply("UB", "ok?", ts(5), bot_id="B2"),
        reply("U5", "hello?", ts(6)),
    ]
    noted = replies_to_note(ask(), replies, DEFAULT, people=None)
    assert [(user, reply_ts) for user, reply_ts, _ in noted] == [("U1", ts(1)), ("U3", ts(3)), ("U4", ts(4))]
    assert [user for user, _, _ in replies_to_note(ask(), replies, DEFAULT, people={"U3"})] == ["U3"]
    requester_only = ApprovalPolicy(approvers=frozenset({"U4"}), requested_by="U4")
    assert replies_to_note(ask(), replies, requester_only, people=None) == []  # U4 may not approve anyway


def test_slackbot_replies_are_never_votes():
    assert collect_votes(ask(), [reply("USLACKBOT", "reject")], DEFAULT) == []


@pytest.mark.parametrize(
    "subtype",
    ["channel_join", "channel_leave", "tombstone", "message_deleted", "message_changed", "reminder_add"],
)
def test_other_subtypes_are_never_votes(subtype):
    assert collect_votes(ask(), [reply("U1", "reject", subtype=subtype)], DEFAULT) == []


@pytest.mark.parametrize("subtype", ["thread_broadcast", "file_share"])
def test_replies_a_person_typed_with_a_human_subtype_are_votes(subtype):
    votes = collect_votes(ask(), [reply("U1", "reject: see screenshot", subtype=subtype)], DEFAULT)
    assert [(v.user, v.vote, v.reason) for v in votes] == [("U1", "reject", "see screenshot")]


@pytest.mark.parametrize(
    "message",
    [
        pytest.param({**reply("U1", "approve"), "user": None}, id="no user"),
        pytest.param({**reply("U1", "approve"), "text": None}, id="no text"),
        pytest.param({**reply("U1", "approve"), "ts": None}, id="no ts"),
        pytest.param(reply("U1", "approve", ts="not-a-ts"), id="malformed ts"),
    ],
)
def test_malformed_replies_are_skipped(message):
    assert collect_votes(ask(), [message], DEFAULT) == []


def test_an_ask_message_without_ts_is_a_caller_error():
    with pytest.raises(ValueError, match="ask_message has no valid 'ts'"):
        decide({"text": "Deploy?"}, [], DEFAULT)


# --- reactions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("white_check_mark", "approved"),
        ("+1", "approved"),
        ("+1::skin-tone-2", "approved"),
        ("+1::skin-tone-6", "approved"),
        ("x", "rejected"),
        ("-1", "rejected"),
        ("-1::skin-tone-4", "rejected"),
        ("heavy_check_mark", "pending"),
        ("thumbsup_all", "pending"),
        ("eyes", "pending"),
    ],
)
def test_configured_reactions_on_the_ask_message_are_votes(name, expected):
    assert outcome(ask_message=ask(reaction(name, "U1"))) == expected


def test_a_removed_reaction_is_a_retracted_vote():
    # Slack lists only the reactions currently present; a removed one is simply gone.
    assert outcome(ask_message=ask(reaction("x", "U1"))) == "rejected"
    assert outcome(ask_message=ask(reaction("x"))) == "pending"
    assert outcome(ask_message=ask()) == "pending"


def test_reactions_on_replies_are_not_votes():
    a_reply = reply("U1", "deploying to eu too", reactions=[reaction("x", "U2")])
    assert outcome(a_reply) == "pending"


def test_configured_reactions_replace_the_defaults():
    policy: dict[str, Any] = {"approve_reactions": ("rocket",), "reject_reactions": ("no_entry",)}
    assert outcome(ask_message=ask(reaction("rocket", "U1")), **policy) == "approved"
    assert outcome(ask_message=ask(reaction("no_entry", "U1")), **policy) == "rejected"
    assert outcome(ask_message=ask(reaction("+1", "U1"), reaction("x", "U2")), **policy) == "pending"


def test_reactions_can_be_turned_off():
    policy: dict[str, Any] = {"approve_reactions": (), "reject_reactions": ()}
    assert outcome(ask_message=ask(reaction("+1", "U1"), reaction("x", "U2")), **policy) == "pending"


# --- who may vote ------------------------------------------------------------------------------


def test_only_approvers_votes_count_when_approvers_are_set():
    policy = ApprovalPolicy(approvers=frozenset({"U1"}))
    outsider_votes = ask(reaction("x", "U2"))
    assert decide(outsider_votes, [reply("U2", "reject", ts(1))], policy).outcome == "pending"
    assert decide(ask(reaction("+1", "U2")), [], policy).outcome == "pending"
    assert (
        decide(ask(), [], policy, extra_votes=[Vote("U2", "reject", "button", ts=ts(1))]).outcome == "pending"
    )
    assert decide(outsider_votes, [reply("U1", "approve", ts(2))], policy).outcome == "approved"


def test_anyone_human_may_vote_when_approvers_is_none():
    assert outcome(reply("W0ANYONE", "approve")) == "approved"


def test_the_requester_cannot_approve_their_own_request():
    policy: dict[str, Any] = {"requested_by": "U1"}
    assert outcome(reply("U1", "approve"), **policy) == "pending"
    assert outcome(ask_message=ask(reaction("+1", "U1")), **policy) == "pending"
    button = Vote("U1", "approve", "button", ts=ts(1))
    assert decide(ask(), [], ApprovalPolicy(**policy), extra_votes=[button]).outcome == "pending"
    assert outcome(reply("U1", "approve", ts(1)), reply("U2", "approve", ts(2)), **policy) == "approved"


def test_the_requester_can_still_reject_their_own_request():
    assert outcome(reply("U1", "reject: found a bug"), requested_by="U1") == "rejected"
    assert outcome(ask_message=ask(reaction("x", "U1")), requested_by="U1") == "rejected"


def test_an_ignored_self_approval_does_not_hide_the_requesters_earlier_reject():
    # The requester's approvals are never votes, so their latest *vote* is still the reject.
    assert (
        outcome(reply("U1", "reject", ts(1)), reply("U1", "approve", ts(2)), requested_by="U1") == "rejected"
    )


def test_allow_self_approval_lets_the_requester_approve():
    assert outcome(reply("U1", "approve"), requested_by="U1", allow_self_approval=True) == "approved"


def test_the_requester_must_also_be_an_approver_to_reject_when_approvers_are_set():
    assert outcome(reply("U1", "reject"), requested_by="U1", approvers=frozenset({"U2"})) == "pending"


# --- latest vote wins, reject wins a tie ---------------------------------------------------------


def test_a_user_may_change_their_mind_their_latest_reply_counts():
    assert outcome(reply("U1", "approve", ts(1)), reply("U1", "reject: wait", ts(2))) == "rejected"
    assert outcome(reply("U1", "reject: wait", ts(1)), reply("U1", "approve", ts(2))) == "approved"


def test_latest_is_by_ts_not_by_list_order():
    later_first = [reply("U1", "approve", "1700000010.000000"), reply("U1", "reject", "1700000009.000000")]
    assert decide(ask(), later_first, DEFAULT).outcome == "approved"
    # numeric, not string, order: 10.0 is after 9.5
    mixed = [reply("U1", "reject", "1700000009.500000"), reply("U1", "approve", "1700000010.000000")]
    assert decide(ask(), mixed, DEFAULT).outcome == "approved"


def test_replies_that_are_not_votes_do_not_retract_a_vote():
    assert outcome(reply("U1", "approve", ts(1)), reply("U1", "thanks!", ts(2))) == "approved"


@pytest.mark.parametrize(
    ("replies", "reactions", "expected"),
    [
        pytest.param([("approve", 1)], [("x",)], "reject", id="approve reply, reject reaction"),
        pytest.param([("reject: risky", 1)], [("+1",)], "reject", id="reject reply, approve reaction"),
        pytest.param([], [("+1",), ("x",)], "reject", id="approve and reject reactions"),
        pytest.param([("approve", 1), ("reject", 2)], [("+1",)], "reject", id="latest reply reject"),
        pytest.param([("reject", 1), ("approve", 2)], [("+1",)], "approve", id="latest reply approve"),
        pytest.param([("approve", 1)], [("+1",), ("white_check_mark",)], "approve", id="all approve"),
    ],
)
def test_when_a_users_current_signals_disagree_reject_wins(replies, reactions, expected):
    message = ask(*(reaction(name, "U1") for (name,) in reactions))
    votes = collect_votes(message, [reply("U1", text, ts(n)) for text, n in replies], DEFAULT)
    assert [(v.user, v.vote) for v in votes] == [("U1", expected)]


def test_the_effective_vote_keeps_the_reply_reason_over_a_reaction():
    votes = collect_votes(ask(reaction("x", "U1")), [reply("U1", "reject: bad data", ts(1))], DEFAULT)
    assert votes == [Vote("U1", "reject", "reply", "bad data", ts(1))]
    votes = collect_votes(ask(reaction("x", "U1")), [reply("U1", "approve: fine", ts(1))], DEFAULT)
    assert votes == [Vote("U1", "reject", "reaction")]


def test_button_votes_take_part_in_latest_vote_by_ts():
    button = Vote("U1", "reject", "button", reason="no capacity", ts=ts(2))
    assert decide(ask(), [reply("U1", "approve", ts(1))], DEFAULT, extra_votes=[button]).outcome == "rejected"
    button = Vote("U1", "approve", "button", ts=ts(1))
    assert decide(ask(), [reply("U1", "reject", ts(2))], DEFAULT, extra_votes=[button]).outcome == "rejected"
    button = Vote("U1", "approve", "button", ts=ts(3))
    assert decide(ask(), [reply("U1", "reject", ts(2))], DEFAULT, extra_votes=[button]).outcome == "approved"


# --- outcome ------------------------------------------------------------------------------------


def test_no_votes_is_pending():
    decision = decide(ask(), [], DEFAULT)
    assert decision == Decision("pending", (), (), None)
    assert not decision.is_final


def test_one_valid_reject_rejects_even_against_approvals():
    decision = decide(
        ask(reaction("+1", "U3")),
        [reply("U1", "approve", ts(1)), reply("U2", "reject: metrics regressed", ts(2))],
        ApprovalPolicy(required_approvals=2),
    )
    assert decision.outcome == "rejected"
    assert decision.is_final
    assert decision.decided_by == ("U2",)
    assert decision.reason == "metrics regressed"


def test_required_approvals_counts_distinct_users():
    policy: dict[str, Any] = {"required_approvals": 2}
    assert outcome(reply("U1", "approve", ts(1)), **policy) == "pending"
    assert outcome(reply("U1", "approve", ts(1)), reply("U1", "lgtm", ts(2)), **policy) == "pending"
    assert (
        outcome(reply("U1", "approve", ts(1)), ask_message=ask(reaction("+1", "U1")), **policy) == "pending"
    )
    assert outcome(reply("U1", "approve", ts(1)), reply("U2", "ok", ts(2)), **policy) == "approved"
    assert (
        outcome(reply("U1", "approve", ts(1)), ask_message=ask(reaction("+1", "U2")), **policy) == "approved"
    )


def test_an_approval_records_the_approvers_and_their_reasons():
    decision = decide(
        ask(reaction("+1", "U3")),
        [reply("U2", "lgtm: numbers look right", ts(2)), reply("U1", "approve ship it", ts(1))],
        ApprovalPolicy(required_approvals=2),
    )
    assert decision.outcome == "approved"
    assert decision.decided_by == ("U1", "U2", "U3")
    assert decision.reason == "ship it; numbers look right"
    assert [v.user for v in decision.votes] == ["U1", "U2", "U3"]


def test_an_approval_without_reasons_has_no_reason():
    assert decide(ask(reaction("+1", "U1")), [], DEFAULT).reason is None


def test_several_rejects_name_every_rejecter():
    decision = decide(ask(reaction("x", "U3")), [reply("U1", "no: too late", ts(1))], DEFAULT)
    assert decision.decided_by == ("U1", "U3")
    assert decision.reason == "too late"


def test_pending_keeps_the_votes_so_far():
    decision = decide(ask(), [reply("U1", "approve", ts(1))], ApprovalPolicy(required_approvals=2))
    assert decision.outcome == "pending"
    assert decision.votes == (Vote("U1", "approve", "reply", None, ts(1)),)
    assert decision.decided_by == ()


def test_votes_are_ordered_by_time_then_reactions_by_user():
    message = ask(reaction("+1", "U9", "U4"))
    votes = collect_votes(message, [reply("U7", "ok", ts(2)), reply("U8", "ok", ts(1))], DEFAULT)
    assert [v.user for v in votes] == ["U8", "U7", "U4", "U9"]


@pytest.mark.parametrize("outcome_name", ["approved", "rejected"])
def test_is_final_once_decided(outcome_name):
    assert Decision(outcome_name).is_final


# --- serialization ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        ApprovalPolicy(),
        ApprovalPolicy(
            approvers=frozenset({"U2", "W1", "U1"}),
            required_approvals=2,
            approve_words=("ship",),
            reject_words=("hold", "stop"),
            approve_reactions=("rocket",),
            reject_reactions=(),
            requested_by="U3",
            allow_self_approval=True,
        ),
    ],
)
def test_policy_round_trips_through_json(policy):
    data = json.loads(json.dumps(policy.to_dict()))
    assert ApprovalPolicy.from_dict(data) == policy


def test_policy_to_dict_uses_lists_and_sorted_approvers():
    data = ApprovalPolicy(approvers=frozenset({"U2", "U1"})).to_dict()
    assert data == {
        "approvers": ["U1", "U2"],
        "required_approvals": 1,
        "approve_words": list(DEFAULT_APPROVE_WORDS),
        "reject_words": list(DEFAULT_REJECT_WORDS),
        "approve_reactions": list(DEFAULT_APPROVE_REACTIONS),
        "reject_reactions": list(DEFAULT_REJECT_REACTIONS),
        "requested_by": None,
        "allow_self_approval": False,
    }


def test_policy_from_dict_fills_missing_keys_with_defaults():
    assert ApprovalPolicy.from_dict({}) == ApprovalPolicy()


def test_policy_from_dict_refuses_unknown_keys():
    with pytest.raises(
        ValueError, match=r"Unknown ApprovalPolicy field\(s\) \['deny'\].*Upgrade the triggerer"
    ):
        ApprovalPolicy.from_dict({"deny": ["U1"]})


def test_policy_from_dict_validates():
    with pytest.raises(ValueError, match="required_approvals must be at least 1"):
        ApprovalPolicy.from_dict({"required_approvals": 0})


def test_policy_accepts_lists_and_stays_hashable():
    policy = ApprovalPolicy(approvers=["U1"], approve_words=["ship"])  # type: ignore[arg-type]
    assert policy.approvers == frozenset({"U1"})
    assert policy.approve_words == ("ship",)
    assert hash(policy) == hash(ApprovalPolicy(approvers=frozenset({"U1"}), approve_words=("ship",)))


def test_policy_refuses_unexpanded_user_groups():
    with pytest.raises(ValueError, match="user group 'S1': expand groups to their members"):
        ApprovalPolicy(approvers=frozenset({"U1", "S1"}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"approvers": frozenset({"alice"})}, "approvers holds 'alice'"),
        ({"approvers": "U1"}, "not a string: use {'U1'}"),
        ({"required_approvals": 0}, "required_approvals must be at least 1"),
        ({"requested_by": "bob"}, "requested_by holds 'bob'"),
        ({"approve_words": ()}, "approve_words is empty"),
        ({"reject_reactions": ("+1",)}, "the reaction '+1' is in both"),
    ],
)
def test_policy_refuses_a_malformed_shape(changes, message):
    with pytest.raises(ValueError, match=r"^Invalid ApprovalPolicy: .*" + re.escape(message)):
        ApprovalPolicy(**changes)


def test_policy_does_not_check_the_quorum_as_group_members_may_still_be_added():
    # The sensor builds the policy from the named users first and adds group members at run time.
    policy = ApprovalPolicy(approvers=frozenset(), required_approvals=3)
    assert decide(ask(reaction("+1", "U1")), [], policy).outcome == "pending"
    grown = ApprovalPolicy(approvers=frozenset({"U1", "U2", "U3"}), required_approvals=3)
    assert decide(ask(reaction("+1", "U1", "U2", "U3")), [], grown).outcome == "approved"


def test_vote_round_trip():
    vote = Vote("U1", "reject", "reply", "metrics regressed", ts(1))
    assert vote.to_dict() == {
        "user": "U1",
        "vote": "reject",
        "via": "reply",
        "reason": "metrics regressed",
        "ts": ts(1),
    }
    assert Vote.from_dict(json.loads(json.dumps(vote.to_dict()))) == vote


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vote": "maybe"}, "Vote.vote must be one of"),
        ({"via": "email"}, "Vote.via must be one of"),
        ({"ts": "yesterday"}, "Vote.ts must be a Slack timestamp"),
    ],
)
def test_vote_refuses_unknown_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Vote(**{"user": "U1", "vote": "approve", "via": "button", **kwargs})


def test_decision_round_trips_through_json():
    decision = decide(
        ask(reaction("+1", "U3")),
        [reply("U1", "approve ship it", ts(1)), reply("U2", "ok", ts(2))],
        ApprovalPolicy(required_approvals=3),
    )
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["outcome"] == "approved"
    assert data["decided_by"] == ["U1", "U2", "U3"]
    assert data["votes"][0] == {
        "user": "U1",
        "vote": "approve",
        "via": "reply",
        "reason": "ship it",
        "ts": ts(1),
    }
    assert Decision.from_dict(data) == decision


def test_decision_refuses_an_unknown_outcome():
    with pytest.raises(ValueError, match=r"Decision\.outcome must be one of"):
        Decision("maybe")  # type: ignore[arg-type]


# --- configuration checks -----------------------------------------------------------------------

VALID: dict[str, Any] = {
    "approvers": None,
    "required_approvals": 1,
    "approve_words": DEFAULT_APPROVE_WORDS,
    "reject_words": DEFAULT_REJECT_WORDS,
    "approve_reactions": DEFAULT_APPROVE_REACTIONS,
    "reject_reactions": DEFAULT_REJECT_REACTIONS,
    "requested_by": None,
}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"approvers": ["U012AB3CD", "W0ENTERPRISE"], "required_approvals": 2}, id="two users"),
        pytest.param({"approvers": ["S0TEAM"], "required_approvals": 5}, id="group: size unknown"),
        pytest.param({"approvers": ["U1", "S0TEAM"], "required_approvals": 3}, id="users and group"),
        pytest.param(
            {"approvers": ["U1", "U2"], "required_approvals": 1, "requested_by": "U1"}, id="requester"
        ),
        pytest.param(
            {"approvers": ["U1", "U2"], "required_approvals": 2, "requested_by": "U3"}, id="outside req"
        ),
        pytest.param({"approve_words": ["Ship"], "reject_words": ["hold"]}, id="custom words"),
        pytest.param({"approve_reactions": [], "reject_reactions": []}, id="no reactions"),
        pytest.param({"required_approvals": 10}, id="anyone: size unknown"),
    ],
)
def test_valid_configurations_pass(changes):
    validate_gate_config(**{**VALID, **changes})


def test_self_approval_allowed_makes_the_requester_count_towards_the_quorum():
    validate_gate_config(
        **{**VALID, "approvers": ["U1", "U2"], "required_approvals": 2, "requested_by": "U1"},
        allow_self_approval=True,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"required_approvals": 0}, "required_approvals must be at least 1, got 0: use 1", id="zero"
        ),
        pytest.param({"required_approvals": -2}, "required_approvals must be at least 1", id="negative"),
        pytest.param({"required_approvals": "2"}, "required_approvals must be a whole number", id="string"),
        pytest.param({"required_approvals": True}, "required_approvals must be a whole number", id="bool"),
        pytest.param({"required_approvals": 1.5}, "required_approvals must be a whole number", id="float"),
        pytest.param(
            {"approvers": ["U1", "U2"], "required_approvals": 3},
            "required_approvals=3 but the approvers can give at most 2: add approvers or lower "
            "required_approvals to 2",
            id="more than the approvers",
        ),
        pytest.param(
            {"approvers": ["U1", "U1"], "required_approvals": 2},
            "can give at most 1",
            id="duplicates count once",
        ),
        pytest.param(
            {"approvers": ["U1", "U2"], "required_approvals": 2, "requested_by": "U1"},
            "required_approvals=2 but the approvers can give at most 1 (U1 is requested_by and cannot "
            "approve their own request): add approvers or lower required_approvals to 1 or set "
            "allow_self_approval=True",
            id="requester cannot count",
        ),
        pytest.param(
            {"approvers": ["U1"], "required_approvals": 1, "requested_by": "U1"},
            "can give at most 0 (U1 is requested_by and cannot approve their own request): add approvers "
            "or set allow_self_approval=True",
            id="only the requester",
        ),
        pytest.param({"approvers": []}, "approvers is empty, so nobody could answer", id="empty approvers"),
        pytest.param(
            {"approvers": "U1"}, "approvers must be a list of IDs, not a string: use ['U1']", id="string"
        ),
        pytest.param({"approvers": ["alice"]}, "'alice', which is not a Slack user ID (U...)", id="name"),
        pytest.param({"approvers": ["alice@example.com"]}, "Copy member ID", id="email"),
        pytest.param({"approvers": ["u012ab"]}, "Slack IDs are upper case, use 'U012AB'", id="lower case"),
        pytest.param(
            {"approvers": ["<@U012AB>"]}, "the mention '<@U012AB>': write the bare ID 'U012AB'", id="mention"
        ),
        pytest.param({"approvers": ["<!subteam^S0T|@team>"]}, "write the bare ID 'S0T'", id="group mention"),
        pytest.param({"approvers": ["U"]}, "'U', which is not a Slack user ID", id="prefix only"),
        pytest.param({"approvers": ["C012AB"]}, "'C012AB', which is not a Slack user ID", id="channel id"),
        pytest.param({"approvers": ["U01\u0410B"]}, "which is not a Slack user ID", id="cyrillic in id"),
        pytest.param({"approvers": [42]}, "approvers holds 42", id="not a string"),
        pytest.param({"requested_by": "alice"}, "requested_by holds 'alice'", id="requester name"),
        pytest.param({"requested_by": ""}, "or pass None when nobody requested", id="requester empty"),
        pytest.param({"requested_by": "S0TEAM"}, "requested_by must be one user's ID", id="requester group"),
        pytest.param({"approve_words": []}, "approve_words is empty", id="no approve words"),
        pytest.param({"reject_words": ()}, "reject_words is empty", id="no reject words"),
        pytest.param(
            {"approve_words": "approve"}, "approve_words must be a list of words, not a string", id="str"
        ),
        pytest.param(
            {"approve_words": ["ok", "no"]},
            "the word 'no' is in both approve_words and reject_words: remove it from one",
            id="word in both",
        ),
        pytest.param(
            {"approve_words": ["Sure"], "reject_words": ["SURE"]},
            "the word 'sure' is in both",
            id="both, any case",
        ),
        pytest.param({"approve_words": ["ship it"]}, "use a single word", id="two words"),
        pytest.param({"approve_words": [""]}, "each entry must be a non-empty word", id="empty word"),
        pytest.param({"approve_words": ["lgtm!"]}, "use 'lgtm'", id="punctuation"),
        pytest.param(
            {"approve_words": ["go:ahead"]}, "colons are ignored when matching, use 'go'", id="colon"
        ),
        pytest.param(
            {"approve_words": ["d\u00e9ploie"]}, "only plain ASCII words are matched", id="non-ascii"
        ),
        pytest.param(
            {"reject_reactions": ["x", "+1"]},
            "the reaction '+1' is in both approve_reactions and reject_reactions: remove it from one",
            id="reaction in both",
        ),
        pytest.param(
            {"approve_reactions": [":rocket:"]}, "without colons or skin tone, e.g. 'rocket'", id="colons"
        ),
        pytest.param(
            {"approve_reactions": ["+1::skin-tone-3"]}, "e.g. '+1' (every skin tone counts)", id="skin"
        ),
        pytest.param(
            {"approve_reactions": ["Rocket"]}, "lower case without spaces, e.g. 'rocket'", id="case"
        ),
        pytest.param({"approve_reactions": [""]}, "must be a reaction name", id="empty reaction"),
        pytest.param({"approve_reactions": "rocket"}, "not a string: use ['rocket']", id="reaction string"),
    ],
)
def test_invalid_configuration_names_the_fix(changes, message):
    with pytest.raises(ValueError, match=r"^Invalid Slack approval gate: .*" + re.escape(message)):
        validate_gate_config(**{**VALID, **changes})


def test_every_configuration_problem_is_reported_at_once():
    with pytest.raises(ValueError, match="required_approvals") as raised:
        validate_gate_config(**{**VALID, "required_approvals": 0, "approve_words": [], "requested_by": "bob"})
    message = str(raised.value)
    assert "required_approvals" in message
    assert "approve_words is empty" in message
    assert "requested_by holds 'bob'" in message


@pytest.mark.parametrize("value", ["reject", "approve", "skip", "fail"])
def test_on_timeout_choices(value):
    validate_on_timeout(value)


@pytest.mark.parametrize("value", ["Reject", "retry", "", None])
def test_on_timeout_names_the_choices(value):
    with pytest.raises(
        ValueError, match="on_timeout must be one of 'reject', 'approve', 'skip', 'fail', got"
    ):
        validate_on_timeout(value)


def test_split_approvers_separates_users_and_groups():
    assert split_approvers(["U1", "S1", "W2", "U1"]) == (frozenset({"U1", "W2"}), frozenset({"S1"}))
    assert split_approvers([]) == (frozenset(), frozenset())


@pytest.mark.parametrize(
    ("approvers", "message"),
    [("U1", "not a string: use ['U1']"), (["U1", "@bob"], "'@bob', which is not a Slack user ID")],
)
def test_split_approvers_names_the_fix(approvers, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        split_approvers(approvers)
