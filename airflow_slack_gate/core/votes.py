"""Pure rules of an approval gate: Slack messages and reactions + a policy -> a decision.

Nothing here does I/O or imports Airflow or slack_sdk. The sensor validates its configuration with
:func:`validate_gate_config`; the trigger reads the ask message and its thread from Slack and calls
:func:`decide` until the outcome is final. Finality is the caller's job: once a decision is final the
caller stops reading, so nothing here can turn a decided gate back into a pending one.

How people answer (with the default policy):

* reply in the ask message's thread (the strict grammar of :func:`read_reply`): ``approve``,
  ``approved`` or ``lgtm``, alone or followed by a reason (``approve: metrics look good``); ``ok`` or
  ``yes`` alone; or a reject word (``reject``, ``rejected``, ``decline``, ``disapprove``, ``no``),
  alone or with a reason (``reject: metrics regressed``);
* or react to the ask message with :white_check_mark: / :+1: (approve) or :x: / :-1: (reject).

One valid reject rejects the gate; ``required_approvals`` distinct valid approvers approve it. Only
people vote: the caller checks with Slack (``users.info``) that each user :func:`voters_to_verify`
names is a person, neither a bot nor deactivated, and passes those as ``people``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal, cast

from airflow_slack_gate.core.policy import VOTE_WORD, ApprovalPolicy

__all__ = [
    "SHORT_APPROVE_WORDS",
    "Decision",
    "ReplyReading",
    "Vote",
    "collect_votes",
    "decide",
    "escalated_in_time",
    "escalation_at",
    "is_short_approve_word",
    "parse_reply_vote",
    "read_reply",
    "replies_to_note",
    "uncounted_reply_note",
    "user_kind",
    "voters_to_verify",
    "votes_before_escalation",
    "why_not_voter",
]

#: Casual approve words that count only as the whole reply (``ok``, ``Yes!``), never with more text:
#: "ok, but the AUC looks wrong" is a hedge, not an approval. Every approve word of three letters or
#: fewer is short too (``y``, ``k``, ``yep``, ``go``...). Other approve words (``approve``, ``lgtm``,
#: ``ship``) are explicit and may carry a reason.
SHORT_APPROVE_WORDS = frozenset(
    {
        "ok",
        "okay",
        "okey",
        "k",
        "kk",
        "y",
        "ya",
        "yes",
        "yep",
        "yup",
        "yeah",
        "yea",
        "sure",
        "fine",
        "go",
        "ack",
        "cool",
        "np",
        "ty",
        "agreed",
        "alright",
        "right",
        "good",
        "great",
        "nice",
    }
)

VoteKind = Literal["approve", "reject"]
VoteVia = Literal["reply", "reaction", "button", "airflow_ui"]
Outcome = Literal["pending", "approved", "rejected"]
#: Why a person's vote does not count: a bot, not among the approvers, approving their own request, or
#: cast by someone in ``escalate_to`` before the escalation (or by a reaction, which has no time).
NotVoter = Literal["bot", "not_approver", "self_approval", "before_escalation"]
#: What Slack says a user is (``users.info``): only a ``person`` votes. ``unknown``: Slack would not
#: say (``user_not_found``, ``user_not_visible``).
UserKind = Literal["person", "bot", "deleted", "unknown"]
#: Why a reply that looks like a vote does not count: it asks (``?``), a short approve word is not
#: alone, or the vote word is struck through, quoted or code.
ReplyProblem = Literal["question", "not_alone", "formatted"]

SLACK_TS = re.compile(r"[0-9]+(\.[0-9]+)?")
VOTE_KINDS = ("approve", "reject")
_VOTE_VIAS = ("reply", "reaction", "button", "airflow_ui")
_OUTCOMES = ("pending", "approved", "rejected")
# Subtypes of messages a person typed in the thread: a plain reply has no subtype; "also send to
# channel" gives thread_broadcast; a reply with an attachment may be file_share. Everything else
# (joins, tombstones of deleted replies, bot messages, channel events...) is never a vote.
_HUMAN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
# Separators people put between the vote word and the reason: "reject: x", "reject - x".
_REASON_SEPARATORS = string.whitespace + ":;,.!-\u2013\u2014"
# Bold (*x*) and italic (_x_) around the vote word are deliberate emphasis; other wrappers are not.
_EMPHASIS = ("**", "__", "*_", "_*", "*", "_")
# Openings of text that quotes or shows something rather than saying it: block quotes (Slack sends
# ">" as "&gt;"), inline code and code blocks, strike-through, quotation marks.
_NOT_SAID = (
    "&gt;",
    ">",
    "`",
    "~",
    '"',
    "'",
    "\u201c",
    "\u201d",
    "\u2018",
    "\u2019",
    "\u00ab",
    "\u00bb",
    "\u201e",
    "\u201a",
)
_NOT_SAID_CHARS = "".join(mark for mark in _NOT_SAID if len(mark) == 1)
# A question mark (ASCII, fullwidth, inverted) anywhere in an approval makes it a question...
_QUESTION_MARKS = ("?", "\uff1f", "\u00bf")
# ...except inside Slack links and mentions (<https://x?id=1>) and inline code.
_MARKUP = re.compile(r"<[^<>]*>|`[^`]*`")


@dataclass(frozen=True)
class Vote:
    """One person's vote: ``approve`` or ``reject``, cast by a thread reply, a reaction or a button.

    ``reason`` is the text after the vote word of a reply (``None`` for reactions and bare words);
    ``ts`` is the Slack timestamp of the reply or button click (``None`` for reactions, which Slack
    does not timestamp); ``escalated`` is True for a vote that counts only through the gate's
    escalation (its caster is in ``escalate_to``, not among the approvers).
    """

    user: str
    vote: VoteKind
    via: VoteVia
    reason: str | None = None
    ts: str | None = None
    escalated: bool = False

    def __post_init__(self) -> None:
        if self.vote not in VOTE_KINDS:
            raise ValueError(f"Vote.vote must be one of {VOTE_KINDS}, got {self.vote!r}")
        if self.via not in _VOTE_VIAS:
            raise ValueError(f"Vote.via must be one of {_VOTE_VIAS}, got {self.via!r}")
        if self.ts is not None and not (isinstance(self.ts, str) and SLACK_TS.fullmatch(self.ts)):
            raise ValueError(
                f"Vote.ts must be a Slack timestamp such as '1700000000.000100' or None, got {self.ts!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the vote as JSON-serializable data with keys user, vote, via, reason, ts, and
        ``escalated: True`` for a vote counted through escalation."""
        data = {"user": self.user, "vote": self.vote, "via": self.via, "reason": self.reason, "ts": self.ts}
        return {**data, "escalated": True} if self.escalated else data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vote:
        """Rebuild a vote from :meth:`to_dict` output."""
        return cls(
            user=data["user"],
            vote=data["vote"],
            via=data["via"],
            reason=data.get("reason"),
            ts=data.get("ts"),
            escalated=data.get("escalated") is True,
        )


@dataclass(frozen=True)
class Decision:
    """Where a gate stands: ``pending``, ``approved`` or ``rejected``.

    ``votes`` holds each valid voter's effective vote, ordered by time (timed votes by ``ts``, then
    reactions, which carry no time, by user ID). ``decided_by`` names the rejecting user(s) or the
    approvers that made the quorum (empty while pending); ``reason`` is the reject reason, or the
    approvers' reasons joined with ``"; "``, or ``None``.
    """

    outcome: Outcome
    votes: tuple[Vote, ...] = ()
    decided_by: tuple[str, ...] = ()
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"Decision.outcome must be one of {_OUTCOMES}, got {self.outcome!r}")
        object.__setattr__(self, "votes", tuple(self.votes))
        object.__setattr__(self, "decided_by", tuple(self.decided_by))

    @property
    def is_final(self) -> bool:
        """True once the gate is approved or rejected; the caller stops reading Slack then."""
        return self.outcome != "pending"

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as JSON-serializable data (for trigger events and XCom)."""
        return {
            "outcome": self.outcome,
            "votes": [v.to_dict() for v in self.votes],
            "decided_by": list(self.decided_by),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        """Rebuild a decision from :meth:`to_dict` output."""
        return cls(
            outcome=d["outcome"],
            votes=tuple(Vote.from_dict(v) for v in d.get("votes", ())),
            decided_by=tuple(d.get("decided_by", ())),
            reason=d.get("reason"),
        )


@dataclass(frozen=True)
class ReplyReading:
    """What a thread reply says under the strict grammar of :func:`read_reply`.

    ``vote`` and ``reason`` are the counted vote (``vote`` is ``None`` when the reply is no vote).
    A reply that looks like a vote but does not count has ``looks_like`` (the vote it resembles) and
    ``problem`` (why it does not count: ``"question"``, ``"not_alone"`` or ``"formatted"``).
    """

    vote: VoteKind | None = None
    reason: str | None = None
    looks_like: VoteKind | None = None
    problem: ReplyProblem | None = None


_NO_VOTE = ReplyReading()


def is_short_approve_word(word: str) -> bool:
    """True for an approve word that counts only as the whole reply (``ok``, ``yes``, ``y``, ``sure``):
    one in :data:`SHORT_APPROVE_WORDS` or of three letters or fewer."""
    return len(word) <= 3 or word.lower() in SHORT_APPROVE_WORDS


def read_reply(text: str, policy: ApprovalPolicy) -> ReplyReading:
    """Read a thread reply's text with the strict reply grammar; an ambiguous reply never approves.

    The reply's first word is the vote word, matched case-insensitively against ``policy``'s words:

    * an **explicit approve word** (``approve``, ``approved``, ``lgtm``, a custom ``ship``) counts
      alone or followed by a reason: ``approve``, ``LGTM!``, ``approve: metrics look good``;
    * a **short approve word** (``ok``, ``yes``: see :func:`is_short_approve_word`) counts only as the
      whole reply, a trailing ``.`` or ``!`` allowed: ``ok``, ``Yes!``; ``yes, ship it`` is not counted;
    * a **reject word**, short or long, counts alone or followed by a reason: ``no, the AUC is off``;
    * the word may be bold or italic (``*approve*``), and is followed by the end of the reply, white
      space or a separator (``:;,.!`` or a dash); anything else glued to it (``approve/reject``,
      ``ok's``, a zero-width or look-alike character) makes it no word;
    * never counted: a ``?`` right after the vote word (``ok?``, ``no?``: a question, not a vote), an
      approval with a question mark anywhere outside links and code (``approve, any concerns?``;
      ``approve: <https://dash?id=3>`` counts), and a reply that opens
      with strike-through (``~approve~``), a block quote (``> approve``, which Slack sends as
      ``&gt; approve``), inline code or a code block, or quotation marks (``"approve"``).

    Only plain ASCII words match, checked *before* lower-casing: look-alikes such as a Cyrillic
    ``\u0430``, zero-width characters, fullwidth letters or the Kelvin sign (which lower-cases to
    ``k``) never make a vote.

    The rest of the reply, without a leading separator such as ``:`` or ``-``, is the reason (``None``
    if empty). ``text`` is Slack's message text, so the reason has Slack's ``&amp;``, ``&lt;`` and
    ``&gt;`` escapes undone.
    """
    text = text.strip()
    if not text:
        return _NO_VOTE
    if text.startswith(_NOT_SAID):
        return _looks_like(_unwrapped_vote_word(text, policy), "formatted")
    emphasis = next((mark for mark in _EMPHASIS if text.startswith(mark)), "")
    body = text[len(emphasis) :]
    word = VOTE_WORD.match(body)
    if word is None:
        return _NO_VOTE
    kind = _word_kind(word.group(), policy)
    if kind is None:
        return _NO_VOTE
    rest = body[word.end() :]
    if rest.startswith(_QUESTION_MARKS):
        return _looks_like(kind, "question")
    if emphasis:
        closing = emphasis[::-1]
        if not rest.startswith(closing):
            return _looks_like(kind, "formatted")
        rest = rest[len(closing) :]
        if rest.startswith(_QUESTION_MARKS):
            return _looks_like(kind, "question")
    if rest and rest[0] not in _REASON_SEPARATORS:
        return _NO_VOTE
    if kind == "approve" and _asks(rest):
        return _looks_like(kind, "question")
    if kind == "approve" and is_short_approve_word(word.group()) and rest.strip(".!" + string.whitespace):
        return _looks_like(kind, "not_alone")
    reason = _slack_unescape(rest.lstrip(_REASON_SEPARATORS).rstrip())
    return ReplyReading(vote=kind, reason=reason or None)


def parse_reply_vote(text: str, policy: ApprovalPolicy) -> tuple[VoteKind, str | None] | None:
    """Read a thread reply's text as a vote: ``("approve"|"reject", reason)``, or ``None`` if no vote.

    The grammar is :func:`read_reply`'s; this is its counted vote alone.
    """
    reading = read_reply(text, policy)
    return None if reading.vote is None else (reading.vote, reading.reason)


def uncounted_reply_note(text: str, policy: ApprovalPolicy) -> str | None:
    """The note (Slack mrkdwn) for the author of a reply that looks like a vote but is not counted:
    why, and what to write instead. ``None`` when the reply counts or does not look like a vote."""
    reading = read_reply(text, policy)
    if reading.looks_like is None:
        return None
    word = _first_word_of(text, policy) or reading.looks_like
    why = {
        "question": "a question is never a vote",
        "not_alone": f"`{word}` counts only on its own",
        "formatted": "struck-through, quoted and code text never count",
    }[reading.problem or "formatted"]
    explicit = [w for w in policy.approve_words if not is_short_approve_word(w)]
    if explicit:
        approve = f"`{explicit[0]}` (a reason may follow: `{explicit[0]}: looks good`)"
    else:
        approve = f"`{policy.approve_words[0]}` on its own"
    return (
        f"Your reply in this thread was not counted as a vote: {why}. To approve, reply {approve}; "
        f"to reject, reply `{policy.reject_words[0]}: &lt;reason&gt;`."
    )


def _word_kind(word: str, policy: ApprovalPolicy) -> VoteKind | None:
    if not word.isascii():
        return None
    word = word.lower()
    if word in {w.lower() for w in policy.reject_words}:
        return "reject"
    if word in {w.lower() for w in policy.approve_words}:
        return "approve"
    return None


def _unwrapped_vote_word(text: str, policy: ApprovalPolicy) -> VoteKind | None:
    """The vote a quoted, struck-through or code reply's first word would be, without its wrappers."""
    return _word_kind(_first_word_of(text, policy) or "", policy)


def _first_word_of(text: str, policy: ApprovalPolicy) -> str | None:
    inner = text.strip()
    while True:
        stripped = inner.removeprefix("&gt;").lstrip(_NOT_SAID_CHARS + "*_" + string.whitespace)
        if stripped == inner:
            break
        inner = stripped
    word = VOTE_WORD.match(inner)
    return word.group().lower() if word else None


def _asks(text: str) -> bool:
    """True when ``text`` holds a question mark outside links, mentions and code (``<...>``, `` `...` ``)."""
    said = _MARKUP.sub("", text)
    return any(mark in said for mark in _QUESTION_MARKS)


def _looks_like(kind: VoteKind | None, problem: ReplyProblem) -> ReplyReading:
    return _NO_VOTE if kind is None else ReplyReading(looks_like=kind, problem=problem)


def collect_votes(
    ask_message: Mapping[str, Any],
    replies: Sequence[Mapping[str, Any]],
    policy: ApprovalPolicy,
    *,
    extra_votes: Sequence[Vote] = (),
    bot_users: Iterable[str] = (),
    people: Collection[str] | None = None,
) -> list[Vote]:
    """Return each valid voter's effective vote, ordered by time (reactions last, by user ID).

    ``ask_message`` is the gate's message as Slack returns it (its ``ts`` and ``reactions`` are read);
    ``replies`` is the conversations.replies result (the parent, if included, is skipped);
    ``extra_votes`` are votes from elsewhere (button clicks, see :func:`recorded_votes`); ``bot_users``
    are user IDs known to be bots; ``people`` the user IDs Slack confirmed are people (``users.info``:
    neither a bot nor deactivated). When ``people`` is given, a vote counts only from a user in it:
    reactions and replies carry no sign of who cast them, so another app's bot user or a deactivated
    account is told apart only that way. Callers that read Slack pass it (see :func:`voters_to_verify`);
    ``None`` checks nothing (pure examples).

    What counts:

    * a reply in the ask message's thread (``thread_ts`` equal to the ask's ``ts``) typed by a person,
      whose text :func:`read_reply` reads as a vote; replies from bots (``bot_id`` or a bot
      subtype), other subtypes (joins, deleted-message tombstones...) and messages elsewhere never do;
    * a configured reaction on the ask message (skin tones ignored: ``+1::skin-tone-2`` is ``+1``);
    * extra votes.

    Then, whatever their source, votes never count from: bots (users who posted a bot message here,
    the bot that posted the ask, Slackbot, ``bot_users``), users not in ``people`` (when given), users
    outside ``policy.approvers`` (when set) and, from ``policy.escalate_after`` seconds after the ask,
    ``policy.escalate_to`` (by a reply or button only; such votes are marked ``escalated``), and
    approvals (not rejects) by ``policy.requested_by`` unless ``allow_self_approval``.

    A user's effective vote is their latest timed vote (reply or button, by ``ts``) together with the
    reactions they currently have on the ask message (removing a reaction retracts it). When these
    disagree, reject wins. Slack gives reactions no timestamps, so we cannot tell whether ":x:" came
    before or after an "approve" reply; but a reject is terminal (the first observation of any valid
    reject decides the gate), and in either order there was a moment when the user's latest vote was
    that reject. So "reject wins" is what "latest vote" gives in every order an observer could see.
    """
    signals, bots = _signals(ask_message, replies, policy, extra_votes, bot_users)
    ask_ts = _ask_ts(ask_message)
    verified = None if people is None else set(people)
    by_user: dict[str, list[Vote]] = {}
    for vote in signals:
        if _counts(vote, policy, bots, ask_ts) and (verified is None or vote.user in verified):
            escalated = policy.escalates(vote.user)
            by_user.setdefault(vote.user, []).append(replace(vote, escalated=escalated))
    effective = [_effective_vote(votes) for votes in by_user.values()]
    return sorted(effective, key=_vote_order)


def voters_to_verify(
    ask_message: Mapping[str, Any],
    replies: Sequence[Mapping[str, Any]],
    policy: ApprovalPolicy,
    *,
    extra_votes: Sequence[Vote] = (),
) -> frozenset[str]:
    """The users to check with Slack (``users.info``) before their votes can count: everyone whose
    vote would count if they are a person, and the authors of replies that :func:`replies_to_note`
    would answer. Users whose votes could not count anyway (other reactions, words that are no vote,
    non-approvers, bots already known) are left out, so a crowded thread costs few look-ups."""
    signals, bots = _signals(ask_message, replies, policy, extra_votes, ())
    ask_ts = _ask_ts(ask_message)
    users = {
        vote.user
        for vote in signals
        if why_not_voter(policy, vote.user, vote.vote, bots=bots, ask_ts=ask_ts, cast_at=vote.ts)
        in (None, "before_escalation")  # told privately when their vote will count
    }
    users.update(user for user, _, _ in replies_to_note(ask_message, replies, policy, people=None))
    return frozenset(users)


def replies_to_note(
    ask_message: Mapping[str, Any],
    replies: Sequence[Mapping[str, Any]],
    policy: ApprovalPolicy,
    *,
    people: Collection[str] | None,
) -> list[tuple[str, str, str]]:
    """``(user, reply ts, note)`` for each reply in the gate's thread that looks like a vote but is not
    counted (see :func:`uncounted_reply_note`), from a person (in ``people``, when given) whose vote of
    that kind would count: nobody is told how to vote who may not."""
    ask_ts = _ask_ts(ask_message)
    bots = _bots(ask_message, replies, ())
    verified = None if people is None else set(people)
    notes = []
    for reply in replies:
        if not _is_human_reply(reply, ask_ts):
            continue
        reading = read_reply(reply["text"], policy)
        user = reply["user"]
        if reading.looks_like is None or (verified is not None and user not in verified):
            continue
        if why_not_voter(policy, user, reading.looks_like, bots=bots, ask_ts=ask_ts, cast_at=reply["ts"]):
            continue
        note = uncounted_reply_note(reply["text"], policy)
        if note:
            notes.append((user, reply["ts"], note))
    return notes


def votes_before_escalation(
    ask_message: Mapping[str, Any],
    replies: Sequence[Mapping[str, Any]],
    policy: ApprovalPolicy,
    *,
    people: Collection[str] | None,
) -> list[Vote]:
    """The votes of people (in ``people``, when given) in ``policy.escalate_to`` that do not count
    because they came before the escalation, or by a reaction (see :func:`why_not_voter`)."""
    if policy.escalate_after is None:
        return []
    signals, bots = _signals(ask_message, replies, policy, (), ())
    ask_ts = _ask_ts(ask_message)
    verified = None if people is None else set(people)
    return [
        vote
        for vote in signals
        if (verified is None or vote.user in verified)
        and why_not_voter(policy, vote.user, vote.vote, bots=bots, ask_ts=ask_ts, cast_at=vote.ts)
        == "before_escalation"
    ]


def decide(
    ask_message: Mapping[str, Any],
    replies: Sequence[Mapping[str, Any]],
    policy: ApprovalPolicy,
    *,
    extra_votes: Sequence[Vote] = (),
    bot_users: Iterable[str] = (),
    people: Collection[str] | None = None,
) -> Decision:
    """Decide a gate from its ask message and thread: one valid reject rejects it,
    ``policy.required_approvals`` distinct valid approvers approve it, otherwise it is pending.

    Arguments are those of :func:`collect_votes`, which says what counts as a valid vote. When
    rejected, ``decided_by`` names every rejecting user and ``reason`` joins their reasons; when
    approved, it names every approving user and joins their reasons.
    """
    votes = tuple(
        collect_votes(
            ask_message, replies, policy, extra_votes=extra_votes, bot_users=bot_users, people=people
        )
    )
    rejects = [v for v in votes if v.vote == "reject"]
    approvals = [v for v in votes if v.vote == "approve"]
    if rejects:
        return Decision("rejected", votes, tuple(v.user for v in rejects), _join_reasons(rejects))
    if len(approvals) >= policy.required_approvals:
        return Decision("approved", votes, tuple(v.user for v in approvals), _join_reasons(approvals))
    return Decision("pending", votes)


def _ask_ts(ask_message: Mapping[str, Any]) -> str:
    ask_ts = ask_message.get("ts")
    if not isinstance(ask_ts, str) or not SLACK_TS.fullmatch(ask_ts):
        raise ValueError(
            f"ask_message has no valid 'ts' (got {ask_ts!r}): pass the message as chat.postMessage "
            "or conversations.history returned it"
        )
    return ask_ts


def _bots(
    ask_message: Mapping[str, Any], replies: Sequence[Mapping[str, Any]], bot_users: Iterable[str]
) -> set[str]:
    bots = {"USLACKBOT", *bot_users}
    for message in (ask_message, *replies):
        if _is_bot_message(message) and isinstance(message.get("user"), str):
            bots.add(message["user"])
    return bots


def _is_human_reply(reply: Mapping[str, Any], ask_ts: str) -> bool:
    user, text, ts = reply.get("user"), reply.get("text"), reply.get("ts")
    return (
        isinstance(user, str)
        and isinstance(text, str)
        and isinstance(ts, str)
        and SLACK_TS.fullmatch(ts) is not None
        and ts != ask_ts
        and reply.get("thread_ts") == ask_ts
        and not _is_bot_message(reply)
        and reply.get("subtype") in _HUMAN_SUBTYPES
    )


def _signals(
    ask_message: Mapping[str, Any],
    replies: Sequence[Mapping[str, Any]],
    policy: ApprovalPolicy,
    extra_votes: Sequence[Vote],
    bot_users: Iterable[str],
) -> tuple[list[Vote], set[str]]:
    """Every vote cast (before whose-vote-counts), and the users known to be bots."""
    ask_ts = _ask_ts(ask_message)
    bots = _bots(ask_message, replies, bot_users)
    signals: list[Vote] = []
    for reply in replies:
        if not _is_human_reply(reply, ask_ts):
            continue
        parsed = parse_reply_vote(reply["text"], policy)
        if parsed is not None:
            signals.append(
                Vote(user=reply["user"], vote=parsed[0], via="reply", reason=parsed[1], ts=reply["ts"])
            )
    signals.extend(_reaction_votes(ask_message, policy))
    signals.extend(extra_votes)
    return signals, bots


def why_not_voter(
    policy: ApprovalPolicy,
    user: str,
    vote: VoteKind,
    *,
    bots: Iterable[str] = (),
    ask_ts: str | None = None,
    cast_at: str | None = None,
) -> NotVoter | None:
    """Why ``user``'s ``vote`` would not count under ``policy`` (``None``: it counts).

    The one rule for every way of voting: bots never vote (Slackbot and ``bots``), only
    ``policy.approvers`` vote when set, and ``policy.requested_by`` cannot approve (rejecting is fine)
    unless ``allow_self_approval``. Someone in ``policy.escalate_to`` votes as an approver when the
    vote's Slack ts ``cast_at`` is ``policy.escalate_after`` seconds or more after the ask's ``ask_ts``;
    a vote whose time is unknown (a reaction; no ``cast_at``) never counts through escalation.
    """
    if user == "USLACKBOT" or user in set(bots):
        return "bot"
    if policy.approvers is not None and user not in policy.approvers:
        if not policy.escalates(user):
            return "not_approver"
        if not escalated_in_time(policy, ask_ts=ask_ts, cast_at=cast_at):
            return "before_escalation"
    if vote == "approve" and user == policy.requested_by and not policy.allow_self_approval:
        return "self_approval"
    return None


def escalation_at(policy: ApprovalPolicy, ask_ts: str) -> Decimal | None:
    """The Slack time from which ``policy.escalate_to`` may vote (``None``: the policy does not escalate)."""
    if policy.escalate_after is None:
        return None
    return Decimal(ask_ts) + Decimal(str(policy.escalate_after))


def escalated_in_time(policy: ApprovalPolicy, *, ask_ts: str | None, cast_at: str | None) -> bool:
    """True when a vote cast at Slack ts ``cast_at`` on the ask at ``ask_ts`` comes at or after the
    escalation (never when either time is unknown)."""
    if ask_ts is None or cast_at is None or not SLACK_TS.fullmatch(cast_at):
        return False
    start = escalation_at(policy, ask_ts)
    return start is not None and Decimal(cast_at) >= start


def user_kind(user: Mapping[str, Any]) -> UserKind:
    """What a ``users.info`` user object says its user is: ``bot`` (``is_bot``, or Slackbot, which
    Slack does not mark as a bot), ``deleted`` (deactivated), ``person`` when Slack says neither, and
    ``unknown`` when the object lacks either field."""
    is_bot, deleted = user.get("is_bot"), user.get("deleted")
    if is_bot is True or user.get("id") == "USLACKBOT":
        return "bot"
    if deleted is True:
        return "deleted"
    return "person" if is_bot is False and deleted is False else "unknown"


def _is_bot_message(message: Mapping[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def _reaction_votes(ask_message: Mapping[str, Any], policy: ApprovalPolicy) -> list[Vote]:
    votes: list[Vote] = []
    for reaction in ask_message.get("reactions") or ():
        name = reaction.get("name")
        if not isinstance(name, str):
            continue
        base = name.split("::", 1)[0]
        kind: VoteKind
        if base in policy.reject_reactions:
            kind = "reject"
        elif base in policy.approve_reactions:
            kind = "approve"
        else:
            continue
        votes.extend(
            Vote(user=user, vote=kind, via="reaction")
            for user in reaction.get("users") or ()
            if isinstance(user, str)
        )
    return votes


def _counts(vote: Vote, policy: ApprovalPolicy, bots: set[str], ask_ts: str) -> bool:
    return why_not_voter(policy, vote.user, vote.vote, bots=bots, ask_ts=ask_ts, cast_at=vote.ts) is None


def _effective_vote(votes: list[Vote]) -> Vote:
    current = [v for v in votes if v.ts is None]
    timed = [v for v in votes if v.ts is not None]
    if timed:
        current.append(max(timed, key=lambda v: Decimal(cast(str, v.ts))))
    pool = [v for v in current if v.vote == "reject"] or current
    return next((v for v in pool if v.ts is not None), pool[0])


def _vote_order(vote: Vote) -> tuple[bool, Decimal, str]:
    return (vote.ts is None, Decimal(vote.ts or 0), vote.user)


def _join_reasons(votes: Iterable[Vote]) -> str | None:
    return "; ".join(v.reason for v in votes if v.reason) or None


def _slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
