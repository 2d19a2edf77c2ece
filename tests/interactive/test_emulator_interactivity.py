"""The emulator's interactive side behaves like Slack: Socket Mode (apps.connections.open, hello,
envelopes to one connection, acks, retries, disconnects), signed Request URL POSTs, clicks and modals
as a person makes them, chat.postEphemeral and views.open, also from another process (admin HTTP)."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from airflow_slack_gate.core.messages import APPROVE_ACTION, REJECT_ACTION, button_value, reason_modal
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.testing.emulator import EmulatorClient, EmulatorError, SlackEmulator
from tests.interactive.conftest import post_ask


def web_client(slack: SlackEmulator, token: str | None = None) -> WebClient:
    return WebClient(token=token or slack.workspace.bot_token, base_url=slack.base_url, retry_handlers=[])


class RawSocket:
    """A bare websocket client of the emulator's Socket Mode, acking only when told (in its own loop)."""

    def __init__(self, slack: SlackEmulator, token: str, *, ack: bool = True) -> None:
        self.slack, self.token, self.ack = slack, token, ack
        self.messages: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(10)

    async def _open(self) -> None:
        self.session = aiohttp.ClientSession()
        url = web_client(self.slack).apps_connections_open(app_token=self.token)["url"]
        self.ws = await self.session.ws_connect(url)
        self.reader = self.loop.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if self.ack and "envelope_id" in data:
                await self.ws.send_str(json.dumps({"envelope_id": data["envelope_id"]}))
            with self.changed:
                self.messages.append(data)
                self.changed.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0, count: int = 1) -> list[dict[str, Any]]:
        """The messages matching ``predicate``, once there are ``count`` of them."""
        with self.changed:
            assert self.changed.wait_for(
                lambda: len([m for m in self.messages if predicate(m)]) >= count, timeout
            )
            return [m for m in self.messages if predicate(m)]

    def close(self) -> None:
        async def close() -> None:
            if self.ws is not None:
                await self.ws.close()
            await self.session.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def sockets(slack_emulator) -> Iterator[list[RawSocket]]:
    opened: list[RawSocket] = []
    yield opened
    for socket in opened:
        socket.close()


def open_socket(slack, sockets, **kwargs) -> RawSocket:
    socket = RawSocket(slack, slack.app_settings().app_token, **kwargs)
    sockets.append(socket)
    return socket


def interactive(message: dict[str, Any]) -> bool:
    return message.get("type") == "interactive"


# -- apps.connections.open and the websocket ------------------------------------------------------------


def test_apps_connections_open_takes_the_app_level_token_only(slack_emulator):
    app = slack_emulator.app_settings()
    opened = web_client(slack_emulator).apps_connections_open(app_token=app.app_token)
    assert opened["ok"] is True
    assert opened["url"].startswith(f"ws://127.0.0.1:{slack_emulator.port}/link/?ticket=")
    for token, error in (
        (slack_emulator.workspace.bot_token, "not_allowed_token_type"),
        ("xapp-1-nope", "invalid_auth"),
    ):
        with pytest.raises(SlackApiError) as raised:
            web_client(slack_emulator).apps_connections_open(app_token=token)
        assert raised.value.response["error"] == error


def test_a_connection_says_hello_and_gets_a_click_in_an_envelope(slack_emulator, sockets):
    ws = slack_emulator.workspace
    socket = open_socket(slack_emulator, sockets)
    (hello,) = socket.wait_for(lambda m: m.get("type") == "hello")
    assert hello["connection_info"] == {"app_id": ws.app_id}
    assert hello["num_connections"] == 1

    ts = post_ask(slack_emulator)
    delivery = slack_emulator.click_button(ws.approvals, ts, ws.alice, APPROVE_ACTION).wait(5)
    assert delivery.ok
    assert delivery.attempts == 1
    (envelope,) = socket.wait_for(interactive)
    assert envelope["envelope_id"] == delivery.envelope_id
    assert envelope["accepts_response_payload"] is False
    payload = envelope["payload"]
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == ws.alice
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": ws.approvals,
        "is_ephemeral": False,
    }
    (action,) = payload["actions"]
    assert action["action_id"] == APPROVE_ACTION
    assert action["value"] == button_value()  # the value as the ask's button has it
    assert payload["trigger_id"]
    assert payload["message"]["ts"] == ts


def test_a_click_reports_style_and_value_only_when_the_button_has_them(slack_emulator, sockets):
    """Slack's block_actions action carries what the clicked button has; a button without a style (the
    default look) or a value has no ``style`` / ``value`` key, never ``null``."""
    ws = slack_emulator.workspace
    socket = open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(1)
    label = {"type": "plain_text", "text": "Look"}
    blocks = [
        {
            "type": "actions",
            "block_id": "choices",
            "elements": [
                {"type": "button", "action_id": "plain", "text": label},
                {"type": "button", "action_id": "styled", "text": label, "style": "danger", "value": "v"},
            ],
        }
    ]
    ts = slack_emulator.post_as_bot(ws.approvals, ws.bot_user_id, "Pick one", blocks=blocks)

    assert slack_emulator.click_button(ws.approvals, ts, ws.alice, "plain").wait(5).ok
    assert slack_emulator.click_button(ws.approvals, ts, ws.alice, "styled").wait(5).ok

    plain, styled = (e["payload"]["actions"][0] for e in socket.wait_for(interactive, count=2))
    assert "style" not in plain
    assert "value" not in plain
    assert (plain["action_id"], plain["type"], plain["text"]) == ("plain", "button", label)
    assert (styled["style"], styled["value"]) == ("danger", "v")


def test_events_go_to_one_connection_and_unacked_events_are_retried(slack_emulator, sockets):
    ws = slack_emulator.workspace
    slack_emulator.set_ack_timeout(0.3)
    deaf = open_socket(slack_emulator, sockets, ack=False)
    slack_emulator.wait_for_socket_connections(1)
    slack_emulator.post_as_user(ws.approvals, ws.alice, "hello")
    events = deaf.wait_for(
        lambda m: m.get("type") == "events_api" and m["payload"]["event"]["type"] == "message"
    )
    deliveries = [d for d in slack_emulator.interactivity.deliveries if d.kind == "events_api"]
    (delivery,) = deliveries
    delivery.wait(5)
    assert delivery.error == "not acknowledged within 0.3s"
    assert delivery.attempts == 4  # the first delivery and three retries
    retried = deaf.wait_for(lambda m: m.get("retry_attempt") == 3)
    assert retried[0]["retry_reason"] == "timeout"
    assert {e["payload"]["event_id"] for e in events} == {delivery.payload["event_id"]}
    assert events[0]["payload"]["event"]["text"] == "hello"
    (block,) = events[0]["payload"]["event"]["blocks"]  # Slack adds a rich_text block to a person's message
    assert block["elements"] == [
        {"type": "rich_text_section", "elements": [{"type": "text", "text": "hello"}]}
    ]


def test_a_reply_also_sent_to_the_channel_is_a_thread_broadcast_event(slack_emulator, sockets):
    """Slack's ``thread_broadcast`` message event: the reply with its ``thread_ts`` and the thread's
    ``root``."""
    ws = slack_emulator.workspace
    socket = open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(1)
    ts = slack_emulator.post_as_bot(ws.approvals, ws.bot_user_id, "Deploy?")
    reply = slack_emulator.reply(ws.approvals, ts, ws.alice, "approve", broadcast=True)

    (envelope,) = socket.wait_for(
        lambda m: m.get("type") == "events_api" and m["payload"]["event"].get("ts") == reply
    )

    event = envelope["payload"]["event"]
    assert (event["type"], event["subtype"], event["thread_ts"]) == ("message", "thread_broadcast", ts)
    assert (event["user"], event["text"], event["channel"]) == (ws.alice, "approve", ws.approvals)
    assert (event["root"]["ts"], event["root"]["reply_count"], event["root"]["latest_reply"]) == (
        ts,
        1,
        reply,
    )


def test_an_unacked_click_fails_and_is_not_retried(slack_emulator, sockets):
    ws = slack_emulator.workspace
    slack_emulator.set_ack_timeout(0.3)
    open_socket(slack_emulator, sockets, ack=False)
    slack_emulator.wait_for_socket_connections(1)
    delivery = slack_emulator.click_button(ws.approvals, post_ask(slack_emulator), ws.alice, APPROVE_ACTION)
    assert delivery.wait(5).error == "not acknowledged within 0.3s"
    assert delivery.attempts == 1


def test_a_retry_prefers_another_connection(slack_emulator, sockets):
    ws = slack_emulator.workspace
    slack_emulator.set_ack_timeout(0.3)
    open_socket(slack_emulator, sockets, ack=False)
    first = slack_emulator.wait_for_socket_connections(1)[0].id
    open_socket(slack_emulator, sockets, ack=True)
    (second,) = [c.id for c in slack_emulator.wait_for_socket_connections(2) if c.id != first]
    # an event first offered to the deaf connection is retried on the other one
    slack_emulator.interactivity.rng.seed(0)
    for _ in range(5):
        slack_emulator.post_as_user(ws.approvals, ws.alice, "ping")
    deliveries = [d for d in slack_emulator.interactivity.deliveries if d.kind == "events_api"]
    for delivery in deliveries:
        assert delivery.wait(5).ok
        if delivery.connection_ids[0] == first:
            assert delivery.connection_ids == [first, second]
    assert any(d.connection_ids[0] == first for d in deliveries), "no event went to the first connection"


def test_a_click_goes_to_the_chosen_connection_or_to_one_of_them(slack_emulator, sockets):
    ws = slack_emulator.workspace
    a, b = open_socket(slack_emulator, sockets), open_socket(slack_emulator, sockets)
    ids = [c.id for c in slack_emulator.wait_for_socket_connections(2)]
    ts = post_ask(slack_emulator)
    chosen = slack_emulator.click_button(ws.approvals, ts, ws.bob, APPROVE_ACTION, connection=ids[1]).wait(5)
    assert chosen.connection_id == ids[1]
    anyone = slack_emulator.click_button(ws.approvals, ts, ws.bob, APPROVE_ACTION).wait(5)
    assert anyone.connection_id in ids
    on_a = [chosen.connection_id, anyone.connection_id].count(ids[0])
    if on_a:
        assert len(a.wait_for(interactive, count=on_a)) == on_a
    assert len(b.wait_for(interactive, count=2 - on_a)) == 2 - on_a


def test_refresh_and_drop(slack_emulator, sockets):
    socket = open_socket(slack_emulator, sockets)
    (connection,) = slack_emulator.wait_for_socket_connections(1)
    slack_emulator.interactivity.hub.refresh_grace = 0.2
    assert slack_emulator.refresh_socket_connections() == [connection.id]
    (disconnect,) = socket.wait_for(lambda m: m.get("type") == "disconnect")
    assert disconnect["reason"] == "refresh_requested"
    slack_emulator.wait_for(lambda: not slack_emulator.socket_connections(), 5)
    open_socket(slack_emulator, sockets)
    (again,) = slack_emulator.wait_for_socket_connections(1)
    assert slack_emulator.drop_socket_connections(again.id) == [again.id]
    slack_emulator.wait_for(lambda: not slack_emulator.socket_connections(), 5)


def test_turning_socket_mode_off_disconnects_with_link_disabled(slack_emulator, sockets):
    socket = open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(1)
    slack_emulator.configure_app(socket_mode=False)
    (disconnect,) = socket.wait_for(lambda m: m.get("type") == "disconnect")
    assert disconnect["reason"] == "link_disabled"
    with pytest.raises(EmulatorError, match="no Request URL"):
        slack_emulator.click_button("approvals", post_ask(slack_emulator), "alice", APPROVE_ACTION)


def test_a_click_needs_an_open_connection_a_button_and_a_member(slack_emulator, sockets):
    ws = slack_emulator.workspace
    ts = post_ask(slack_emulator)
    with pytest.raises(EmulatorError, match="no open Socket Mode connection"):
        slack_emulator.click_button(ws.approvals, ts, ws.alice, APPROVE_ACTION)
    open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(1)
    with pytest.raises(EmulatorError, match="no button"):
        slack_emulator.click_button(ws.approvals, ts, ws.alice, "other_action")
    plain = slack_emulator.post_as_bot(ws.approvals, ws.bot_user_id, "no buttons")
    with pytest.raises(EmulatorError, match="no button"):
        slack_emulator.click_button(ws.approvals, plain, ws.alice)
    outsider = slack_emulator.create_user("outsider")
    with pytest.raises(EmulatorError, match="not in #approvals"):
        slack_emulator.click_button(ws.approvals, ts, outsider, APPROVE_ACTION)
    assert slack_emulator.click_button(ws.approvals, ts, ws.alice, text="Reject").wait(5).ok


def test_a_refused_eleventh_connection(slack_emulator, sockets):
    for _ in range(10):
        open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(10)
    eleventh = open_socket(slack_emulator, sockets)
    (disconnect,) = eleventh.wait_for(lambda m: m.get("type") == "disconnect")
    assert disconnect["reason"] == "too_many_websockets"
    assert len(slack_emulator.socket_connections()) == 10


# -- Request URL ------------------------------------------------------------------------------------------


@pytest.fixture
def request_url_app(slack_emulator) -> Iterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    """A tiny app server on 127.0.0.1 that records what Slack POSTs and answers 200."""
    received: list[tuple[bytes, dict[str, str]]] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    state: dict[str, Any] = {}

    async def handle(request: web.Request) -> web.Response:
        received.append((await request.read(), dict(request.headers)))
        return web.Response(text="")

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/slack", handle)
        state["runner"] = runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["port"] = runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{state['port']}/slack", received
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_without_socket_mode_a_click_is_a_signed_post_to_the_request_url(slack_emulator, request_url_app):
    url, received = request_url_app
    ws = slack_emulator.workspace
    app = slack_emulator.configure_app(socket_mode=False, request_url=url)
    delivery = slack_emulator.click_button(ws.approvals, post_ask(slack_emulator), ws.carol, REJECT_ACTION)
    assert delivery.wait(5).status == 200
    ((body, headers),) = received
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    verifier = SignatureVerifier(app.signing_secret)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("another secret").is_valid_request(body, headers)
    payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
    assert payload["actions"][0]["action_id"] == REJECT_ACTION
    assert payload["user"]["id"] == ws.carol


# -- chat.postEphemeral and views.open --------------------------------------------------------------------


def test_post_ephemeral_shows_a_message_to_one_member(slack_emulator, slack_schema):
    ws = slack_emulator.workspace
    answer = web_client(slack_emulator).chat_postEphemeral(
        channel=ws.approvals, user=ws.alice, text="only you"
    )
    slack_schema.validate("chat.postEphemeral", answer.data)
    (shown,) = slack_emulator.ephemerals(ws.alice)
    assert (shown.text, shown.channel, shown.ts) == ("only you", ws.approvals, answer["message_ts"])
    assert slack_emulator.messages(ws.approvals) == []  # never in the channel
    outsider = slack_emulator.create_user("outsider")
    for kwargs, error in (
        ({"channel": ws.approvals, "user": outsider}, "user_not_in_channel"),
        ({"channel": "CNOPE0000", "user": ws.alice}, "channel_not_found"),
    ):
        with pytest.raises(SlackApiError) as raised:
            web_client(slack_emulator).chat_postEphemeral(text="x", **kwargs)
        assert raised.value.response["error"] == error
        slack_schema.validate("chat.postEphemeral", raised.value.response.data)


def test_views_open_exchanges_a_fresh_trigger_once(slack_emulator, sockets, slack_schema):
    ws = slack_emulator.workspace
    socket = open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(1)
    ts = post_ask(slack_emulator)
    slack_emulator.click_button(ws.approvals, ts, ws.bob, REJECT_ACTION).wait(5)
    trigger_id = socket.wait_for(interactive)[0]["payload"]["trigger_id"]
    view = reason_modal(channel=ws.approvals, ts=ts, question="Deploy?")
    opened = web_client(slack_emulator).views_open(trigger_id=trigger_id, view=view)
    slack_schema.validate("views.open", opened.data)
    assert opened["view"]["callback_id"] == view["callback_id"]
    (shown,) = slack_emulator.open_views(ws.bob)
    assert shown.id == opened["view"]["id"]
    for trigger, error in ((trigger_id, "exchanged_trigger_id"), ("1.2.3", "invalid_trigger_id")):
        with pytest.raises(SlackApiError) as raised:
            web_client(slack_emulator).views_open(trigger_id=trigger, view=view)
        assert raised.value.response["error"] == error

    slack_emulator.interactivity.trigger_ttl = 0.0
    slack_emulator.click_button(ws.approvals, ts, ws.bob, REJECT_ACTION).wait(5)
    late = socket.wait_for(interactive, count=2)[-1]["payload"]["trigger_id"]
    with pytest.raises(SlackApiError) as raised:
        web_client(slack_emulator).views_open(trigger_id=late, view=view)
    assert raised.value.response["error"] == "expired_trigger_id"


def test_a_submitted_modal_carries_what_was_typed_and_closes_on_an_empty_ack(slack_emulator, sockets):
    ws = slack_emulator.workspace
    socket = open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(1)
    ts = post_ask(slack_emulator)
    slack_emulator.click_button(ws.approvals, ts, ws.bob, REJECT_ACTION).wait(5)
    trigger_id = socket.wait_for(interactive)[0]["payload"]["trigger_id"]
    web_client(slack_emulator).views_open(
        trigger_id=trigger_id, view=reason_modal(channel=ws.approvals, ts=ts, question="Deploy?")
    )
    assert slack_emulator.submit_view(ws.bob, {"reason": "too risky"}).wait(5).ok
    submission = socket.wait_for(lambda m: interactive(m) and m["payload"]["type"] == "view_submission")[0]
    assert submission["accepts_response_payload"] is True
    values = submission["payload"]["view"]["state"]["values"]
    assert values == {
        "airflow_slack_gate_reason": {"reason": {"type": "plain_text_input", "value": "too risky"}}
    }
    assert json.loads(submission["payload"]["view"]["private_metadata"]) == {
        "channel": ws.approvals,
        "ts": ts,
    }
    slack_emulator.wait_for(lambda: not slack_emulator.open_views(ws.bob), 5)
    with pytest.raises(EmulatorError, match="no open modal"):
        slack_emulator.submit_view(ws.bob, {"reason": "again"})


# -- from another process -----------------------------------------------------------------------------


def test_app_settings_have_one_shape_in_process_and_over_http(slack_emulator):
    """``app_settings()`` gives the same type from the in-process API and from EmulatorClient, read by
    attribute or, as EmulatorClient's callers used to, by key."""
    local = slack_emulator.app_settings()
    remote = EmulatorClient(slack_emulator.url).app_settings()

    assert type(remote) is type(local)
    assert remote == local
    assert remote.bot == slack_emulator.state.bots[slack_emulator.workspace.bot_token]
    for key in ("app_id", "app_token", "signing_secret", "socket_mode", "request_url"):
        assert remote[key] == local[key] == getattr(local, key)
    assert local.to_dict()["app_token"] == local.app_token
    assert local.app_token not in repr(local)  # secrets stay out of logs


def test_the_admin_api_clicks_submits_and_lists(slack_emulator, sockets):
    ws = slack_emulator.workspace
    client = EmulatorClient(slack_emulator.url)
    app = client.app_settings()
    assert app["app_token"].startswith("xapp-")
    assert app["socket_mode"] is True
    socket = open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(1)
    (connection,) = client.socket_connections()
    ts = post_ask(slack_emulator, ApprovalPolicy())
    delivery = client.click_button(ws.approvals, ts, "alice", APPROVE_ACTION)
    assert delivery["ok"]
    assert delivery["connection_id"] == connection["id"]
    trigger_id = socket.wait_for(interactive)[0]["payload"]["trigger_id"]
    web_client(slack_emulator).views_open(
        trigger_id=trigger_id, view=reason_modal(channel=ws.approvals, ts=ts, question="q")
    )
    (view,) = client.open_views("alice")
    assert client.submit_view("alice", {"reason": "no"})["ok"]
    assert view["view"]["callback_id"] == "airflow_slack_gate_reject_reason"
    web_client(slack_emulator).chat_postEphemeral(channel=ws.approvals, user=ws.alice, text="psst")
    assert [e["text"] for e in client.ephemerals("alice")] == ["psst"]
    assert client.refresh_socket_connections() == [connection["id"]]
    with pytest.raises(EmulatorError, match="no button"):
        client.click_button(ws.approvals, ts, "alice", "nope")
    assert client.app_settings(socket_mode=False, request_url="http://127.0.0.1:9/x")["socket_mode"] is False


def test_each_event_goes_to_exactly_one_of_several_connections(slack_emulator, sockets):
    """As Slack does with an app's several Socket Mode connections: every event is delivered once, to
    one of them (the emulator picks at random), so each connection sees only some of the events."""
    ws = slack_emulator.workspace
    first, second = open_socket(slack_emulator, sockets), open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(2)
    posted = [slack_emulator.post_as_user(ws.approvals, ws.alice, f"message {i}") for i in range(40)]

    def message_events(socket: RawSocket) -> list[str]:
        return [
            m["payload"]["event"]["ts"]
            for m in socket.messages
            if m.get("type") == "events_api" and m["payload"]["event"].get("type") == "message"
        ]

    slack_emulator.wait_for(lambda: len(message_events(first)) + len(message_events(second)) >= 40)
    got_first, got_second = message_events(first), message_events(second)
    assert sorted(got_first + got_second) == sorted(posted)  # each once, none twice
    assert got_first, "40 events all to one of two connections (chance: 2**-39)"
    assert got_second, "40 events all to one of two connections (chance: 2**-39)"


def test_an_edit_a_bots_update_and_a_deletion_are_message_events_with_the_message_before(
    slack_emulator, sockets
):
    """Slack's ``message_changed`` (the message now and as it was) and ``message_deleted``
    (``deleted_ts`` and the message as it was) events, for a person's edit, a bot's chat.update and a
    deletion."""
    ws = slack_emulator.workspace
    socket = open_socket(slack_emulator, sockets)
    slack_emulator.wait_for_socket_connections(1)
    ts = slack_emulator.post_as_bot(ws.approvals, ws.bot_user_id, "Deploy?")
    reply = slack_emulator.reply(ws.approvals, ts, ws.alice, "approve")
    slack_emulator.edit_message(ws.approvals, reply, "reject: no")
    web_client(slack_emulator).chat_update(channel=ws.approvals, ts=ts, text="Deploy? (closed)")
    slack_emulator.delete_message(ws.approvals, reply)

    def subtyped(subtype: str) -> list[dict[str, Any]]:
        envelopes = socket.wait_for(
            lambda m: m.get("type") == "events_api" and m["payload"]["event"].get("subtype") == subtype,
            count=2 if subtype == "message_changed" else 1,
        )
        return [envelope["payload"]["event"] for envelope in envelopes]

    edit, update = subtyped("message_changed")
    assert (edit["channel"], edit["hidden"]) == (ws.approvals, True)
    assert (edit["message"]["ts"], edit["message"]["text"], edit["message"]["thread_ts"]) == (
        reply,
        "reject: no",
        ts,
    )
    assert edit["message"]["edited"]["user"] == ws.alice
    assert edit["previous_message"]["text"] == "approve"
    assert (update["message"]["ts"], update["message"]["text"]) == (ts, "Deploy? (closed)")
    assert update["previous_message"]["text"] == "Deploy?"
    (deleted,) = subtyped("message_deleted")
    assert (deleted["deleted_ts"], deleted["previous_message"]["text"]) == (reply, "reject: no")
    assert deleted["previous_message"]["thread_ts"] == ts
