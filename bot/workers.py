"""The worker pool: parsing and matching are pure Python and hold the GIL, so on a machine with
more than one core they run in worker processes (bot.analysis) while threads fetch and store.

Workers are spawned (never forked from a process that already runs threads) and each watches
its parent: if Redline is killed with SIGKILL, its workers exit within a second instead of
lingering as orphans holding the terminal or the container's log pipe open.

Workers also run at a lower CPU priority than the polling process. That process is the
pipeline's serial stage (one GIL, one SQLite writer), and a worker only has work that process
gave it. At equal priority, two busy workers and the poller share two cores three ways, so the
poller runs about two thirds of the time and everything waits on it. Niced, the workers take
the CPU the poller leaves idle: on the pipeline benchmark, 1,000 feeds × 20 new items on
2 cores, this took the cycle from about 3,700-4,300 to about 4,700-4,800 items/s, and the
first cycle (parse-bound) did not slow down. A slash command answered by the polling process
gets the CPU first too.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

WATCH_INTERVAL = 0.5  # seconds between a worker's checks that its parent is alive
WORKER_NICE = 10  # added to a worker's niceness; not 19, so a busy host cannot starve parsing


def build_parse_pool(workers: int | None = None) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` (default: one per core) or None on a single-core machine."""
    count = workers or os.cpu_count() or 1
    if count < 2:
        return None
    return ProcessPoolExecutor(
        max_workers=count,
        mp_context=get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )


def _start_worker(parent: int) -> None:
    """Worker initializer: lower this worker's priority, and end it when ``parent`` is gone."""
    with contextlib.suppress(OSError):  # a sandbox that forbids it: parse at equal priority
        os.nice(WORKER_NICE)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
