"""Slack errors explained: what went wrong, in which connection, and how to fix it.

Pure: the catalogue of Slack error codes and their fixes, so every Slack error surfaces in the task log
as a message a person can act on without looking anything up. The exception that carries it is
:class:`airflow_slack_gate.hooks.errors.SlackGateError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Slack error codes that mean the token in the connection is not usable.
TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "no_permission"}
)

#: Errors that retrying will not cure: the gate must end now rather than wait forever.
PERMANENT_ERRORS = TOKEN_ERRORS | frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "missing_scope",
        "is_archived",
        "thread_not_found",
        "message_not_found",
        "cant_update_message",
        "no_such_subteam",
        "user_not_found",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "restricted_action",
        "invalid_arguments",
    }
)


#: Errors of a button click or of the Socket Mode connection. The triggerer or the API server logs
#: them; no gate ends or fails because of them: gates keep reading Slack on their own.
BUTTON_ERRORS = frozenset(
    {
        "socket_mode_not_enabled",
        "not_allowed_token_type",
        "expired_trigger_id",
        "exchanged_trigger_id",
        "invalid_trigger_id",
        "user_not_in_channel",
    }
)


#: Errors of users.info about one voter that only that call meets: that person's vote does not count,
#: and the gate keeps waiting (``user_not_found`` there means the same; elsewhere it ends the gate).
VOTER_ERRORS = frozenset({"user_not_visible"})


def fix_for(
    error_code: str, conn_id: str, response: Mapping[str, Any] | None = None, *, method: str | None = None
) -> str:
    """Return the advice for ``error_code`` (returned by Slack ``method``), naming the connection."""
    response = response or {}
    if method == "users.info" and error_code in {"user_not_found", "user_not_visible"}:
        return (
            "Slack will not say whether this user is a person (unknown to this workspace, or in an "
            "organisation the app cannot see), so their reaction or reply does not count as a vote; "
            "nothing to fix unless they should vote: then they vote from an account of this workspace"
        )
    if error_code in TOKEN_ERRORS:
        return (
            f"check the Bot User OAuth Token (xoxb-...) in Airflow connection {conn_id!r}: "
            "it is missing, wrong, revoked or belongs to a deactivated app; reinstall the Slack app "
            "and paste the new token into the connection's password field"
        )
    if error_code in {"channel_not_found", "not_in_channel"}:
        return (
            "invite the bot to the channel (type `/invite @<your app>` in the channel; approval gates "
            "always need this, as they read the thread), or for SlackPostOperator alone grant the app the "
            "chat:write.public scope to post in public channels it has not joined; check the channel "
            f"name or ID, and the connection's default_channel in {conn_id!r}"
        )
    if error_code == "missing_scope":
        needed = response.get("needed") or "that Slack names in the error's 'needed' field"
        provided = response.get("provided")
        have = f" (the token has: {provided})" if provided else ""
        return (
            f"add the OAuth scope {needed} to the Slack app{have}, reinstall it to the workspace and "
            f"update the token in connection {conn_id!r}"
        )
    if error_code == "ratelimited":
        return (
            "Slack kept answering 429 (rate limited) after the client's retries; reduce how often gates "
            "read Slack (raise poke_interval) or how many tasks post at once, then retry"
        )
    if error_code == "is_archived":
        return "the channel is archived: unarchive it or point the task at another channel"
    if error_code in {"message_not_found", "thread_not_found"}:
        return (
            "the Slack message was deleted or never existed in this channel; run the task again to ask anew"
        )
    if error_code == "cant_update_message":
        return "only messages posted by this bot can be updated; check the channel and ts"
    if error_code in {"no_such_subteam", "user_not_found"}:
        return (
            "check the user and user-group IDs in `approvers`/`requested_by` (copy them from the "
            "profile or group's '...' menu in Slack)"
        )
    if error_code == "invalid_blocks" and isinstance(response.get("errors"), list):
        where = "; ".join(str(problem) for problem in response["errors"][:5])
        return f"fix the message's blocks (Block Kit Builder validates blocks); Slack says: {where}"
    if error_code == "msg_too_long":
        return (
            "the message's text is longer than Slack takes (40,000 characters at most; Slack advises "
            "4,000): shorten it and put details behind a link"
        )
    if error_code in {"no_text", "invalid_blocks", "invalid_blocks_format"}:
        return "fix the message's text/blocks (Block Kit Builder validates blocks)"
    if error_code == "socket_mode_not_enabled":
        return (
            "turn Socket Mode on in the Slack app (Settings > Socket Mode, or recreate it from "
            "`airflow-slack-gate manifest --socket-mode`), or remove the app_token extra from "
            f"connection {conn_id!r} to take clicks through the Request URL instead"
        )
    if error_code == "not_allowed_token_type":
        return (
            f"the App-Level Token of connection {conn_id!r} is not a valid app-level token: generate one "
            "(xapp-...) with the scope connections:write under the app's Basic Information > "
            "App-Level Tokens and paste it into the connection's App-Level Token field"
        )
    if error_code in {"expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id"}:
        return (
            "the reject-reason dialog could not open: Slack allows 3 seconds from the click, once; the "
            "person clicks Reject again (if it keeps happening, the triggerer or API server is overloaded)"
        )
    if error_code == "user_not_in_channel":
        return "the person who clicked is not in the channel, so they could not be told why; nothing to fix"
    if error_code.startswith("http_5"):
        return "Slack answered with a server error after the client's retries; retry later"
    if error_code == "timeout":
        return (
            f"Slack did not answer within the timeout of connection {conn_id!r} (extra 'timeout', "
            "default 30 s) even after retries; raise it or retry later"
        )
    if error_code == "connection_error":
        return (
            f"Slack could not be reached; check network access and the base_url/proxy in {conn_id!r}, "
            "then retry"
        )
    return "see https://api.slack.com/methods for this error code"
