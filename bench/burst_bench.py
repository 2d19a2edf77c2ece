"""Benchmark: a burst of votes, and several triggerers sharing one token, against today's main.

Two cases, each run with this checkout's code and with a baseline checkout (today's main) in the same
run, against one Slack emulator (another process) that enforces Slack's tier limits with bursts:

- **polling burst**: one triggerer process, 300 gates in 10 channels, poke_interval 5 s; once every
  gate is read, 20 votes land at once. Reported: p50 / p95 from a vote to its trigger's event; target
  p95 within one history round (10 channels at Tier 3: 12 s) plus 2 s.
- **three triggerers**: three triggerer processes (each its own event loop and limiter) sharing one
  bot token, 300 gates each in the same 10 channels, 20 votes each at once. Reported: 429s as a share
  of all calls the emulator answered (target <= 2%), votes decided, p95.

Every triggerer is a real OS process running ``SlackApprovalTrigger.run()`` for its gates, as a
triggerer does. Calls and 429s are the emulator's counts over the measured window: from the votes
until every vote was decided (at least ``--settle`` seconds, at most ``--window``); the warm-up
before it (gates registering, limiters settling) is reported apart.

Run by hand (not part of the test suite)::

    git -C /work/main worktree add /tmp/bench-base main   # or any checkout of the baseline
    .venv/bin/python bench/burst_bench.py --baseline /tmp/bench-base

It prints the tables and writes them into bench/results.md (section "Bursts and several triggerers").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from watcher_bench import CHANNELS, gate_trigger, percentile

HERE = Path(__file__).parent
ROOT = HERE.parent
POKE_INTERVAL = 5.0
GATES_PER_TRIGGERER = 300
VOTES_PER_TRIGGERER = 20
#: 10 channels read once each at Tier 3 (50 calls a minute): one history round.
HISTORY_ROUND = CHANNELS * 60 / 50
SECTION = "## Bursts and several triggerers"
#: Starts the lines a triggerer process prints for the driver.
MARK = "BENCH"


# -- a triggerer process ----------------------------------------------------------------------------------


def serve_triggerer() -> None:
    """Child process: run one trigger per gate (JSON on stdin) in one loop; print each decision."""
    import asyncio
    import logging

    logging.getLogger("airflow").setLevel(logging.ERROR)
    logging.getLogger("slack_sdk").setLevel(logging.ERROR)
    job = json.loads(sys.stdin.readline())
    os.environ["AIRFLOW_CONN_SLACK_GATE_DEFAULT"] = json.dumps(
        {"conn_type": "slack_gate", "password": job["token"], "extra": {"base_url": job["base_url"]}}
    )

    async def gate(channel: str, ts: str) -> None:
        async for _event in gate_trigger(channel, ts, POKE_INTERVAL).run():
            print(MARK, json.dumps({"decided": ts, "at": time.monotonic()}), flush=True)

    async def run() -> None:
        tasks = [asyncio.create_task(gate(channel, ts)) for channel, ts in job["gates"]]
        print(MARK, json.dumps({"ready": True}), flush=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.Event().wait()  # until the driver ends this process

    asyncio.run(run())


@dataclass
class Triggerer:
    """A triggerer process the driver started, and the decisions it printed (monotonic times: one
    clock for every process on this machine)."""

    process: subprocess.Popen
    decided: dict[str, float] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, code: Path, job: dict) -> Triggerer:
        env = {**os.environ, "PYTHONPATH": f"{code}{os.pathsep}{HERE}"}
        process = subprocess.Popen(
            [sys.executable, __file__, "--serve-triggerer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=code,
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
        triggerer = cls(process)
        threading.Thread(target=triggerer._read, daemon=True).start()
        return triggerer

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if not line.startswith(MARK):
                continue  # a library's own output
            message = json.loads(line[len(MARK) :])
            if message.get("ready"):
                self.ready.set()
            else:
                self.decided[message["decided"]] = message["at"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# -- one case ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    case: str
    code: str
    triggerers: int
    warmup_calls: int = 0
    warmup_429: int = 0
    refused_methods: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    ratelimited: int = 0
    history_per_minute: float = 0.0
    latencies: list[float] = field(default_factory=list)
    votes: int = 0

    @property
    def share_429(self) -> float:
        return self.ratelimited / max(1, self.calls)

    @property
    def share_429_whole_run(self) -> float:
        return (self.ratelimited + self.warmup_429) / max(1, self.calls + self.warmup_calls)


def count(calls: list[dict]) -> tuple[int, int]:
    return len(calls), sum(call.get("status") == 429 for call in calls)


def run_case(
    env: dict, case: str, code_name: str, code: Path, triggerers: int, args: argparse.Namespace
) -> Result:
    from slack_sdk import WebClient

    from airflow_slack_gate.testing.emulator import EmulatorClient

    admin = EmulatorClient(env["url"])
    admin.enable_rate_limits(False)
    poster = WebClient(token=env["token"], base_url=env["base_url"])
    jobs = []
    for t in range(triggerers):
        gates = []
        for i in range(GATES_PER_TRIGGERER):
            channel = env["channels"][i % CHANNELS]
            gates.append(
                (channel, poster.chat_postMessage(channel=channel, text=f"Gate {t}.{i}: deploy?")["ts"])
            )
        jobs.append({"token": env["token"], "base_url": env["base_url"], "gates": gates})
    admin.reset_counters()
    admin.enable_rate_limits(True)

    started = [Triggerer.start(code, job) for job in jobs]
    result = Result(case, code_name, triggerers)
    try:
        for triggerer in started:
            if not triggerer.ready.wait(timeout=120):
                raise RuntimeError("a triggerer process did not start")
        time.sleep(args.warmup)  # every gate registers and is read; the limiters settle
        warmup = admin.calls()
        result.warmup_calls, result.warmup_429 = count(warmup)
        admin.reset_counters()

        voted: dict[str, float] = {}
        voting_started = time.monotonic()
        for job in jobs:
            for channel, ts in random.sample(job["gates"], VOTES_PER_TRIGGERER):
                admin.reply(channel, ts, random.choice(env["voters"]), "approve")
                voted[ts] = time.monotonic()
        result.votes = len(voted)
        while time.monotonic() - voting_started < args.window:
            decided = sum(ts in t.decided for t in started for ts in voted)
            least = args.settle if triggerers == 1 else args.shared_settle
            if decided == len(voted) and time.monotonic() - voting_started >= least:
                break
            time.sleep(0.5)
        minutes = (time.monotonic() - voting_started) / 60
        calls = admin.calls()
        result.calls, result.ratelimited = count(calls)
        for call in warmup + calls:
            if call.get("status") == 429:
                result.refused_methods[call["method"]] = result.refused_methods.get(call["method"], 0) + 1
        history = sum(
            call["method"] == "conversations.history" and call.get("status") == 200 for call in calls
        )
        result.history_per_minute = history / minutes
        decided_at = {ts: at for t in started for ts, at in t.decided.items()}
        result.latencies = [decided_at[ts] - at for ts, at in voted.items() if ts in decided_at]
    finally:
        for triggerer in started:
            triggerer.stop()
        admin.enable_rate_limits(False)
        for job in jobs:  # leave the channels clean for the next case
            for channel, ts in job["gates"]:
                admin.delete_message(channel, ts)
    return result


# -- report -----------------------------------------------------------------------------------------------


def seconds(values: list[float], q: float) -> str:
    return f"{percentile(values, q):.1f} s" if values else "—"


def table(results: list[Result]) -> str:
    rows = [
        "| case | code | triggerers | warm-up calls (429s) | calls in window | 429s | 429 share | "
        "429 share, warm-up too | history reads/min | votes decided | p50 | p95 | "
        "429s by method (whole run) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.case} | {r.code} | {r.triggerers} | {r.warmup_calls} ({r.warmup_429}) | {r.calls} | "
            f"{r.ratelimited} | {r.share_429:.1%} | {r.share_429_whole_run:.1%} | "
            f"{r.history_per_minute:.0f} | "
            f"{len(r.latencies)}/{r.votes} | {seconds(r.latencies, 0.5)} | {seconds(r.latencies, 0.95)} | "
            f"{', '.join(f'{method} {n}' for method, n in sorted(r.refused_methods.items())) or '—'} |"
        )
    return "\n".join(rows)


def ratio(new: float, old: float) -> str:
    return f"{new / old:.2f}x" if old else "—"


def comparison(results: list[Result]) -> str:
    lines = []
    for case in dict.fromkeys(r.case for r in results):
        pair = {r.code: r for r in results if r.case == case}
        new, old = pair.get("branch"), pair.get("main")
        if not (new and old and new.latencies and old.latencies):
            continue
        p95_new, p95_old = percentile(new.latencies, 0.95), percentile(old.latencies, 0.95)
        line = (
            f"- {case}: p95 {p95_new:.1f} s vs main's {p95_old:.1f} s ({ratio(p95_new, p95_old)}), "
            f"p50 {ratio(percentile(new.latencies, 0.5), percentile(old.latencies, 0.5))}; "
            f"429 share {new.share_429:.1%} vs {old.share_429:.1%} (warm-up too: "
            f"{new.share_429_whole_run:.1%} vs {old.share_429_whole_run:.1%}); votes decided "
            f"{len(new.latencies)}/{new.votes} vs {len(old.latencies)}/{old.votes}."
        )
        if new.triggerers == 1:
            target = HISTORY_ROUND + 2
            met = p95_new <= target
            line += f" Target p95 <= {target:.0f} s (one history round + 2 s): {'met' if met else 'NOT met'}."
        else:
            met = new.share_429 <= 0.02
            line += f" Target 429 share <= 2%: {'met' if met else 'NOT met'}."
        lines.append(line)
    return "\n".join(lines)


def write_section(report: str) -> None:
    """Put ``report`` into results.md as its own section, keeping everything else there."""
    path = HERE / "results.md"
    text = path.read_text() if path.exists() else ""
    if SECTION in text:
        before, _, after = text.partition(SECTION)
        rest = after.split("\n## ", 1)
        text = before + (("## " + rest[1]) if len(rest) > 1 else "")
    marker = "\n## Other benchmarks"
    head, found, tail = text.partition(marker)
    section = f"{SECTION}\n\n{report}\n"
    path.write_text(
        f"{head.rstrip()}\n\n{section}{found}{tail}" if found else f"{text.rstrip()}\n\n{section}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with (today's main)")
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds before the votes")
    parser.add_argument("--settle", type=float, default=30.0, help="least seconds measured after the votes")
    parser.add_argument(
        "--shared-settle",
        type=float,
        default=180.0,
        help="least seconds measured after the votes with several triggerers (429s are a rate over time)",
    )
    parser.add_argument("--window", type=float, default=240.0, help="most seconds measured after the votes")
    parser.add_argument("--cases", nargs="+", default=["polling burst", "three triggerers"])
    parser.add_argument("--serve-triggerer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_triggerer:
        serve_triggerer()
        return

    codes = {"branch": ROOT}
    if args.baseline:
        codes["main"] = args.baseline.resolve()
    emulator = subprocess.Popen(
        [sys.executable, str(HERE / "watcher_bench.py"), "--serve-emulator"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    results: list[Result] = []
    try:
        assert emulator.stdout is not None
        env = json.loads(emulator.stdout.readline())
        random.seed(7)
        for case in args.cases:
            triggerers = 1 if case == "polling burst" else 3
            for code_name, code in codes.items():  # side by side: each case with both codes, back to back
                result = run_case(env, case, code_name, code, triggerers, args)
                print(table([result]).splitlines()[-1], flush=True)
                results.append(result)
    finally:
        if emulator.stdin:
            emulator.stdin.close()
        emulator.wait(timeout=30)

    command = "bench/burst_bench.py" + (" --baseline <checkout of main>" if args.baseline else "")
    report = (
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores, shared with "
        "other work: compare the rows of one run, not absolute numbers). Gates in "
        f"{CHANNELS} channels, poke_interval {POKE_INTERVAL:.0f} s, {GATES_PER_TRIGGERER} gates and "
        f"{VOTES_PER_TRIGGERER} votes (cast at once) per triggerer process, one bot token; the emulator "
        "(another process) enforces Slack's tiers with bursts. `main` is today's main, `branch` this "
        f"code. Calls and 429s are counted from the votes until every vote was decided (at least "
        f"{args.settle:.0f} s with one triggerer, {args.shared_settle:.0f} s with three; at most "
        f"{args.window:.0f} s); the {args.warmup:.0f} s warm-up before the votes (processes starting "
        "together, limiters settling) is shown apart. Latency: from a vote landing in Slack to its "
        "trigger's event; with 20 votes, p95 is the slowest.\n\n"
        f"{table(results)}\n\n{comparison(results)}"
    )
    print(report)
    write_section(report)


if __name__ == "__main__":
    main()
