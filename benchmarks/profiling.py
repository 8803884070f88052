"""py-spy sampling of a benchmark (``--profile``), summarised as self/total tables.

``Sampler(pid, profile)`` attaches ``py-spy record --format raw`` to a process (a cycle
subprocess, or the harness itself through ``sampling``); ``summarize`` folds the collapsed
stacks into per-function self and inclusive shares. With ``gil=True`` only the thread holding
the GIL is sampled, which is what bounds a thread-pool cycle's wall time.
py-spy is a dev tool (``pip install py-spy``); without it, profiles are skipped with a note.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOP = 14


@dataclass(frozen=True, slots=True)
class Profile:
    title: str
    path: Path
    gil: bool = False
    subprocesses: bool = False
    rate: int = 100


def available() -> bool:
    return shutil.which("py-spy") is not None


class Sampler:
    def __init__(self, pid: int, profile: Profile) -> None:
        self.profile = profile
        command = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--nonblocking"]
        command += ["--rate", str(profile.rate), "--output", str(profile.path)]
        command += ["--gil"] if profile.gil else []
        command += ["--subprocesses"] if profile.subprocesses else []
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(0.5)  # let it attach before the work starts

    def finish(self, *, stop: bool = False) -> None:
        if stop:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def sampling(profile: Profile | None) -> Iterator[None]:
    """Sample this very process while the block runs (nothing when ``profile`` is None)."""
    if profile is None:
        yield
        return
    sampler = Sampler(os.getpid(), profile)
    try:
        yield
    finally:
        sampler.finish(stop=True)


def _function(frame: str) -> str:
    """'parse (/usr/…/site-packages/feedparser/api.py:216)' → 'parse (feedparser/api.py)'."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


def summarize(profile: Profile, *, focus: str = "bot/") -> str:
    """A markdown block: top functions by self time, and ``focus`` functions by total time."""
    if not profile.path.exists():
        return f"**Profile: {profile.title}**: no samples (py-spy could not attach)."
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in profile.path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        frames = [
            _function(f) for f in stack.split(";") if " (" in f and not f.startswith("process ")
        ]
        if not frames:
            continue
        total += samples
        own[frames[-1]] += samples
        for function in set(frames):
            inclusive[function] += samples
    if not total:
        return f"**Profile: {profile.title}**: no samples."
    mode = "thread holding the GIL" if profile.gil else "all active threads"
    out = [
        f"**Profile: {profile.title}** (py-spy, {profile.rate} Hz, {mode}, {total:,} samples)",
        "",
        "| self | total | function |",
        "|---:|---:|---|",
    ]
    for function, samples in own.most_common(TOP):
        share = 100 * inclusive[function] / total
        out.append(f"| {100 * samples / total:.1f}% | {share:.1f}% | `{function}` |")
    focused = [(f, n) for f, n in inclusive.most_common() if f"({focus}" in f][:TOP]
    if focused:
        out += ["", f"Inclusive time of `{focus}` functions:", "", "| total | function |"]
        out.append("|---:|---|")
        out += [f"| {100 * n / total:.1f}% | `{f}` |" for f, n in focused]
    return "\n".join(out)
