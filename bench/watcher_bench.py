"""Benchmark: Slack calls, decision latency, memory and event-loop lag for N open gates in one loop.

N gates (default 100, 1,000 and 5,000) spread over 10 channels wait in ONE asyncio loop (as in a
triggerer) against the Slack emulator, which runs in a child process with Slack's Tier 3 limits
enforced. Simulated people vote (replies and reactions) for a while; the script reports, for the
shared watcher and for per-gate polling (each gate reading its own thread alone:
bench/baseline_poller.py) side by side:

- Slack Web API calls per minute by method (the emulator's counters over the voting window),
- decision latency from a vote to its trigger's event (p50 / p95),
- RSS of the process per open gate, event-loop lag p99, and 429s answered by the emulator.

Run by hand (not part of the test suite):  ``make bench``  or
``.venv/bin/python bench/watcher_bench.py [--gates 100 1000 5000] [--minutes 2]``.
It writes bench/results.md and bench/calls_per_minute.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CHANNELS = 10
VOTERS = 40
POKE_INTERVAL = 10.0
READ_METHODS = ("conversations.history", "conversations.replies")


# -- the emulator, in its own process so its memory is not counted ------------------------------------


def serve_emulator() -> None:
    """Child process: a rate-limited emulator with 10 channels and 40 voters; prints its ids as JSON."""
    from airflow_slack_gate.testing.emulator import SlackEmulator

    with SlackEmulator() as slack:
        ws = slack.seed_demo_workspace()
        voters = [slack.create_user(f"voter{i}") for i in range(VOTERS)]
        channels = [
            slack.create_channel(f"gates-{i}", members=[ws.bot_user_id, *voters]) for i in range(CHANNELS)
        ]
        print(
            json.dumps(
                {
                    "url": slack.url,
                    "base_url": slack.base_url,
                    "token": ws.bot_token,
                    "bot": ws.bot_user_id,
                    "channels": channels,
                    "voters": voters,
                }
            ),
            flush=True,
        )
        sys.stdin.read()  # until the parent closes our stdin


# -- measurements --------------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


#: The other benchmarks' results, linked at the end of results.md (kept when it is written again).
OTHER_BENCHMARKS = (
    "\n## Other benchmarks\n\n"
    "- [Socket Mode and Request URL clicks](socket_mode_results.md) (`bench/socket_mode_bench.py`)\n"
    "- [HITL click-to-resume latency through a real Airflow](hitl_results.md) (`bench/hitl_latency.py`)\n"
    "- [Votes from Socket Mode events, not reads, side by side with main](events_results.md) "
    "(`bench/events_bench.py`)\n"
)


def sections_of_others(path: Path) -> str:
    """The sections other scripts wrote into ``path`` (e.g. bench/burst_bench.py's), kept when this
    one writes the file again: every ``## `` section but the links to the other benchmarks."""
    if not path.exists():
        return ""
    sections = path.read_text().split("\n## ")[1:]
    kept = [s for s in sections if not s.startswith("Other benchmarks")]
    return "".join(f"\n## {section.rstrip()}\n" for section in kept)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def loop_lag(samples: list[float], stop: asyncio.Event, period: float = 0.05) -> None:
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(period)
        samples.append(time.monotonic() - started - period)


@dataclass
class Result:
    gates: int
    mode: str
    minutes: float
    calls: dict[str, int] = field(default_factory=dict)
    ratelimited: int = 0
    latencies: list[float] = field(default_factory=list)
    undecided_votes: int = 0
    rss_per_gate: float = 0.0
    lag_p99: float = 0.0

    def per_minute(self, method: str) -> float:
        return self.calls.get(method, 0) / self.minutes

    def total_per_minute(self) -> float:
        return sum(self.calls.values()) / self.minutes


# -- one run ---------------------------------------------------------------------------------------------


def gate_trigger(channel: str, ts: str, poke_interval: float) -> Any:
    """The trigger a sensor defers to for the question at ``ts`` (anyone may answer)."""
    from airflow_slack_gate.core.policy import ApprovalPolicy
    from airflow_slack_gate.triggers.slack import SlackApprovalTrigger

    return SlackApprovalTrigger(
        slack_conn_id="slack_gate_default",
        channel=channel,
        ts=ts,
        policy=ApprovalPolicy().to_dict(),
        poke_interval=poke_interval,
    )


async def run_case(env: dict, gates: int, shared: bool, minutes: float, votes: int) -> Result:
    from baseline_poller import poll_alone
    from slack_sdk.web.async_client import AsyncWebClient

    from airflow_slack_gate.core.policy import ApprovalPolicy
    from airflow_slack_gate.hooks.sessions import close_shared_sessions
    from airflow_slack_gate.testing.emulator import EmulatorClient

    admin = EmulatorClient(env["url"])
    admin.enable_rate_limits(False)
    poster = AsyncWebClient(token=env["token"], base_url=env["base_url"])
    asks: list[tuple[str, str]] = []
    for i in range(gates):
        channel = env["channels"][i % CHANNELS]
        response = await poster.chat_postMessage(channel=channel, text=f"Gate {i}: deploy?")
        asks.append((channel, response["ts"]))

    admin.reset_counters()
    admin.enable_rate_limits(True)
    decided: dict[str, float] = {}
    rss_before = rss_bytes()

    async def gate(channel: str, ts: str) -> None:
        if not shared:
            await poll_alone("slack_gate_default", channel, ts, ApprovalPolicy(), POKE_INTERVAL)
            decided[ts] = time.monotonic()
            return
        async for _event in gate_trigger(channel, ts, POKE_INTERVAL).run():
            decided[ts] = time.monotonic()

    lag: list[float] = []
    stop = asyncio.Event()
    lag_task = asyncio.create_task(loop_lag(lag, stop))
    tasks = [asyncio.create_task(gate(channel, ts)) for channel, ts in asks]
    await asyncio.sleep(min(30.0, minutes * 60 / 4))  # let every gate register and read once
    rss_per_gate = (rss_bytes() - rss_before) / gates
    admin.reset_counters()
    window_start = time.monotonic()

    voted: dict[str, float] = {}
    to_vote = random.sample(asks, min(votes, gates))
    spacing = minutes * 60 * 0.8 / max(1, len(to_vote))
    for index, (channel, ts) in enumerate(to_vote):
        await asyncio.sleep(max(0.0, window_start + index * spacing - time.monotonic()))
        voter = random.choice(env["voters"])
        if index % 2:
            await asyncio.to_thread(admin.add_reaction, channel, ts, voter, "white_check_mark")
        else:
            await asyncio.to_thread(admin.reply, channel, ts, voter, "approve")
        voted[ts] = time.monotonic()
    await asyncio.sleep(max(0.0, window_start + minutes * 60 - time.monotonic()))
    window = (time.monotonic() - window_start) / 60
    calls = await asyncio.to_thread(admin.calls)
    counts: dict[str, int] = {}
    ratelimited = 0
    for call in calls:
        counts[call["method"]] = counts.get(call["method"], 0) + 1
        ratelimited += call.get("status") == 429

    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, lag_task, return_exceptions=True)
    await close_shared_sessions()
    for channel, ts in asks:  # leave the channels clean for the next case
        await asyncio.to_thread(admin.delete_message, channel, ts)

    latencies = [decided[ts] - voted[ts] for ts in voted if ts in decided]
    return Result(
        gates=gates,
        mode="shared watcher" if shared else "per-gate polling",
        minutes=window,
        calls={method: counts.get(method, 0) for method in sorted(counts)},
        ratelimited=ratelimited,
        latencies=latencies,
        undecided_votes=len(voted) - len(latencies),
        rss_per_gate=rss_per_gate,
        lag_p99=percentile(lag, 0.99),
    )


# -- report ----------------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    rows = [
        "| open gates | mode | history/min | replies/min | all Slack calls/min | 429s | votes decided | "
        "latency p50 | latency p95 | RSS per gate | loop lag p99 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        decided = len(r.latencies)
        rows.append(
            f"| {r.gates:,} | {r.mode} | {r.per_minute('conversations.history'):.0f} | "
            f"{r.per_minute('conversations.replies'):.0f} | {r.total_per_minute():.0f} | {r.ratelimited} | "
            f"{decided}/{decided + r.undecided_votes} | {seconds(r.latencies, 0.5)} | "
            f"{seconds(r.latencies, 0.95)} | {r.rss_per_gate / 1024:.1f} KB | "
            f"{r.lag_p99 * 1000:.0f} ms |"
        )
    return "\n".join(rows)


def seconds(latencies: list[float], q: float) -> str:
    """A latency percentile for the table; a dash when no vote was decided within the window."""
    return f"{percentile(latencies, q):.1f} s" if latencies else "—"


def comparison(results: list[Result]) -> str:
    """Side-by-side ratios per size measured in both modes: calls, and votes decided in the window."""
    lines = []
    for gates in sorted({r.gates for r in results}):
        shared = [r for r in results if r.gates == gates and r.mode == "shared watcher"]
        polling = [r for r in results if r.gates == gates and r.mode == "per-gate polling"]
        if not (shared and polling):
            continue
        s, p = shared[0], polling[0]
        demand = gates * 60 / POKE_INTERVAL
        lines.append(
            f"- {gates:,} gates: per-gate polling would need {demand:,.0f} reads/min "
            f"({demand / max(s.total_per_minute(), 1):,.0f}x the shared watcher's "
            f"{s.total_per_minute():.0f} calls/min); held to Slack's budget it decided "
            f"{len(p.latencies)}/{len(p.latencies) + p.undecided_votes} votes in the window, the watcher "
            f"{len(s.latencies)}/{len(s.latencies) + s.undecided_votes}."
        )
    return "\n".join(lines)


def chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for mode, marker in (("shared watcher", "o"), ("per-gate polling", "s")):
        points = [(r.gates, r.total_per_minute()) for r in results if r.mode == mode]
        if points:
            axes.plot(*zip(*points, strict=True), marker=marker, label=f"{mode} (measured)")
    sizes = sorted({r.gates for r in results})
    axes.plot(
        sizes, [n * 60 / POKE_INTERVAL for n in sizes], linestyle=":", label="per-gate polling (demand)"
    )
    axes.axhline(70, color="grey", linestyle="--", label="target: 70 calls/min")
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="open gates (10 channels)",
        ylabel="Slack API calls per minute",
        title=f"Slack calls vs open gates (poke_interval {POKE_INTERVAL:.0f} s, Tier 3 enforced)",
    )
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gates", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--minutes", type=float, default=2.0, help="voting window per case")
    parser.add_argument("--votes", type=int, default=40, help="votes cast per case")
    parser.add_argument(
        "--polling-up-to", type=int, default=1000, help="largest N also run with per-gate polling"
    )
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.getLogger("airflow").setLevel(logging.WARNING)
    if args.serve_emulator:
        serve_emulator()
        return

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-emulator"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        env = json.loads(child.stdout.readline())
        os.environ["AIRFLOW_CONN_SLACK_GATE_DEFAULT"] = json.dumps(
            {"conn_type": "slack_gate", "password": env["token"], "extra": {"base_url": env["base_url"]}}
        )
        random.seed(7)
        results = []
        for gates in args.gates:
            modes = [True, False] if gates <= args.polling_up_to else [True]
            for shared in modes:
                result = asyncio.run(run_case(env, gates, shared, args.minutes, args.votes))
                print(table([result]).splitlines()[-1], flush=True)
                results.append(result)
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)

    report = table(results)
    print(report)
    chart(results, HERE / "calls_per_minute.png")
    (HERE / "results.md").write_text(
        "# Watcher benchmark\n\n"
        f"Produced by `bench/watcher_bench.py --gates {' '.join(map(str, args.gates))} "
        f"--minutes {args.minutes} "
        f"--votes {args.votes}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores). Gates spread over "
        f"{CHANNELS} channels in one asyncio loop, poke_interval {POKE_INTERVAL:.0f} s, the emulator "
        "(another process) enforcing Slack's Tier 3 limits. Calls are counted by the emulator over the "
        "voting window; latency is from a vote landing in Slack to its trigger's event.\n\n"
        f"{report}\n\n{comparison(results)}\n\nSizes above --polling-up-to "
        f"({args.polling_up_to:,}) run the shared watcher only: per-gate polling already decided nothing "
        "there.\n\n![calls per minute](calls_per_minute.png)\n"
        f"{sections_of_others(HERE / 'results.md')}{OTHER_BENCHMARKS}"
    )


if __name__ == "__main__":
    main()
