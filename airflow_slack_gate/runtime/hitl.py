"""What a click on an Airflow HITL request's message does, on Slack's side: find the request the message
asks (its metadata, written by the bot), find who clicked (Slack user -> Airflow user names), hand both to
Airflow's side (a :class:`HITLAnswerer`: the API server's, in
:mod:`airflow_slack_gate.interactive.hitl`), then show the answer in the message or tell the person,
privately, why nothing changed.

A request with a form: its "Answer in Slack" button opens a modal whose inputs come from Airflow's row
(:meth:`HITLAnswerer.form`); the modal's submission names only the message (its ``private_metadata``)
and is judged exactly like a click on it, then answered with the typed values, which Airflow's side
validates first (:meth:`HITLAnswerer.answer_form`; invalid inputs go back to the modal).

Nothing the click carries chooses the request: the task instance comes from the message's metadata,
which only the connection's bot can write; the option values are indexes that Airflow's side checks
against its own row of the request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from airflow_slack_gate.core.gate import split_thread
from airflow_slack_gate.core.hitl import FormField, HITLOutcome, form_modal, note_text, outcome_update
from airflow_slack_gate.core.messages import escape_mrkdwn
from airflow_slack_gate.core.payloads import HITLClick, HITLFormSubmission
from airflow_slack_gate.core.protocol import HITLRequest, hitl_request
from airflow_slack_gate.core.requesters import FoundBy, airflow_users_for, parse_user_map
from airflow_slack_gate.core.votes import user_kind
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import SlackGateHook

log = logging.getLogger(__name__)

AnswerStatus = Literal[
    "answered",
    "already_answered",
    "not_allowed",
    "invalid_option",
    "too_many_chosen",
    "nothing_chosen",
    "form",
    "no_form",
    "invalid_input",
    "stale",
    "gone",
    "unmapped",
    "ambiguous",
    "unsupported",
    "failed",
]


@dataclass(frozen=True)
class Respondent:
    """Who clicked: their Slack user, the Airflow user names they may be (:func:`airflow_users_for`)
    and how those were found."""

    slack_user: str
    airflow_names: tuple[str, ...]
    found_by: FoundBy | None = None


@dataclass(frozen=True)
class HITLAnswer:
    """What Airflow's side did with a click: ``status``; for ``answered`` and ``already_answered`` the
    options chosen and the Airflow user who answered; ``link`` to the request in Airflow, and a
    ``detail`` for the person's note."""

    status: AnswerStatus
    chosen: tuple[str, ...] = ()
    airflow_user: str | None = None
    link: str | None = None
    detail: str = ""
    #: ``invalid_input``: the modal's inputs that are not valid (``block_id``, why), shown inline
    errors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class HITLForm:
    """A request's form as Airflow's row has it: its subject, inputs, options and ``multiple``."""

    subject: str
    fields: tuple[FormField, ...]
    options: tuple[str, ...]
    multiple: bool


class HITLAnswerer(Protocol):
    """Airflow's side of a HITL click: answers the request as the respondent, through Airflow's rules."""

    async def answer(
        self, request: HITLRequest, respondent: Respondent, chosen: Sequence[str]
    ) -> HITLAnswer: ...

    async def form(self, request: HITLRequest) -> HITLForm | HITLAnswer:
        """The request's form, when Slack can show it (else why not)."""
        ...

    async def answer_form(
        self, request: HITLRequest, respondent: Respondent, state: Mapping[str, Any]
    ) -> HITLAnswer:
        """Answer the request with a submitted form (the view's ``state``), validated as Airflow will."""
        ...


@dataclass(frozen=True)
class HITLVerdict:
    """What a HITL click did: ``action`` (``answered``, ``tell`` or ``ignore``) and ``why``; ``errors``
    for a form submission whose inputs are not valid (the modal shows them)."""

    action: Literal["answered", "tell", "ignore"]
    why: str
    errors: tuple[tuple[str, str], ...] = ()


async def handle_hitl_click(
    hook: SlackGateHook, click: HITLClick | HITLFormSubmission, answerer: HITLAnswerer | None
) -> HITLVerdict:
    """Judge a click on a HITL request's message and act on it (see the module's docstring)."""
    bot = await hook.abot_identity()
    try:
        thread = await hook.aread_thread(channel=click.channel, ts=click.ts, include_all_metadata=True)
    except SlackGateError as error:
        if error.error_code in ("thread_not_found", "message_not_found"):
            return HITLVerdict("ignore", "not_a_request")
        raise
    parent, _ = split_thread(thread, click.ts)
    if not bot.bot_id or parent.get("bot_id") != bot.bot_id:
        return HITLVerdict("ignore", "not_ours")  # another app's message: not ours to answer
    request = hitl_request(parent, bot_id=bot.bot_id)
    if request is None:
        return await _tell(hook, click, "not_a_request")
    if request.state != "open":  # the message shows the outcome already (a click, or the listener)
        why = "already_answered" if request.state == "answered" else "closed"
        detail = f" ({escape_mrkdwn(request.answer)})" if request.answer else ""
        return await _tell(hook, click, why, detail=detail)
    if answerer is None:
        return await _tell(hook, click, "no_airflow")
    if isinstance(click, HITLClick) and click.open_form:
        return await _open_form(hook, click, request, answerer)
    if isinstance(click, HITLClick) and click.submit and not click.chosen:
        return await _tell(hook, click, "nothing_chosen")
    respondent = await find_respondent(hook, click.user)
    if respondent is None:
        return await _tell(hook, click, "not_a_person")
    if isinstance(click, HITLFormSubmission):
        answer = await answerer.answer_form(request, respondent, click.state)
        if answer.status == "invalid_input" and answer.errors:
            return HITLVerdict("tell", "invalid_input", errors=answer.errors)  # shown in the modal
    else:
        answer = await answerer.answer(request, respondent, click.chosen)
    if answer.status in ("answered", "already_answered") and answer.airflow_user is not None:
        slack_user = click.user if answer.status == "answered" else None
        await _show_answer(hook, click, parent, answer, slack_user)
    if answer.status == "answered":
        return HITLVerdict("answered", "answered")
    return await _tell_why_not(hook, click, answer)


async def _open_form(
    hook: SlackGateHook, click: HITLClick, request: HITLRequest, answerer: HITLAnswerer
) -> HITLVerdict:
    """Open the request's form in a modal (``views.open``, within the click's 3 seconds): its inputs come
    from Airflow's row of the request, never from the message."""
    form = await answerer.form(request)
    if isinstance(form, HITLAnswer):
        return await _tell_why_not(hook, click, form)
    if not click.trigger_id:
        return HITLVerdict("ignore", "no_trigger_id")
    view = form_modal(
        channel=click.channel,
        ts=click.ts,
        subject=form.subject,
        fields=form.fields,
        options=form.options,
        multiple=form.multiple,
    )
    await hook.acall("views.open", trigger_id=click.trigger_id, view=view)
    return HITLVerdict("ignore", "form_opened")


async def _tell_why_not(
    hook: SlackGateHook, click: HITLClick | HITLFormSubmission, answer: HITLAnswer
) -> HITLVerdict:
    """Tell the person why Airflow's side answered nothing (who answered what, if someone did)."""
    detail = answer.detail
    if answer.status == "already_answered" and answer.airflow_user is not None:
        detail = f" ({', '.join(answer.chosen)} by {answer.airflow_user})"
    return await _tell(hook, click, answer.status, link=answer.link, detail=detail)


async def find_respondent(hook: SlackGateHook, slack_user: str) -> Respondent | None:
    """The Airflow user names a Slack user may be (``None``: Slack says it is no person: a bot, a
    deactivated account, or a user Slack will not show)."""
    try:
        response = await hook.acall("users.info", user=slack_user)
    except SlackGateError as error:
        if error.error_code in ("user_not_found", "user_not_visible"):
            return None
        raise
    user = response.get("user") or {}
    if user_kind(user) != "person":
        return None
    settings = await hook.asettings()
    try:
        user_map = parse_user_map(settings.slack_users, conn_id=hook.slack_conn_id)
    except ValueError as error:
        log.error("Cannot map Slack users to Airflow users: %s", error)
        return Respondent(slack_user, ())
    profile = user.get("profile") or {}
    email = profile.get("email") if isinstance(profile, Mapping) else None
    names, found_by = airflow_users_for(
        slack_user,
        user_map,
        email=email if isinstance(email, str) else None,
        email_domain=settings.email_domain,
    )
    return Respondent(slack_user, names, found_by)


async def _show_answer(
    hook: SlackGateHook,
    click: HITLClick | HITLFormSubmission,
    parent: Mapping[str, Any],
    answer: HITLAnswer,
    slack_user: str | None,
) -> None:
    """Replace the message's buttons by who answered what, and mark its metadata answered."""
    outcome = HITLOutcome(chosen=answer.chosen, airflow_user=answer.airflow_user, slack_user=slack_user)
    update = outcome_update(parent, outcome)
    if update is None:
        return
    try:
        await hook.acall("chat.update", channel=click.channel, ts=click.ts, **update)
    except SlackGateError as error:  # the answer is in Airflow; the message is only its picture
        log.warning("Answered, but could not update the Slack message %s: %s", click.ts, error)


async def tell_invalid_input(hook: SlackGateHook, submission: HITLFormSubmission) -> HITLVerdict:
    """Tell the person, privately, that their form's values were refused (when the modal could not
    show why: its judgement came too late for Slack's answer)."""
    return await _tell(hook, submission, "invalid_input")


async def _tell(
    hook: SlackGateHook,
    click: HITLClick | HITLFormSubmission,
    why: str,
    *,
    link: str | None = None,
    detail: str = "",
) -> HITLVerdict:
    await hook.acall(
        "chat.postEphemeral",
        channel=click.channel,
        user=click.user,
        text=note_text(why, link=link, detail=detail),
    )
    return HITLVerdict("tell", why)
