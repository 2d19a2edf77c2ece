"""A gate's policy: who may answer, how, and how many approvals it needs, and its validation. Pure: no I/O."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

#: Reply words that approve (matched case-insensitively on the reply's first word; ``ok`` and ``yes``
#: are short words, which count only alone: see :data:`SHORT_APPROVE_WORDS`).
DEFAULT_APPROVE_WORDS: tuple[str, ...] = ("approve", "approved", "lgtm", "ok", "yes")


#: Reply words that reject (matched case-insensitively on the reply's first word).
DEFAULT_REJECT_WORDS: tuple[str, ...] = ("reject", "rejected", "decline", "disapprove", "no")


#: Reactions on the ask message that approve: :white_check_mark: and :+1: (any skin tone).
DEFAULT_APPROVE_REACTIONS: tuple[str, ...] = ("white_check_mark", "+1")


#: Reactions on the ask message that reject: :x: and :-1: (any skin tone).
DEFAULT_REJECT_REACTIONS: tuple[str, ...] = ("x", "-1")


#: What a gate may do when nobody decided before the deadline.
ON_TIMEOUT_CHOICES: tuple[str, ...] = ("reject", "approve", "skip", "fail")


_USER_ID = re.compile(r"[UW][A-Z0-9]+")


_GROUP_ID = re.compile(r"S[A-Z0-9]+")


# A vote word: plain ASCII letters and digits, hyphens only inside ("go-ahead"). Look-alike letters,
# zero-width or fullwidth characters end the word, and then what follows it is not a separator.
VOTE_WORD = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


_ID_HELP = "use the Slack member ID (profile > More > Copy member ID), e.g. 'U012AB3CD'"


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who may answer a gate, how, and how many approvals it needs.

    ``approvers`` holds Slack user IDs (``U...``/``W...``) after user groups were expanded to their
    members; ``None`` lets any human who can see the message answer, an empty set lets nobody (the
    votes of group members count only once they are added). Word and reaction lists may be given as
    any iterable; they are stored as tuples (and approvers as a frozenset) so the policy is hashable.

    ``escalate_to`` (user IDs, groups expanded) may vote as approvers too, but only by a vote cast
    ``escalate_after`` seconds or more after the question was asked (see
    :func:`~airflow_slack_gate.core.votes.why_not_voter`); ``escalate_after`` ``None``: no escalation.

    Construction raises ``ValueError`` for a malformed policy (IDs, words, reactions,
    ``required_approvals``). Whether the approvers can reach the quorum is checked for the DAG's
    configuration by :func:`validate_gate_config`, not here.
    """

    approvers: frozenset[str] | None = None
    required_approvals: int = 1
    approve_words: tuple[str, ...] = DEFAULT_APPROVE_WORDS
    reject_words: tuple[str, ...] = DEFAULT_REJECT_WORDS
    approve_reactions: tuple[str, ...] = DEFAULT_APPROVE_REACTIONS
    reject_reactions: tuple[str, ...] = DEFAULT_REJECT_REACTIONS
    requested_by: str | None = None
    allow_self_approval: bool = False
    escalate_to: frozenset[str] = frozenset()
    escalate_after: float | None = None

    def __post_init__(self) -> None:
        for name in ("approve_words", "reject_words", "approve_reactions", "reject_reactions"):
            value = getattr(self, name)
            if not isinstance(value, str):
                object.__setattr__(self, name, tuple(value))
        if self.approvers is not None and not isinstance(self.approvers, str):
            object.__setattr__(self, "approvers", frozenset(self.approvers))
        if not isinstance(self.escalate_to, str):
            object.__setattr__(self, "escalate_to", frozenset(self.escalate_to))
        problems = _required_problems(self.required_approvals)
        problems += _requested_by_problems(self.requested_by)
        problems += _answer_problems(
            self.approve_words, self.reject_words, self.approve_reactions, self.reject_reactions
        )
        if self.approvers is not None:
            problems += _read_ids("approvers", self.approvers, expanded=True)[2]
        problems += _escalation_problems(
            self.escalate_to, self.escalate_after, expanded=True, approvers=self.approvers
        )
        if problems:
            raise ValueError("Invalid ApprovalPolicy: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Return the policy as JSON-serializable data (lists, sorted approvers) for trigger kwargs.

        The escalation keys appear only when the policy escalates, so a policy without escalation
        reads the same in older versions, and one with escalation is refused by them (never weakened).
        """
        escalation: dict[str, Any] = {}
        if self.escalate_after is not None:
            escalation = {"escalate_to": sorted(self.escalate_to), "escalate_after": self.escalate_after}
        return {
            "approvers": None if self.approvers is None else sorted(self.approvers),
            "required_approvals": self.required_approvals,
            "approve_words": list(self.approve_words),
            "reject_words": list(self.reject_words),
            "approve_reactions": list(self.approve_reactions),
            "reject_reactions": list(self.reject_reactions),
            "requested_by": self.requested_by,
            "allow_self_approval": self.allow_self_approval,
            **escalation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApprovalPolicy:
        """Rebuild a policy from :meth:`to_dict` output; missing keys take their defaults.

        Unknown keys raise ``ValueError`` rather than being dropped, so a policy written by a newer
        version of this provider is never silently weakened by an older one.
        """
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Unknown ApprovalPolicy field(s) {unknown}; known fields are {sorted(known)}. "
                "Was the policy serialized by a newer airflow-slack-gate? Upgrade the triggerer too."
            )
        kwargs = dict(data)
        if kwargs.get("approvers") is not None:
            kwargs["approvers"] = frozenset(kwargs["approvers"])
        if kwargs.get("escalate_to") is not None:
            kwargs["escalate_to"] = frozenset(kwargs["escalate_to"])
        return cls(**kwargs)

    def escalates(self, user: str) -> bool:
        """True when ``user`` may vote only through escalation (in ``escalate_to``, not an approver)."""
        return (
            self.escalate_after is not None
            and self.approvers is not None
            and user not in self.approvers
            and user in self.escalate_to
        )


def split_approvers(approvers: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Split configured approvers into ``(user IDs, user group IDs)``.

    Raises ``ValueError`` naming the fix for anything that is neither a user ID (``U``/``W`` + upper
    case letters and digits) nor a user group ID (``S`` + upper case letters and digits).
    """
    users, groups, problems = _read_ids("approvers", approvers, expanded=False)
    if problems:
        raise ValueError("; ".join(problems))
    return users, groups


@dataclass(frozen=True)
class GateRules:
    """A gate's rules as its DAG states them, checked by :func:`validate_gate_config`.

    ``policy`` holds the user approvers only; ``groups`` the user groups whose members are added when
    the gate runs (:func:`airflow_slack_gate.core.gate.with_group_members`).
    """

    policy: ApprovalPolicy
    groups: tuple[str, ...] = ()
    #: user groups of ``escalate_to``, whose members are added to ``policy.escalate_to`` at run time
    escalation_groups: tuple[str, ...] = ()

    def for_requester(self, requested_by: str | None) -> ApprovalPolicy:
        """The policy with the requester found for a run (a policy check, not the DAG's: see
        :func:`validate_gate_config` for whether that requester leaves the quorum reachable)."""
        if requested_by == self.policy.requested_by:
            return self.policy
        return replace(self.policy, requested_by=requested_by)


def validate_gate_config(
    *,
    approvers: Iterable[str] | None,
    required_approvals: int,
    approve_words: Iterable[str],
    reject_words: Iterable[str],
    approve_reactions: Iterable[str],
    reject_reactions: Iterable[str],
    requested_by: str | None,
    allow_self_approval: bool = False,
    escalate_to: Iterable[str] = (),
    escalate_after: float | None = None,
) -> GateRules:
    """Check a gate's configuration when the DAG is parsed; raise ``ValueError`` naming every fix, else
    return the checked rules.

    Checks: approvers are user IDs (``U...``/``W...``) or user group IDs (``S...``) and not an empty
    list; ``required_approvals`` is a whole number of at least 1 and, when approvers are a fixed list
    of users (no groups), no more than they can give (the requester cannot approve their own request
    unless ``allow_self_approval``); approve and reject word lists are non-empty lists of single plain
    words; reaction names carry no colons; no word or reaction is in both the approve and reject
    lists; ``requested_by`` is a user ID or ``None``; ``escalate_to`` and ``escalate_after`` come
    together (user or group IDs, a positive number of seconds) and only with a list of approvers.
    """
    problems: list[str] = []
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    if approvers is not None:
        users, groups, problems = _read_ids("approvers", approvers, expanded=False)
        if not isinstance(approvers, str) and not users and not groups and not problems:
            problems.append(
                "approvers is empty, so nobody could answer: list user IDs (U...) or user group IDs "
                "(S...), or pass approvers=None to let anyone in the channel answer"
            )
    fixed_users = approvers is not None and not groups and not problems
    problems += _requested_by_problems(requested_by)
    required = _required_problems(required_approvals)
    problems += required
    if not required and fixed_users and users:
        problems += _quorum_problems(users, required_approvals, requested_by, allow_self_approval)
    problems += _answer_problems(approve_words, reject_words, approve_reactions, reject_reactions)
    problems += _unreadable_word_problems(approve_words, reject_words)
    escalation_problems = _escalation_problems(
        escalate_to, escalate_after, expanded=False, approvers=None if approvers is None else users
    )
    problems += escalation_problems
    if problems:
        raise ValueError("Invalid Slack approval gate: " + "; ".join(problems))
    escalated_users, escalation_groups, _ = _read_ids("escalate_to", escalate_to, expanded=False)
    policy = ApprovalPolicy(
        approvers=None if approvers is None else users,
        required_approvals=required_approvals,
        approve_words=tuple(approve_words),
        reject_words=tuple(reject_words),
        approve_reactions=tuple(approve_reactions),
        reject_reactions=tuple(reject_reactions),
        requested_by=requested_by,
        allow_self_approval=allow_self_approval,
        escalate_to=escalated_users,
        escalate_after=None if escalate_after is None else float(escalate_after),
    )
    return GateRules(policy, tuple(sorted(groups)), tuple(sorted(escalation_groups)))


def validate_on_timeout(value: str) -> None:
    """Check ``on_timeout``: ``"reject"``, ``"approve"``, ``"skip"`` or ``"fail"``; else ``ValueError``."""
    if value not in ON_TIMEOUT_CHOICES:
        choices = ", ".join(repr(c) for c in ON_TIMEOUT_CHOICES)
        raise ValueError(f"on_timeout must be one of {choices}, got {value!r}")


def _read_ids(
    name: str, approvers: Iterable[str], *, expanded: bool
) -> tuple[frozenset[str], frozenset[str], list[str]]:
    """``(user IDs, user group IDs, problems)`` of the IDs in field ``name`` (``approvers``,
    ``escalate_to``): the one check of their shape.

    ``expanded``: the IDs of a policy, whose groups must already be expanded to their members.
    """
    if isinstance(approvers, str):
        fix = (
            f"set of user IDs, not a string: use {{{approvers!r}}}"
            if expanded
            else (f"list of IDs, not a string: use [{approvers!r}]")
        )
        return frozenset(), frozenset(), [f"{name} must be a {fix}"]
    users: set[str] = set()
    groups: set[str] = set()
    problems: list[str] = []
    for item in sorted(approvers, key=str) if expanded else approvers:
        if is_user_id(item):
            users.add(item)
        elif is_group_id(item):
            groups.add(item)
            if expanded:
                problems.append(
                    f"{name} holds the user group {item!r}: expand groups to their members "
                    "(usergroups.users.list) before building the policy"
                )
        else:
            problems.append(_bad_id(name, item))
    return frozenset(users), frozenset(groups), problems


def _escalation_problems(
    escalate_to: Iterable[str], escalate_after: object, *, expanded: bool, approvers: frozenset[str] | None
) -> list[str]:
    """What is wrong with an escalation: its IDs, its delay, one without the other, or no approvers."""
    problems = list(_read_ids("escalate_to", escalate_to, expanded=expanded)[2])
    named = isinstance(escalate_to, str) or bool(list(escalate_to))
    if escalate_after is None:
        if named and not expanded:
            problems.append(
                "escalate_to is set but escalate_after is not: say when they may vote too, e.g. "
                "escalate_after=timedelta(hours=2)"
            )
        return problems
    if (
        isinstance(escalate_after, bool)
        or not isinstance(escalate_after, (int, float))
        or escalate_after <= 0
    ):
        problems.append(
            f"escalate_after must be a positive number of seconds or a timedelta, got {escalate_after!r}"
        )
    if not named and not expanded:
        problems.append(
            "escalate_after is set but escalate_to is empty: list the user IDs (U...) or user group IDs "
            "(S...) who may vote from then on, or remove escalate_after"
        )
    if approvers is None:
        problems.append(
            "escalate_to needs a list of approvers: with approvers=None anyone may already vote, so "
            "nobody could be added; set approvers, or remove escalate_to and escalate_after"
        )
    return problems


def _required_problems(required_approvals: object) -> list[str]:
    if isinstance(required_approvals, bool) or not isinstance(required_approvals, int):
        return [f"required_approvals must be a whole number of at least 1, got {required_approvals!r}"]
    if required_approvals < 1:
        return [f"required_approvals must be at least 1, got {required_approvals}: use 1 for one approval"]
    return []


def _requested_by_problems(requested_by: object) -> list[str]:
    if requested_by is None or is_user_id(requested_by):
        return []
    if is_group_id(requested_by):
        return [f"requested_by must be one user's ID, not the user group {requested_by!r}"]
    return [_bad_id("requested_by", requested_by) + "; or pass None when nobody requested"]


def _answer_problems(
    approve_words: Iterable[str],
    reject_words: Iterable[str],
    approve_reactions: Iterable[str],
    reject_reactions: Iterable[str],
) -> list[str]:
    problems: list[str] = []
    approve = _check_words("approve_words", approve_words, problems)
    reject = _check_words("reject_words", reject_words, problems)
    for word in sorted(approve & reject):
        problems.append(f"the word {word!r} is in both approve_words and reject_words: remove it from one")
    approve = _check_reactions("approve_reactions", approve_reactions, problems)
    reject = _check_reactions("reject_reactions", reject_reactions, problems)
    for name in sorted(approve & reject):
        problems.append(
            f"the reaction {name!r} is in both approve_reactions and reject_reactions: remove it from one"
        )
    return problems


def _unreadable_word_problems(approve_words: Iterable[str], reject_words: Iterable[str]) -> list[str]:
    """Words the reply grammar can never read (checked when the DAG is parsed; a policy already in a
    trigger keeps such a word, which simply never matches)."""
    problems = []
    for name, words in (("approve_words", approve_words), ("reject_words", reject_words)):
        if isinstance(words, str):
            continue
        for word in words:
            if (
                isinstance(word, str)
                and word.isascii()
                and len(word.split()) == 1
                and not VOTE_WORD.fullmatch(word)
            ):
                if word.strip(string.punctuation) != word or ":" in word:
                    continue  # _check_words names the fix
                problems.append(
                    f"{name} holds {word!r}: a reply's vote word is read as letters, digits and inner "
                    f"hyphens only, so this word could never match; use e.g. {word.replace('_', '-')!r}"
                )
    return problems


def _quorum_problems(
    users: frozenset[str], required: int, requested_by: str | None, allow_self_approval: bool
) -> list[str]:
    self_excluded = requested_by in users and not allow_self_approval
    able = len(users) - (1 if self_excluded else 0)
    if required <= able:
        return []
    fixes = ["add approvers"]
    if able:
        fixes.append(f"lower required_approvals to {able}")
    why = ""
    if self_excluded:
        why = f" ({requested_by} is requested_by and cannot approve their own request)"
        fixes.append("set allow_self_approval=True")
    return [
        f"required_approvals={required} but the approvers can give at most {able}{why}: {' or '.join(fixes)}"
    ]


def _check_words(name: str, words: Iterable[str], problems: list[str]) -> set[str]:
    if isinstance(words, str):
        problems.append(f"{name} must be a list of words, not a string: use [{words!r}]")
        return set()
    listed = list(words)
    if not listed:
        problems.append(f"{name} is empty, so nobody could answer that way: list at least one word")
    valid: set[str] = set()
    for word in listed:
        if not isinstance(word, str) or not word.strip():
            problems.append(f"{name} holds {word!r}: each entry must be a non-empty word")
        elif not word.isascii():
            problems.append(f"{name} holds {word!r}: only plain ASCII words are matched, use an ASCII word")
        elif len(word.split()) > 1 or word != word.strip():
            problems.append(
                f"{name} holds {word!r}: replies are matched on their first word, use a single word"
            )
        elif word.strip(string.punctuation) != word or ":" in word:
            problems.append(
                f"{name} holds {word!r}: punctuation around a word and colons are ignored when matching, "
                f"use {word.strip(string.punctuation).partition(':')[0]!r}"
            )
        else:
            valid.add(word.lower())
    return valid


def _check_reactions(name: str, reactions: Iterable[str], problems: list[str]) -> set[str]:
    if isinstance(reactions, str):
        problems.append(f"{name} must be a list of reaction names, not a string: use [{reactions!r}]")
        return set()
    valid: set[str] = set()
    for reaction in reactions:
        if not isinstance(reaction, str) or not reaction.strip() or reaction.strip(":") == "":
            problems.append(f"{name} holds {reaction!r}: each entry must be a reaction name such as 'x'")
        elif ":" in reaction:
            base = reaction.strip(":").split("::")[0]
            problems.append(
                f"{name} holds {reaction!r}: write the name without colons or skin tone, e.g. {base!r} "
                "(every skin tone counts)"
            )
        elif reaction != reaction.lower() or len(reaction.split()) > 1 or reaction != reaction.strip():
            problems.append(
                f"{name} holds {reaction!r}: Slack reaction names are lower case without spaces, "
                f"e.g. {reaction.strip().lower().replace(' ', '_')!r}"
            )
        else:
            valid.add(reaction)
    return valid


def _bad_id(name: str, value: object) -> str:
    text = value if isinstance(value, str) else ""
    mention = re.fullmatch(r"<[@!](?:subteam\^)?([A-Za-z0-9]+)(?:\|[^>]*)?>", text)
    if mention and (is_user_id(mention.group(1)) or is_group_id(mention.group(1))):
        return f"{name} holds the mention {value!r}: write the bare ID {mention.group(1)!r}"
    if text and (is_user_id(text.upper()) or is_group_id(text.upper())):
        return f"{name} holds {value!r}: Slack IDs are upper case, use {text.upper()!r}"
    return f"{name} holds {value!r}, which is not a Slack user ID (U...) or user group ID (S...): {_ID_HELP}"


def is_user_id(value: object) -> bool:
    """True for a Slack user ID (``U...`` or ``W...``)."""
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def is_group_id(value: object) -> bool:
    """True for a Slack user group ID (``S...``)."""
    return isinstance(value, str) and _GROUP_ID.fullmatch(value) is not None
