"""Poll cycles measured in a process of their own: ``python -m benchmarks.cycle`` reads a JSON
spec on stdin and prints one JSON result per step on stdout.

A fresh interpreter per run keeps each figure's peak RSS its own and no state leaks between
figures. The real ``Poller``, ``Fetcher`` and ``Store`` run unchanged; the probe only wraps
their public entry points (and the Poller's ``_analyse`` stage) to count calls and to sum
each stage's *thread CPU time* (``time.thread_time``), which excludes time spent waiting for
the GIL, so the stage shares stay true under eight worker threads.

The Poller is built as ``bot.service.Service`` builds it: with ``bot.workers.build_parse_pool()``
(one spawned parse worker per core) unless the spec says ``"pool": false``. Worker processes'
CPU time and peak RSS are read from /proc and reported with the main process's.

Spec: ``{"db", "urls", "control", "entities", "workers", "pool", "probe", "steps": [{"label",
"state": {...feed server state...}, "ack": [commands] | null}]}``.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import sqlite3
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.data import make_feeds, watchlist
from benchmarks.memory import peak_mb
from bot.admin import Admin
from bot.commands import Caller, CommandRunner
from bot.config import Settings
from bot.fetcher import Fetcher
from bot.pipeline import Poller
from bot.query import Queries
from bot.store import SaveResult, Store

F = TypeVar("F", bound=Callable[..., Any])
STAGES = ("fetch", "sync_feed", "analyse", "unseen", "save", "feed_state")
_ROWS = ("items", "matches", "deadlines", "outbox", "items_fts_docsize")


class Probe:
    """Per-stage call counts and thread CPU seconds, summed over every worker thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.saved: Counter[str] = Counter()

    def wrap(self, stage: str, function: F) -> F:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                with self.lock:
                    self.cpu[stage] += spent
                    self.calls[stage] += 1

        return timed  # type: ignore[return-value]

    def count_save(self, result: SaveResult) -> None:
        with self.lock:
            self.saved.update(new=result.new, updated=result.updated, alerts=result.deliveries)

    def reset(self) -> None:
        with self.lock:
            self.cpu.clear()
            self.calls.clear()
            self.saved.clear()


def install(probe: Probe, poller: Poller, store: Store, fetcher: Fetcher) -> None:
    """Wrap the stages. Instance attributes shadow the methods; module globals are swapped."""
    # The stage that parses, matches and finds deadlines in-thread, or waits for a worker to.
    setattr(poller, "_analyse", probe.wrap("analyse", poller._analyse))  # noqa: B010
    save = store.save_poll

    def save_poll(*args: Any, **kwargs: Any) -> SaveResult:
        result = save(*args, **kwargs)
        probe.count_save(result)
        return result

    store.save_poll = probe.wrap("save", save_poll)  # type: ignore[method-assign]
    store.sync_feed = probe.wrap("sync_feed", store.sync_feed)  # type: ignore[method-assign]
    store.unseen = probe.wrap("unseen", store.unseen)  # type: ignore[method-assign]
    store.record_success = probe.wrap("feed_state", store.record_success)  # type: ignore[method-assign]
    store.record_failure = probe.wrap("feed_state", store.record_failure)  # type: ignore[method-assign]
    fetcher.fetch = probe.wrap("fetch", fetcher.fetch)  # type: ignore[method-assign]
    poller.poll_feed = probe.wrap("poll_feed", poller.poll_feed)  # type: ignore[method-assign]


def _parse_pool() -> ProcessPoolExecutor | None:
    try:
        from bot.workers import build_parse_pool
    except ImportError:  # a Redline without a parse pool
        return None
    return build_parse_pool()


def _poller(
    settings: Settings, store: Store, fetcher: Fetcher, pool: ProcessPoolExecutor | None
) -> Poller:
    if pool is not None and "parse_pool" in inspect.signature(Poller).parameters:
        return Poller(settings, store, fetcher, parse_pool=pool)
    return Poller(settings, store, fetcher)


def _workers(pool: ProcessPoolExecutor | None) -> list[int]:
    processes = getattr(pool, "_processes", None) or {}
    return list(processes)


def _proc_cpu(pids: list[int]) -> float:
    """utime + stime of other processes, in seconds (from /proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def snapshot(db: Path) -> dict[str, Any]:
    """Row counts, plus the FTS5 structure record (rowid 10), which every FTS write changes."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _ROWS}
        row = conn.execute("SELECT block FROM items_fts_data WHERE id = 10").fetchone()
        counts["fts_structure"] = row[0].hex() if row else ""
        counts["fts_data_rows"] = conn.execute("SELECT count(*) FROM items_fts_data").fetchone()[0]
    finally:
        conn.close()
    return counts


class Acker:
    """Runs slash commands from another thread while the cycle runs; records each latency."""

    def __init__(self, runner: CommandRunner, commands: list[str]) -> None:
        self.runner = runner
        self.commands = commands
        self.latencies: dict[str, list[float]] = {"search": [], "status": []}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="acker", daemon=True)

    def _run(self) -> None:
        caller = Caller("slack", "UBENCH")
        n = 0
        while not self.stop.is_set():
            command = self.commands[n % len(self.commands)]
            n += 1
            start = time.perf_counter()
            self.runner.run(command, caller)
            self.latencies[command.split()[0]].append(time.perf_counter() - start)
            self.stop.wait(0.02)


def _post(url: str, state: dict[str, int]) -> dict[str, Any]:
    request = urllib.request.Request(url + "/_state", data=json.dumps(state).encode())
    with urllib.request.urlopen(request, timeout=600) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def _stats(url: str) -> Counter[str]:
    with urllib.request.urlopen(url + "/_stats", timeout=60) as response:
        return Counter(json.loads(response.read()))


def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    db = Path(spec["db"])
    entities = watchlist(spec["entities"])
    settings = Settings(
        feeds=make_feeds(spec["urls"]), entities=entities, allow_private_networks=True
    )
    store = Store(db)
    fetcher = Fetcher(allow_private_networks=True)
    pool = _parse_pool() if spec.get("pool", True) else None
    if pool is not None:
        list(pool.map(abs, range(16)))  # spawn the workers before anything is timed
    poller = _poller(settings, store, fetcher, pool)
    probe = Probe()
    if spec.get("probe", True):
        install(probe, poller, store, fetcher)
    runner = CommandRunner(
        Queries(store, lambda: settings, started_at=datetime.now(UTC) - timedelta(hours=1)),
        Admin(store, None, settings=lambda: settings, on_change=lambda s: None),
    )
    results = []
    try:
        for step in spec["steps"]:
            # Cycles here run back to back; in service they are minutes apart, past the
            # poller's shared-fetch memory (SHARED_FETCH_TTL), so forget it between steps.
            recent = getattr(poller, "_recent", None)
            if isinstance(recent, dict):
                recent.clear()
            rendered = _post(spec["control"], step["state"])
            before, served = snapshot(db), _stats(spec["control"])
            acker = Acker(runner, step["ack"]) if step.get("ack") else None
            probe.reset()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            workers = _workers(pool)
            pool_cpu = _proc_cpu(workers)
            if acker is not None:
                acker.thread.start()
            start = time.perf_counter()
            error = None
            try:
                outcomes = poller.poll_all(workers=spec.get("workers", 8))
            except Exception as exc:  # a cycle that raises is a result too: record it
                outcomes, error = [], f"{type(exc).__name__}: {exc}"
            wall = time.perf_counter() - start
            if acker is not None:
                acker.stop.set()
                acker.thread.join()
            after = resource.getrusage(resource.RUSAGE_SELF)
            later = snapshot(db)
            results.append(
                {
                    "label": step["label"],
                    "error": error,
                    "rendered": rendered,
                    "wall": wall,
                    "cpu": (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
                    "pool_cpu": _proc_cpu(workers) - pool_cpu,
                    "pool_workers": len(workers),
                    "maxrss_mb": peak_mb(),
                    "pool_maxrss_mb": sum(peak_mb(pid) for pid in workers),
                    "statuses": Counter(o.status for o in outcomes),
                    "errors": sorted({o.error or "" for o in outcomes if o.status == "failed"})[:3],
                    "new": sum(o.new for o in outcomes),
                    "alerts": sum(o.alerts for o in outcomes),
                    "saved": dict(probe.saved),
                    "stage_cpu": {k: probe.cpu[k] for k in (*STAGES, "poll_feed")},
                    "calls": dict(probe.calls),
                    "rows": {t: later[t] - before[t] for t in (*_ROWS, "fts_data_rows")},
                    "fts_written": later["fts_structure"] != before["fts_structure"],
                    "http": dict(_stats(spec["control"]) - served),
                    "ack": acker.latencies if acker is not None else None,
                }
            )
    finally:
        if pool is not None:
            pool.shutdown()
        fetcher.close()
        store.close()
    return results


def main() -> None:
    spec = json.loads(sys.stdin.read())
    results = run(spec)
    sys.stdout.write(json.dumps(results) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: nothing is left to flush


if __name__ == "__main__":
    main()
