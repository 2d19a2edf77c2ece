"""Benchmark: votes from Socket Mode events, not reads (issue 14), side by side with another checkout.

1,000 gates (``--gates``) over 10 channels wait in ONE asyncio loop (as in a triggerer) with Socket
Mode on, against the Slack emulator in its own process with Slack's rate limits enforced (the watcher
benchmark's workspace: bench/watcher_bench.py). People cast ``--votes`` votes, one every ``--spacing``
seconds, in turn by thread reply, by reaction on the question and by button; each decides its gate.
Measured per code base, in the same run against the same emulator:

- p50 / p95 from the vote (the reply or reaction landing in Slack, the click) to its trigger's event;
- Slack reads (``conversations.history`` + ``conversations.replies``) per vote, counted by the emulator
  from the first vote until the last gate decided (the watchers' safety reads included).

The other code base (``--baseline``, default: ``main`` of this repository, exported with ``git archive``
to a temporary folder) runs the same driver in a subprocess whose PYTHONPATH points there.

Run by hand (not part of the test suite; a few minutes):
``.venv/bin/python bench/events_bench.py [--gates 1000] [--votes 100] [--spacing 0.5] [--baseline main]``.
It prints the tables and writes bench/events_results.md.
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
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from socket_mode_bench import post_asks, serve_emulator, start_gates  # noqa: E402
from watcher_bench import CHANNELS, POKE_INTERVAL, percentile  # noqa: E402

#: Issue 14's target: Slack reads per vote, on average.
TARGET_READS_PER_VOTE = 0.1
READS = ("conversations.history", "conversations.replies")
KINDS = ("reply", "reaction", "button")


async def drive(
    env: dict[str, Any], gates: int, votes: int, spacing: float, stagger: float
) -> dict[str, Any]:
    """One run in this process's code base: the gates wait with Socket Mode, people vote, and what
    the emulator counted comes back as a dict."""
    from airflow_slack_gate.core.messages import APPROVE_ACTION
    from airflow_slack_gate.core.policy import ApprovalPolicy
    from airflow_slack_gate.hooks.sessions import close_shared_sessions
    from airflow_slack_gate.testing.emulator import EmulatorClient

    admin = EmulatorClient(env["url"])
    admin.enable_rate_limits(False)
    extra = {
        "base_url": env["base_url"],
        "signing_secret": env["signing_secret"],
        "app_token": env["app_token"],
    }
    os.environ["AIRFLOW_CONN_SLACK_GATE_DEFAULT"] = json.dumps(
        {"conn_type": "slack_gate", "password": env["token"], "extra": extra}
    )
    policy = ApprovalPolicy()
    asks = await post_asks(env, gates, policy, run_id=env["run"])
    admin.enable_rate_limits(True)
    decided: dict[str, float] = {}
    voted: dict[str, tuple[str, float]] = {}
    all_decided = asyncio.Event()

    def on_decided(ts: str) -> None:
        decided[ts] = time.monotonic()
        if len(voted) == min(votes, gates) and all(t in decided for t in voted):
            all_decided.set()

    tasks = start_gates(asks, policy, stagger, on_decided)
    while not await asyncio.to_thread(admin.socket_connections):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.sleep(stagger)
    await every_gate_read(asks, timeout=180)
    admin.reset_counters()
    started = time.monotonic()
    rng = random.Random(7)
    for index, (channel, ts) in enumerate(rng.sample(asks, min(votes, gates))):
        kind = KINDS[index % len(KINDS)]
        voter = rng.choice(env["voters"])
        voted[ts] = (kind, time.monotonic())
        if kind == "reply":
            await asyncio.to_thread(admin.reply, channel, ts, voter, "approve")
        elif kind == "reaction":
            await asyncio.to_thread(admin.add_reaction, channel, ts, voter, "white_check_mark")
        else:
            await asyncio.to_thread(admin.click_button, channel, ts, voter, APPROVE_ACTION, wait=False)
        await asyncio.sleep(spacing)
    if not all(ts in decided for ts in voted):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_decided.wait(), 240)
    finished = max([decided[ts] for ts in voted if ts in decided], default=time.monotonic())
    calls = await asyncio.to_thread(admin.calls)
    if os.environ.get("BENCH_DEBUG"):  # which reads, of which gates (and how each was voted on)
        for call in calls:
            where = {key: call["params"].get(key) for key in ("channel", "ts", "oldest")}
            print(call["method"], where, file=sys.stderr)
        print({ts: kind for ts, (kind, _) in voted.items()}, file=sys.stderr)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.5)  # the listener closes in the background
    await close_shared_sessions()
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for ts, (kind, at) in voted.items():
        if ts in decided:
            latencies[kind].append(decided[ts] - at)
    counts: dict[str, int] = {}
    for call in calls:
        counts[call["method"]] = counts.get(call["method"], 0) + 1
    return {
        "votes": len(voted),
        "latencies": latencies,
        "calls": counts,
        "ratelimited": sum(call.get("status") == 429 for call in calls),
        "seconds": finished - started,
    }


async def every_gate_read(asks: list[tuple[str, str]], timeout: float) -> None:
    """Wait (polling, up to ``timeout`` s) until the loop's watchers hold a thread for every question:
    the first look is done, in either code base, however long the start-up rounds took."""
    from airflow_slack_gate.runtime import watcher

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watchers = watcher._WATCHERS.peek() or {}
        held = {ts: gate.thread for w in watchers.values() for ts, gate in w.gates.items()}
        if all(held.get(ts) for _, ts in asks):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"not every gate was read within {timeout} s")


def run_driver(code: Path, env: dict[str, Any], args: argparse.Namespace, run: str) -> dict[str, Any]:
    """The driver in a subprocess that imports the package from ``code``."""
    child_env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, __file__, "--drive", json.dumps({**env, "run": run})]
    command += ["--gates", str(args.gates), "--votes", str(args.votes), "--spacing", str(args.spacing)]
    command += ["--stagger", str(args.stagger)]
    out = subprocess.run(command, env=child_env, capture_output=True, text=True, check=True, cwd=code)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows(name: str, result: dict[str, Any]) -> list[str]:
    reads = sum(result["calls"].get(method, 0) for method in READS)
    votes = result["votes"]
    every = [value for values in result["latencies"].values() for value in values]
    out = []
    for kind, values in [*result["latencies"].items(), ("all", every)]:
        cast = votes if kind == "all" else (votes + 2 - KINDS.index(kind)) // 3
        out.append(
            f"| {name} | {kind} | {len(values)}/{cast} | "
            f"{percentile(values, 0.5):.2f} s | {percentile(values, 0.95):.2f} s |"
            + (f" {reads} | {reads / votes:.2f} | {result['ratelimited']} |" if kind == "all" else " | | |")
        )
    return out


HEADER = (
    "| code | vote by | decided | vote → event p50 | p95 | Slack reads | reads per vote | 429s |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gates", type=int, default=1000)
    parser.add_argument("--votes", type=int, default=100)
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between votes")
    parser.add_argument("--stagger", type=float, default=20.0, help="seconds over which the gates start")
    parser.add_argument("--baseline", default="main", help="git ref of the code to compare with")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.getLogger("airflow").setLevel(logging.WARNING)
    logging.getLogger("airflow_slack_gate").setLevel(logging.ERROR)
    if args.serve_emulator:
        serve_emulator()
        return
    if args.drive:
        print(
            json.dumps(
                asyncio.run(drive(json.loads(args.drive), args.gates, args.votes, args.spacing, args.stagger))
            )
        )
        return

    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-emulator"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    results: dict[str, dict[str, Any]] = {}
    try:
        assert child.stdout is not None
        env = json.loads(child.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="events-bench-") as base:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", args.baseline], capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
            print(HEADER, flush=True)
            for name, code in ((args.baseline, Path(base)), ("this branch", REPO)):
                results[name] = run_driver(code, env, args, run=name)
                print("\n".join(rows(name, results[name])), flush=True)
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(timeout=30)

    base, new = results[args.baseline], results["this branch"]

    def all_latencies(result: dict[str, Any]) -> list[float]:
        return [value for values in result["latencies"].values() for value in values]

    def reads_per_vote(result: dict[str, Any]) -> float:
        return sum(result["calls"].get(method, 0) for method in READS) / result["votes"]

    read_ratio = (
        f"{reads_per_vote(base) / reads_per_vote(new):.1f}x"
        if reads_per_vote(new)
        else "no read on this branch"
    )
    ratios = [
        f"- reads per vote: {args.baseline} / this branch = **{read_ratio}** "
        f"({reads_per_vote(base):.2f} → {reads_per_vote(new):.2f})",
        f"- vote → event p95: {args.baseline} / this branch = **"
        f"{percentile(all_latencies(base), 0.95) / percentile(all_latencies(new), 0.95):.1f}x**",
        f"- vote → event p50: {args.baseline} / this branch = **"
        f"{percentile(all_latencies(base), 0.5) / percentile(all_latencies(new), 0.5):.1f}x**",
    ]
    verdict = "met" if reads_per_vote(new) <= TARGET_READS_PER_VOTE else "NOT met"
    calls = "\n".join(
        f"- {name}: " + ", ".join(f"{method} {count}" for method, count in sorted(result["calls"].items()))
        for name, result in results.items()
    )
    print("\n".join(ratios))
    print(f"target reads per vote <= {TARGET_READS_PER_VOTE}: {verdict}")
    table = "\n".join([HEADER, *rows(args.baseline, base), *rows("this branch", new)])
    command = (
        f"bench/events_bench.py --gates {args.gates} --votes {args.votes} --spacing {args.spacing} "
        f"--stagger {args.stagger} --baseline {args.baseline}"
    )
    setup = (
        f"{args.gates:,} gates over {CHANNELS} channels in one asyncio loop with Socket Mode, poke_interval "
        f"{POKE_INTERVAL:.0f} s, the emulator (another process, this branch's) enforcing Slack's rate "
        "limits; "
        f"{args.votes} votes one every {args.spacing:g} s, in turn by reply, reaction and button, each "
        "deciding its gate. Reads are conversations.history + conversations.replies from the first vote "
        "until the last gate decided. Both code bases ran in the same run against the same emulator."
    )
    target = f"Target (issue 14): Slack reads per vote <= {TARGET_READS_PER_VOTE} on average: **{verdict}**."
    (HERE / "events_results.md").write_text(
        "# Votes from events benchmark (issue 14)\n\n"
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores, shared). "
        f"{setup}\n\n"
        f"{table}\n\n" + "\n".join(ratios) + f"\n\nEvery Slack call in the window:\n\n{calls}\n\n{target}\n"
    )


if __name__ == "__main__":
    main()
