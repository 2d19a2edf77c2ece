"""Every Slack error the hook can meet becomes a SlackGateError naming the code, the connection and the fix.

Each case sets the workspace up the way a user gets into trouble (a wrong or revoked token, a channel
the bot is not in, a bot without a scope...), makes the call over HTTP and checks the error, that it
is permanent or not, and that the token shows up neither in the error nor in any log (slack_sdk's
request and response log at DEBUG included). Transient failures are retried first (see
test_hook_retries.py); here they persist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_slack_gate.hooks.errors import SlackGateError
from airflow_slack_gate.hooks.slack import (
    MAX_CONNECTION_RETRIES,
    MAX_RATE_LIMIT_RETRIES,
    MAX_SERVER_ERROR_RETRIES,
    SlackGateHook,
)
from airflow_slack_gate.testing.emulator import DEFAULT_BOT_SCOPES, DemoWorkspace, SlackEmulator

RATE_LIMITED = 1 + MAX_RATE_LIMIT_RETRIES
SERVER_ERRORS = 1 + MAX_SERVER_ERROR_RETRIES
DROPPED = 1 + MAX_CONNECTION_RETRIES
UNKNOWN_TOKEN = "xoxb-0000-not-a-token-of-this-workspace"
UNKNOWN_TS = "1500000000.000100"

TOKEN_FIX = "paste the new token into the connection's password field"
CHANNEL_FIX = "/invite @<your app>"
GONE_FIX = "deleted or never existed"


@dataclass
class Setup:
    """What a case may use to get the workspace into trouble."""

    slack: SlackEmulator
    ws: DemoWorkspace
    connect: Callable[..., str]  # redefines the hook's connection (conftest's default id)
    conn_id: str
    unreachable_url: str

    def bot(self, name: str, scopes: tuple[str, ...]) -> str:
        """A second app with these scopes, in #approvals, behind the connection; return its token."""
        bot = self.slack.create_bot(name, scopes=scopes)
        self.slack.add_member("approvals", bot.user_id)
        self.connect(token=bot.token)
        return bot.token


@dataclass(frozen=True)
class Case:
    """A way into one Slack error: ``arrange`` prepares it (returning the token the connection holds),
    ``call`` makes the failing call, after which Slack has seen ``attempts`` calls (when given)."""

    code: str
    fix: str
    permanent: bool
    arrange: Callable[[Setup], str]
    call: Callable[[SlackGateHook, Setup], Any]  # for the async cases: returns an awaitable
    attempts: int | None = None  # calls Slack sees: 1 plus the retries of a transient error


def seeded_token(setup: Setup) -> str:
    return setup.ws.bot_token


def unknown_token(setup: Setup) -> str:
    setup.connect(token=UNKNOWN_TOKEN)
    return UNKNOWN_TOKEN


def fault(error: str) -> Callable[[Setup], str]:
    def arrange(setup: Setup) -> str:
        setup.slack.inject_fault("*", error=error, count=10)
        return setup.ws.bot_token

    return arrange


def revoked(setup: Setup) -> str:
    setup.slack.revoke_token(setup.ws.bot_token)
    return setup.ws.bot_token


def bot_deactivated(setup: Setup) -> str:
    setup.slack.deactivate_user(setup.ws.bot_user_id)
    return setup.ws.bot_token


def channel(name: str, **options: Any) -> Callable[[Setup], str]:
    def arrange(setup: Setup) -> str:
        setup.slack.create_channel(name, **options)
        return setup.ws.bot_token

    return arrange


def bot_without_history_scopes(setup: Setup) -> str:
    return setup.bot("poster", scopes=("chat:write",))


def bot_without_usergroups_scope(setup: Setup) -> str:
    return setup.bot("no-groups", scopes=tuple(s for s in DEFAULT_BOT_SCOPES if s != "usergroups:read"))


def bot_without_users_read(setup: Setup) -> str:
    return setup.bot("no-users-read", scopes=tuple(s for s in DEFAULT_BOT_SCOPES if s != "users:read"))


def bot_without_email_scope(setup: Setup) -> str:
    return setup.bot("no-emails", scopes=tuple(s for s in DEFAULT_BOT_SCOPES if s != "users:read.email"))


def lookup_alice(hook: SlackGateHook, setup: Setup) -> Any:
    return hook.lookup_user_by_email("alice@example.com")


def alices_message(setup: Setup) -> str:
    setup.slack.post_as_user("approvals", "alice", "mine")
    return setup.ws.bot_token


def persistent_429(setup: Setup) -> str:
    setup.slack.inject_fault("*", status=429, retry_after=0, count=10)
    return setup.ws.bot_token


def persistent_http(status: int) -> Callable[[Setup], str]:
    def arrange(setup: Setup) -> str:
        setup.slack.inject_fault("*", status=status, count=10)
        return setup.ws.bot_token

    return arrange


def dropped_connections(setup: Setup) -> str:
    setup.slack.drop_connections("*", count=10)
    return setup.ws.bot_token


def unreachable(setup: Setup) -> str:
    setup.connect(extra={"base_url": setup.unreachable_url})
    return setup.ws.bot_token


def identity(hook: SlackGateHook, setup: Setup) -> Any:
    return hook.bot_identity()


def post_to(channel_ref: str) -> Callable[[SlackGateHook, Setup], Any]:
    return lambda hook, setup: hook.post_message(channel=channel_ref, text="Deploy?")


def alices_message_ts(setup: Setup) -> str:
    return setup.slack.messages("approvals")[-1]["ts"]


LONG_SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]

CASES = [
    pytest.param(
        Case(
            "invalid_blocks",
            "Slack says: must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
            True,
            seeded_token,
            lambda hook, setup: hook.post_message(channel=setup.ws.approvals, text="x", blocks=LONG_SECTION),
        ),
        id="invalid_blocks",
    ),
    pytest.param(
        Case(
            "msg_too_long",
            "put details behind a link",
            True,
            seeded_token,
            lambda hook, setup: hook.post_message(channel=setup.ws.approvals, text="x" * 40_001),
        ),
        id="msg_too_long",
    ),
    pytest.param(Case("invalid_auth", TOKEN_FIX, True, unknown_token, identity), id="invalid_auth"),
    pytest.param(Case("not_authed", TOKEN_FIX, True, fault("not_authed"), identity), id="not_authed"),
    pytest.param(Case("token_revoked", TOKEN_FIX, True, revoked, identity), id="token_revoked"),
    pytest.param(Case("account_inactive", TOKEN_FIX, True, bot_deactivated, identity), id="account_inactive"),
    pytest.param(
        Case("channel_not_found", CHANNEL_FIX, True, seeded_token, post_to("#no-such-channel")),
        id="channel_not_found-unknown",
    ),
    pytest.param(
        Case(
            "channel_not_found",
            CHANNEL_FIX,
            True,
            channel("hr", members=["alice"], is_private=True),
            post_to("#hr"),
        ),
        id="channel_not_found-private_without_bot",
    ),
    pytest.param(
        Case(
            "not_in_channel",
            "chat:write.public",
            True,
            channel("general", members=["alice"]),
            post_to("#general"),
        ),
        id="not_in_channel",
    ),
    pytest.param(
        Case(
            "missing_scope",
            "add the OAuth scope channels:history",
            True,
            bot_without_history_scopes,
            lambda hook, setup: hook.read_history(channel=setup.ws.approvals),
        ),
        id="missing_scope-history",
    ),
    pytest.param(
        Case(
            "missing_scope",
            "add the OAuth scope usergroups:read",
            True,
            bot_without_usergroups_scope,
            lambda hook, setup: hook.expand_usergroups([setup.ws.deployers]),
        ),
        id="missing_scope-usergroups",
    ),
    pytest.param(
        Case(
            "missing_scope",
            "add the OAuth scope users:read",
            True,
            bot_without_users_read,
            lambda hook, setup: hook.user_kinds([setup.ws.alice]),
        ),
        id="missing_scope-users",
    ),
    pytest.param(
        Case(
            "missing_scope",
            "add the OAuth scope users:read.email",
            True,
            bot_without_email_scope,
            lookup_alice,
        ),
        id="missing_scope-lookup_by_email",
    ),
    pytest.param(
        Case("invalid_auth", TOKEN_FIX, True, unknown_token, lookup_alice), id="invalid_auth-lookup"
    ),
    pytest.param(
        Case("ratelimited", "429 (rate limited)", False, persistent_429, lookup_alice, RATE_LIMITED),
        id="ratelimited-lookup",
    ),
    pytest.param(
        Case("http_500", "server error", False, persistent_http(500), lookup_alice, SERVER_ERRORS),
        id="http_500-lookup",
    ),
    pytest.param(
        Case("connection_error", "base_url", False, dropped_connections, lookup_alice, DROPPED),
        id="connection_dropped-lookup",
    ),
    pytest.param(
        Case(
            "is_archived",
            "unarchive it",
            True,
            channel("old-releases", members=["airflow-gate"], is_archived=True),
            post_to("#old-releases"),
        ),
        id="is_archived",
    ),
    pytest.param(
        Case(
            "message_not_found",
            GONE_FIX,
            True,
            seeded_token,
            lambda hook, setup: hook.update_message(channel=setup.ws.approvals, ts=UNKNOWN_TS, text="x"),
        ),
        id="message_not_found-update",
    ),
    pytest.param(
        Case(
            "message_not_found",
            GONE_FIX,
            True,
            seeded_token,
            lambda hook, setup: hook.get_permalink(channel=setup.ws.approvals, ts=UNKNOWN_TS),
        ),
        id="message_not_found-permalink",
    ),
    pytest.param(
        Case(
            "cant_update_message",
            "only messages posted by this bot can be updated",
            True,
            alices_message,
            lambda hook, setup: hook.update_message(
                channel=setup.ws.approvals, ts=alices_message_ts(setup), text="hijacked"
            ),
        ),
        id="cant_update_message",
    ),
    pytest.param(
        Case(
            "thread_not_found",
            GONE_FIX,
            True,
            seeded_token,
            lambda hook, setup: hook.read_thread(channel=setup.ws.approvals, ts=UNKNOWN_TS),
        ),
        id="thread_not_found-read",
    ),
    pytest.param(
        Case(
            "thread_not_found",
            GONE_FIX,
            True,
            seeded_token,
            lambda hook, setup: hook.post_message(channel=setup.ws.approvals, text="x", thread_ts=UNKNOWN_TS),
        ),
        id="thread_not_found-reply",
    ),
    pytest.param(
        Case(
            "no_such_subteam",
            "user-group IDs",
            True,
            seeded_token,
            lambda hook, setup: hook.expand_usergroups(["S0NOSUCHGROUP"]),
        ),
        id="no_such_subteam",
    ),
    pytest.param(
        Case("ratelimited", "429 (rate limited)", False, persistent_429, post_to("approvals"), RATE_LIMITED),
        id="ratelimited",
    ),
    pytest.param(
        Case("http_500", "server error", False, persistent_http(500), identity, SERVER_ERRORS), id="http_500"
    ),
    pytest.param(
        Case("http_503", "server error", False, persistent_http(503), post_to("approvals"), SERVER_ERRORS),
        id="http_503",
    ),
    pytest.param(
        Case("connection_error", "base_url", False, dropped_connections, identity, DROPPED),
        id="connection_dropped",
    ),
    pytest.param(Case("connection_error", "base_url", False, unreachable, identity), id="unreachable"),
]


def check(
    case: Case, error: SlackGateError, token: str, setup: Setup, assert_explained: Callable[..., None]
) -> None:
    assert_explained(
        error, code=case.code, conn_id=setup.conn_id, fix=case.fix, permanent=case.permanent, token=token
    )
    if case.attempts is not None:
        assert len(setup.slack.calls) == case.attempts


@pytest.fixture
def setup(
    slack_emulator: SlackEmulator, ws: DemoWorkspace, connect: Callable[..., str], unreachable_url: str
) -> Setup:
    return Setup(slack_emulator, ws, connect, connect(), unreachable_url)


@pytest.mark.parametrize("case", CASES)
def test_slack_error_is_explained(
    case: Case, setup: Setup, debug_hook: Callable[..., SlackGateHook], assert_explained: Callable[..., None]
) -> None:
    token = case.arrange(setup)
    hook = debug_hook(setup.conn_id)

    with pytest.raises(SlackGateError) as raised:
        case.call(hook, setup)

    check(case, raised.value, token, setup, assert_explained)


def test_nobody_with_that_email_is_no_user_not_an_error(setup: Setup) -> None:
    """users_not_found: the requester is simply not in Slack under that email."""
    hook = SlackGateHook(slack_conn_id=setup.conn_id)

    assert hook.lookup_user_by_email("nobody@example.com") is None
    assert hook.lookup_user_by_email("ALICE@example.com") == setup.ws.alice
    assert [call.method for call in setup.slack.calls] == ["users.lookupByEmail"] * 2


def test_missing_scope_names_the_scopes_the_token_has(setup: Setup) -> None:
    bot_without_history_scopes(setup)

    with pytest.raises(SlackGateError) as raised:
        SlackGateHook(slack_conn_id=setup.conn_id).read_thread(channel=setup.ws.approvals, ts=UNKNOWN_TS)

    assert "the token has: chat:write" in str(raised.value)


# -- async --------------------------------------------------------------------------------------------


def aidentity(hook: SlackGateHook, setup: Setup) -> Awaitable[Any]:
    return hook.abot_identity()


def ahistory(channel_ref: str) -> Callable[[SlackGateHook, Setup], Awaitable[Any]]:
    return lambda hook, setup: hook.aread_history(channel=channel_ref)


ASYNC_CASES = [
    pytest.param(Case("invalid_auth", TOKEN_FIX, True, unknown_token, aidentity), id="invalid_auth"),
    pytest.param(Case("token_revoked", TOKEN_FIX, True, revoked, aidentity), id="token_revoked"),
    pytest.param(
        Case("account_inactive", TOKEN_FIX, True, bot_deactivated, aidentity), id="account_inactive"
    ),
    pytest.param(
        Case("channel_not_found", CHANNEL_FIX, True, seeded_token, ahistory("C0NOSUCHCHANNEL")),
        id="channel_not_found",
    ),
    pytest.param(
        Case(
            "not_in_channel", CHANNEL_FIX, True, channel("general", members=["alice"]), ahistory("#general")
        ),
        id="not_in_channel",
    ),
    pytest.param(
        Case(
            "missing_scope",
            "add the OAuth scope channels:history",
            True,
            bot_without_history_scopes,
            lambda hook, setup: hook.aread_thread(channel=setup.ws.approvals, ts=UNKNOWN_TS),
        ),
        id="missing_scope",
    ),
    pytest.param(
        Case(
            "missing_scope",
            "add the OAuth scope users:read",
            True,
            bot_without_users_read,
            lambda hook, setup: hook.auser_kinds([setup.ws.alice]),
        ),
        id="missing_scope-users",
    ),
    pytest.param(
        Case(
            "thread_not_found",
            GONE_FIX,
            True,
            seeded_token,
            lambda hook, setup: hook.aread_thread(channel=setup.ws.approvals, ts=UNKNOWN_TS),
        ),
        id="thread_not_found",
    ),
    pytest.param(
        Case(
            "no_such_subteam",
            "user-group IDs",
            True,
            seeded_token,
            lambda hook, setup: hook.aexpand_usergroups(["S0NOSUCHGROUP"]),
        ),
        id="no_such_subteam",
    ),
    pytest.param(
        Case("ratelimited", "429 (rate limited)", False, persistent_429, ahistory("approvals"), RATE_LIMITED),
        id="ratelimited",
    ),
    pytest.param(
        Case("http_503", "server error", False, persistent_http(503), aidentity, SERVER_ERRORS), id="http_503"
    ),
    pytest.param(
        Case("connection_error", "base_url", False, dropped_connections, aidentity, DROPPED),
        id="connection_dropped",
    ),
    pytest.param(Case("connection_error", "base_url", False, unreachable, aidentity), id="unreachable"),
]


# Budgets above Slack's: after each 429 the limiter slows to a quarter, then half, of its rate (tested in
# tests/test_bucket.py); at Slack's budgets ten 429s took 42 s here.
@pytest.mark.usefixtures("close_sessions", "fast_slack_reads")
@pytest.mark.parametrize("case", ASYNC_CASES)
async def test_slack_error_is_explained_async(
    case: Case, setup: Setup, debug_hook: Callable[..., SlackGateHook], assert_explained: Callable[..., None]
) -> None:
    token = case.arrange(setup)
    hook = debug_hook(setup.conn_id)

    with pytest.raises(SlackGateError) as raised:
        await case.call(hook, setup)

    check(case, raised.value, token, setup, assert_explained)


# -- users.info: who cast a vote ---------------------------------------------------------------------

UNKNOWN_USER = "U0NOTINTHISWORKSPACE"


def users_info_refuses(setup: Setup, code: str) -> str:
    """The user Slack answers ``code`` about: an unknown ID, or one it will not show (fault)."""
    if code == "user_not_visible":
        setup.slack.inject_fault("users.info", error=code, count=10)
        return setup.ws.alice
    return UNKNOWN_USER


@pytest.mark.parametrize("code", ["user_not_found", "user_not_visible"])
def test_a_user_slack_will_not_describe_is_unknown_and_never_votes(
    code: str, setup: Setup, debug_hook: Callable[..., SlackGateHook], logs: Any
) -> None:
    user = users_info_refuses(setup, code)
    hook = debug_hook(setup.conn_id)

    assert hook.user_kinds([user, setup.ws.bob] if code == "user_not_found" else [user]) == (
        {user: "unknown", setup.ws.bob: "person"} if code == "user_not_found" else {user: "unknown"}
    )
    logged = logs.text()
    assert f"The vote of user {user} does not count" in logged
    assert f"users.info failed with error {code!r}" in logged
    assert f"connection {setup.conn_id!r}" in logged
    assert setup.ws.bot_token not in logged


@pytest.mark.usefixtures("close_sessions")
@pytest.mark.parametrize("code", ["user_not_found", "user_not_visible"])
async def test_a_user_slack_will_not_describe_is_unknown_and_never_votes_async(
    code: str, setup: Setup, debug_hook: Callable[..., SlackGateHook], logs: Any
) -> None:
    user = users_info_refuses(setup, code)

    assert await debug_hook(setup.conn_id).auser_kinds([user]) == {user: "unknown"}
    assert f"users.info failed with error {code!r}" in logs.text()


def test_users_info_tells_people_bots_and_deactivated_accounts_apart(setup: Setup) -> None:
    ws = setup.ws
    other_app = setup.slack.create_bot("other-app")
    leaver = setup.slack.create_user("leaver")
    setup.slack.deactivate_user(leaver)

    kinds = SlackGateHook(slack_conn_id=setup.conn_id).user_kinds([ws.alice, other_app.user_id, leaver])

    assert kinds == {ws.alice: "person", other_app.user_id: "bot", leaver: "deleted"}


def test_users_info_server_errors_are_raised_not_counted_as_unknown(setup: Setup) -> None:
    """A transient failure says nothing of the user: the caller keeps waiting and asks again."""
    setup.slack.inject_fault("users.info", status=503, count=SERVER_ERRORS)

    with pytest.raises(SlackGateError) as raised:
        SlackGateHook(slack_conn_id=setup.conn_id).user_kinds([setup.ws.alice])

    assert (raised.value.error_code, raised.value.is_permanent) == ("http_503", False)


def test_a_users_profile_email_is_read_only_where_slack_shows_it(setup: Setup) -> None:
    """Whom a gate's Airflow request is assigned to comes from its approvers' Slack emails: Slack shows
    one only to a token with users:read.email, and a user it will not describe has none."""
    hook = SlackGateHook(slack_conn_id=setup.conn_id)
    assert hook.user_email(setup.ws.alice) == "alice@example.com"
    assert hook.user_email(UNKNOWN_USER) is None
    bot_without_email_scope(setup)
    assert SlackGateHook(slack_conn_id=setup.conn_id).user_email(setup.ws.alice) is None
