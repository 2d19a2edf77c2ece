"""Benchmark: how fast a vote reaches its gate's trigger, with Socket Mode and without.

N gates (default 100) spread over 10 channels wait in ONE asyncio loop (as in a triggerer) against
the Slack emulator, which runs in a child process with Slack's rate limits enforced, exactly as in
bench/watcher_bench.py (same channels, voters and poke_interval). People vote one after another; each
case measures the time from the vote (the click, or the reply landing in Slack) to its trigger's
event:

- **Socket Mode, button click**: the connection has an ``app_token``; the triggerer's one shared
  Socket Mode connection receives the click, judges it on the gate's thread the watcher holds,
  records it in the thread and hands the record to the watcher.
- **Socket Mode, thread reply**: a reply's ``message`` event changes the gate's thread in the
  watcher, which judges it without reading Slack (see bench/events_bench.py for reads per vote).
- **Request URL, button click**: no ``app_token``; the click goes to the plugin's FastAPI app (served
  by uvicorn in a thread of this process, as on the API server), which records it; the watcher sees
  the record at its next round (polling only).
- **polling only, thread reply**: the watcher benchmark's shared watcher, no events.

Run by hand (not part of the test suite):
``.venv/bin/python bench/socket_mode_bench.py [--gates 100] [--votes 30] [--spacing 4] [--stagger 30]``.

The gates start spread over ``--stagger`` seconds, as gates of different DAG runs do. Started all at
once, every channel's timer read comes due at the same moment, and the rate limiter spaces that
burst over ~12 s (10 channels x 1.2 s of Tier 3 budget): a wake-up read behind it waits.
It prints the table and writes bench/socket_mode_results.md (bench/results.md is the watcher's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from watcher_bench import CHANNELS, POKE_INTERVAL, VOTERS, percentile  # noqa: E402

#: Slack's target for a click reaching the gate (issue 6).
TARGET_P95 = 2.0


def serve_emulator() -> None:
    """Child process: the watcher benchmark's workspace, plus the app's app-level token and secret."""
    from airflow_slack_gate.testing.emulator import SlackEmulator

    with SlackEmulator() as slack:
        ws = slack.seed_demo_workspace()
        voters = [slack.create_user(f"voter{i}") for i in range(VOTERS)]
        channels = [
            slack.create_channel(f"gates-{i}", members=[ws.bot_user_id, *voters]) for i in range(CHANNELS)
        ]
        app = slack.app_settings()
        print(
            json.dumps(
                {
                    "url": slack.url,
                    "base_url": slack.base_url,
                    "token": ws.bot_token,
                    "app_token": app.app_token,
                    "signing_secret": app.signing_secret,
                    "channels": channels,
                    "voters": voters,
                }
            ),
            flush=True,
        )
        sys.stdin.read()


@dataclass
class Result:
    mode: str
    gates: int
    latencies: list[float] = field(default_factory=list)
    undecided: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    ratelimited: int = 0
    minutes: float = 1.0

    def row(self) -> str:
        decided = len(self.latencies)
        calls = sum(self.calls.values()) / self.minutes
        return (
            f"| {self.gates:,} | {self.mode} | {decided}/{decided + self.undecided} | "
            f"{percentile(self.latencies, 0.5):.2f} s | {percentile(self.latencies, 0.95):.2f} s | "
            f"{max(self.latencies, default=float('nan')):.2f} s | {calls:.0f} | {self.ratelimited} |"
        )


HEADER = (
    "| open gates | mode | votes decided | vote → event p50 | p95 | max | Slack calls/min | 429s |\n"
    "|---:|---|---:|---:|---:|---:|---:|---:|"
)


class ApiServer:
    """The plugin's interactions app on 127.0.0.1 (a free port), in a thread with its own loop."""

    def __init__(self) -> None:
        import uvicorn
        from fastapi import FastAPI

        from airflow_slack_gate.hooks.sessions import close_shared_sessions
        from airflow_slack_gate.interactive.http import URL_PREFIX, create_app

        class Server(uvicorn.Server):
            async def shutdown(self, sockets: Any = None) -> None:
                await super().shutdown(sockets)
                await close_shared_sessions()  # the click handler's Slack session in this loop

        root = FastAPI()
        root.mount(URL_PREFIX, create_app())
        self.server = Server(
            uvicorn.Config(root, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        from airflow_slack_gate.interactive.http import ROUTE, URL_PREFIX

        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}{URL_PREFIX}{ROUTE}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def set_connection(env: dict[str, Any], *, app_token: bool) -> None:
    extra = {"base_url": env["base_url"], "signing_secret": env["signing_secret"]}
    if app_token:
        extra["app_token"] = env["app_token"]
    os.environ["AIRFLOW_CONN_SLACK_GATE_DEFAULT"] = json.dumps(
        {"conn_type": "slack_gate", "password": env["token"], "extra": extra}
    )


async def post_asks(env: dict[str, Any], gates: int, policy: Any, run_id: str = "r") -> list[tuple[str, str]]:
    """Post ``gates`` questions as the sensor does, round-robin over the channels; their (channel, ts)."""
    from slack_sdk.web.async_client import AsyncWebClient

    from airflow_slack_gate.core.messages import ask_message
    from airflow_slack_gate.core.protocol import ask_metadata

    poster = AsyncWebClient(token=env["token"], base_url=env["base_url"])
    ask = ask_message(
        text="Deploy?",
        blocks=None,
        policy=policy,
        approver_groups=(),
        deadline=None,
        requested_by=None,
        context_line="Airflow: bench.gate",
    )
    asks: list[tuple[str, str]] = []
    for i in range(gates):
        channel = env["channels"][i % CHANNELS]
        identity = {"dag_id": "bench", "run_id": run_id, "task_id": f"g{i}", "map_index": -1, "try_number": 1}
        metadata = ask_metadata(identity, "open", policy=policy)
        response = await poster.chat_postMessage(
            channel=channel, text=ask["text"], blocks=ask["blocks"], metadata=metadata
        )
        asks.append((channel, response["ts"]))
    return asks


def start_gates(
    asks: list[tuple[str, str]], policy: Any, stagger: float, on_decided: Callable[[str], None]
) -> list[asyncio.Task[None]]:
    """Each question's trigger in this loop (poke_interval of the watcher benchmark), started spread
    over ``stagger`` seconds; ``on_decided(ts)`` when its event comes."""
    from airflow_slack_gate.triggers.slack import SlackApprovalTrigger

    async def gate(channel: str, ts: str, delay: float) -> None:
        await asyncio.sleep(delay)
        trigger = SlackApprovalTrigger(
            slack_conn_id="slack_gate_default",
            channel=channel,
            ts=ts,
            policy=policy.to_dict(),
            poke_interval=POKE_INTERVAL,
        )
        async for _event in trigger.run():
            on_decided(ts)

    return [
        asyncio.create_task(gate(channel, ts, stagger * index / len(asks)))
        for index, (channel, ts) in enumerate(asks)
    ]


async def run_case(
    env: dict[str, Any], mode: str, gates: int, votes: int, spacing: float, stagger: float
) -> Result:

    from airflow_slack_gate.core.messages import APPROVE_ACTION
    from airflow_slack_gate.core.policy import ApprovalPolicy
    from airflow_slack_gate.hooks.sessions import close_shared_sessions
    from airflow_slack_gate.testing.emulator import EmulatorClient

    socket_mode = mode.startswith("Socket Mode")
    click = mode.endswith("button click")
    admin = EmulatorClient(env["url"])
    admin.enable_rate_limits(False)
    set_connection(env, app_token=socket_mode)
    policy = ApprovalPolicy()
    asks = await post_asks(env, gates, policy)
    admin.enable_rate_limits(True)
    decided: dict[str, float] = {}
    voted: dict[str, float] = {}
    all_decided = asyncio.Event()

    def on_decided(ts: str) -> None:
        decided[ts] = time.monotonic()
        if len(voted) == min(votes, gates) and all(t in decided for t in voted):
            all_decided.set()

    tasks = start_gates(asks, policy, stagger, on_decided)
    if socket_mode:
        # the emulator is another process: ask it until the listener's connection is open
        while not await asyncio.to_thread(admin.socket_connections):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await asyncio.sleep(stagger + 2 * POKE_INTERVAL)  # every gate registered and read once
    admin.reset_counters()
    started = time.monotonic()
    for channel, ts in random.sample(asks, min(votes, gates)):
        voter = random.choice(env["voters"])
        voted[ts] = time.monotonic()
        if click:
            await asyncio.to_thread(admin.click_button, channel, ts, voter, APPROVE_ACTION, wait=False)
        else:
            await asyncio.to_thread(admin.reply, channel, ts, voter, "approve")
        await asyncio.sleep(spacing)
    if not all(ts in decided for ts in voted):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_decided.wait(), 3 * POKE_INTERVAL)
    minutes = (time.monotonic() - started) / 60
    calls = await asyncio.to_thread(admin.calls)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.5)  # the listener closes in the background
    await close_shared_sessions()
    for channel, ts in asks:
        await asyncio.to_thread(admin.delete_message, channel, ts)
    if os.environ.get("BENCH_DEBUG"):
        for call in calls:
            print(
                call["method"],
                {k: call["params"].get(k) for k in ("channel", "ts", "oldest")},
                call.get("time"),
                file=sys.stderr,
            )
        print(
            {ts: (round(voted[ts] - started, 2), round(decided.get(ts, 0) - started, 2)) for ts in voted},
            file=sys.stderr,
        )
    counts: dict[str, int] = {}
    for call in calls:
        counts[call["method"]] = counts.get(call["method"], 0) + 1
    latencies = [decided[ts] - voted[ts] for ts in voted if ts in decided]
    return Result(
        mode=mode,
        gates=gates,
        latencies=latencies,
        undecided=len(voted) - len(latencies),
        calls=counts,
        ratelimited=sum(call.get("status") == 429 for call in calls),
        minutes=minutes,
    )


MODES = (
    "Socket Mode, button click",
    "Request URL, button click",
    "Socket Mode, thread reply",
    "polling only, thread reply",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gates", type=int, nargs="+", default=[100])
    parser.add_argument("--votes", type=int, default=30, help="votes cast per case")
    parser.add_argument("--spacing", type=float, default=4.0, help="seconds between votes")
    parser.add_argument(
        "--stagger",
        type=float,
        default=30.0,
        help="seconds over which the gates start (0: all at once, so every channel's timer reads "
        "come due together)",
    )
    parser.add_argument("--modes", type=int, nargs="+", default=list(range(len(MODES))), help="cases to run")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.getLogger("airflow").setLevel(logging.WARNING)
    logging.getLogger("airflow_slack_gate").setLevel(logging.WARNING)
    if args.serve_emulator:
        serve_emulator()
        return

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-emulator"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    results: list[Result] = []
    try:
        assert child.stdout is not None
        env = json.loads(child.stdout.readline())
        from airflow_slack_gate.testing.emulator import EmulatorClient

        admin = EmulatorClient(env["url"])
        random.seed(7)
        print(HEADER, flush=True)
        with ApiServer() as request_url:
            for gates in args.gates:
                for mode in [MODES[i] for i in args.modes]:
                    admin.app_settings(socket_mode=mode.startswith("Socket Mode"), request_url=request_url)
                    result = asyncio.run(run_case(env, mode, gates, args.votes, args.spacing, args.stagger))
                    print(result.row(), flush=True)
                    results.append(result)
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)

    ratios = []
    for gates in args.gates:
        by_mode = {r.mode: r for r in results if r.gates == gates}
        for fast, slow in ((MODES[0], MODES[1]), (MODES[2], MODES[3])):
            if fast not in by_mode or slow not in by_mode:
                continue
            ratio = percentile(by_mode[slow].latencies, 0.95) / percentile(by_mode[fast].latencies, 0.95)
            ratios.append(f"- {gates:,} gates: p95 of *{slow}* / *{fast}* = **{ratio:.1f}x**")
    socket_p95 = [percentile(r.latencies, 0.95) for r in results if r.mode == MODES[0]]
    verdict = "met" if all(p < TARGET_P95 for p in socket_p95) else "NOT met"
    report = "\n".join([HEADER, *(r.row() for r in results)])
    print("\n".join(ratios))
    print(f"target click → event p95 < {TARGET_P95:.0f} s with Socket Mode: {verdict}")
    (HERE / "socket_mode_results.md").write_text(
        "# Socket Mode benchmark\n\n"
        f"Produced by `bench/socket_mode_bench.py --gates {' '.join(map(str, args.gates))} "
        f"--votes {args.votes} --spacing {args.spacing} --stagger {args.stagger}` "
        f"on {time.strftime('%Y-%m-%d')} "
        f"({os.cpu_count()} cores). The watcher benchmark's set-up (bench/results.md): gates over "
        f"{CHANNELS} channels in one asyncio loop, poke_interval {POKE_INTERVAL:.0f} s, the emulator "
        "(another process) enforcing Slack's rate limits. Latency is from the click (or the reply landing "
        "in Slack) to the gate's trigger event; one vote every "
        f"{args.spacing:g} s; the gates start spread over {args.stagger:g} s.\n\n{report}\n\n"
        + "\n".join(ratios)
        + "\n\n"
        f"Target (issue 6): click → event p95 under {TARGET_P95:.0f} s with Socket Mode: **{verdict}**.\n"
    )


if __name__ == "__main__":
    main()
