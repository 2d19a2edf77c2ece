"""Fixtures for one-click decisions: the emulator with an app that has an app-level token and a signing
secret, asks that look exactly like the sensor's, and triggers that wait with Socket Mode on."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
import uvicorn
from fastapi import FastAPI

from airflow_slack_gate.core.messages import APPROVE_ACTION, ask_message
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.core.protocol import VOTE_EVENT_TYPE, ask_metadata
from airflow_slack_gate.hooks.sessions import close_shared_sessions
from airflow_slack_gate.interactive.http import ROUTE, URL_PREFIX, InteractionReceiver, create_app
from airflow_slack_gate.testing.emulator import SlackEmulator
from airflow_slack_gate.triggers.slack import SlackApprovalTrigger
from tests.support import fast_budgets, first_event, trigger

CONN_ID = "slack_gate_default"
T = TypeVar("T")


def connection_json(slack: SlackEmulator, *, app_token: bool = True, signing_secret: bool = True) -> str:
    app = slack.app_settings()
    extra: dict[str, Any] = {"base_url": slack.base_url, "default_channel": "approvals"}
    if app_token:
        extra["app_token"] = app.app_token
    if signing_secret:
        extra["signing_secret"] = app.signing_secret
    return json.dumps({"conn_type": "slack_gate", "password": slack.workspace.bot_token, "extra": extra})


@pytest.fixture
def slack(slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> SlackEmulator:
    """The seeded emulator; the default connection carries the app's app-level token and signing secret."""
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_GATE_DEFAULT", connection_json(slack_emulator))
    return slack_emulator


def post_ask(
    slack: SlackEmulator,
    policy: ApprovalPolicy | None = None,
    *,
    groups: tuple[str, ...] = (),
    text: str = "Deploy model v7?",
    task_id: str = "gate",
    state: str = "open",
    metadata: dict[str, Any] | None = None,
) -> str:
    """Post an ask the way the sensor does (blocks with buttons, ask metadata in ``state``); return its
    ts. ``metadata`` replaces the ask metadata (``{}``: none)."""
    ws = slack.workspace
    ask = ask_message(
        text=text,
        blocks=None,
        policy=policy or ApprovalPolicy(),
        approver_groups=groups,
        deadline=None,
        requested_by=(policy or ApprovalPolicy()).requested_by,
        context_line=f"Airflow: deploy.{task_id} (try 1)",
    )
    identity = {"dag_id": "deploy", "run_id": "r1", "task_id": task_id, "map_index": -1, "try_number": 1}
    if metadata is None:
        metadata = ask_metadata(identity, state, policy=policy or ApprovalPolicy(), approver_groups=groups)
    return slack.post_as_bot(
        ws.approvals, ws.bot_user_id, ask["text"], blocks=ask["blocks"], metadata=metadata or None
    )


def make_trigger(
    slack: SlackEmulator, ts: str, policy: ApprovalPolicy | None = None, **overrides: Any
) -> SlackApprovalTrigger:
    """The gate's trigger; it reads Slack every 600 s, so only an event can make it read Slack soon."""
    return trigger(slack, ts, policy, **{"poke_interval": 600.0, **overrides})


async def wait_with_socket_mode(trigger: SlackApprovalTrigger) -> dict[str, Any]:
    """The trigger's first event; with the connection's app_token, its run() holds the loop's Socket
    Mode listener while it waits (nothing here opens one for it)."""
    return await first_event(trigger)


class LoopThread:
    """Another event loop in its own thread: a second triggerer process, as far as Slack can tell."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="other-triggerer", daemon=True)
        self.thread.start()

    def submit(self, coroutine: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        async def call() -> T:
            return await make()

        return self.submit(call()).result(timeout)

    def stop(self) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await close_shared_sessions()

        self.submit(drain()).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(15)
        self.loop.close()


@pytest.fixture
def other_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture(scope="session")
def slack_schema() -> Any:
    """Slack's published Web API schema as published (chat.postEphemeral and views.open need no
    deviation): the tests/schema copy."""
    from tests.schema.conftest import SCHEMA_FILE, SlackSchema

    return SlackSchema(json.loads(SCHEMA_FILE.read_text()))


@pytest.fixture
async def closing_sessions() -> Any:
    yield
    await close_shared_sessions()


def raise_budgets(token: str) -> None:
    """Let the running loop's rate limiter call Slack faster than Slack's tiers (tests that click a lot;
    the benchmark keeps Slack's budgets)."""
    methods = ("conversations.replies", "conversations.history", "chat.postMessage", "chat.postEphemeral")
    fast_budgets(token, per_minute=6000, methods=methods)


# -- the Request URL on an API server ---------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn in a thread, saying when it listens; closes the loop's Slack sessions when it stops."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
        self.ready = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    async def shutdown(self, sockets: Any = None) -> None:
        await super().shutdown(sockets)
        await close_shared_sessions()

    @property
    def port(self) -> int:
        return self.servers[0].sockets[0].getsockname()[1]


class ApiServer:
    """The interactions app mounted as the Airflow API server mounts a plugin's app (its lifespan run
    with Airflow's), served by uvicorn on 127.0.0.1 in a thread: one API server process, as far as
    Slack can tell."""

    def __init__(self) -> None:
        from airflow.api_fastapi.app import lifespan

        self.receiver = InteractionReceiver()
        root = FastAPI(lifespan=lifespan)
        root.mount(URL_PREFIX, create_app(self.receiver))
        self.server = _Server(root)
        self.thread = threading.Thread(target=self.server.run, name="api-server", daemon=True)
        self.thread.start()
        assert self.server.ready.wait(20), "uvicorn did not start"
        self.root = f"http://127.0.0.1:{self.server.port}"
        self.url = f"{self.root}{URL_PREFIX}{ROUTE}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def api_servers() -> Iterator[Callable[[], ApiServer]]:
    """Start API servers (each with its own receiver); all are stopped after the test."""
    started: list[ApiServer] = []

    def start() -> ApiServer:
        started.append(ApiServer())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def api_server(api_servers: Callable[[], ApiServer]) -> str:
    """One API server's root URL."""
    return api_servers().root


@pytest.fixture
def request_url(slack, api_server) -> str:
    """Slack's Request URL for the app (Socket Mode off), pointing at the API server."""
    url = f"{api_server}{URL_PREFIX}{ROUTE}"
    slack.configure_app(socket_mode=False, request_url=url)
    return url


@pytest.fixture
def refused(slack, api_server):
    """Clicks go to an unrelated URL (so only the test's own requests reach the API server)."""
    slack.configure_app(socket_mode=False, request_url=f"{api_server}/elsewhere")
    return f"{api_server}{URL_PREFIX}{ROUTE}"


def records(slack: SlackEmulator, ts: str) -> list[dict[str, Any]]:
    """The click records in the gate's thread."""
    return [
        m
        for m in slack.replies("approvals", ts)[1:]
        if (m.get("metadata") or {}).get("event_type") == VOTE_EVENT_TYPE
    ]


def click(slack: SlackEmulator, ts: str, user: str, action_id: str = APPROVE_ACTION) -> Any:
    """``user`` clicks a button of the ask; the delivery, answered 200."""
    delivery = slack.click_button("approvals", ts, user, action_id).wait(10)
    assert (delivery.status, delivery.error) == (200, None), delivery.body
    return delivery
