"""Idle memory with a big store: ``python -m benchmarks.memory DB`` opens the Store, runs a few
typical queries, and prints the process's peak RSS (JSON) after each phase."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.store import Store


def peak_mb(pid: int | str = "self") -> float:
    """VmHWM, the peak RSS of a process image. Not ru_maxrss: Linux carries the parent's
    peak into a child across fork/vfork + exec, so a subprocess would inherit the harness's."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    store = Store(sys.argv[1])
    opened = peak_mb()
    store.search("Anthropic")
    store.search('"supply chain risk"')
    store.search("contract", entity="Department of Defense")
    store.latest(limit=5)
    store.count_items()
    store.outbox_counts()
    store.feed_states()
    typical = peak_mb()
    store.search("the")
    common = peak_mb()
    store.close()
    print(json.dumps({"opened": opened, "typical": typical, "common": common}))


if __name__ == "__main__":
    main()
