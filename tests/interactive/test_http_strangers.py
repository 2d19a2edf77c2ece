"""The public Request URL treats strangers as hostile: it checks the signature headers and the
timestamp before anything else, reads at most about 1 MiB of body (413 past it), looks up only
``slack_gate``/``slack`` connections with a signing secret, answers every unauthenticated request with
one identical 401 whatever ``?conn_id=`` names, keeps no state for strangers, and answers junk with a
4xx, never a 500."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_slack_gate.interactive import http as interactions
from airflow_slack_gate.testing.emulator.interactivity import sign
from tests.interactive.conftest import connection_json

MAX_BODY = 1024 * 1024  # the cap the route promises (about 1 MiB)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MiB = 1024 * 1024


@pytest.fixture
def server(slack, api_servers):
    """An API server with the interactions route; Slack's own clicks go elsewhere."""
    started = api_servers()
    slack.configure_app(socket_mode=False, request_url=f"{started.root}/elsewhere")
    return started


def form(payload: Any) -> str:
    return urllib.parse.urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)})


def fresh_forged_headers() -> dict[str, str]:
    """Well-formed, fresh signature headers that no secret produced."""
    return {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64}


def big_body(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes, made while they are sent (the test itself holds one chunk at a time)."""
    block = b"a" * chunk
    for _ in range(total // chunk):
        yield block


def peak_memory_growth(send: Callable[[], httpx.Response]) -> tuple[httpx.Response, int]:
    """The response and how much this process's peak RSS grew (bytes) while the API server, which runs
    in this process, handled it. Linux resets the peak through /proc/self/clear_refs."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pytest.skip("cannot reset the peak RSS here (/proc/self/clear_refs)")

    def peak() -> int:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    def rss() -> int:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    before = rss()
    response = send()
    return response, peak() - before


# -- a huge body -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ("fresh-forged", 413)],
    ids=["unsigned", "signed-looking"],
)
def test_a_200_mib_body_is_refused_without_being_read(server, headers, status):
    headers = fresh_forged_headers() if headers == "fresh-forged" else headers
    started = time.monotonic()
    response, growth = peak_memory_growth(
        lambda: httpx.post(server.url, content=big_body(200 * MiB), headers={**FORM, **headers}, timeout=30)
    )
    assert response.status_code == status
    assert growth < 32 * MiB, f"the API server grew by {growth / MiB:.0f} MiB for a request it refused"
    assert time.monotonic() - started < 15


def test_a_declared_length_over_the_cap_is_refused_at_once(server):
    body = "payload=" + "a" * (MAX_BODY + 1)
    headers = {**FORM, **sign("any", body)}
    response = httpx.post(server.url, content=body, headers=headers, timeout=10)
    assert response.status_code == 413


def test_a_signed_click_just_under_the_cap_is_still_read(slack, server):
    secret = slack.app_settings().signing_secret
    body = form({"type": "shortcut", "callback_id": "other", "padding": "a" * (MAX_BODY - 1000)})
    assert len(body) <= MAX_BODY
    response = httpx.post(server.url, content=body, headers={**FORM, **sign(secret, body)}, timeout=10)
    assert (response.status_code, response.text) == (200, "")


# -- strangers learn nothing and leave nothing behind -------------------------------------------------


def test_strangers_get_one_identical_refusal_whatever_the_conn_id(slack, server, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://user:hunter2@db.example:5432/warehouse")
    monkeypatch.setenv("AIRFLOW_CONN_NO_SECRET", connection_json(slack, signing_secret=False))
    body = form({"type": "block_actions"})
    answers = {}
    for conn_id in ("slack_gate_default", "warehouse", "no_secret", "does_not_exist"):
        headers = {**FORM, **sign("not-the-secret", body)}
        with caplog.at_level("WARNING", logger="airflow_slack_gate.interactive.http"):
            response = httpx.post(
                server.url, params={"conn_id": conn_id}, content=body, headers=headers, timeout=10
            )
        answers[conn_id] = (response.status_code, response.headers.get("content-type"), response.content)
    assert len(set(answers.values())) == 1, answers
    assert answers["slack_gate_default"][0] == 401
    # the API server's log tells the admin what failed, and never a secret
    for why in ("signature does not match", "of type 'postgres'", "no signing_secret", "no usable"):
        assert why in caplog.text
    assert "hunter2" not in caplog.text


def test_many_conn_ids_cost_no_look_up_and_no_memory_before_the_signature_headers(slack, server, monkeypatch):
    looked_up: list[str] = []
    real = interactions.aread_settings

    async def counting(conn_id, **kwargs):
        looked_up.append(conn_id)
        return await real(conn_id, **kwargs)

    monkeypatch.setattr(interactions, "aread_settings", counting)
    with httpx.Client(timeout=10) as client:
        for number in range(300):
            headers = {**FORM, "X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "nope"}
            response = client.post(server.url, params={"conn_id": f"c{number}"}, content="x", headers=headers)
            assert response.status_code == 401
        assert looked_up == []
        for number in range(300):  # fresh, well-formed, forged: one look-up each, nothing kept
            response = client.post(
                server.url,
                params={"conn_id": f"c{number}"},
                content="x",
                headers={**FORM, **fresh_forged_headers()},
            )
            assert response.status_code == 401
    assert len(looked_up) == 300
    assert server.receiver.connections == []


def test_the_connections_kept_in_memory_are_bounded(slack, server, monkeypatch):
    secret = slack.app_settings().signing_secret
    with httpx.Client(timeout=10) as client:
        for number in range(3 * interactions.MAX_CONNECTIONS):
            body = form({"type": "shortcut", "callback_id": f"other{number}"})
            monkeypatch.setenv(f"AIRFLOW_CONN_GATE_{number}", connection_json(slack))
            response = client.post(
                server.url,
                params={"conn_id": f"gate_{number}"},
                content=body,
                headers={**FORM, **sign(secret, body)},
            )
            assert response.status_code == 200
    assert len(server.receiver.connections) == interactions.MAX_CONNECTIONS


# -- junk is a 4xx, never a 500 -----------------------------------------------------------------------


def _junk(case: str, secret: str) -> tuple[bytes | str, dict[str, str]]:
    now = str(int(time.time()))
    if case == "5000-digit timestamp":
        return "x", {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=" + "0" * 64}
    if case == "non-UTF-8 body, forged":
        return b"payload=\xff\xfe\xfd", {
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": "v0=" + "0" * 64,
        }
    signed_body: bytes | str = {
        "non-UTF-8 body, signed": b"payload=\xff\xfe\xfd",
        "not a form": "{}",
        "payload not JSON": "payload=%7Bnope",
        "payload nested 100000 deep": form("[" * 100_000 + "]" * 100_000),
        "payload of the wrong shapes": form(
            {"type": "block_actions", "user": "U1", "actions": "x", "container": 3}
        ),
        "view of the wrong shapes": form({"type": "view_submission", "view": ["x"], "user": 7}),
    }[case]
    return signed_body, sign(secret, signed_body)


@pytest.mark.parametrize(
    "case",
    [
        "5000-digit timestamp",
        "non-UTF-8 body, forged",
        "non-UTF-8 body, signed",
        "not a form",
        "payload not JSON",
        "payload nested 100000 deep",
        "payload of the wrong shapes",
        "view of the wrong shapes",
    ],
)
def test_junk_is_refused_never_answered_500(slack, server, case):
    body, headers = _junk(case, slack.app_settings().signing_secret)
    response = httpx.post(server.url, content=body, headers={**FORM, **headers}, timeout=10)
    assert response.status_code in (200, 400, 401), response.text
    if "forged" in case or "digit" in case:
        assert response.status_code == 401


def test_a_signed_request_of_another_content_type_is_refused(slack, server):
    body = form({"type": "shortcut"})
    headers = {"Content-Type": "application/json", **sign(slack.app_settings().signing_secret, body)}
    response = httpx.post(server.url, content=body, headers=headers, timeout=10)
    assert response.status_code == 400
