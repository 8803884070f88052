"""Start-up: ``python -m bot run`` with N feeds and the big pre-filled store, timed from spawn
to its ``redline running`` log line (the scheduler has scheduled the first polls) and to the
first answer of its HTTP server's /healthz; then SIGTERM and the time it takes to exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from benchmarks.context import Context
from benchmarks.data import feeds_yaml, make_feeds, watchlist
from benchmarks.report import Row, Section, count, secs, times

TITLE = "Start-up"
READY_LINE = "redline running"
WAIT = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _environment(port: int) -> dict[str, str]:
    prefixes = ("SLACK_", "DISCORD_", "REDLINE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["REDLINE_PORT"] = str(port)
    return env


def _healthz(port: int, deadline: float) -> float | None:
    """perf_counter() when /healthz first answers (any status), or None by the deadline."""
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return time.perf_counter()
        except urllib.error.HTTPError:
            return time.perf_counter()
        except OSError:
            time.sleep(0.01)
    return None


def run(ctx: Context) -> Section:
    scale = ctx.scale
    section = Section("startup", TITLE)
    ctx.grow_store(scale.stores[-1])
    n = scale.startup_feeds
    ctx.server.set_state(feeds=n, first=0, count=scale.new_items)
    config = ctx.dir / "startup-feeds.yaml"
    config.write_text(feeds_yaml(make_feeds(ctx.server.feed_urls(n)), watchlist(scale.entities)))
    port = _free_port()
    env = _environment(port)

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot", "--version"], env=env, capture_output=True)
    bare = time.perf_counter() - start

    command = [sys.executable, "-m", "bot", "run", "--config", str(config)]
    command += ["--db", str(ctx.store_path)]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    ready: list[float] = []
    log: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if READY_LINE in line and not ready:
                ready.append(time.perf_counter())
            if len(log) < 200:
                log.append(line.rstrip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    answered = _healthz(port, start + WAIT)
    while not ready and process.poll() is None and time.perf_counter() < start + WAIT:
        time.sleep(0.01)
    stop = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    stopped = time.perf_counter() - stop
    reader.join(timeout=5)
    if not ready:
        raise RuntimeError("redline run never logged readiness:\n" + "\n".join(log[-20:]))
    logged = ready[0] - start
    http = answered - start if answered is not None else None
    value = max(logged, http or 0.0)
    section.rows.append(
        Row(
            f"start-up: redline run ready, {count(n)} feeds, {count(ctx.store_size)} items",
            secs(value),
            "≤ 2 s",
            value <= 2.0,
            f"{secs(bare)} `python -m bot --version`",
            times(value / bare),
            note=(
                f"spawn → '{READY_LINE}' on stderr {secs(logged)}; spawn → first /healthz "
                + (f"answer {secs(http)}" if http is not None else "answer: none (no server)")
                + f"; SIGTERM → exit {secs(stopped)} (exit code {process.returncode})"
            ),
        )
    )
    return section
