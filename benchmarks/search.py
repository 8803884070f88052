"""Search over a pre-filled store: ~50 realistic queries in three classes, each timed through
``Store.search`` / ``Store.latest`` (what /redline search and latest call), against a bare
``SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT 10`` for the same text; and idle
memory with the store open."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.context import Context
from benchmarks.data import watchlist
from benchmarks.report import Row, Section, count, ms, secs, times
from bot.store import Store, fts_query

TITLE = "Store: search latency and idle memory"
SLOW = 1.0  # a query slower than this is timed once more, not search_runs times
# What-if (prototype SQL, not Redline's): let FTS5 hand over its newest 50 hits in rowid order
# (it stops there), then order those few by published_at. Same columns as Store.search.
NEWEST_HITS = (
    "SELECT items.id, items.feed, items.title, items.link, items.summary, items.published_at, "
    "items.seen_at, (SELECT group_concat(entity, char(31)) FROM matches "
    "WHERE matches.item_id = items.id) AS entities FROM items JOIN "
    "(SELECT rowid AS id FROM items_fts WHERE items_fts MATCH ? ORDER BY rowid DESC LIMIT 50) "
    "AS hits ON items.id = hits.id ORDER BY items.published_at DESC, items.id DESC LIMIT 11"
)

# (class, text, entity filter); class "latest" runs Store.latest(entity=text).
Query = tuple[str, str, str | None]


def queries(entities: int) -> list[Query]:
    names = watchlist(entities)
    synthetic = [names[i].name for i in (100, 400, 900) if i < len(names)]
    entity: list[Query] = [
        ("entity", q, None)
        for q in (
            "Anthropic",
            "Palantir",
            "Anduril",
            "DARPA",
            '"Department of Defense"',
            '"Pete Hegseth"',
            "CDAO",
            '"Defense Production Act"',
            *(f'"{name}"' for name in synthetic),
        )
    ]
    entity += [("entity", "contract", "Anthropic"), ("entity", "drone", "Department of Defense")]
    phrase: list[Query] = [
        ("phrase", f'"{q}"', None)
        for q in (
            "supply chain risk",
            "executive order",
            "large language model",
            "national security",
            "artificial intelligence",
            "classified network",
            "autonomous systems",
            "fiscal request",
            "export controls",
            "Department of War",
        )
    ]
    other: list[Query] = [
        ("any", q, None)
        for q in (
            "the",
            "defense",
            "a*",
            "de*",
            "co*",
            "d*",
            "ai",
            "ai*",
            "pro*",
            "mil*",
            "pentagon contract",
            "army drone",
            "military ai",
            "cyber security",
            "said officials",
            "the and of",
            "budget request",
            "space force",
            "hypersonic missile",
            "navy shipbuilding",
            "china",
            "ukraine drones",
            "golden dome",
            "openai pentagon",
            "GPT-5",
            "defense*",
        )
    ]
    other += [("latest", "Department of Defense", None), ("latest", "Anthropic", None)]
    return entity + phrase + other


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def _timed(call: Callable[[], Any], runs: int) -> list[float]:
    """``runs`` timings after one warm-up; a slow query is timed once and its time repeated."""
    start = time.perf_counter()
    call()
    if time.perf_counter() - start > SLOW:
        start = time.perf_counter()
        call()
        return [time.perf_counter() - start] * runs
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def measure(store: Store, bare: sqlite3.Connection, qs: list[Query], runs: int) -> dict[Query, Any]:
    results = {}
    for query in qs:
        kind, text, entity = query
        match = fts_query(text)
        call: Callable[[], Any]
        if kind == "latest":
            call = partial(store.latest, entity=text, limit=11)
        else:
            call = partial(store.search, text, entity=entity, limit=11)
        raw = partial(
            bare.execute, "SELECT rowid FROM items_fts WHERE items_fts MATCH ? LIMIT 10", (match,)
        )

        def fetch_all(raw: Callable[[], sqlite3.Cursor] = raw) -> Any:
            return raw().fetchall()

        results[query] = (_timed(call, runs), _timed(fetch_all, runs))
    return results


def _label(query: Query) -> str:
    kind, text, entity = query
    if kind == "latest":
        return f"latest {text}"
    return f"{text} entity:{entity}" if entity else text


def run(ctx: Context) -> Section:
    scale = ctx.scale
    section = Section("store", TITLE)
    qs = queries(scale.entities)
    for size in scale.stores:
        if (kept := ctx.kept_items()) > size:
            section.notes.append(
                f"{count(size)} items: skipped, the kept store holds {count(kept)}"
            )
            continue
        built = ctx.grow_store(size)
        section.notes.append(
            f"store of {count(size)} items pre-filled in {secs(built)} "
            f"({ctx.store_path.stat().st_size / 2**20:,.0f} MiB on disk)"
        )
        store = Store(ctx.store_path)
        bare = sqlite3.connect(ctx.store_path)
        try:
            results = measure(store, bare, qs, scale.search_runs)
            _rows(section, results, size, last=size == scale.stores[-1])
            if size == scale.stores[-1]:
                section.notes.append(_slowest(bare, results, store))
                _whatif(section, bare, qs, scale.search_runs, size)
        finally:
            bare.close()
            store.close()
    _idle(ctx, section)
    return section


def _rows(section: Section, results: dict[Query, Any], size: int, *, last: bool) -> None:
    classes = (
        ("entity", "entity search", ("entity",), 0.005),
        ("phrase", "phrase search", ("phrase",), 0.005),
        ("any", f"any of {len(results)} user queries", ("entity", "phrase", "any", "latest"), 0.25),
    )
    for _, name, kinds, target in classes:
        picked = [q for q in results if q[0] in kinds]
        timed = [t for q in picked for t in results[q][0]]
        raw = [t for q in picked for t in results[q][1]]
        value, baseline = p99(timed), p99(raw)
        section.rows.append(
            Row(
                f"{name} p99, {count(size)} items",
                ms(value),
                f"≤ {ms(target)}" if last else "",
                value <= target if last else None,
                f"{ms(baseline)} bare FTS",
                times(value / baseline),
                note=(
                    f"{len(picked)} queries × {len(results[picked[0]][0])} runs; slowest: "
                    + ", ".join(
                        f"{_label(q)!r} {ms(max(results[q][0]))}"
                        for q in sorted(picked, key=lambda q: -max(results[q][0]))[:4]
                    )
                ),
            )
        )


def _whatif(
    section: Section, bare: sqlite3.Connection, qs: list[Query], runs: int, size: int
) -> None:
    """The unfiltered queries through NEWEST_HITS, to show what bounding the FTS scan gives."""
    picked = [q for q in qs if q[0] != "latest" and q[2] is None]
    samples = []
    for _, text, _ in picked:
        run = partial(bare.execute, NEWEST_HITS, (fts_query(text),))

        def fetch_all(run: Callable[[], sqlite3.Cursor] = run) -> Any:
            return run().fetchall()

        samples += _timed(fetch_all, runs)
    section.rows.append(
        Row(
            f"what-if: {len(picked)} unfiltered queries, newest 50 FTS hits by rowid, "
            f"{count(size)} items",
            ms(p99(samples)),
            "≤ 250 ms (any query)",
            None,
            note="prototype SQL run by the harness (not Redline's): " + NEWEST_HITS,
        )
    )


def _slowest(bare: sqlite3.Connection, results: dict[Query, Any], store: Store) -> str:
    """Why the slowest queries are slow: rows they match, and the plan of the search SQL."""
    slowest = sorted(results, key=lambda q: -max(results[q][0]))[:5]
    parts = []
    for kind, text, _ in slowest:
        if kind == "latest":
            (rows,) = bare.execute(
                "SELECT count(*) FROM matches WHERE entity = ? COLLATE NOCASE", (text,)
            ).fetchone()
        else:
            (rows,) = bare.execute(
                "SELECT count(*) FROM items_fts WHERE items_fts MATCH ?", (fts_query(text),)
            ).fetchone()
        parts.append(f"{text!r} → {count(rows)} rows")
    statements: list[str] = []
    conn = store._db().conn  # diagnostics only: capture the SQL that search() runs
    conn.set_trace_callback(statements.append)
    store.search("the", limit=11)
    conn.set_trace_callback(None)
    sql = next(s for s in reversed(statements) if s.startswith("SELECT items.id"))
    plan = "; ".join(row[3] for row in bare.execute("EXPLAIN QUERY PLAN " + sql).fetchall())
    return (
        "rows the slowest queries match in the FTS index (entity filters aside): "
        + ", ".join(parts)
        + f". Plan of search('the'): {plan}"
    )


def _idle(ctx: Context, section: Section) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", str(ctx.store_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    peaks = json.loads(out)
    size = ctx.store_size
    section.rows.append(
        Row(
            f"idle RSS, {count(size)} items stored",
            f"{peaks['typical']:.0f} MB",
            "≤ 150 MB",
            peaks["typical"] <= 150,
            note=(
                f"fresh process: Store opened {peaks['opened']:.0f} MB, after typical queries "
                f"(entity and phrase search, latest, counts, feed states) "
                f"{peaks['typical']:.0f} MB, after search('the') {peaks['common']:.0f} MB"
            ),
        )
    )
