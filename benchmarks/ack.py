"""Slash-command latency while a poll cycle runs: ``CommandRunner.run("search …")`` and
``run("status")`` from another thread of the cycle process, against the same commands on the
idle store (the baseline), over the big pre-filled store."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from benchmarks.context import Context
from benchmarks.report import Row, Section, count, ms, secs, times
from benchmarks.search import p99
from bot.admin import Admin
from bot.commands import Caller, CommandRunner
from bot.config import Settings
from bot.query import Queries
from bot.store import Store

TITLE = "Slash-command latency during a poll cycle"
COMMANDS = [
    "search Anthropic",
    'search "supply chain risk"',
    "status",
    "search contract entity:Anthropic",
    'search "Department of Defense"',
    "search Palantir since:30d",
    "status",
    'search "executive order"',
]


def idle_latencies(ctx: Context, runs: int = 5) -> dict[str, list[float]]:
    store = Store(ctx.store_path)
    settings = Settings()
    runner = CommandRunner(
        Queries(store, lambda: settings, started_at=datetime.now(UTC) - timedelta(hours=1)),
        Admin(store, None, settings=lambda: settings, on_change=lambda s: None),
    )
    latencies: dict[str, list[float]] = {"search": [], "status": []}
    caller = Caller("slack", "UBENCH")
    try:
        for _ in range(runs):
            for command in COMMANDS:
                start = time.perf_counter()
                runner.run(command, caller)
                latencies[command.split()[0]].append(time.perf_counter() - start)
    finally:
        store.close()
    return latencies


def run(ctx: Context) -> Section:
    scale = ctx.scale
    section = Section("ack", TITLE)
    ctx.grow_store(scale.stores[-1])
    idle = idle_latencies(ctx)
    n = scale.ack_feeds
    step = {
        "label": "busy",
        "state": {"feeds": n, "first": 0, "count": scale.new_items, "build": 0},
        "ack": COMMANDS,
    }
    busy = ctx.cycle(ctx.store_path, n, [step])[0]
    for kind in ("search", "status"):
        samples = busy["ack"][kind] or [float("nan")]
        value, baseline = p99(samples), p99(idle[kind])
        section.rows.append(
            Row(
                f"/redline {kind} p99 during a {count(n)}-feed cycle, "
                f"{count(ctx.store_size)} items",
                ms(value),
                "≤ 100 ms",
                value <= 100e-3 and not busy.get("error"),
                f"{ms(baseline)} idle",
                times(value / baseline),
                note=(
                    (f"the cycle RAISED: {busy['error']}; " if busy.get("error") else "")
                    + f"{len(samples)} commands over a {secs(busy['wall'])} cycle "
                    f"({count(busy['new'])} new items); max {ms(max(samples))}, "
                    f"median {ms(sorted(samples)[len(samples) // 2])}. Measured as the "
                    "CommandRunner.run() call (what the chat adapter waits for before it can "
                    "answer), from a thread of the polling process"
                ),
            )
        )
    return section
