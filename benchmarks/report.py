"""Rows of the results table, the terminal table and BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Row:
    """One measured figure against its target. ``passed`` is None for information rows."""

    figure: str
    value: str
    target: str = ""
    passed: bool | None = None
    baseline: str = ""
    ratio: str = ""
    note: str = ""


@dataclass(slots=True)
class Section:
    """What one benchmark module produced: rows, notes and, with --profile, profiles."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)  # preformatted blocks
    seconds: float = 0.0


def verdict(passed: bool | None) -> str:
    return "—" if passed is None else "PASS" if passed else "FAIL"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def times(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 100 else f"{ratio:.0f}×"


def count(n: float) -> str:
    return f"{n:,.0f}"


_COLUMNS = ("figure", "value", "baseline", "ratio", "target", "result")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.figure, row.value, row.baseline, row.ratio, row.target, verdict(row.passed))


def terminal_table(sections: list[Section]) -> str:
    rows = [_cells(row) for section in sections for row in section.rows]
    widths = [max(len(c) for c in column) for column in zip(_COLUMNS, *rows, strict=False)]
    widths = [min(w, 58) for w in widths]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*_COLUMNS), line.format(*("-" * w for w in widths))]
    out += [line.format(*(c[:58] for c in cells)) for cells in rows]
    return "\n".join(out)


def machine() -> dict[str, str]:
    model = platform.processor() or "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        sqlite = subprocess.run(
            [sys.executable, "-c", "import sqlite3; print(sqlite3.sqlite_version)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sqlite = "?"
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": model,
        "memory": _memory(),
        "Python": platform.python_version(),
        "SQLite": sqlite,
        "OS": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "code": _code(),
    }


def _code() -> str:
    """The commit measured, and whether bot/ had uncommitted changes (others edit it)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "bot").splitlines()
    except OSError:
        return "?"
    changed = ", ".join(line[3:] for line in dirty)
    return f"{commit}" + (f" + uncommitted changes in {changed}" if dirty else "")


def _memory() -> str:
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal"):
                return f"{int(text.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def markdown(sections: list[Section], *, mode: str, command: str, total: float, intro: str) -> str:
    out = [
        "# Redline benchmarks",
        "",
        intro,
        "",
        f"Run: `{command}` ({mode}), {total:.0f} s in all.",
        "",
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in machine().items()),
        "",
        "## Results",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for section in sections:
        for row in section.rows:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
    for section in sections:
        out += ["", f"## {section.title}", "", f"(`{section.name}`, {section.seconds:.0f} s)", ""]
        notes = [row for row in section.rows if row.note]
        out += [f"- **{row.figure}**: {row.note}" for row in notes]
        out += [f"- {note}" for note in section.notes]
        for block in section.profiles:
            out += ["", block]
    return "\n".join(out) + "\n"
