"""Slack follows Airflow: when a HITL task asked in Slack by :class:`SlackHITLNotifier` finishes, its
request's message shows the outcome and loses its buttons, wherever the request was answered.

The package's Airflow plugin ships :data:`listener`. Airflow calls it where the task finishes, in the
worker's task runner, after the task resumed from waiting: answered in the Airflow UI or its REST API,
by a click in Slack, or at its ``response_timeout`` (Airflow's defaults taken, or the task failed). For a
task whose ``notifiers`` include a :class:`SlackHITLNotifier`, it reads Airflow's row of the request
(as the task itself received it when it resumed) and updates the request's message in the notifier's
channel:

- only a message the connection's own bot posted whose metadata names this try of this task instance
  (``ti_id`` included) is updated; metadata is readable by anyone, and a copy posted by a person or
  another app is never touched;
- a message that shows an outcome already (a click in Slack updated it) is not rewritten;
- a failure is logged in the task's log and never changes the task's state: the answer is in Airflow,
  the message is only its picture.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.listeners import hookimpl

from airflow_slack_gate.core.hitl import HITLOutcome, outcome_update
from airflow_slack_gate.hooks.asking import Asking, run_could_start, task_identity
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.notifiers.slack import SlackHITLNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)


class SlackHITLSync:
    """The listener (Airflow's ``on_task_instance_success`` / ``on_task_instance_failed`` hooks) that
    shows a HITL request's outcome in Slack. Listener hooks must not raise: Airflow logs the
    exception, but the hooks of other listeners registered after this one would not run."""

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        show_outcome(task_instance, error=None)

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        show_outcome(task_instance, error=error)


#: The instance the plugin registers.
listener = SlackHITLSync()


def show_outcome(task_instance: Any, *, error: BaseException | str | None) -> None:
    """Show how the HITL request of ``task_instance`` (a task runner's task instance) ended, in the
    message of each of its task's :class:`SlackHITLNotifier`; anything else is left alone."""
    notifiers = _slack_notifiers(task_instance)
    if not notifiers:
        return
    try:
        context = task_instance.get_template_context()
        identity = task_identity(context)
        outcome: HITLOutcome | None = None
        for notifier in notifiers:
            outcome = _show(notifier, context, identity, outcome, error)
    except Exception:  # never fail the task, nor stop other listeners
        log.exception("Could not show the answer in Slack; the request's outcome is in Airflow.")


def _slack_notifiers(task_instance: Any) -> list[SlackHITLNotifier]:
    """The task's SlackHITLNotifiers, when Airflow calls from the task runner (the API server calls
    the same hooks with its own task instances when a person sets a task's state: no request there)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    if not isinstance(task_instance, RuntimeTaskInstance):
        return []
    notifiers = getattr(task_instance.task, "notifiers", None) or ()
    return [notifier for notifier in notifiers if isinstance(notifier, SlackHITLNotifier)]


def _show(
    notifier: SlackHITLNotifier,
    context: Context,
    identity: dict[str, Any],
    outcome: HITLOutcome | None,
    error: BaseException | str | None,
) -> HITLOutcome | None:
    """Update the open request messages of this try in the notifier's channel; return the outcome
    (read from Airflow once, when there is a message to show it in)."""
    hook = SlackGateHook(slack_conn_id=notifier.slack_conn_id)
    channel = hook.channel_id(hook.task_channel(notifier.channel, task_id=identity["task_id"]))
    asking = Asking(hook, log=log)
    since = run_could_start(context).timestamp()
    for message in asking.find_requests(channel, identity, since=since):
        if outcome is None:
            outcome = _outcome(context["ti"], error)
        update = outcome_update(message, outcome)
        if update is None:
            log.info("The Slack message %s shows the answer already.", message["ts"])
            continue
        hook.update_message(channel=channel, ts=str(message["ts"]), **update)
        log.info("The Slack message %s shows the outcome: %s.", message["ts"], outcome.summary)
    return outcome


def _outcome(task_instance: Any, error: BaseException | str | None) -> HITLOutcome:
    """How the request ended, as the task itself learnt it when it resumed (the worker cannot read
    Airflow's HITL row: the task runner's supervisor does not serve that request)."""
    answer = _answer_of(task_instance)
    chosen = tuple(str(option) for option in answer.get("chosen_options") or ())
    if chosen:
        user = answer.get("responded_by_user")
        if isinstance(user, Mapping):
            name = user.get("name") or user.get("id")
        else:
            name = getattr(user, "name", None) or getattr(user, "id", None)
        return HITLOutcome(chosen=chosen, airflow_user=str(name) if name else None)
    if answer.get("error_type") == "timeout" or type(error).__name__ == "HITLTimeoutError":
        return HITLOutcome(why="nobody answered in time, and the task failed")
    return HITLOutcome(why="the task failed" if error is not None else "the task ended")


def _answer_of(task_instance: Any) -> Mapping[str, Any]:
    """The response the task resumed with: ``HITLOperator.hitl_summary`` (Airflow 3.3+, kept for
    listeners), else the resume event Airflow handed to ``execute_complete`` (Airflow 3.1 and 3.2
    have no summary; the event is the same response, or the timeout error)."""
    summary = getattr(task_instance.task, "hitl_summary", None)
    if isinstance(summary, Mapping):
        return summary
    server_context = getattr(task_instance, "_ti_context_from_server", None)
    next_kwargs = getattr(server_context, "next_kwargs", None)
    if not isinstance(next_kwargs, Mapping):
        return {}
    from airflow.serialization.serialized_objects import BaseSerialization

    kwargs = BaseSerialization.deserialize(dict(next_kwargs))
    event = kwargs.get("event") if isinstance(kwargs, Mapping) else None
    return event if isinstance(event, Mapping) else {}
