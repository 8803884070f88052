"""What benchmark modules share: the scale of a run, a scratch directory, the feed server,
pre-filled stores, cycle subprocesses and (with --profile) py-spy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.data import watchlist
from benchmarks.feedserver import FeedServerProcess
from benchmarks.prefill import prefill
from benchmarks.profiling import Profile, Sampler


@dataclass(frozen=True, slots=True)
class Scale:
    """Sizes of one run. The targets are stated for the full sizes."""

    quick: bool
    cycle_feeds: int  # first cycle: feeds × cycle_items new items
    cycle_items: int
    reseen_feeds: int  # feeds re-served with a new ETag and the same items
    default_sample: int  # feeds parsed both ways for the default/fast feedparser ratio
    growth_feeds: tuple[int, ...]  # cycle time at these feed counts (20 new items each)
    new_items: int
    throughput_feeds: int  # the items/s figure is read at this feed count
    matcher_items: int
    regex_sample: int
    entity_counts: tuple[int, ...]
    stores: tuple[int, ...]  # search p99 at these store sizes; the last is "the" store
    search_runs: int
    ack_feeds: int
    startup_feeds: int
    entities: int = 1000
    hosts: int = 8

    @staticmethod
    def of(quick: bool) -> Scale:
        if quick:
            return Scale(
                quick=True,
                cycle_feeds=100,
                cycle_items=100,
                reseen_feeds=20,
                default_sample=20,
                growth_feeds=(100, 1000),
                new_items=20,
                throughput_feeds=1000,
                matcher_items=30_000,
                regex_sample=40,
                entity_counts=(100, 1000, 10_000),
                stores=(100_000,),
                search_runs=3,
                ack_feeds=200,
                startup_feeds=1000,
            )
        return Scale(
            quick=False,
            cycle_feeds=1000,
            cycle_items=100,
            reseen_feeds=100,
            default_sample=100,
            growth_feeds=(100, 1000, 5000),
            new_items=20,
            throughput_feeds=1000,
            matcher_items=100_000,
            regex_sample=150,
            entity_counts=(100, 1000, 10_000),
            stores=(100_000, 1_000_000),
            search_runs=20,  # a class's p99 over 200+ samples, not its slowest of 30
            ack_feeds=1000,
            startup_feeds=1000,
        )


class Context:
    """Lazily built fixtures, shared by the benchmark modules of one run."""

    def __init__(self, scale: Scale, *, profile: bool, keep: Path | None = None) -> None:
        self.scale = scale
        self.profile = profile
        self._tmp = None if keep else tempfile.TemporaryDirectory(prefix="redline-bench-")
        self.dir = keep or Path(self._tmp.name)  # type: ignore[union-attr]
        self.dir.mkdir(parents=True, exist_ok=True)
        self._server: FeedServerProcess | None = None
        self.store_size = 0  # items in self.store_path so far
        self.store_seconds: dict[int, float] = {}
        self._dbs = 0

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def server(self) -> FeedServerProcess:
        if self._server is None:
            self._server = FeedServerProcess(hosts=self.scale.hosts, entities=self.scale.entities)
        return self._server

    def fresh_db(self, label: str) -> Path:
        """A path with no database behind it (one a ``--keep`` run left is removed first)."""
        self._dbs += 1
        path = self.dir / f"{self._dbs:02d}-{label}.db"
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)
        return path

    @property
    def store_path(self) -> Path:
        return self.dir / "prefilled.db"

    def kept_items(self) -> int:
        """Items already in the pre-filled store (one a ``--keep`` run left, say)."""
        if not self.store_path.exists():
            return 0
        with closing(sqlite3.connect(self.store_path)) as conn:
            return int(conn.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0])

    def grow_store(self, size: int) -> float:
        """Grow the shared pre-filled store to ``size`` items; returns the seconds it took."""
        if self.store_size < size:
            self.store_seconds[size] = prefill(
                self.store_path, size, watchlist(self.scale.entities)
            )
            self.store_size = size
        return self.store_seconds.get(size, 0.0)

    def cycle(
        self,
        db: Path,
        feeds: int,
        steps: list[dict[str, Any]],
        *,
        pool: bool = True,
        probe: bool = True,
        workers: int = 8,
        profile: Profile | None = None,
    ) -> list[dict[str, Any]]:
        """Run ``steps`` (see benchmarks.cycle) in a fresh process polling ``feeds`` feeds."""
        spec = {
            "db": str(db),
            "urls": self.server.feed_urls(feeds),
            "control": self.server.urls[0],
            "entities": self.scale.entities,
            "workers": workers,
            "pool": pool,
            "probe": probe,
            "steps": steps,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.cycle"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        sampler = Sampler(process.pid, profile) if profile is not None else None
        out, _ = process.communicate(json.dumps(spec))
        if sampler is not None:
            sampler.finish()
        if process.returncode != 0:
            raise RuntimeError(f"cycle process failed with exit code {process.returncode}")
        result: list[dict[str, Any]] = json.loads(out)
        return result
