"""SlackHITLNotifier: ask Airflow's own human-in-the-loop requests in Slack, answered with a click.

Airflow 3.1+ ships ``HITLOperator``, ``ApprovalOperator``, ``HITLBranchOperator`` and
``HITLEntryOperator``. Their ``execute`` writes the request into Airflow's database, then calls each of
its ``notifiers``; give it this one and the request is asked in Slack too::

    ApprovalOperator(
        task_id="approve_deploy",
        subject="Deploy {{ params.model }}?",
        notifiers=[SlackHITLNotifier(channel="#deploys")],
    )

The message shows the request's subject and body (escaped: values from the run cannot ping a channel or
forge a link), one button per option (checkboxes and a Submit button for ``multiple=True``), and a link
to the task's Required Actions page in Airflow. A click reaches the API server's Request URL
(``/slack-gate/interactions``) and becomes Airflow's answer, given as the clicking person's Airflow
user (see :mod:`airflow_slack_gate.interactive.hitl`). A request with ``params`` (a form) shows an
"Answer in Slack" button opening a modal when every param has a Slack input (strings, integers,
numbers, booleans, enums); otherwise it is answered in Airflow: the message links there.

If Slack cannot be reached or refuses the message, the error and its fix are logged at ERROR in the
task's log and the task keeps waiting: the request is in Airflow's database already, and stays
answerable in the Airflow UI and its REST API. A failed notification never fails the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.notifier import BaseNotifier

from airflow_slack_gate.core.hitl import form_fields, hitl_message
from airflow_slack_gate.core.messages import shows_buttons, validate_buttons
from airflow_slack_gate.core.protocol import hitl_metadata
from airflow_slack_gate.hooks.asking import Asking, task_identity
from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import DEFAULT_CONN_ID, SlackGateHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class SlackHITLNotifier(BaseNotifier):
    """
    Ask an Airflow HITL request (``HITLOperator`` and its subclasses) in Slack; pass it in the
    operator's ``notifiers``.

    :param slack_conn_id: Airflow connection of type ``slack_gate`` (or the official ``slack``); its
        ``signing_secret`` lets the API server take the clicks, its ``slack_users`` / ``email_domain``
        map the person who clicks to their Airflow user.
    :param channel: Channel ID or name; defaults to the connection's ``default_channel``.
    :param text: The DAG author's own mrkdwn, shown above the request (sent as written; not a template).
    :param mention: Who to notify: a Slack user ID (``U012AB3CD``), or mrkdwn such as ``<!here>`` or
        ``<!subteam^S012AB3CD>`` (sent as written).
    :param buttons: Show the options as buttons: ``"auto"`` when the connection has a ``signing_secret``
        (Request URL) or an ``app_token`` (Socket Mode), without which Slack cannot deliver a click;
        ``"always"`` (or ``True``); ``"never"`` (or ``False``). Without buttons the message links to the
        request in Airflow.
    """

    template_fields = ()

    def __init__(
        self,
        *,
        slack_conn_id: str = DEFAULT_CONN_ID,
        channel: str | None = None,
        text: str | None = None,
        mention: str | None = None,
        buttons: bool | str = "auto",
    ) -> None:
        super().__init__()
        try:
            self.buttons = validate_buttons(buttons)
        except ValueError as error:
            raise ValueError(f"SlackHITLNotifier: {error}") from None
        self.slack_conn_id = slack_conn_id
        self.channel = channel
        self.text = text
        self.mention = mention

    def notify(self, context: Context) -> None:
        """Post the request (at most once); a Slack error is logged, never raised (see the module)."""
        from airflow.providers.standard.operators.hitl import HITLOperator

        ti = context["task_instance"]
        # the rendered operator: Airflow 3.1's context["task"] is the task before its templates were
        # rendered (the request's subject and body in Airflow's row are rendered ones)
        task = getattr(ti, "task", None)
        if not isinstance(task, HITLOperator):
            task = context["task"]
        if not isinstance(task, HITLOperator):
            raise TypeError(
                f"SlackHITLNotifier asks HITL requests: pass it in the notifiers of a HITLOperator "
                f"(ApprovalOperator, HITLBranchOperator, HITLEntryOperator), not to {type(task).__name__}."
            )
        try:
            link: str | None = HITLOperator.generate_link_to_ui_from_context(context=context)
        except ValueError:  # no api.base_url: the message says so
            link = None
        options = [str(option) for option in task.options]
        identity = task_identity(context)
        form = _has_form(task)
        form_in_slack = form and form_fields(_params_of(task)) is not None
        hook = SlackGateHook(slack_conn_id=self.slack_conn_id)
        try:
            channel = hook.task_channel(self.channel, task_id=task.task_id)
            message = hitl_message(
                subject=str(task.subject),
                body=None if task.body is None else str(task.body),
                options=options,
                multiple=bool(task.multiple),
                has_params=form,
                link=link,
                form_in_slack=form_in_slack,
                text=self.text,
                mention=self.mention,
                assigned_users=list(task.assigned_users or ()),
                context_line=_context_line(identity),
                buttons=shows_buttons(self.buttons, clicks_delivered=hook.settings.clicks_delivered),
            )
            posted = Asking(hook, log=self.log).post(
                identity,
                channel=channel,
                text=message["text"],
                blocks=message["blocks"],
                thread_ts=None,
                metadata_for=lambda post_id: hitl_metadata(
                    identity, ti_id=str(ti.id), options=options, post_id=post_id, form=form
                ),
            )
        except (SlackGateError, ValueError) as error:
            self.log.error(
                "Could not ask this request in Slack: %s. The request is waiting in Airflow: answer it "
                "there (%s).",
                error,
                link or "the task's Required actions",
            )
            return
        self.log.info("Asked in Slack: channel %s, message %s", posted.channel, posted.ts)


def _context_line(identity: dict[str, Any]) -> str:
    mapped = f"[{identity['map_index']}]" if identity["map_index"] >= 0 else ""
    return f"Airflow: {identity['dag_id']}.{identity['task_id']}{mapped} (try {identity['try_number']})"


def _has_form(task: Any) -> bool:
    """Whether the request has params of its own (a form to fill in). Airflow merges the DAG's params into
    every task's; they are no form. Where a param knows its source (Airflow 3.2+), the task's own are
    the form, also when the DAG names the same field. On 3.1 a param is the task's own unless it has the
    DAG's param's schema and description (not its value: 3.1 writes the run's conf into the params)."""
    params = task.params or {}
    dag_params = getattr(getattr(task, "dag", None), "params", None) or {}

    def own(key: str) -> bool:
        param = params.get_param(key) if hasattr(params, "get_param") else None
        source = getattr(param, "source", None)
        if source is not None:
            return bool(source == "task")
        if key not in dag_params:
            return True
        dag_param = dag_params.get_param(key) if hasattr(dag_params, "get_param") else None
        if param is None or dag_param is None:
            return bool(params[key] != dag_params[key])
        return bool(_definition(param) != _definition(dag_param))

    return any(own(key) for key in params)


def _definition(param: Any) -> dict[str, Any]:
    return {key: value for key, value in param.dump().items() if key != "value"}


def _params_of(task: Any) -> dict[str, Any]:
    """The task's params as Airflow keeps them in its row of the request (``value``, ``schema``,
    ``description`` of each)."""
    params = task.params or {}
    out: dict[str, Any] = {}
    for key in params:
        param = params.get_param(key) if hasattr(params, "get_param") else None
        if param is None:
            out[key] = {"value": params[key], "schema": {}, "description": None}
        else:
            value = param.value if param.has_value else None
            out[key] = {"value": value, "schema": param.schema, "description": param.description}
    return out
