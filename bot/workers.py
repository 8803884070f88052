"""The worker pool: parsing and matching are pure Python and hold the GIL, so on a machine with
more than one core they run in worker processes (bot.analysis) while threads fetch and store.

Workers are spawned (never forked from a process that already runs threads) and each watches
its parent: if Redline is killed with SIGKILL, its workers exit within a second instead of
lingering as orphans holding the terminal or the container's log pipe open.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

WATCH_INTERVAL = 0.5  # seconds between a worker's checks that its parent is alive


def build_parse_pool(workers: int | None = None) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` (default: one per core) or None on a single-core machine."""
    count = workers or os.cpu_count() or 1
    if count < 2:
        return None
    return ProcessPoolExecutor(
        max_workers=count,
        mp_context=get_context("spawn"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a daemon thread that ends the worker when ``parent`` is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
