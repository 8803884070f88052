"""First cycle (N feeds × 100 new items) against summed single-core feedparser time; then the
steady cycle (every feed answers 304), re-seen items (new ETag, same items), the cycle's peak
RSS, and a what-if: the same first cycle with parsing moved to a two-process pool."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import feedparser

from benchmarks.context import Context
from benchmarks.data import render_rss, watchlist
from benchmarks.profiling import Profile, available, summarize
from benchmarks.report import Row, Section, count, secs, times
from bot.parser import parse_feed

TITLE = "First cycle, steady cycle, re-seen items, peak RSS"
PROFILE_FEEDS = 300
COMPARE_FEEDS = 300
CONTENT_TYPE = "application/rss+xml; charset=utf-8"  # what the feed server sends


def ok(step: dict[str, Any], passed: bool) -> bool:
    """A step whose poll_all raised fails its figure whatever the numbers say."""
    return passed and not step.get("error")


def stage_note(step: dict[str, Any]) -> str:
    """'1.04 cores busy; thread CPU: parse 51%, save 31%, …' (and the error, if it raised)."""
    if step.get("error"):
        return f"poll_all RAISED after {step['wall']:.1f} s: {step['error']}"
    stages = step["stage_cpu"]
    busy = sum(v for k, v in stages.items() if k != "poll_feed")
    shares = sorted(
        ((k, v) for k, v in stages.items() if k != "poll_feed" and v > 0),
        key=lambda kv: -kv[1],
    )
    other = max(stages["poll_feed"] - busy, 0.0)
    whole = stages["poll_feed"] or 1.0
    parts = [f"{k} {100 * v / whole:.0f}%" for k, v in shares]
    parts.append(f"other {100 * other / whole:.0f}%")
    cpu = step["cpu"] + step["pool_cpu"]
    pool = (
        f" (main {step['cpu']:.1f} s + {step['pool_workers']} parse workers "
        f"{step['pool_cpu']:.1f} s)"
        if step["pool_workers"]
        else " (no parse pool)"
    )
    return (
        f"CPU {cpu:.1f} s{pool} over {step['wall']:.1f} s wall = {cpu / step['wall']:.2f} cores "
        f"busy; main-process thread CPU by stage (sum {stages['poll_feed']:.1f} s; 'analyse' is "
        "parse + match + deadlines in-thread, or waiting for a worker): " + ", ".join(parts)
    )


def _parse_times(ctx: Context) -> tuple[list[float], float, float, float]:
    """(fast-call time per feed, and summed over the sample: fast, default, parse_feed)."""
    scale = ctx.scale
    entities = watchlist(scale.entities)
    fast: list[float] = []
    sample = [0.0, 0.0, 0.0]
    for i in range(scale.cycle_feeds):
        data = render_rss(i, 0, scale.cycle_items, entities)
        start = time.perf_counter()
        feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
        fast.append(time.perf_counter() - start)
        if i < scale.default_sample:
            calls = (
                partial(feedparser.parse, data, sanitize_html=False, resolve_relative_uris=False),
                partial(feedparser.parse, data),
                partial(parse_feed, data, content_type=CONTENT_TYPE),
            )
            for n, call in enumerate(calls):
                start = time.perf_counter()
                call()
                sample[n] += time.perf_counter() - start
    return fast, sample[0], sample[1], sample[2]


def run(ctx: Context) -> Section:
    scale = ctx.scale
    section = Section("cycle", TITLE)
    n, k = scale.cycle_feeds, scale.cycle_items
    state = {"feeds": n, "first": 0, "count": k, "build": 0}
    steps = [
        {"label": "first", "state": state},
        {"label": "steady", "state": state},
        {"label": "reseen", "state": {**state, "build": 1, "touched": scale.reseen_feeds}},
    ]
    first, steady, reseen = ctx.cycle(ctx.fresh_db("cycle"), n, steps)
    per_feed, fast, default, wrapper = _parse_times(ctx)
    baseline = sum(per_feed)

    ratio = first["wall"] / baseline
    section.rows.append(
        Row(
            f"first cycle, {count(n)} feeds × {k} new items: poll_all wall",
            secs(first["wall"]),
            "≤ 0.75× baseline",
            ok(first, ratio <= 0.75),
            f"{secs(baseline)} feedparser, 1 core",
            times(ratio),
            note=(
                f"{count(first['new'])} items stored, statuses {first['statuses']}; "
                + stage_note(first)
                + f". Baseline: feedparser.parse(data, sanitize_html=False, "
                f"resolve_relative_uris=False) over the same {count(n)} documents, summed, "
                f"one core, in the harness process."
            ),
        )
    )
    section.rows.append(
        Row(
            "feedparser default call ÷ Redline's call (same feeds)",
            times(default / fast),
            note=(
                f"on {scale.default_sample} of the feeds: default {secs(default)}, "
                f"sanitize_html/resolve_relative_uris off {secs(fast)}; Redline's whole "
                f"parse_feed {secs(wrapper)} = {times(wrapper / fast)} the bare fast call"
            ),
        )
    )
    peak = first["maxrss_mb"] + first["pool_maxrss_mb"]
    section.rows.append(
        Row(
            f"peak RSS, {count(n)}-feed first cycle",
            f"{peak:.0f} MB",
            "≤ 250 MB",
            ok(first, peak <= 250),
            note=f"VmHWM of the cycle process (a fresh interpreter) {first['maxrss_mb']:.0f} MB "
            f"+ its {first['pool_workers']} parse workers {first['pool_maxrss_mb']:.0f} MB "
            "(peaks summed: an upper bound)",
        )
    )
    writes = {t: steady["rows"][t] for t in ("items", "matches", "outbox", "deadlines")}
    section.rows.append(
        Row(
            f"steady cycle, {count(n)} feeds all 304: wall",
            secs(steady["wall"]),
            "≤ 2 s",
            ok(steady, steady["wall"] <= 2.0 and steady["statuses"] == {"not_modified": n}),
            note=f"statuses {steady['statuses']}, server answered {steady['http']}; "
            + stage_note(steady),
        )
    )
    parses = steady["calls"].get("analyse", 0)
    section.rows.append(Row("steady cycle: parses", str(parses), "0", ok(steady, parses == 0)))
    changed = sum(writes.values())
    section.rows.append(
        Row(
            "steady cycle: rows changed in items/matches/deadlines/outbox",
            str(changed),
            "0 (feed state only)",
            ok(steady, changed == 0 and not steady["fts_written"]),
            note=f"{writes}; FTS index written: {steady['fts_written']}; "
            f"feed-state writes: {steady['calls'].get('feed_state', 0)} record_success + "
            f"{steady['calls'].get('sync_feed', 0)} sync_feed calls (which write only for a new "
            "or re-pointed feed)",
        )
    )
    fts_rows = reseen["rows"]["items_fts_docsize"] + reseen["rows"]["fts_data_rows"]
    wrote = reseen["fts_written"] or fts_rows != 0 or reseen["saved"].get("updated", 0) != 0
    section.rows.append(
        Row(
            f"re-seen items ({scale.reseen_feeds} feeds, new ETag, same {k} items): FTS writes",
            "yes" if wrote else "0",
            "0",
            ok(reseen, not wrote),
            note=(
                f"{reseen['calls'].get('analyse', 0)} feeds re-parsed, "
                f"{count(reseen['saved'].get('new', 0))} new, "
                f"{count(reseen['saved'].get('updated', 0))} updated; FTS5 structure record "
                f"{'changed' if reseen['fts_written'] else 'unchanged'}, items_fts_data rows "
                f"{reseen['rows']['fts_data_rows']:+d}, docsize rows "
                f"{reseen['rows']['items_fts_docsize']:+d}; " + stage_note(reseen)
            ),
        )
    )
    if not scale.quick:  # the threads-only comparison: full runs only
        _compare(ctx, section, steps[0], state, per_feed)
    if ctx.profile and available():
        feeds = min(n, PROFILE_FEEDS)
        small = [{"label": "first", "state": {**state, "feeds": feeds}}]
        for gil in (False, True):
            profile = Profile(
                f"first cycle, {feeds} feeds × {k} items, main process as `redline run` builds "
                "the poller (harness probe off)",
                ctx.dir / f"cycle-profile-{'gil' if gil else 'all'}.txt",
                gil=gil,
            )
            ctx.cycle(ctx.fresh_db("profile"), feeds, small, probe=False, profile=profile)
            section.profiles.append(summarize(profile))
    return section


def _compare(
    ctx: Context,
    section: Section,
    step: dict[str, Any],
    state: dict[str, int],
    per_feed: list[float],
) -> None:
    """The first cycle without the parse pool (threads only), on fewer feeds."""
    feeds = min(ctx.scale.cycle_feeds, COMPARE_FEEDS)
    threads = ctx.cycle(
        ctx.fresh_db("threads"),
        feeds,
        [{**step, "state": {**state, "feeds": feeds}}],
        pool=False,
    )[0]
    part = sum(per_feed[:feeds])
    section.rows.append(
        Row(
            f"for comparison: first cycle, {count(feeds)} feeds, no parse pool (threads only)",
            secs(threads["wall"]),
            "",
            None,
            f"{secs(part)} feedparser, 1 core",
            times(threads["wall"] / part),
            note="Poller built without parse_pool, as on a one-core machine: "
            + stage_note(threads),
        )
    )
