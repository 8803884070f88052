"""``python -m benchmarks [NAME …] [--quick] [--profile]``: run, print the table, write the report.

A run of every benchmark at full size rewrites BENCHMARKS.md (the hand-written analysis
between its ``<!-- analysis -->`` markers is kept); other runs write only with ``--output``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import ack, first_cycle, matching, search, startup, throughput
from benchmarks.context import Context, Scale
from benchmarks.data import REPO
from benchmarks.profiling import available
from benchmarks.report import Section, markdown, terminal_table

BENCHMARKS: dict[str, tuple[str, Callable[[Context], Section]]] = {
    "cycle": (first_cycle.TITLE, first_cycle.run),
    "pipeline": (throughput.TITLE, throughput.run),
    "matcher": (matching.TITLE, matching.run),
    "store": (search.TITLE, search.run),
    "ack": (ack.TITLE, ack.run),
    "startup": (startup.TITLE, startup.run),
}
REPORT = REPO / "BENCHMARKS.md"
ANALYSIS = re.compile(r"<!-- analysis -->.*?<!-- /analysis -->", re.S)

INTRO = """\
Produced by `python -m benchmarks` (see `benchmarks/__init__.py` for how the data, the feed
server and the pre-filled store are made). Every baseline is measured in the same run on the
same machine; compare ratios across machines, not absolute times. Targets are those of issue 7,
stated for the full sizes; a `--quick` run uses smaller sizes and is for development only."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument("--profile", action="store_true", help="add py-spy profiles")
    parser.add_argument("--output", type=Path, help="write the report here")
    parser.add_argument("--keep", type=Path, help="keep generated data in this directory")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    if args.profile and not available():
        print("py-spy not found: profiles skipped (pip install py-spy)", file=sys.stderr)
    scale = Scale.of(args.quick)
    ctx = Context(scale, profile=args.profile, keep=args.keep)
    sections: list[Section] = []
    started = time.perf_counter()
    try:
        for name in names:
            title, run = BENCHMARKS[name]
            print(f"== {name}: {title}", file=sys.stderr, flush=True)
            start = time.perf_counter()
            section = run(ctx)
            section.seconds = time.perf_counter() - start
            sections.append(section)
            notes = [f"- {row.figure}: {row.note}" for row in section.rows if row.note]
            notes += [f"- {note}" for note in section.notes]
            report = [terminal_table([section]), *notes, *section.profiles]
            print("\n".join(report) + "\n", file=sys.stderr, flush=True)
    finally:
        ctx.close()
    total = time.perf_counter() - started
    print(terminal_table(sections))
    checked = [row.passed for section in sections for row in section.rows if row.passed is not None]
    print(f"\n{sum(checked)} of {len(checked)} targets met; {total:.0f} s")
    output = args.output or (REPORT if not args.quick and names == list(BENCHMARKS) else None)
    if output is not None:
        mode = "quick" if args.quick else "full"
        command = " ".join(["python -m benchmarks", *(argv or sys.argv[1:])])
        text = markdown(sections, mode=mode, command=command, total=total, intro=INTRO)
        text += "\n" + _analysis(output) + "\n"
        output.write_text(text)
        print(f"wrote {output}")
    return 0


def _analysis(path: Path) -> str:
    """The hand-written analysis of the previous report, or an empty placeholder."""
    if path.exists() and (found := ANALYSIS.search(path.read_text())):
        return found.group(0)
    return "<!-- analysis -->\n## Analysis\n\n(not written yet)\n<!-- /analysis -->"


if __name__ == "__main__":
    sys.exit(main())
