"""Block Kit for a gate's Slack messages: the ask (with its Approve / Reject buttons), its outcome, a
superseded ask, and what a button click shows (the reject-reason modal, the recorded vote, notices).

Pure builders: each returns what ``chat.postMessage`` / ``chat.update`` / ``views.open`` take
(``text``, the fallback shown in notifications, and ``blocks``). Values that come from data or from
people (reasons, names, the Airflow context line) are escaped, so they cannot ping a channel, mention
someone or disguise a link; the DAG author's own question is mrkdwn and is passed through as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, SupportsFloat

from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.votes import NotVoter, VoteKind

__all__ = [
    "ANSWER_BLOCK",
    "APPROVE_ACTION",
    "ASK_OWN_BLOCKS",
    "BUTTONS_CHOICES",
    "BUTTON_VALUE_LIMIT",
    "HOW_BLOCK",
    "MAX_BLOCKS",
    "OUTCOMES",
    "REASON_ACTION",
    "REASON_BLOCK",
    "REASON_CALLBACK",
    "REJECT_ACTION",
    "SECTION_TEXT_LIMIT",
    "TEXT_LIMIT",
    "BlockKitProblem",
    "already_decided_text",
    "ask_message",
    "before_escalation_text",
    "button_value",
    "check_block_kit_limits",
    "duplicate_ask_message",
    "escalation_text",
    "escape_mrkdwn",
    "is_jinja",
    "not_a_voter_text",
    "not_an_open_question_text",
    "outcome_message",
    "outcome_thread_reply",
    "reason_modal",
    "reminder_text",
    "shows_buttons",
    "superseded_message",
    "validate_buttons",
    "vote_record_text",
]

#: ``action_id`` of the ask's Approve button (whose clicks count is in the ask's metadata).
APPROVE_ACTION = "airflow_slack_gate_approve"
#: ``action_id`` of the ask's Reject button; a click opens :func:`reason_modal`.
REJECT_ACTION = "airflow_slack_gate_reject"
#: ``block_id`` of the ask's actions block.
ANSWER_BLOCK = "airflow_slack_gate_answer"
#: ``block_id`` of the ask's how-to-answer block.
HOW_BLOCK = "airflow_slack_gate_how"
#: What a task's ``buttons`` may say: ``"auto"`` shows them where Slack can deliver a click.
BUTTONS_CHOICES = ("auto", "always", "never")
#: ``callback_id`` of the reject-reason modal; its ``private_metadata`` names the gate.
REASON_CALLBACK = "airflow_slack_gate_reject_reason"
#: ``block_id`` and ``action_id`` of the modal's reason input.
REASON_BLOCK = "airflow_slack_gate_reason"
REASON_ACTION = "reason"
#: Slack's limit on a button's ``value``.
BUTTON_VALUE_LIMIT = 2000
_BUTTON_VALUE = "airflow_slack_gate:v2"

#: Slack's limit on a section block's text.
SECTION_TEXT_LIMIT = 3000
#: Slack's limit on blocks in one message.
MAX_BLOCKS = 50
_MAX_BLOCKS = MAX_BLOCKS
#: Slack's limit on a message's top-level ``text``.
TEXT_LIMIT = 40_000
#: Blocks :func:`ask_message` adds after the author's: the question, how to answer, the buttons.
ASK_OWN_BLOCKS = 3
_MAX_NAMED_APPROVERS = 20  # the ask names this many approvers, then says how many more
_REASON_LIMIT = 1000  # a reason longer than this is shortened in Slack (the decision keeps it whole)

#: The outcomes a finished gate shows.
OUTCOMES = ("approved", "rejected", "timed_out")

_TIMEOUT_RESULTS = {
    "reject": "treated as rejected",
    "approve": "treated as approved",
    "skip": "the task was skipped",
    "fail": "the task failed",
}
_ENTITY_START = re.compile(r"&[#A-Za-z0-9]*$")


def escape_mrkdwn(value: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack requires, so ``value`` shows as typed.

    Without this a data value such as ``<!channel>`` would notify the whole channel, ``<@U123>``
    would mention someone, and ``<http://evil.example|docs>`` would show a link labelled "docs".
    """
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unknown_requester_note(airflow_user: str | None, *, conn_id: str) -> str:
    """The ask's sentence (mrkdwn, values escaped) for a run a person started whose Slack user is not
    known, so the gate cannot refuse their own approval."""
    if airflow_user:
        name = escape_mrkdwn(airflow_user.replace("`", "'"))  # a backtick would end the code span
        who = f"Airflow user `{name}`"
    else:
        who = "an Airflow user whose name Airflow did not record"
    return (
        f"Requested by {who}, who has no Slack user found here, so their own approval would count "
        f"(an Airflow admin maps them in the slack_users extra of connection `{escape_mrkdwn(conn_id)}`)."
    )


def validate_buttons(buttons: object) -> str:
    """``buttons`` as one of :data:`BUTTONS_CHOICES` (``True`` is ``"always"``, ``False`` ``"never"``);
    ``ValueError`` naming the allowed values for anything else."""
    if buttons is True or buttons is False:
        return "always" if buttons else "never"
    if buttons not in BUTTONS_CHOICES:
        raise ValueError(
            f"buttons must be one of {', '.join(repr(c) for c in BUTTONS_CHOICES)} (or True / False), "
            f"not {buttons!r}: 'auto' shows Approve / Reject buttons when the connection has an "
            "app_token (Socket Mode) or a signing_secret (Request URL), which Slack needs to deliver a click"
        )
    return str(buttons)


def shows_buttons(buttons: str, *, clicks_delivered: bool) -> bool:
    """Whether a message shows its buttons: ``buttons`` (:func:`validate_buttons`) and whether the
    connection can receive the clicks (an app-level token or a signing secret)."""
    return buttons == "always" or (buttons == "auto" and clicks_delivered)


def ask_message(
    *,
    text: str,
    blocks: Sequence[dict[str, Any]] | None,
    policy: ApprovalPolicy,
    approver_groups: Iterable[str],
    deadline: datetime | None,
    requested_by: str | None,
    context_line: str | None,
    approver_users: Iterable[str] | None = None,
    requester_note: str | None = None,
    review_digest: str | None = None,
    buttons: bool = True,
    escalation_groups: Iterable[str] = (),
    escalates_at: datetime | None = None,
) -> dict[str, Any]:
    """Build the question people answer: the author's blocks, their question, how to answer, and (when
    ``buttons``) the Approve / Reject buttons.

    ``text`` is the author's question in mrkdwn (shortened to fit a section if longer than 3000
    characters); ``blocks`` are the author's own Block Kit blocks, shown first. The "how to answer"
    part names the reply words and reactions of ``policy``, who may answer, how many approvals are
    needed, that ``requested_by`` cannot approve their own request (unless the policy allows it) and
    the ``deadline`` (a naive datetime is taken as UTC). ``context_line`` (plain text) says where the
    question comes from.

    When ``policy.approvers`` is ``None`` anyone in the channel may answer; otherwise the ask names
    ``approver_users`` (default: ``policy.approvers``) and ``approver_groups`` (as ``@group``
    mentions). Pass the users named in the DAG as ``approver_users`` when the policy's approvers
    already include group members, so members are not each mentioned. ``requester_note`` (mrkdwn,
    see :func:`unknown_requester_note`) follows who may answer. ``review_digest`` (data, escaped) is
    shown as code below the question: what an approval is for. With ``escalates_at``, the ask says
    from when ``policy.escalate_to`` and ``escalation_groups`` may answer too.
    """
    author_blocks = list(blocks or ())
    if len(author_blocks) > _MAX_BLOCKS - ASK_OWN_BLOCKS:
        raise ValueError(
            f"blocks has {len(author_blocks)} blocks; Slack allows {_MAX_BLOCKS} per message and the gate "
            f"adds up to {ASK_OWN_BLOCKS}: pass at most {_MAX_BLOCKS - ASK_OWN_BLOCKS}"
        )
    question = _question(text, review_digest)
    if policy.approvers is None:
        who = ["Anyone in this channel can answer."]
    else:
        named = policy.approvers if approver_users is None else approver_users
        who = [_who_answers(sorted(set(named)), sorted(set(approver_groups)))]
    if escalates_at is not None:
        escalated = _mentions(sorted(policy.escalate_to), sorted(set(escalation_groups)))
        who.append(f"From {_date(escalates_at)}, {escalated} may answer too, by a reply or a button.")
    who.append(_quorum(policy.required_approvals))
    if requested_by:
        if policy.allow_self_approval:
            who.append(f"Requested by {_mention(requested_by)}.")
        else:
            who.append(f"Requested by {_mention(requested_by)}, who cannot approve their own request.")
    if requester_note:
        who.append(requester_note)
    how = [_how_to_answer(policy), " ".join(who)]
    if deadline is not None:
        how.append(f"Answer by {_date(deadline)}.")
    footer: list[dict[str, Any]] = [_context(_mrkdwn(_fit("\n".join(how))))]
    if context_line:
        footer.append(_context({"type": "plain_text", "text": context_line[:SECTION_TEXT_LIMIT]}))
    if len(author_blocks) + 2 + len(footer) > _MAX_BLOCKS:
        # no room for the context line's own block: it joins the how-to-answer block
        footer = [_context(*(element for block in footer for element in block["elements"]))]
    footer[0]["block_id"] = HOW_BLOCK
    answer = [_answer_buttons(button_value())] if buttons else []
    approve, reject = escape_mrkdwn(policy.approve_words[0]), escape_mrkdwn(policy.reject_words[0])
    hint = f"\n(Reply {approve} or {reject} in the thread.)"
    return {
        "text": _fit(text, SECTION_TEXT_LIMIT - len(hint)) + hint,
        "blocks": [*author_blocks, _section(question), footer[0], *answer, *footer[1:]],
    }


def button_value() -> str:
    """The ``value`` of the ask's buttons: a small fixed token, whatever the gate's rules.

    Version 1 carried the rules (approvers, quorum, requester) in the value, which Slack limits to
    2000 characters: a long approver list no longer fit, and clicks went unchecked. The rules are now
    in the ask's message metadata (:func:`~airflow_slack_gate.core.protocol.ask_metadata`), which only the
    gate's bot can write; a click is judged from there, never from what the click carries.
    """
    return _BUTTON_VALUE


def reason_modal(*, channel: str, ts: str, question: str) -> dict[str, Any]:
    """The modal a Reject click opens (``views.open``): the question, and an optional reason.

    ``private_metadata`` names the gate (channel and ask ts), so the submission (``view_submission``)
    is recorded against it.
    """
    excerpt = _fit(question or "this request", 500)
    return {
        "type": "modal",
        "callback_id": REASON_CALLBACK,
        "private_metadata": json.dumps({"channel": channel, "ts": ts}, separators=(",", ":")),
        "title": _plain("Reject"),
        "submit": _plain("Reject"),
        "close": _plain("Cancel"),
        "blocks": [
            _section(f"You are rejecting:\n>{excerpt.replace(chr(10), chr(10) + '>')}"),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": _plain("Reason"),
                "hint": _plain("Shown in the thread and in the decision the DAG receives."),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "max_length": 2000,
                    "placeholder": _plain("Why not?"),
                },
            },
        ],
    }


def vote_record_text(*, user: str, vote: VoteKind, reason: str | None) -> str:
    """The text of the thread reply that records a button click, e.g. ":x: <@U1> rejected: too risky"."""
    if vote == "approve":
        line = f":white_check_mark: {_mention(user)} approved with the button"
    else:
        line = f":x: {_mention(user)} rejected with the button"
    return f"{line}: {_fit(escape_mrkdwn(reason), _REASON_LIMIT)}" if reason else f"{line}."


def not_a_voter_text(why: NotVoter) -> str:
    """The ephemeral answer to a click that does not count, and changed nothing."""
    if why == "self_approval":
        return "You requested this and cannot approve your own request; your click changed nothing."
    if why == "before_escalation":
        return before_escalation_text(starts=None, via="button")
    return "You are not an approver of this gate; your click changed nothing."


def before_escalation_text(*, starts: SupportsFloat | None, via: str) -> str:
    """The private note to someone in ``escalate_to`` whose vote does not count (yet): cast before the
    escalation (``starts``, Unix time, shown in each reader's time zone; ``None``: unknown), or by a
    reaction, which carries no time and so never counts through escalation."""
    start = None if starts is None else datetime.fromtimestamp(float(starts), tz=timezone.utc)
    how = "reply `approve` or `reject: &lt;reason&gt;` in this thread, or use the buttons"
    if via == "reaction":
        return (
            "Your reaction was not counted: you were added to this gate by escalation, and an escalated "
            "approver's vote counts only by a reply or a button click (a reaction has no time). "
            f"To vote, {how}" + (f" from {_date(start)} on." if start else ".")
        )
    when = f"from {_date(start)} on" if start else "only after the escalation"
    return (
        f"Your vote was not counted: you may vote on this gate through escalation {when}. "
        f"Then {how}; earlier votes do not count."
    )


def reminder_text(
    users: Sequence[str], groups: Sequence[str], *, needed: int, times_out: datetime | None
) -> str:
    """A gate's reminder in its thread, mentioning ``users`` and user ``groups`` (nobody when both are
    empty): how many approvals it still needs, and when it times out."""
    names = _mentions(users, groups)
    return f":bell: {f'{names}: ' if names else ''}{_still_needed(needed, times_out)}"


def escalation_text(
    users: Sequence[str], groups: Sequence[str], *, needed: int, times_out: datetime | None
) -> str:
    """The announcement that a gate escalated, mentioning the people and groups of ``escalate_to``."""
    return (
        f":arrow_up: *Escalated:* {_mentions(users, groups) or 'nobody'} may now approve or reject this too, "
        "by a reply in this thread or the buttons (reactions do not count for them). "
        + _still_needed(needed, times_out)
    )


def _mentions(users: Sequence[str], groups: Sequence[str]) -> str:
    names = [_mention(user) for user in users] + [_group_mention(group) for group in groups]
    return ", ".join(names)


def _still_needed(needed: int, times_out: datetime | None) -> str:
    approvals = "1 more approval" if needed == 1 else f"{needed} more approvals"
    when = f" It times out {_date(times_out)}." if times_out else ""
    return f"This question still needs {approvals}.{when}"


def not_an_open_question_text(why: str) -> str:
    """The ephemeral answer to a click on a message whose buttons are no open question of the gate's:
    ``"not_an_ask"`` (the bot's message carries no ask metadata), ``"old_ask"`` (asked by a version
    that kept its rules in the buttons) or ``"unknown_state"``."""
    if why == "old_ask":
        return (
            "This question was asked by an older version of the gate, whose buttons no longer count: "
            "answer it in its thread instead, as the question says. Your click changed nothing."
        )
    return "This message is not an open question of this gate; your click changed nothing."


def already_decided_text(outcome: str) -> str:
    """The ephemeral answer to a click on a gate that is no longer open."""
    if outcome == "superseded":
        return "This question was superseded by a newer try: answer the new message. Nothing changed."
    if outcome == "timed_out":
        return "This gate is already decided: nobody answered in time. Your click changed nothing."
    return f"This gate is already decided ({outcome}); your click changed nothing."


def outcome_message(
    *,
    original_text: str,
    outcome: str,
    decided_by: Sequence[str],
    reason: str | None,
    decided_at: datetime,
    on_timeout: str | None,
    review_digest: str | None = None,
) -> dict[str, Any]:
    """Build the ``chat.update`` of a decided gate: the question stays, the how-to-answer part goes,
    and a line says the outcome, who decided and when, and why (the reason, escaped).

    ``outcome`` is ``approved``, ``rejected`` or ``timed_out`` (anything else raises ``ValueError``);
    for ``timed_out``, ``on_timeout`` (``reject``/``approve``/``skip``/``fail``) says what happened.
    """
    lines = [f"{_outcome_line(outcome, decided_by, on_timeout)} · {_date(decided_at)}"]
    if reason:
        lines.append(f"Reason: {_fit(escape_mrkdwn(reason), _REASON_LIMIT)}")
    return {
        "text": _fit(f"{_plain_outcome(outcome, on_timeout)}: {original_text}"),
        "blocks": [_section(_question(original_text, review_digest)), _section("\n".join(lines))],
    }


def superseded_message(*, original_text: str, new_try: int, digest_changed: bool = False) -> dict[str, Any]:
    """Build the ``chat.update`` of an earlier try's question once a new try asked again (or, with
    ``digest_changed``, once the same try asked again about a new review digest)."""
    if digest_changed:
        note = "Superseded: what is reviewed changed (a new review digest); answer the new message."
    else:
        note = f"Superseded by try {new_try}; answer the new message."
    return {
        "text": _fit(f"{note} {original_text}"),
        "blocks": [_section(_fit(original_text)), _context(_mrkdwn(f":arrows_counterclockwise: {note}"))],
    }


def duplicate_ask_message(ask_blocks: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Build the ``chat.update`` that closes a copy of a question Slack got twice (a post whose answer
    was lost, carried out after it was posted again): the author's blocks and the question stay, the
    how-to-answer part and the buttons go, and a note points to the other copy.

    ``ask_blocks`` are the copy's blocks as :func:`ask_message` built them; ``None`` when they hold no
    how-to-answer block (the copy is closed already).
    """
    ids = [block.get("block_id") for block in ask_blocks]
    if HOW_BLOCK in ids:
        how = ids.index(HOW_BLOCK)
    elif ANSWER_BLOCK in ids:  # asked before HOW_BLOCK: the how-to-answer block precedes the buttons
        how = ids.index(ANSWER_BLOCK) - 1
    else:
        return None
    if how < 1:
        return None
    kept = [dict(block) for block in ask_blocks[:how]]  # up to the question, not how to answer
    question = str((kept[-1].get("text") or {}).get("text") or "")
    note = "Slack got this question twice; this copy is closed: answer the other message."
    return {
        "text": _fit(f"{note} {question}"),
        "blocks": [*kept, _context(_mrkdwn(f":arrows_counterclockwise: {note}"))],
    }


def outcome_thread_reply(
    *,
    outcome: str,
    decided_by: Sequence[str],
    reason: str | None,
    on_timeout: str | None = None,
    escalated: Sequence[str] = (),
) -> str:
    """Build the one short thread reply that announces the outcome, e.g. "Approved by @ana: ship it".

    Arguments are those of :func:`outcome_message`; ``escalated`` names the deciders whose votes
    counted through escalation ("Approved by @ana and @ben (@ben through escalation)").
    """
    line = _outcome_line(outcome, decided_by, on_timeout)
    if escalated:
        line += f" ({_and([_mention(user) for user in escalated], 'and')} through escalation)"
    return f"{line}: {_fit(escape_mrkdwn(reason), _REASON_LIMIT)}" if reason else f"{line}."


def _how_to_answer(policy: ApprovalPolicy) -> str:
    approve = escape_mrkdwn(policy.approve_words[0])
    reject = escape_mrkdwn(policy.reject_words[0])
    how = f"*To answer,* reply in this thread with `{approve}` or `{reject}: &lt;reason&gt;`"
    reactions = []
    if policy.approve_reactions:
        reactions.append(f"{_emoji(policy.approve_reactions)} to approve")
    if policy.reject_reactions:
        reactions.append(f"{_emoji(policy.reject_reactions)} to reject")
    if reactions:
        how += f", or react {', '.join(reactions)}"
    return how + "."


def _who_answers(users: list[str], groups: list[str]) -> str:
    names = [_mention(user) for user in users] + [_group_mention(group) for group in groups]
    if not names:
        return "Nobody is allowed to answer."
    if len(names) > _MAX_NAMED_APPROVERS:
        rest = len(names) - _MAX_NAMED_APPROVERS
        names = [*names[:_MAX_NAMED_APPROVERS], f"{rest} more"]
    return f"Who can answer: {_and(names, 'or')}."


def _quorum(required: int) -> str:
    if required == 1:
        return "The first approval or rejection decides."
    return f"Needs {required} approvals from different people; one rejection decides."


def _outcome_line(outcome: str, decided_by: Sequence[str], on_timeout: str | None) -> str:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if outcome == "timed_out":
        result = _TIMEOUT_RESULTS.get(on_timeout or "")
        return f":hourglass: *No decision* in time{f', so {result}' if result else ''}"
    by = f" by {_and([_mention(user) for user in decided_by], 'and')}" if decided_by else ""
    if outcome == "approved":
        return f":white_check_mark: *Approved*{by}"
    return f":x: *Rejected*{by}"


def _plain_outcome(outcome: str, on_timeout: str | None) -> str:
    if outcome == "timed_out":
        result = _TIMEOUT_RESULTS.get(on_timeout or "")
        return f"No decision in time{f', so {result}' if result else ''}"
    return outcome.capitalize()


def _emoji(names: Sequence[str]) -> str:
    return " / ".join(f":{escape_mrkdwn(name)}:" for name in names)


def _mention(user: str) -> str:
    return f"<@{escape_mrkdwn(user)}>"


def _group_mention(group: str) -> str:
    return f"<!subteam^{escape_mrkdwn(group)}>"


def _and(items: Sequence[str], word: str) -> str:
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _date(moment: datetime) -> str:
    """A Slack date token: each reader sees the time in their own time zone; UTC as the fallback."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    fallback = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _fit(text: str, limit: int = SECTION_TEXT_LIMIT) -> str:
    """Shorten mrkdwn to ``limit`` characters without cutting a ``<...>`` token or ``&...;`` entity,
    at a word break when one is near, closing an open code block, and marking the cut with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(" …\n```")]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    cut = _ENTITY_START.sub("", cut)
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= len(cut) - 100:
        cut = cut[:space]
    cut = cut.rstrip()
    return f"{cut} …" + ("\n```" if cut.count("```") % 2 else "")


def _question(text: str, review_digest: str | None) -> str:
    """The question's section text: the question, then the review digest (data, escaped) as code."""
    if not review_digest:
        return _fit(text)
    digest = f"\n\n*Review digest:* `{escape_mrkdwn(review_digest)}`"
    return _fit(text, SECTION_TEXT_LIMIT - len(digest)) + digest


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "context", "elements": list(elements)}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _answer_buttons(value: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": ANSWER_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": _plain("Approve"),
                "style": "primary",
                "value": value,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "text": _plain("Reject"),
                "style": "danger",
                "value": value,
            },
        ],
    }


# -- Block Kit limits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockKitProblem:
    """One way a message breaks Slack's limits, as Slack reports it and as a DAG author can fix it.

    ``error`` is Slack's error code (``invalid_blocks`` or ``msg_too_long``), ``pointer`` the JSON
    pointer into the call's arguments (``/blocks/0/text/text``), ``slack_message`` Slack's own words
    (``must be less than 3001 characters``) and ``explanation`` what is wrong in a person's words.
    """

    error: str
    pointer: str
    slack_message: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.explanation} (at {self.pointer})"


# (kind of limit, key, limit, what it is): checked on each block of a type, and each element of a block.
_BLOCK_LIMITS: dict[str, list[tuple[str, str, int, str]]] = {
    "section": [
        ("text", "text", SECTION_TEXT_LIMIT, "a section's text"),
        ("items", "fields", 10, "a section"),
    ],
    "header": [("text", "text", 150, "a header's text")],
    "context": [("items", "elements", 10, "a context block")],
    "actions": [("items", "elements", 25, "an actions block")],
    "image": [
        ("chars", "alt_text", 2000, "an image's alt_text"),
        ("chars", "image_url", 3000, "an image's URL"),
    ],
}
_ELEMENT_LIMITS: dict[str, list[tuple[str, str, int, str]]] = {
    "button": [
        ("text", "text", 75, "a button's text"),
        ("chars", "value", BUTTON_VALUE_LIMIT, "a button's value"),
        ("chars", "url", 3000, "a button's URL"),
    ],
}
_FIELD_TEXT_LIMIT = 2000
_ID_LIMIT = 255  # block_id and action_id


def check_block_kit_limits(
    text: Any,
    blocks: Any,
    *,
    own_blocks: int = 0,
    skip_templates: bool = False,
) -> list[BlockKitProblem]:
    """What in a ``chat.postMessage`` / ``chat.update`` (``text``, ``blocks``) breaks Slack's limits.

    Slack's documented limits: 50 blocks in a message, a section's text 3000 characters and its
    ``fields`` 10 items of 2000, a header's text 150, a context block 10 elements, an actions block 25,
    a button's text 75 and its value 2000, ``block_id`` and ``action_id`` 255, and the top-level
    ``text`` 40,000. ``own_blocks`` is how many blocks the caller adds after these (the approval gate
    adds its own), so fewer are left. With ``skip_templates`` strings holding Jinja are not measured
    (they are measured once rendered). Values that are not Block Kit shapes (not a list, not dicts)
    are left to :func:`~airflow_slack_gate.operators.slack.parse_blocks` and to Slack.
    """
    problems: list[BlockKitProblem] = []
    if isinstance(text, str) and not (skip_templates and is_jinja(text)) and len(text) > TEXT_LIMIT:
        problems.append(
            BlockKitProblem(
                "msg_too_long",
                "/text",
                "msg_too_long",
                f"text has {len(text)} characters; Slack allows {TEXT_LIMIT} (msg_too_long)",
            )
        )
    if not isinstance(blocks, (list, tuple)):
        return problems
    allowed = MAX_BLOCKS - own_blocks
    if len(blocks) > allowed:
        explanation = f"blocks has {len(blocks)} blocks; Slack allows {MAX_BLOCKS} in a message"
        if own_blocks:
            explanation += f" and the approval gate adds {own_blocks} of its own: pass at most {allowed}"
        problems.append(_invalid("/blocks", f"no more than {MAX_BLOCKS} items allowed", explanation))
    for index, block in enumerate(blocks):
        if isinstance(block, dict):
            problems += _block_problems(block, f"/blocks/{index}", skip_templates)
    return problems


def _block_problems(block: dict[str, Any], pointer: str, skip: bool) -> list[BlockKitProblem]:
    problems = _id_problems(block, "block_id", pointer, skip)
    problems += _limits(block, _BLOCK_LIMITS.get(str(block.get("type")), []), pointer, skip)
    if block.get("type") == "section":
        for index, field in enumerate(_as_list(block.get("fields"))):
            problems += _text_problem(
                field, f"{pointer}/fields/{index}", _FIELD_TEXT_LIMIT, "a section field", skip
            )
        if isinstance(block.get("accessory"), dict):
            problems += _element_problems(block["accessory"], f"{pointer}/accessory", skip)
    if block.get("type") == "actions":
        for index, element in enumerate(_as_list(block.get("elements"))):
            if isinstance(element, dict):
                problems += _element_problems(element, f"{pointer}/elements/{index}", skip)
    return problems


def _element_problems(element: dict[str, Any], pointer: str, skip: bool) -> list[BlockKitProblem]:
    problems = _id_problems(element, "action_id", pointer, skip)
    return problems + _limits(element, _ELEMENT_LIMITS.get(str(element.get("type")), []), pointer, skip)


def _limits(
    item: dict[str, Any], limits: list[tuple[str, str, int, str]], pointer: str, skip: bool
) -> list[BlockKitProblem]:
    problems: list[BlockKitProblem] = []
    for kind, key, limit, what in limits:
        value = item.get(key)
        if kind == "text":
            problems += _text_problem(value, f"{pointer}/{key}", limit, what, skip)
        elif kind == "chars":
            problems += _chars_problem(value, f"{pointer}/{key}", limit, what, skip)
        elif isinstance(value, list) and len(value) > limit:
            problems.append(
                _invalid(
                    f"{pointer}/{key}",
                    f"no more than {limit} items allowed",
                    f"{what} has {len(value)} {key}; Slack allows {limit}",
                )
            )
    return problems


def _text_problem(obj: Any, pointer: str, limit: int, what: str, skip: bool) -> list[BlockKitProblem]:
    if not isinstance(obj, dict):
        return []
    return _chars_problem(obj.get("text"), f"{pointer}/text", limit, what, skip)


def _chars_problem(value: Any, pointer: str, limit: int, what: str, skip: bool) -> list[BlockKitProblem]:
    if not isinstance(value, str) or len(value) <= limit or (skip and is_jinja(value)):
        return []
    explanation = f"{what} has {len(value)} characters; Slack allows {limit}"
    return [_invalid(pointer, f"must be less than {limit + 1} characters", explanation)]


def _id_problems(item: dict[str, Any], key: str, pointer: str, skip: bool) -> list[BlockKitProblem]:
    return _chars_problem(item.get(key), f"{pointer}/{key}", _ID_LIMIT, key, skip)


def _invalid(pointer: str, slack_message: str, explanation: str) -> BlockKitProblem:
    return BlockKitProblem("invalid_blocks", pointer, slack_message, explanation)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def is_jinja(text: str) -> bool:
    """True when ``text`` holds Jinja syntax (an expression, a statement or a comment)."""
    return "{{" in text or "{%" in text or "{#" in text
