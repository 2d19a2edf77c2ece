"""Airflow's side of a Slack answer to a HITL request, in the API server: the respondent's Airflow user,
then Airflow's own response code.

A click becomes the answer through the core API's ``update_hitl_detail`` (the handler of
``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails``),
called in this process with the respondent as its user, so the answer gets Airflow's validation of the
options, its 409 for a second answer, its ``assigned_users`` check (the auth manager's
``is_authorized_hitl_task`` on Airflow 3.2+; the user's id and name among the assigned users on 3.1)
and, on Airflow 3.3+, its resume of the task parked in ``awaiting_input`` (``handle_event_submit``).
On 3.1 and 3.2 the task's ``HITLTrigger`` reads the row and resumes it. Before that, this module checks
what the route's dependency checks: that the user may update the DAG's HITL details
(``is_authorized_dag(PUT, HITL_DETAIL)``).

A form's submission is validated before that, as the task will validate it when it resumes: the
inputs are those of Airflow's row of the request (the params' schemas), each value is checked with
Airflow's ``Param.resolve`` against its schema, and an invalid one is refused with its input's error
(shown in the modal) instead of being recorded (Airflow would record it, and the task would fail).

The respondent: the Slack user's candidate Airflow user names
(:func:`~airflow_slack_gate.core.requesters.airflow_users_for`) are looked up in the auth manager; the
user object is the one the auth manager itself builds for that user. Only the simple auth manager
(Airflow's default) can list its users; with another auth manager every click is refused with a note
("answer in Airflow") until it is supported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_slack_gate.core.hitl import (
    FORM_OPTION_BLOCK,
    FormField,
    answerable_in_slack,
    form_fields,
    form_options,
    form_values,
    option_index,
)
from airflow_slack_gate.core.protocol import HITLRequest, options_digest
from airflow_slack_gate.runtime.hitl import HITLAnswer, HITLForm, Respondent

log = logging.getLogger(__name__)

#: HTTP status of update_hitl_detail -> what the click's note says.
_STATUSES = {409: "already_answered", 403: "not_allowed", 400: "invalid_option", 404: "gone"}


class AirflowHITLAnswerer:
    """Answers HITL requests in this Airflow's metadata database, through Airflow's own response code."""

    async def answer(self, request: HITLRequest, respondent: Respondent, chosen: Sequence[str]) -> HITLAnswer:
        # The database and the auth manager are synchronous: keep them off the API server's event loop.
        return await asyncio.to_thread(self._answer, request, respondent, list(chosen))

    async def form(self, request: HITLRequest) -> HITLForm | HITLAnswer:
        return await asyncio.to_thread(self._form, request)

    async def answer_form(
        self, request: HITLRequest, respondent: Respondent, state: Mapping[str, Any]
    ) -> HITLAnswer:
        return await asyncio.to_thread(self._answer, request, respondent, [], state)

    def _form(self, request: HITLRequest) -> HITLForm | HITLAnswer:
        from airflow.utils.session import create_session

        link = _link(request)
        try:
            with create_session() as session:
                form = _form_request(session, request, link)
                if isinstance(form, HITLAnswer):
                    return form
                found, fields = form
                options = list(found.options or ())
                if not answerable_in_slack(
                    options=options, multiple=bool(found.multiple), has_params=True, form_in_slack=True
                ):
                    return HITLAnswer("form", link=link)
                return HITLForm(
                    subject=str(found.subject),
                    fields=tuple(fields),
                    options=tuple(str(option) for option in found.options or ()),
                    multiple=bool(found.multiple),
                )
        except Exception as error:  # never a trace in Slack; the log has it
            log.exception("Could not read the form of HITL request %s", request.identity)
            return HITLAnswer("failed", link=link, detail=f" ({type(error).__name__})")

    def _answer(
        self,
        request: HITLRequest,
        respondent: Respondent,
        chosen: list[str],
        state: Mapping[str, Any] | None = None,
    ) -> HITLAnswer:
        from airflow.utils.session import create_session

        link = _link(request)
        try:
            with create_session() as session:
                if state is None:
                    judged = _judge(session, request, chosen, link)
                else:
                    judged = _judge_form(session, request, state, link)
            if isinstance(judged, HITLAnswer):
                return judged
            names, params = judged
            user = respondent_user(respondent)
            if isinstance(user, HITLAnswer):
                return HITLAnswer(user.status, link=link, detail=user.detail)
            if not _may_update_hitl(user, request.dag_id):
                return HITLAnswer("not_allowed", link=link)
            # A session of its own, as the PATCH request's: on Airflow 3.1 a task instance already loaded
            # in the session has its ``hitl_detail`` (lazy="noload") loaded as None, and the handler's
            # joinedload would not replace it (a 404).
            with create_session() as session:
                answer = _update(session, request, names, params, user, link)
        except Exception as error:  # never a trace in Slack; the log has it
            log.exception("Could not answer HITL request %s from Slack", request.identity)
            return HITLAnswer("failed", link=link, detail=f" ({type(error).__name__})")
        if answer.status == "answered":
            log.info(
                "HITL request %s answered %s from Slack by %s (Airflow user %s, found by %s)",
                request.identity,
                list(names),
                respondent.slack_user,
                answer.airflow_user,
                respondent.found_by,
            )
        return answer


def _judge(
    session: Any, request: HITLRequest, chosen: list[str], link: str | None
) -> HITLAnswer | tuple[list[str], dict[str, Any]]:
    """The chosen options' names and the params an answer sends, or why the click answers nothing:
    judged by the message's metadata (its try, the options it showed) against Airflow's row."""
    detail = _find(session, request, link)
    if isinstance(detail, HITLAnswer):
        return detail
    options = list(detail.options or [])
    if request.form:  # params of its own: a form, answered in its modal or in Airflow
        return HITLAnswer("form", link=link)
    indexes = [option_index(value, len(options)) for value in chosen]
    if not indexes:
        return HITLAnswer("nothing_chosen", link=link)
    if any(index is None for index in indexes):
        return HITLAnswer("invalid_option", link=link)
    if not detail.multiple and len(indexes) > 1:
        return HITLAnswer("too_many_chosen", link=link)
    return [options[index] for index in indexes if index is not None], unchanged_params(detail.params)


def _judge_form(
    session: Any, request: HITLRequest, state: Mapping[str, Any], link: str | None
) -> HITLAnswer | tuple[list[str], dict[str, Any]]:
    """The options and params of a submitted form, validated as Airflow validates them when the task
    resumes (every param's value against its schema), or why it answers nothing (``invalid_input``
    with the inputs' errors, shown in the modal). The form's inputs come from Airflow's row; the
    submission only gives values."""
    form = _form_request(session, request, link)
    if isinstance(form, HITLAnswer):
        return form
    detail, fields = form
    typed, errors = form_values(fields, state)
    for field in fields:
        if field.key in typed and field.block_id not in errors:
            why = _invalid(field, typed[field.key])
            if why:
                errors[field.block_id] = why
    options = list(detail.options or [])
    indexes = [option_index(value, len(options)) for value in form_options(len(options), state)]
    if not indexes:
        errors[FORM_OPTION_BLOCK] = "Choose an answer."
    elif any(index is None for index in indexes):
        errors[FORM_OPTION_BLOCK] = "That is not one of this request's options."
    elif not detail.multiple and len(indexes) > 1:
        errors[FORM_OPTION_BLOCK] = "Choose one answer."
    if errors:
        return HITLAnswer("invalid_input", link=link, errors=tuple(errors.items()))
    params = {key: typed.get(key, value) for key, value in unchanged_params(detail.params).items()}
    return [options[index] for index in indexes if index is not None], params


def _form_request(
    session: Any, request: HITLRequest, link: str | None
) -> tuple[Any, list[FormField]] | HITLAnswer:
    """Airflow's row of a request with a form, and the form's inputs; or why it has no form that can be
    answered in Slack."""
    detail = _find(session, request, link)
    if isinstance(detail, HITLAnswer):
        return detail
    if not request.form:
        return HITLAnswer("no_form", link=link)
    fields = _fields(session, request, detail)
    if fields is None:
        return HITLAnswer("form", link=link)
    return detail, fields


def _fields(session: Any, request: HITLRequest, detail: Any) -> list[FormField] | None:
    """The form's inputs, from Airflow's row of the request: each param's value, schema and description
    (Airflow 3.1.3+ keeps them there). Airflow 3.1.2 keeps only values there: the schemas are then the
    task's params in the serialized DAG (Airflow's own copy of the DAG in the database)."""
    params = detail.params if isinstance(detail.params, dict) else {}
    if all(isinstance(value, dict) and {"value", "schema"} <= set(value) for value in params.values()):
        return form_fields(params)
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(request.dag_id, session=session)
    task_params = dag.get_task(request.task_id).params if dag is not None else None
    if task_params is None or set(task_params) != set(params):
        return None
    described = {}
    for key, value in params.items():
        param = task_params.get_param(key)
        described[key] = {"value": value, "schema": param.schema, "description": param.description}
    return form_fields(described)


def _invalid(field: FormField, value: Any) -> str:
    """Why Airflow would refuse ``value`` for the param (its JSON schema, as ``Param.resolve`` checks
    it when the task resumes), or ``""``."""
    from airflow.sdk.definitions.param import Param

    try:
        Param(value, schema=dict(field.schema)).resolve(value=value)
    except Exception as error:  # ParamValidationError (jsonschema's message); a plain line for Slack
        lines = str(error).strip().splitlines() or [type(error).__name__]
        return f"Not valid: {' '.join(lines[0].split())}"[:150]  # jsonschema's first line, not the schema
    return ""


def _find(session: Any, request: HITLRequest, link: str | None) -> Any:
    """Airflow's row of the request the message names, or why a click on it answers nothing (gone,
    another try, other options, answered)."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    ti = session.scalar(
        select(TaskInstance).where(
            TaskInstance.dag_id == request.dag_id,
            TaskInstance.run_id == request.run_id,
            TaskInstance.task_id == request.task_id,
            TaskInstance.map_index == request.map_index,
        )
    )
    detail = _detail_of(session, ti.id) if ti is not None else None
    if ti is None or detail is None:
        return HITLAnswer("gone", link=link)
    # The message names one try of one task instance, and the options it showed: judge by them.
    if str(ti.id) != request.ti_id or ti.try_number != request.try_number:
        return HITLAnswer("stale", link=link)
    options = list(detail.options or [])
    if options_digest(options) != request.options:
        return HITLAnswer("stale", link=link)
    if detail.responded_at is not None:
        return _already(detail, link)
    return detail


def _update(
    session: Any, request: HITLRequest, names: list[str], params: dict[str, Any], user: Any, link: str | None
) -> HITLAnswer:
    """Airflow's own response code answers: its 409, 403, 400 and 404 become the click's note."""
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.models.taskinstance import TaskInstance
    from fastapi import HTTPException
    from sqlalchemy import select

    # Still the try that was judged (a column read: no task instance enters the session).
    current = session.scalar(
        select(TaskInstance.id).where(
            TaskInstance.dag_id == request.dag_id,
            TaskInstance.run_id == request.run_id,
            TaskInstance.task_id == request.task_id,
            TaskInstance.map_index == request.map_index,
        )
    )
    if str(current) != request.ti_id:
        return HITLAnswer("stale", link=link)
    try:
        update_hitl_detail(
            dag_id=request.dag_id,
            dag_run_id=request.run_id,
            task_id=request.task_id,
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=names, params_input=params),
            user=user,
            session=session,
            map_index=request.map_index,
        )
    except HTTPException as error:
        session.rollback()
        status = _STATUSES.get(error.status_code, "failed")
        log.info(
            "Airflow refused a Slack answer to %s: %s %s", request.identity, error.status_code, error.detail
        )
        if status == "already_answered":
            detail = _detail_of(session, current)  # answered meanwhile: show by whom
            if detail is not None:
                return _already(detail, link)
        return HITLAnswer(status, link=link)  # type: ignore[arg-type]
    session.commit()
    return HITLAnswer("answered", chosen=tuple(names), airflow_user=user.get_name(), link=link)


def unchanged_params(params: Any) -> dict[str, Any]:
    """The ``params_input`` of an answer that fills in no form: the request's params as they are.

    Airflow 3.1 puts the DAG's params into every HITL request (no form of the task's own) and refuses an
    answer whose ``params_input`` lacks any of them, as the Airflow UI sends them prefilled; so does
    this. Its row keeps their values; Airflow 3.1.3+ keeps serialized params, whose ``value`` is taken.
    """
    if not isinstance(params, dict):
        return {}
    return {
        key: value["value"] if isinstance(value, dict) and {"value", "schema"} <= set(value) else value
        for key, value in params.items()
    }


def _detail_of(session: Any, ti_id: Any) -> Any:
    """Airflow's row of the request of a task instance (``TaskInstance.hitl_detail`` may not be lazily
    loaded: it is ``lazy="raise"`` on Airflow 3.3)."""
    from airflow.models.hitl import HITLDetail
    from sqlalchemy import select

    return session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti_id))


def respondent_user(respondent: Respondent) -> Any:
    """The auth manager's user object for the respondent, or a :class:`HITLAnswer` saying why not."""
    from airflow.api_fastapi.app import get_auth_manager

    if not respondent.airflow_names:
        return HITLAnswer("unmapped")
    manager = get_auth_manager()
    users = _known_users(manager)
    if users is None:
        return HITLAnswer("unsupported", detail=f" ({type(manager).__name__})")
    wanted = {name.casefold() for name in respondent.airflow_names}
    found = [user for name, user in users.items() if name.casefold() in wanted]
    if not found:
        return HITLAnswer("unmapped")
    if len(found) > 1:
        return HITLAnswer("ambiguous")
    return found[0]


def _known_users(manager: Any) -> dict[str, Any] | None:
    """The auth manager's users by name, as its own user objects; ``None`` when it cannot list them."""
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    if not isinstance(manager, SimpleAuthManager):
        return None
    users: dict[str, Any] = {}
    for user in manager.get_users():
        if isinstance(user, SimpleAuthManagerUser):  # Airflow 3.2+
            users[user.get_name()] = user
        else:  # Airflow 3.1: {"username": ..., "role": ...}
            users[user["username"]] = SimpleAuthManagerUser(username=user["username"], role=user["role"])
    return users


def _may_update_hitl(user: Any, dag_id: str) -> bool:
    """What the PATCH route's dependency checks: may ``user`` update this DAG's HITL details?"""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel

    return bool(
        get_auth_manager().is_authorized_dag(
            method="PUT",
            access_entity=DagAccessEntity.HITL_DETAIL,
            details=DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id)),
            user=user,
        )
    )


def _already(detail: Any, link: str | None) -> HITLAnswer:
    responded = detail.responded_by or {}
    return HITLAnswer(
        "already_answered",
        chosen=tuple(detail.chosen_options or ()),
        airflow_user=str(responded.get("name") or responded.get("id") or "someone"),
        link=link,
    )


def _link(request: HITLRequest) -> str | None:
    """The request's Required Actions page (as HITLOperator.generate_link_to_ui builds it), if Airflow
    has an ``api.base_url``."""
    from urllib.parse import urlencode, urlparse, urlunparse

    from airflow.configuration import conf

    base_url = conf.get("api", "base_url", fallback=None)
    if not base_url:
        return None
    parsed = urlparse(base_url)
    path = f"/dags/{request.dag_id}/runs/{request.run_id}/tasks/{request.task_id}/required_actions"
    query = urlencode({"map_index": request.map_index})
    return urlunparse((parsed.scheme, parsed.netloc, path, "", query, ""))
