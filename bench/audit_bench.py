"""How the audit reads Slack: calls per question, and how its rate limiter keeps it within Slack's limits.

A channel of the Slack emulator holds ``--questions`` gate questions (each answered by a reply and a
reaction) among as many plain messages. ``read_audit`` reads it twice in one run, side by side:

- **paced**: the hook's limiter with Slack's published budgets (conversations.replies ~50 a minute);
- **unpaced**: the limiter's budgets raised far above Slack's (what an audit without the limiter would
  do); the client still retries a 429 after Slack's Retry-After.

The emulator enforces Slack's rate limits in both.

It prints a table (time, calls per method, 429s Slack would have answered) and writes
bench/audit_results.md. Run: ``python bench/audit_bench.py --questions 60`` (more questions than
Slack's ~50 reads a minute, so the unpaced audit meets Slack's limit).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

from airflow_slack_gate.audit import read_audit
from airflow_slack_gate.core.policy import ApprovalPolicy
from airflow_slack_gate.hooks import ratelimit
from airflow_slack_gate.hooks.asking import Asking, Question
from airflow_slack_gate.hooks.slack import SlackGateHook
from airflow_slack_gate.testing.emulator import SlackEmulator

HERE = Path(__file__).parent
METHODS = ("conversations.history", "conversations.replies", "users.info", "chat.getPermalink")
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy?"}}


def fill_channel(slack: SlackEmulator, questions: int) -> None:
    """``questions`` gate questions (one per try of a task), each with a reply and a reaction."""
    ws = slack.workspace
    asking = Asking(SlackGateHook(), log=logging.getLogger("bench"))
    for number in range(1, questions + 1):
        identity = {
            "dag_id": "deploy",
            "run_id": f"manual__{number}",
            "task_id": "ask",
            "map_index": -1,
            "try_number": 1,
            "ti_id": f"ti-{number}",
        }
        question = Question(
            text="Deploy?",
            message=lambda: {"text": "Deploy?", "blocks": [SECTION]},
            policy=ApprovalPolicy(),
            approver_groups=[],
            review_digest=f"sha256:{number:04d}",
        )
        ts = asking.ask(ws.approvals, identity, question, since=time.time() - 60).ts
        slack.reply("approvals", ts, ws.alice, "approve: looks right")
        slack.add_reaction("approvals", ts, ws.bob, "white_check_mark")
        slack.post_as_user(ws.approvals, ws.carol, f"unrelated message {number}")


def measure(slack: SlackEmulator, *, paced: bool) -> dict[str, float]:
    """One audit of the channel: seconds, calls per method, 429s."""
    saved = dict(ratelimit.TIER_BUDGETS), ratelimit.DEFAULT_BUDGET
    if not paced:
        ratelimit.TIER_BUDGETS.update(dict.fromkeys(ratelimit.TIER_BUDGETS, 60_000))
        ratelimit.DEFAULT_BUDGET = 60_000
    slack.enable_rate_limits(True)
    before = {method: slack.call_count(method) for method in METHODS}
    limited_before = sum(1 for call in slack.calls if call.status == 429)
    started = time.monotonic()
    try:
        records = read_audit("slack_gate_default", slack.workspace.approvals)
    finally:
        ratelimit.TIER_BUDGETS.clear()
        ratelimit.TIER_BUDGETS.update(saved[0])
        ratelimit.DEFAULT_BUDGET = saved[1]
        slack.enable_rate_limits(False)
    result: dict[str, float] = {"seconds": time.monotonic() - started, "records": len(records)}
    result.update({method: slack.call_count(method) - before[method] for method in METHODS})
    result["429s"] = sum(1 for call in slack.calls if call.status == 429) - limited_before
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=60)
    args = parser.parse_args()
    with SlackEmulator() as slack:
        slack.seed_demo_workspace()
        os.environ["AIRFLOW_CONN_SLACK_GATE_DEFAULT"] = slack.airflow_connection()
        fill_channel(slack, args.questions)
        unpaced = measure(slack, paced=False)
        paced = measure(slack, paced=True)
    header = ("audit", "questions", "seconds", *METHODS, "429s")
    rows = [
        (
            name,
            int(run["records"]),
            f"{run['seconds']:.1f}",
            *(int(run[m]) for m in METHODS),
            int(run["429s"]),
        )
        for name, run in (("paced (Slack's budgets)", paced), ("unpaced", unpaced))
    ]
    table = "\n".join(
        "| " + " | ".join(str(cell) for cell in row) + " |"
        for row in (header, tuple("---" for _ in header), *rows)
    )
    ratio = paced["seconds"] / max(unpaced["seconds"], 1e-9)
    summary = (
        f"{args.questions} questions: the paced audit took {ratio:.1f}x as long as the unpaced one; Slack "
        f"answered the paced audit {int(paced['429s'])} times 429, the unpaced one {int(unpaced['429s'])} "
        "times. Each question costs one conversations.replies and one chat.getPermalink call, and each "
        "voter one users.info call per audit."
    )
    print(table)
    print(summary)
    (HERE / "audit_results.md").write_text(
        "# Audit: calls and pacing\n\n"
        f"`python bench/audit_bench.py --questions {args.questions}` (the Slack emulator enforcing Slack's "
        "rate limits, both audits in one run, side by side).\n\n"
        f"{table}\n\n{summary}\n"
    )


if __name__ == "__main__":
    main()
