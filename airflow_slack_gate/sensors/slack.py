"""SlackApprovalSensor: ask people in Slack, wait without holding a worker, return their yes/no."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

import jinja2
import jinja2.meta
from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from airflow.sdk import BaseSensorOperator
from jinja2.defaults import DEFAULT_NAMESPACE

try:
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow 3.1 has it in airflow.exceptions only, and common-compat does not map it
    from airflow.exceptions import AirflowRescheduleException

from airflow_slack_gate.core import airflow_ui, pacing
from airflow_slack_gate.core.gate import (
    NO_DECISION,
    GateRef,
    SentNotes,
    decide_thread,
    error_payload,
    event_payload,
    follow_ups_in_thread,
    read_step,
    uncounted_replies,
    voters_to_check,
    ways_allowed,
    with_escalation_members,
    with_group_members,
)
from airflow_slack_gate.core.messages import (
    ASK_OWN_BLOCKS,
    ask_message,
    is_jinja,
    outcome_message,
    outcome_thread_reply,
    shows_buttons,
    unknown_requester_note,
    validate_buttons,
)
from airflow_slack_gate.core.policy import (
    DEFAULT_APPROVE_REACTIONS,
    DEFAULT_APPROVE_WORDS,
    DEFAULT_REJECT_REACTIONS,
    DEFAULT_REJECT_WORDS,
    ApprovalPolicy,
    GateRules,
    validate_gate_config,
    validate_on_timeout,
)
from airflow_slack_gate.core.protocol import (
    REVIEW_DIGEST_KEY,
    ask_metadata,
    outcome_marks,
    vote_record_metadata,
)
from airflow_slack_gate.core.reminders import (
    escalation_delay,
    follow_up_replies,
    follow_ups_due,
    reminder_offsets,
)
from airflow_slack_gate.core.requesters import (
    EMAIL_DOMAIN_EXTRA,
    SLACK_USERS_EXTRA,
    FoundBy,
    Requester,
    airflow_users_for,
    email_of,
    mapped_slack_user,
    parse_user_map,
    run_starter,
)
from airflow_slack_gate.core.review import review_digest_problem
from airflow_slack_gate.core.votes import SLACK_TS, Decision, why_not_voter
from airflow_slack_gate.hooks.asking import Asking, Question, run_could_start, task_identity
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import DEFAULT_CONN_ID, SlackGateHook
from airflow_slack_gate.hooks.usergroups import GroupCache
from airflow_slack_gate.links import SLACK_MESSAGE_XCOM_KEY, SlackMessageLink
from airflow_slack_gate.operators.slack import parse_blocks
from airflow_slack_gate.templating import SlackTextTemplating
from airflow_slack_gate.triggers.slack import SlackApprovalTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: XCom key of the decision record (see the docs' XCom contract).
SLACK_DECISION_XCOM_KEY = "slack_decision"
#: XCom key of the gate's requester, kept from asking until the decision record is written.
SLACK_REQUESTER_XCOM_KEY = "slack_requester"
#: Fields that decide who may approve and what an undecided gate does. They are never templates: a
#: run's conf overrides its params, so a template here would let whoever triggers a run choose them.
RULE_FIELDS = (
    "approvers",
    "required_approvals",
    "allow_self_approval",
    "requested_by",
    "on_timeout",
    "require_known_requester",
    "remind_after",
    "escalate_after",
    "escalate_to",
)
#: Templated fields that choose where the question is asked and which Slack app reads the votes: they
#: render with :data:`TRUSTED_CONTEXT_KEYS` only, never with the run's params, conf, dag_run or XCom.
TRUSTED_TEMPLATE_FIELDS = ("slack_conn_id", "channel")
#: What a template in a trusted field may use: Variables and connections (an admin chooses them, not
#: the run) and Airflow's run-independent macros.
TRUSTED_CONTEXT_KEYS = ("var", "conn", "macros")
_RULE_EXAMPLES = {
    "approvers": "['U012AB3CD', 'S0123GRP']",
    "required_approvals": "2",
    "allow_self_approval": "False",
    "requested_by": "'U012AB3CD'",
    "on_timeout": "'reject'",
    "require_known_requester": "True",
    "remind_after": "[timedelta(hours=1), timedelta(hours=4)]",
    "escalate_after": "timedelta(hours=8)",
    "escalate_to": "['S0LEADS']",
}
#: How long after the gate's own deadline Airflow's deferral timeout fires, if the trigger never did.
DEFERRAL_GRACE = timedelta(minutes=5)


class SlackApprovalSensor(SlackTextTemplating, BaseSensorOperator):
    """
    Ask a question in Slack and wait for people to approve or reject it; return ``True`` only if approved.

    The task posts the question, then (``deferrable=True``, the default) frees its worker slot while a
    trigger reads the message's thread and reactions. Approvers answer in Slack: a thread reply
    (``approve``, ``approve: <reason>``, ``ok`` alone, ``reject: <reason>``), or a reaction. The reply
    grammar is strict: an ambiguous reply may reject but never approves (``ok?``, ``~approve~``, a
    quote, ``yes, ship it`` are not counted, and their author gets an ephemeral note saying what to
    write); see docs/decisions.md. Only people vote: Slack's ``users.info`` tells other apps' bot users
    and deactivated accounts apart (the app needs ``users:read``). The return value
    (XCom) is ``True`` if the question was posted and approved, else ``False``, so ``@task.branch``,
    ``BranchPythonOperator`` or ``ShortCircuitOperator`` can act on it. XCom ``slack_decision`` holds
    the full record (outcome, votes, who decided, reason, when, and the message).

    Who may approve comes from the DAG's code, never from the run: the rule fields (``approvers``,
    ``required_approvals``, ``allow_self_approval``, ``requested_by``, ``on_timeout``,
    ``require_known_requester``) are not templates, and a template there is refused when the DAG is
    parsed. Read them in the DAG's code instead, e.g. ``approvers=Variable.get("release_approvers")``.

    :param slack_conn_id: Airflow connection of type ``slack_gate`` (or the official ``slack``).
        (templated with ``var``, ``conn`` and ``macros`` only, never the run's params or conf)
    :param channel: Channel ID or ``#name``; defaults to the connection's ``default_channel``.
        (templated with ``var``, ``conn`` and ``macros`` only, e.g. ``"{{ var.value.release_channel }}"``)
    :param text: The question, in Slack mrkdwn (shortened to 3000 characters if longer). (templated)
        Values that templates insert into ``text`` and ``blocks`` are escaped whatever their type (a
        list shows as its text), so data cannot ping a channel, mention someone or disguise a link, and
        a value inside your ``<{{ url }}|label>`` cannot change the label (its ``|`` is sent as
        ``%7C``); ``<!here>`` or ``<@U...>`` written literally are sent as written. Always rendered as
        text, also when the DAG renders templates as native objects.
    :param blocks: Optional Block Kit blocks shown above the answering instructions: a list of dicts
        whose strings may hold templates, or a JSON string of that list whose templates sit inside its
        string values (read as JSON before rendering, so a value can never add blocks). The gate adds 3
        blocks of its own, so at most 47; blocks over Slack's Block Kit limits (a section's text 3000
        characters, a header's 150, ...) fail the task before anything is asked, whatever
        ``fail_on_error`` says (when the DAG is parsed if nothing is templated). (templated)
    :param approvers: Slack user IDs (``U...``/``W...``) and user-group IDs (``S...``) who may vote, as a
        list or one string separated by commas or spaces (a Variable's value); groups are expanded when
        the gate runs. ``None``: any person who can see the message.
    :param required_approvals: Distinct approvals needed; one valid reject always rejects.
    :param approve_words: First words of a thread reply that approve (case-insensitive). Short words
        (``ok``, ``yes``, any of three letters or fewer, ``sure``...) count only as the whole reply;
        others (``approve``, ``lgtm``) may be followed by a reason.
    :param reject_words: First words of a thread reply that reject; the rest of the reply is the reason.
    :param approve_reactions: Reaction names on the question that approve.
    :param reject_reactions: Reaction names on the question that reject.
    :param requested_by: Slack user ID of the requester; they cannot approve their own request unless
        ``allow_self_approval``. By default the requester is the Airflow user who triggered the run,
        found in Slack through the connection's ``slack_users`` extra or by email
        (``users.lookupByEmail``; the connection's ``email_domain`` extra completes user names that are
        not emails). Scheduled runs have no requester.
    :param allow_self_approval: Let the requester approve.
    :param require_known_requester: Fail the task before asking when a person triggered the run but
        their Slack user cannot be found (by default the question says so and asks anyway).
    :param poke_interval: Seconds between reads of Slack (30 by default).
    :param timeout: Seconds (or timedelta) to wait for a decision before ``on_timeout`` applies.
    :param on_timeout: ``"reject"`` (return False), ``"approve"`` (return True), ``"skip"`` (skip the
        task) or ``"fail"`` (fail the task).
    :param deferrable: Wait in the triggerer (True) or in the worker, in ``mode="poke"``/``"reschedule"``.
    :param fail_on_error: Raise on Slack errors instead of returning ``False``.
    :param remind_after: Seconds or a ``timedelta`` after the ask, or a list of them: at each, while the
        gate waits undecided, the bot replies once in the thread mentioning the approvers who have not
        voted yet (user groups as group mentions; nobody when ``approvers=None``), how many approvals
        are still needed and when the gate times out. Each before ``timeout``. After a triggerer
        outage only the latest reminder due is posted. See docs/reminders.md.
    :param escalate_after: Seconds or a ``timedelta`` after the ask from which the people in
        ``escalate_to`` may vote as approvers too (same rules, by a thread reply or the buttons; their
        reactions do not count); the bot announces it in the thread. Needs ``escalate_to``.
    :param escalate_to: Slack user IDs (``U...``/``W...``) and user-group IDs (``S...``) who may vote
        from ``escalate_after`` on. A vote of theirs cast earlier does not count (they are told
        privately from when it will). The decision record marks their votes ``"escalated": true``.
    :param airflow_ui: Also list the gate in Airflow's Required actions (an Airflow HITL request with
        the options Approve and Reject), while it waits deferred. An answer there is a vote of the
        responder's Slack user (found from their Airflow user name as the requester is: the connection's
        ``slack_users`` extra, or by email), under the same rules as a vote in Slack; it is recorded in
        the question's thread. An Airflow user with no Slack user, or whose Slack user may not vote,
        counts nothing, and the thread says why. Poke and reschedule modes write no request.
    :param review_digest: What exactly is asked to be approved, e.g. an image digest from the build task:
        ``"{{ ti.xcom_pull('build', key='image_digest') }}"``. Shown in the question as code, kept in
        the question's metadata and in the decision record (``review_digest``), so a deploy task can
        check with :func:`airflow_slack_gate.verify.require_approved` that it deploys exactly what was
        approved. One line of printable text, at most 200 characters; a digest that renders empty or
        ``"None"`` (a missing upstream XCom) fails the task before anything is asked. A retry whose
        digest changed asks afresh: votes on the old question never count. (templated)
    :param buttons: Show Approve / Reject buttons on the question: ``"auto"`` when the connection has an
        ``app_token`` (Socket Mode) or a ``signing_secret`` (Request URL), without which Slack cannot
        deliver a click; ``"always"`` (or ``True``); ``"never"`` (or ``False``). Replies and reactions
        count either way.
    """

    template_fields: Sequence[str] = ("slack_conn_id", "channel", "text", "blocks", "review_digest")
    template_fields_renderers = {"blocks": "json", "text": "md"}
    ui_color = "#ECB22E"
    operator_extra_links = (SlackMessageLink(),)
    own_blocks = ASK_OWN_BLOCKS
    #: When this process first sent this try's question, if it had to send it again (a lost answer):
    #: a late copy may still appear, never older than that.
    _reposted_since: float | None = None

    def __init__(
        self,
        *,
        slack_conn_id: str = DEFAULT_CONN_ID,
        channel: str | None = None,
        text: str,
        blocks: list[dict[str, Any]] | str | None = None,
        approvers: Sequence[str] | str | None = None,
        required_approvals: int = 1,
        approve_words: Sequence[str] = DEFAULT_APPROVE_WORDS,
        reject_words: Sequence[str] = DEFAULT_REJECT_WORDS,
        approve_reactions: Sequence[str] = DEFAULT_APPROVE_REACTIONS,
        reject_reactions: Sequence[str] = DEFAULT_REJECT_REACTIONS,
        requested_by: str | None = None,
        allow_self_approval: bool = False,
        require_known_requester: bool = False,
        poke_interval: float = 30,
        timeout: float | timedelta = timedelta(days=1),
        on_timeout: str = "reject",
        deferrable: bool = True,
        fail_on_error: bool = False,
        airflow_ui: bool = True,
        review_digest: str | None = None,
        buttons: bool | str = "auto",
        remind_after: float | timedelta | Sequence[float | timedelta] | None = None,
        escalate_after: float | timedelta | None = None,
        escalate_to: Sequence[str] | str = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"Task {self.task_id!r}: text must be a non-empty question to ask in Slack.")
        _refuse_run_controlled_rules(
            self.task_id,
            approvers=approvers,
            required_approvals=required_approvals,
            allow_self_approval=allow_self_approval,
            requested_by=requested_by,
            on_timeout=on_timeout,
            require_known_requester=require_known_requester,
            remind_after=remind_after,
            escalate_after=escalate_after,
            escalate_to=escalate_to,
        )
        dag_macros = (self.dag.user_defined_macros if self.has_dag() else None) or {}
        trusted_names = set(TRUSTED_CONTEXT_KEYS) | set(dag_macros)
        for name, value in (("slack_conn_id", slack_conn_id), ("channel", channel)):
            _refuse_run_controlled_target(self.task_id, name, value, trusted_names)
        validate_on_timeout(on_timeout)
        try:
            self.buttons = validate_buttons(buttons)
        except ValueError as error:
            raise ValueError(f"Task {self.task_id!r}: {error}") from None
        self.slack_conn_id = slack_conn_id
        self.channel = channel
        self.text = text
        self.blocks = blocks
        self.approvers = approvers
        self.required_approvals = required_approvals
        self.approve_words = tuple(approve_words)
        self.reject_words = tuple(reject_words)
        self.approve_reactions = tuple(approve_reactions)
        self.reject_reactions = tuple(reject_reactions)
        self.requested_by = requested_by
        self.allow_self_approval = allow_self_approval
        self.require_known_requester = require_known_requester
        self.on_timeout = on_timeout
        self.deferrable = deferrable
        self.fail_on_error = fail_on_error
        self.airflow_ui = airflow_ui
        if review_digest is not None and not _is_template(review_digest):
            self._check_review_digest(review_digest, ValueError)
        self.review_digest = review_digest
        self.remind_after = remind_after
        self.escalate_after = escalate_after
        self.escalate_to = escalate_to
        try:
            self._reminder_offsets = reminder_offsets(remind_after, timeout=self.timeout)
            self._escalation_delay = escalation_delay(escalate_after, timeout=self.timeout)
        except ValueError as error:
            raise ValueError(f"Task {self.task_id!r}: {error}") from None
        self._requester: Requester | None = None
        self._rules = self._validate()
        self.check_slack_message(rendered=False)

    def _check_review_digest(self, value: Any, error: type[Exception]) -> None:
        if problem := review_digest_problem(value):
            raise error(f"Task {self.task_id!r}: {problem}. Nothing was asked.")

    def slack_message_to_check(self) -> tuple[Any, Any]:
        return None, self.blocks  # the question is shortened to fit; the author's blocks are not

    def _validate(self, requested_by: str | None = None) -> GateRules:
        try:
            return validate_gate_config(
                approvers=_as_id_list(self.approvers),
                required_approvals=self.required_approvals,
                approve_words=self.approve_words,
                reject_words=self.reject_words,
                approve_reactions=self.approve_reactions,
                reject_reactions=self.reject_reactions,
                requested_by=requested_by or self.requested_by or None,
                allow_self_approval=self.allow_self_approval,
                escalate_to=_as_id_list(self.escalate_to) or (),
                escalate_after=self._escalation_delay,
            )
        except ValueError as error:
            raise ValueError(f"Task {self.task_id!r}: {error}") from None

    # -- templates ------------------------------------------------------------------------------------

    def _do_render_template_fields(
        self,
        parent: Any,
        template_fields: Iterable[str],
        context: Context,
        jinja_env: jinja2.Environment,
        seen_oids: set[int],
    ) -> None:
        """Render the channel and connection with trusted values only; the rest with the run's context.

        Airflow renders mapped tasks through this method too, so the restriction holds for them, and a
        mapped gate is refused here, before rendering, if the mapping gives it rules from an XCom.
        """
        if parent is self:
            self._refuse_rules_from_mapping()
        fields = list(template_fields)
        run_context: dict[str, Any] = dict(context)
        trusted = {key: run_context[key] for key in TRUSTED_CONTEXT_KEYS if key in run_context}
        for name in (field for field in fields if field in TRUSTED_TEMPLATE_FIELDS):
            try:
                # Airflow's own rendering, past the mixin that escapes and checks the message fields
                base_render = super(SlackTextTemplating, self)._do_render_template_fields
                base_render(parent, [name], trusted, jinja_env, seen_oids)  # type: ignore[arg-type]
            except Exception as error:
                raise ValueError(
                    f"Task {self.task_id!r}: the {name} template could not be rendered with trusted values "
                    f"only ({error}). {_trusted_template_help(name)}"
                ) from None
        others = [field for field in fields if field not in TRUSTED_TEMPLATE_FIELDS]
        super()._do_render_template_fields(parent, others, context, jinja_env, seen_oids)

    @cached_property
    def hook(self) -> SlackGateHook:
        return SlackGateHook(slack_conn_id=self.slack_conn_id)

    @cached_property
    def _groups(self) -> GroupCache:
        """User-group members read during this try (poke mode reads a group once per GROUP_TTL)."""
        return GroupCache()

    # -- policy --------------------------------------------------------------------------------------

    def _base_policy(self) -> tuple[ApprovalPolicy, list[str]]:
        """The rules with user approvers only, and the user groups still to expand.

        The requester is the one found for this run (see :meth:`_find_requester`) once it is known.
        """
        requested_by = self._requester.slack_user if self._requester else (self.requested_by or None)
        return self._rules.for_requester(requested_by), list(self._rules.groups)

    def _policy(self) -> ApprovalPolicy:
        policy, groups = self._base_policy()
        if groups:
            policy = with_group_members(policy, self._groups.members(self.hook, groups))
        if escalation_groups := list(self._rules.escalation_groups):
            policy = with_escalation_members(policy, self._groups.members(self.hook, escalation_groups))
        return policy

    def _refuse_rules_from_mapping(self) -> None:
        """Refuse a mapped gate whose rules, channel or connection come from an upstream task's XCom.

        Airflow builds a mapped task's arguments when it runs, so ``__init__`` sees resolved values
        only; the DAG's mapping still shows where each came from. Called before rendering, so the
        values compared are the DAG's, not rendered ones.
        """
        mapped = self.dag.task_dict.get(self.task_id) if self.has_dag() else None
        expand_input = getattr(mapped, "expand_input", None)
        if expand_input is None:
            return
        fields = _fields_mapped_from_xcom(self, expand_input.value, getattr(mapped, "partial_kwargs", {}))
        if fields:
            raise AirflowFailException(
                f"Task {self.task_id!r} maps {', '.join(fields)} over an upstream task's XCom, which the "
                "run can influence (its conf, its data); who may approve, where the question is asked and "
                "what an undecided gate does must come from the DAG's author. Map the question "
                "(text, blocks) only, and set the rules in .partial() from the DAG's code, a Variable "
                "read in the DAG's code or a connection's extra. Nothing was asked."
            )

    # -- the requester -------------------------------------------------------------------------------

    def _find_requester(self, context: Context) -> Requester:
        """Who asked: ``requested_by`` from the DAG, else the run's triggering user mapped to Slack."""
        dag_run = context["dag_run"]
        by_person, airflow_user = run_starter(
            getattr(dag_run, "run_type", None), getattr(dag_run, "triggering_user_name", None)
        )
        if self.requested_by:
            return Requester(airflow_user, self.requested_by, "dag", started_by_person=by_person)
        if airflow_user is None:
            return Requester(started_by_person=by_person)
        slack_user, found_by = self._slack_user_of(airflow_user)
        return Requester(airflow_user, slack_user, found_by, started_by_person=True)

    def _slack_user_of(self, airflow_user: str) -> tuple[str | None, FoundBy | None]:
        """An Airflow user's Slack user, and how it was found: the connection's ``slack_users`` extra,
        else their email looked up in Slack (the requester's rules; also who answers in Airflow)."""
        settings = self.hook.settings
        user_map = parse_user_map(settings.slack_users, conn_id=self.slack_conn_id)
        mapped = mapped_slack_user(user_map, airflow_user)
        if mapped:
            return mapped, "connection"
        email = email_of(airflow_user, settings.email_domain)
        if email:
            try:
                found = self.hook.lookup_user_by_email(email)
            except SlackGateError as error:
                if error.error_code != "missing_scope":
                    raise
                self.log.warning("Cannot find Airflow user %r in Slack by email: %s", airflow_user, error)
                found = None
            if found:
                return found, "email"
        return None, None

    def _settle_requester(self, context: Context) -> Requester:
        """Find the requester, refuse a gate they make impossible, and keep them for the decision."""
        requester = self._find_requester(context)
        if requester.is_unknown and self.require_known_requester:
            raise AirflowFailException(
                f"Task {self.task_id!r}: {_requester_name(requester)} triggered the run and has no Slack "
                "user that the gate can find, and require_known_requester=True, so nothing was asked. Map "
                f"them in the {SLACK_USERS_EXTRA!r} extra of Airflow connection {self.slack_conn_id!r} "
                f'(e.g. {{"alice": "U012AB3CD"}}), or set its {EMAIL_DOMAIN_EXTRA!r} extra (or use email '
                "user names) so Slack's users.lookupByEmail finds them (scope users:read.email)."
            )
        if requester.slack_user and requester.found_by != "dag":
            try:
                self._validate(requested_by=requester.slack_user)
            except ValueError as error:
                raise AirflowFailException(
                    f"{error}. The requester is {_requester_name(requester)}, who triggered the run: ask "
                    "someone else to trigger it."
                ) from None
        context["ti"].xcom_push(key=SLACK_REQUESTER_XCOM_KEY, value=requester.to_dict())
        if requester.is_unknown:
            self.log.warning(
                "%s triggered the run but has no Slack user: the question says so, and their own approval "
                "would count. Map them in the %r extra of connection %r.",
                _requester_name(requester),
                SLACK_USERS_EXTRA,
                self.slack_conn_id,
            )
        self._requester = requester
        return requester

    def _kept_requester(self, context: Context) -> Requester:
        """The requester found when the gate asked (a resumed task is a new process)."""
        if self._requester is None:
            kept = _own_xcom(context, SLACK_REQUESTER_XCOM_KEY)
            fallback = Requester(slack_user=self.requested_by or None)
            self._requester = Requester.from_dict(kept) if kept else fallback
        return self._requester

    # -- asking --------------------------------------------------------------------------------------

    def execute(self, context: Context) -> bool:
        self.check_slack_message()
        if self.review_digest is not None:
            self._check_review_digest(self.review_digest, AirflowFailException)
        try:
            self._settle_requester(context)
            gate = self._ask(context)
        except SlackGateError as error:
            context["ti"].xcom_push(key=SLACK_MESSAGE_XCOM_KEY, value=None)  # nothing to link to
            return self._fail_or_false(error)
        deadline = float(gate.ts) + self.timeout
        if not self.deferrable:
            if self.airflow_ui:
                self.log.info(
                    "This gate waits in the worker (mode=%r), so it is not listed in Airflow's Required "
                    "actions: answer in Slack.",
                    self.mode,
                )
            return self._wait_in_worker(context, gate, deadline)
        self._defer_to_trigger(context, gate, deadline, hitl_ti_id=self._arm_airflow_ui(context, gate))

    def _defer_to_trigger(
        self, context: Context, gate: GateRef, deadline: float, *, hitl_ti_id: str | None
    ) -> NoReturn:
        policy, groups = self._base_policy()
        self.defer(
            trigger=SlackApprovalTrigger(
                slack_conn_id=self.slack_conn_id,
                channel=gate.channel,
                ts=gate.ts,
                policy=policy.to_dict(),
                approver_groups=groups,
                deadline=deadline,
                poke_interval=self.poke_interval,
                permalink=gate.permalink,
                hitl_ti_id=hitl_ti_id,
                remind_after=list(self._reminder_offsets),
                escalation_groups=list(self._rules.escalation_groups),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=max(0.0, deadline - time.time())) + DEFERRAL_GRACE,
        )

    # -- Airflow's Required actions ------------------------------------------------------------------

    def _arm_airflow_ui(self, context: Context, gate: GateRef, *, again: bool = False) -> str | None:
        """Write (or re-arm) this try's Airflow HITL request; the id of the try, for the trigger.

        Airflow's execution API keeps one request per task instance: writing it again clears an answer
        it holds (an earlier try's, or the answer just counted), so the request is pending again, and
        changes nothing else of it (so ``again`` spends no Slack look-up on whom to assign it). A
        failure here is logged and the gate waits on Slack alone (``None``).
        """
        if not self.airflow_ui:
            return None
        try:
            from airflow.sdk.execution_time.hitl import upsert_hitl_detail

            ti_id = context["task_instance"].id
            upsert_hitl_detail(
                ti_id=ti_id,
                options=list(airflow_ui.OPTIONS),
                subject=airflow_ui.subject(self.text),
                body=_required_actions_body(gate, self.review_digest),
                defaults=None,
                multiple=False,
                params={},
                assigned_users=[] if again else self._assigned_users(),  # type: ignore[arg-type]
            )
        except Exception as error:  # Airflow's comms or a Slack look-up: the gate still works in Slack
            self.log.warning(
                "Could not list this gate in Airflow's Required actions; answer it in Slack: %s", error
            )
            return None
        return str(ti_id)

    def _assigned_users(self) -> list[dict[str, str]]:
        """The approvers' Airflow users (the requester's rules read backwards: the connection's
        ``slack_users`` extra, else their Slack profile email), so Required actions shows the request
        to them. Nobody (so anyone Airflow lets answer may, and the gate's rules judge the answer) when
        anyone may approve, when an approver has no Airflow user found (they would be locked out), or
        when the auth manager's user ids are not user names (Airflow's simple auth manager's are)."""
        if self.approvers is None or not _user_id_is_user_name():
            return []
        approvers = sorted(self._policy().approvers or ())
        if len(approvers) > airflow_ui.MAX_ASSIGNED:
            return []
        settings = self.hook.settings
        user_map = parse_user_map(settings.slack_users, conn_id=self.slack_conn_id)
        names: set[str] = set()
        for slack_user in approvers:
            found, _ = airflow_users_for(slack_user, user_map, email=None, email_domain=None)
            if not found:
                try:
                    email = self.hook.user_email(slack_user)
                except SlackGateError as error:
                    self.log.warning("Required actions: assigned to nobody in particular: %s", error)
                    return []
                found, _ = airflow_users_for(
                    slack_user, user_map, email=email, email_domain=settings.email_domain
                )
            if not found:
                return []
            names.update(found)
        return airflow_ui.assigned_users(names)

    def _count_airflow_answer(self, context: Context, event: dict[str, Any]) -> bool:
        """An answer given in Airflow's Required actions: record it in the thread as the responder's
        Slack user's vote (or say there why it counts nothing), decide from one read of the thread, and
        if the gate is still undecided, re-arm the request and wait again."""
        self._kept_requester(context)
        reference = _own_xcom(context, SLACK_MESSAGE_XCOM_KEY)
        if not reference:
            raise AirflowFailException(
                f"Task {self.task_id!r}: resumed by an Airflow answer, but never asked."
            )
        gate = GateRef.from_dict(reference)
        answer = airflow_ui.read_answer(event, asked_at=float(gate.ts))
        recorded = True
        if answer is None:
            self.log.warning("Ignored a resume that holds no answer of this try: %s", event)
        else:
            try:
                self._record_airflow_answer(gate, answer)
            except SlackGateError as error:
                recorded = False
                self.log.warning(
                    "Could not record the answer from Airflow in Slack; it stays answered in Airflow, and "
                    "is counted when the gate resumes with it again: %s",
                    error,
                )
        deadline = float(gate.ts) + self.timeout
        payload = self._read_once(gate, expired=time.time() >= deadline)
        if payload is not None:
            return self.execute_complete(context, payload)
        # not recorded: the request keeps the answer, and the trigger hands it over again
        kept = str(context["task_instance"].id)
        hitl_ti_id = self._arm_airflow_ui(context, gate, again=True) if recorded else kept
        self._defer_to_trigger(context, gate, deadline, hitl_ti_id=hitl_ti_id)

    def _record_airflow_answer(self, gate: GateRef, answer: airflow_ui.AirflowAnswer) -> None:
        try:
            slack_user, _ = self._slack_user_of(answer.name)
        except ValueError as error:  # a malformed slack_users extra: nobody can be mapped
            self.log.error("Cannot map Airflow users to Slack users: %s", error)
            slack_user = None
        why: airflow_ui.NotCounted | None
        if slack_user is None:
            why = "unmapped"
        elif self.hook.user_kinds([slack_user]).get(slack_user) != "person":
            why = "not_a_person"
        else:
            why = why_not_voter(self._policy(), slack_user, answer.vote)
        self.log.info(
            "Airflow user %r answered %s in Required actions: Slack user %s, %s",
            answer.name,
            answer.vote,
            slack_user,
            f"counts nothing ({why})" if why else "recorded as their vote",
        )
        if why is not None:
            text = airflow_ui.not_counted_text(
                airflow_user=answer.name, vote=answer.vote, why=why, slack_user=slack_user
            )
            self.asking.reply_once(channel=gate.channel, thread_ts=gate.ts, text=text, what="the note")
            return
        assert slack_user is not None
        self.asking.write_hook.post_message(
            channel=gate.channel,
            thread_ts=gate.ts,
            text=airflow_ui.record_text(slack_user=slack_user, airflow_user=answer.name, vote=answer.vote),
            metadata=vote_record_metadata(
                voter=slack_user,
                vote=answer.vote,
                reason=None,
                gate_ts=gate.ts,
                click_id=answer.answer_id,
                via="airflow_ui",
            ),
        )

    def _ask(self, context: Context) -> GateRef:
        """Ask once per try (:meth:`Asking.ask <airflow_slack_gate.hooks.asking.Asking.ask>`)."""
        channel = self.hook.task_channel(self.channel, task_id=self.task_id)
        identity = task_identity(context)
        policy, groups = self._base_policy()
        buttons = shows_buttons(self.buttons, clicks_delivered=self.hook.settings.clicks_delivered)

        def message() -> dict[str, Any]:
            return ask_message(
                text=self.text,
                blocks=parse_blocks(self.blocks, task_id=self.task_id),
                policy=policy,
                approver_groups=groups,
                deadline=datetime.now(tz=timezone.utc) + timedelta(seconds=self.timeout),
                requested_by=policy.requested_by,
                context_line=_context_line(identity),
                requester_note=self._requester_note(),
                review_digest=self.review_digest,
                buttons=buttons,
                escalation_groups=self._rules.escalation_groups,
                escalates_at=None
                if self._escalation_delay is None
                else datetime.now(tz=timezone.utc) + timedelta(seconds=self._escalation_delay),
            )

        question = Question(
            text=self.text,
            message=message,
            policy=policy,
            approver_groups=groups,
            review_digest=self.review_digest,
            escalation_groups=self._rules.escalation_groups,
        )
        asked = self.asking.ask(channel, identity, question, since=run_could_start(context).timestamp())
        if asked.reposted_since is not None:
            self._reposted_since = asked.reposted_since
        return self._remember(context, GateRef(channel=asked.channel, ts=asked.ts))

    def _requester_note(self) -> str | None:
        if self._requester is None or not self._requester.is_unknown:
            return None
        return unknown_requester_note(self._requester.airflow_user, conn_id=self.slack_conn_id)

    @cached_property
    def asking(self) -> Asking:
        """Posts at most once and keeps one question per try (:mod:`airflow_slack_gate.hooks.asking`)."""
        return Asking(self.hook, log=self.log)

    def _remember(self, context: Context, gate: GateRef) -> GateRef:
        permalink = gate.permalink
        if not permalink:
            try:
                permalink = self.hook.get_permalink(channel=gate.channel, ts=gate.ts)
            except SlackGateError as error:
                self.log.warning("Could not read the question's permalink: %s", error)
        gate = GateRef(channel=gate.channel, ts=gate.ts, permalink=permalink)
        asked = {**gate.to_dict(), REVIEW_DIGEST_KEY: self.review_digest}
        context["ti"].xcom_push(key=SLACK_MESSAGE_XCOM_KEY, value=asked)
        self.log.info("Asked in Slack: %s", gate.permalink or gate.ts)
        return gate

    # -- waiting -------------------------------------------------------------------------------------

    def _wait_in_worker(self, context: Context, gate: GateRef, deadline: float) -> bool:
        """Poke and reschedule modes: the trigger's read step, run from the worker."""
        next_check = 0.0  # poke mode keeps state between reads; reschedule mode does not
        while True:
            if self.reschedule:
                check_channel = pacing.channel_check_due(time.time(), self.poke_interval)
            elif check_channel := time.monotonic() >= next_check:
                next_check = time.monotonic() + pacing.channel_check_every(self.poke_interval)
            payload = self._read_once(gate, expired=time.time() >= deadline, check_channel=check_channel)
            if payload is not None:
                return self.execute_complete(context, payload)
            wait = self._next_wait(deadline)
            if self.reschedule:
                raise AirflowRescheduleException(datetime.now(tz=timezone.utc) + timedelta(seconds=wait))
            time.sleep(wait)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """If Airflow's deferral timeout fired before the trigger answered, look at Slack one last time."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout:
            reference = _own_xcom(context, SLACK_MESSAGE_XCOM_KEY)
            if not reference:
                raise
            gate = GateRef.from_dict(reference)
            self._kept_requester(context)  # the last look applies the same four-eyes rule
            self.log.warning("The trigger did not answer by the deadline; reading Slack once more.")
            payload = self._read_once(gate, expired=True) or event_payload("timed_out", gate, NO_DECISION)
            return self.execute_complete(context, payload)

    def _read_once(
        self, gate: GateRef, *, expired: bool, check_channel: bool = False
    ) -> dict[str, Any] | None:
        try:
            if check_channel:
                self.hook.check_not_archived(gate.channel)  # None: cannot check now; the read decides
            thread = self.hook.read_thread(channel=gate.channel, ts=gate.ts)
            policy = self._policy()
            kinds = self.hook.user_kinds(voters_to_check(thread, gate, policy))
            people = frozenset(user for user, kind in kinds.items() if kind == "person")
            payload = read_step(thread, gate, policy, expired=expired, people=people)
            if payload is None:
                self._note_uncounted(gate, thread, policy, people)
                self._follow_up(gate, thread, policy, people)
            return payload
        except SlackGateError as error:
            if error.is_permanent:
                return error_payload(gate, error=str(error), error_code=error.error_code)
            self.log.warning("Slack read failed, will retry: %s", error)
            return None

    def _follow_up(
        self, gate: GateRef, thread: list[dict[str, Any]], policy: ApprovalPolicy, people: frozenset[str]
    ) -> None:
        """Post the reminder or escalation announcement due after this read of a still undecided gate,
        once (the trigger's rule, for gates that wait in the worker): not when a reply of the gate's
        own bot already carries it, nor past the deadline; a post whose answer was lost is looked for
        before posting again. A failure is logged; the next read tries again."""
        deadline = float(gate.ts) + self.timeout
        due = follow_ups_due(
            ask_ts=gate.ts,
            remind_after=self._reminder_offsets,
            escalate_after=policy.escalate_after,
            now=time.time(),
            posted=follow_ups_in_thread(thread, gate),
        )
        if not due or time.time() >= deadline:
            return
        base, groups = self._base_policy()
        approvers = (base.approvers or frozenset(), self._members_by_group(groups))
        escalated = (base.escalate_to, self._members_by_group(self._rules.escalation_groups))
        decision = decide_thread(thread, gate, policy, people=people)
        replies = follow_up_replies(
            due,
            ask_ts=gate.ts,
            policy=policy,
            decision=decision,
            approvers=approvers,
            escalated=escalated,
            now=time.time(),
            deadline=deadline,
        )
        for reply in replies:

            def post(text: str = reply.text, metadata: dict[str, Any] = reply.metadata) -> str:
                return self.asking.write_hook.post_message(
                    channel=gate.channel, thread_ts=gate.ts, text=text, metadata=metadata
                ).ts

            def landed(key: str = reply.follow_up.key) -> str | None:
                ask, *answers = self.hook.read_thread(channel=gate.channel, ts=gate.ts)
                found = (one for one in answers if key in follow_ups_in_thread([ask, one], gate))
                return next((str(one["ts"]) for one in found), None)

            try:
                self.asking.post_once(post, landed, f"the {reply.follow_up.kind}")
            except SlackGateError as error:
                self.log.warning(
                    "Could not post the %s now, trying again later: %s", reply.follow_up.kind, error
                )

    @cached_property
    def _sent_notes(self) -> SentNotes:
        return SentNotes()

    def _note_uncounted(
        self, gate: GateRef, thread: list[dict[str, Any]], policy: ApprovalPolicy, people: frozenset[str]
    ) -> None:
        """Tell the authors of replies that look like votes but do not count why, ephemerally.

        Poke mode remembers the replies it noted; reschedule mode keeps nothing between reads, so it
        notes only replies newer than the previous read (one ``poke_interval`` plus
        ``pacing.NOTE_GRACE``): a reschedule later than that skips a note, a reply inside the grace
        may be noted twice, and an escalated person's reaction (which has no time) is never noted.
        A failure to send a note changes nothing for the gate.
        """
        since = time.time() - self._next_wait(float("inf")) - pacing.NOTE_GRACE if self.reschedule else 0.0
        for user, reply_ts, text in uncounted_replies(thread, gate, policy, people=people):
            if self.reschedule and not (SLACK_TS.fullmatch(reply_ts) and float(reply_ts) > since):
                continue  # noted by an earlier read (or a reaction's note, which has no time)
            if not self._sent_notes.first_time(gate.channel, reply_ts):
                continue
            try:
                self.hook.post_ephemeral(channel=gate.channel, user=user, text=text, thread_ts=gate.ts)
            except SlackGateError as error:
                self.log.warning(
                    "Could not tell %s why their reply %s did not count: %s", user, reply_ts, error
                )

    def _next_wait(self, deadline: float) -> float:
        return max(1.0, min(self.poke_interval, deadline - time.time()))

    # -- finishing -----------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any]) -> bool:
        """Record the outcome in Slack and XCom, and turn it into the task's result.

        Resumed by an answer in Airflow's Required actions instead (Airflow's HITL resume payload), it
        counts that answer as a vote and decides from the thread, or waits again."""
        if airflow_ui.is_airflow_answer(event):
            return self._count_airflow_answer(context, event)
        requester = self._kept_requester(context)  # also in the rules the outcome's metadata keeps
        gate = GateRef.from_dict(event["gate"])
        if event["status"] == "error":
            error = SlackGateError(event["error"], error_code=event["error_code"], conn_id=self.slack_conn_id)
            return self._fail_or_false(error)
        decision = Decision.from_dict(event["decision"])
        outcome = decision.outcome if event["status"] == "decided" else "timed_out"
        decided_at = datetime.now(tz=timezone.utc)
        identity = task_identity(context)
        if self._reposted_since is not None:  # poke modes: no trigger's watcher closed a late copy
            self.asking.keep_one(gate.channel, identity, gate.ts, since=self._reposted_since)
        digest = (_own_xcom(context, SLACK_MESSAGE_XCOM_KEY) or {}).get(REVIEW_DIGEST_KEY)
        self._show_outcome(gate, outcome, decision, decided_at, identity, digest)
        approved = outcome == "approved" or (outcome == "timed_out" and self.on_timeout == "approve")
        record = {
            "dag_id": identity["dag_id"],
            "run_id": identity["run_id"],
            "task_id": identity["task_id"],
            "review_digest": digest,
            "approved": approved,
            "outcome": outcome,
            "votes": [vote.to_dict() for vote in decision.votes],
            "decided_by": list(decision.decided_by),
            "reason": decision.reason,
            "decided_at": decided_at.isoformat(),
            "requester": requester.to_dict(),
            **gate.to_dict(),
        }
        context["ti"].xcom_push(key=SLACK_DECISION_XCOM_KEY, value=record)
        self.log.info("Slack gate %s: %s", outcome, record)
        if outcome == "timed_out" and self.on_timeout == "skip":
            raise AirflowSkipException(f"Nobody decided within {self.timeout:.0f}s; on_timeout='skip'.")
        if outcome == "timed_out" and self.on_timeout == "fail":
            raise AirflowFailException(f"Nobody decided within {self.timeout:.0f}s; on_timeout='fail'.")
        return approved

    def _show_outcome(
        self,
        gate: GateRef,
        outcome: str,
        decision: Decision,
        decided_at: datetime,
        identity: dict[str, Any],
        digest: str | None,
    ) -> None:
        """Update the question and post one thread reply; a failure here never loses the decision.

        The question's metadata keeps the outcome, when and by whom it was decided, how each decider
        was allowed (:meth:`_ways_allowed`) and the review digest, for the audit trail
        (:mod:`airflow_slack_gate.audit`)."""
        update = outcome_message(
            original_text=self.text,
            outcome=outcome,
            decided_by=decision.decided_by,
            reason=decision.reason,
            decided_at=decided_at,
            on_timeout=self.on_timeout if outcome == "timed_out" else None,
            review_digest=digest,
        )
        policy, groups = self._base_policy()
        allowed_by = self._ways_allowed(decision, policy, groups)
        decided = outcome_marks(decided_at.timestamp(), decision.decided_by, digest, allowed_by)
        try:
            self.hook.update_message(
                channel=gate.channel,
                ts=gate.ts,
                text=update["text"],
                blocks=update["blocks"],
                metadata=ask_metadata(
                    {**identity, **decided},
                    outcome,
                    policy=policy,
                    approver_groups=groups,
                    escalation_groups=self._rules.escalation_groups,
                ),
            )
            reply = outcome_thread_reply(
                outcome=outcome,
                decided_by=decision.decided_by,
                reason=decision.reason,
                on_timeout=self.on_timeout if outcome == "timed_out" else None,
                escalated=[
                    vote.user
                    for vote in decision.votes
                    if vote.escalated and vote.user in decision.decided_by
                ],
            )
            self.asking.reply_once(
                channel=gate.channel, thread_ts=gate.ts, text=reply, what="the outcome reply"
            )
        except SlackGateError as error:
            self.log.warning("The decision stands, but Slack could not show it: %s", error)

    def _members_by_group(self, groups: Iterable[str]) -> dict[str, frozenset[str]]:
        """Each user group's members, through this try's cached reads (``self._groups``)."""
        return {group: self._groups.members(self.hook, [group]) for group in groups}

    def _ways_allowed(
        self, decision: Decision, policy: ApprovalPolicy, groups: Sequence[str]
    ) -> dict[str, tuple[str, ...]] | None:
        """How each decider was allowed to vote (:func:`~airflow_slack_gate.core.gate.ways_allowed`;
        ``policy`` and ``groups`` as :meth:`_base_policy` gives them), with user-group members as the
        gate read them when it recorded the outcome: this try's reads in poke mode (fresh for
        ``GROUP_TTL``); read again in the worker after a deferral, as the trigger's reads stay in the
        triggerer. ``None`` (not recorded) when Slack cannot say now."""
        if not decision.decided_by:
            return {}
        try:
            approver_groups = self._members_by_group(groups)
            escalation_groups = self._members_by_group(self._rules.escalation_groups)
        except SlackGateError as error:
            self.log.warning(
                "Could not read the approvers' user groups to record how they were allowed: %s", error
            )
            return None
        return ways_allowed(decision.decided_by, policy, approver_groups, escalation_groups)

    def _fail_or_false(self, error: SlackGateError) -> bool:
        if self.fail_on_error:
            raise error
        self.log.error("%s", error)
        return False


def _required_actions_body(gate: GateRef, review_digest: str | None) -> str:
    asked = f"[the question in Slack]({gate.permalink})" if gate.permalink else "the question in Slack"
    # a checked digest holds no backtick or line break, so the code span shows it as it is
    reviewed = f"Review digest: `{review_digest}`. " if review_digest else ""
    return reviewed + (
        f"Asked in Slack: {asked}. Your answer here is your vote, counted as your Slack user's under the "
        "gate's rules (who may approve, how many approvals, not your own request), and recorded in the "
        "question's thread. An Airflow user with no Slack user, or whose Slack user may not vote, counts "
        "nothing."
    )


def _user_id_is_user_name() -> bool:
    """True when Airflow's auth manager is the simple one, whose user id is the user name."""
    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf
    return "SimpleAuthManager" in (conf.get("core", "auth_manager", fallback="") or "")


def _own_xcom(context: Context, key: str) -> Any:
    """What this task instance pushed under ``key`` (its own map index: a mapped gate's siblings push
    the same keys)."""
    ti = context["ti"]
    return ti.xcom_pull(task_ids=ti.task_id, key=key, map_indexes=ti.map_index)


def _context_line(identity: dict[str, Any]) -> str:
    return f"Airflow: {identity['dag_id']}.{identity['task_id']} (try {identity['try_number']})"


def _requester_name(requester: Requester) -> str:
    if requester.airflow_user:
        return f"Airflow user {requester.airflow_user!r}"
    return "a person whose Airflow user name Airflow did not record"


def _safe_alternatives(field: str) -> str:
    example = _RULE_EXAMPLES.get(field, "...")
    return (
        f"Set {field} in the DAG's code ({field}={example}), from an Airflow Variable read in the DAG's "
        f"code ({field}=Variable.get('release_{field}')), or from a connection's extra read in the DAG's "
        f"code, one connection per environment ({field}=Connection.get('release_gate')"
        f".extra_dejson['{field}'])."
    )


def _refuse_run_controlled_rules(task_id: str, **rules: Any) -> None:
    """Refuse a rule field that is a template or an XCom: a run could choose its value."""
    for field, value in rules.items():
        if _is_template(value):
            why = f"is a template ({value!r}), but templates render with the run's params and conf"
        elif not _is_plain(value):
            why = f"is a {type(value).__name__}, not a value: it would be resolved from the run"
        else:
            continue
        raise ValueError(
            f"Task {task_id!r}: {field} {why}, and whoever triggers a run chooses those; who may approve "
            f"and what an undecided gate does must come from the DAG's author. {_safe_alternatives(field)}"
        )


def _trusted_template_help(field: str) -> str:
    example = (
        "{{ var.value.release_channel }}" if field == "channel" else "{{ var.value.release_slack_conn }}"
    )
    return (
        f"{field} decides where the question is asked and whose Slack answers it, so a run's params, conf, "
        f"dag_run and XCom cannot choose it: write it in the DAG's code, or template it with "
        f"{', '.join(TRUSTED_CONTEXT_KEYS)} only, e.g. {field}={example!r} (var.value reads an "
        "Airflow Variable)."
    )


def _refuse_run_controlled_target(task_id: str, field: str, value: Any, trusted_names: set[str]) -> None:
    """Refuse a channel or connection that a run could choose: a template using anything but trusted
    names (Variables, connections, macros and the DAG's own macros), or an XCom."""
    if value is None and field == "channel":
        return
    if not isinstance(value, str):
        raise ValueError(
            f"Task {task_id!r}: {field} is a {type(value).__name__}, not a string. "
            + _trusted_template_help(field)
        )
    if not _is_template(value):
        return
    try:
        names = jinja2.meta.find_undeclared_variables(jinja2.Environment(autoescape=True).parse(value))
    except jinja2.TemplateSyntaxError as error:
        raise ValueError(
            f"Task {task_id!r}: the {field} template {value!r} is not valid Jinja: {error}"
        ) from None
    untrusted = sorted(names - trusted_names - set(DEFAULT_NAMESPACE))
    if untrusted:
        raise ValueError(
            f"Task {task_id!r}: the {field} template {value!r} uses {', '.join(map(repr, untrusted))}, "
            f"which the run controls. {_trusted_template_help(field)}"
        )


def _fields_mapped_from_xcom(task: Any, mapped: Any, partial_kwargs: Mapping[str, Any]) -> list[str]:
    """The rule, channel and connection fields a mapped task takes from an XCom.

    ``mapped`` is the DAG's expand input: a dict of field -> values (``expand``), or a list of dicts, or
    an XCom of them (``expand_kwargs``). Where an XCom's dicts say which fields they set is known only
    once resolved, so a field counts as taken from it when its value differs from the DAG's.
    """
    guarded = (*RULE_FIELDS, *TRUSTED_TEMPLATE_FIELDS)
    if isinstance(mapped, Mapping):
        return [field for field in guarded if field in mapped and not _is_plain(mapped[field])]
    defaults = inspect.signature(type(task).__init__).parameters
    taken: set[str] = set()
    for item in mapped if isinstance(mapped, (list, tuple)) else [mapped]:
        if isinstance(item, Mapping):
            taken |= {field for field in guarded if field in item and not _is_plain(item[field])}
        else:
            taken |= {
                field
                for field in guarded
                if getattr(task, field)
                != partial_kwargs.get(field, getattr(defaults.get(field), "default", None))
            }
    return [field for field in guarded if field in taken]


def _as_id_list(value: Sequence[str] | str | None) -> list[str] | None:
    """Approvers as a list; a string (e.g. a Variable's value) may separate IDs by commas or spaces."""
    if value is None:
        return None
    if isinstance(value, str):
        return [part for part in value.replace(",", " ").split() if part]
    return [str(part) for part in value]


def _is_template(value: Any) -> bool:
    if isinstance(value, str):
        return is_jinja(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_is_template(item) for item in value)
    return False


def _is_plain(value: Any) -> bool:
    """Data written in the DAG's code (or read there), not something Airflow resolves at run time."""
    if value is None or isinstance(value, (str, int, float, timedelta)):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_is_plain(item) for item in value)
    return False
