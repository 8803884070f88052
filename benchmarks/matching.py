"""The matcher on one core: items/s at 100, 1,000 and 10,000 entities (three aliases each,
every fifth with exclusions, every seventh with context words), against a plain loop of one
compiled ``\\bALIAS\\b`` IGNORECASE regex per alias (timed on a sample, per item)."""

from __future__ import annotations

import random
import re
import time

from benchmarks.context import Context
from benchmarks.data import EPOCH, story, watchlist
from benchmarks.profiling import Profile, available, sampling, summarize
from benchmarks.report import Row, Section, count, secs, times
from bot.matcher import Watchlist, compile_watchlist, match_item
from bot.models import Entity, Item

TITLE = "Matcher"


def make_items(total: int, entities: tuple[Entity, ...]) -> list[Item]:
    rng = random.Random(2026)
    items = []
    for n in range(total):
        s = story(f"m{n}", rng, entities, EPOCH)
        items.append(Item(id=s.guid, title=s.title, link=s.link, summary=s.text))
    return items


def regex_rate(entities: tuple[Entity, ...], items: list[Item]) -> tuple[float, int]:
    """Items/s of the baseline, and how many regexes it runs per item."""
    compiled = [
        [re.compile(r"\b" + re.escape(term) + r"\b", re.IGNORECASE) for term in entity.terms]
        for entity in entities
    ]
    start = time.perf_counter()
    for item in items:
        text = f"{item.title}\n{item.summary}\n{item.content}"
        [i for i, patterns in enumerate(compiled) if any(p.search(text) for p in patterns)]
    return len(items) / (time.perf_counter() - start), sum(map(len, compiled))


def _scanned(compiled: Watchlist, items: list[Item]) -> str:
    """Diagnostics from the matcher's internals: how many items are not ASCII (so normalised
    with regexes) and how many get past its automaton pass (best effort: internals may change)."""
    try:
        from bot.matcher import _SEP, _texts
    except ImportError:
        return "scan diagnostics unavailable"
    joined = [_SEP.join(("", item.title, item.summary, item.content, "")) for item in items]
    other = sum(1 for text in joined if not text.isascii())
    passed = sum(1 for text in joined if _texts(compiled.automaton, text) is not None)
    return (
        f"{100 * other / len(items):.0f}% of items are not ASCII; "
        f"{100 * passed / len(items):.0f}% have a whole-word hit to check"
    )


def run(ctx: Context) -> Section:
    scale = ctx.scale
    section = Section("matcher", TITLE)
    base = watchlist(scale.entities)
    items = make_items(scale.matcher_items, base)
    rates: dict[int, float] = {}
    for k in scale.entity_counts:
        start = time.perf_counter()
        compiled = compile_watchlist(watchlist(k))
        built = time.perf_counter() - start
        start = time.perf_counter()
        matched = sum(1 for item in items if match_item(compiled, item))
        rates[k] = len(items) / (time.perf_counter() - start)
        section.notes.append(
            f"{count(k)} entities: {count(rates[k])} items/s; compile_watchlist {secs(built)}; "
            f"{100 * matched / len(items):.1f}% of items matched; " + _scanned(compiled, items)
        )
    regex, patterns = regex_rate(base, items[: scale.regex_sample])
    rate = rates[scale.entities]
    section.rows.append(
        Row(
            f"matcher, {count(scale.entities)} entities × 3 aliases: items/s (1 core)",
            f"{count(rate)} items/s",
            "≥ 100,000 items/s",
            rate >= 100_000,
            note=f"{count(len(items))} items of ~600 characters (title + summary)",
        )
    )
    section.rows.append(
        Row(
            "matcher ÷ regex-per-alias loop",
            times(rate / regex),
            "≥ 50×",
            rate / regex >= 50,
            f"{count(regex)} items/s",
            times(rate / regex),
            note=f"baseline: {count(patterns)} compiled \\b…\\b IGNORECASE regexes, any() per "
            f"entity, timed on {count(scale.regex_sample)} of the items",
        )
    )
    top = max(scale.entity_counts)
    slowdown = rate / rates[top]
    section.rows.append(
        Row(
            f"matcher, {count(top)} vs {count(scale.entities)} entities: slowdown",
            times(slowdown),
            "≤ 1.2×",
            slowdown <= 1.2,
            f"{count(rate)} items/s",
            times(slowdown),
        )
    )
    for k, r in rates.items():
        section.rows.append(Row(f"growth: matcher at {count(k)} entities", f"{count(r)} items/s"))
    if ctx.profile and available():
        profile = Profile(f"matcher, {count(scale.entities)} entities", ctx.dir / "matcher.txt")
        compiled = compile_watchlist(base)
        with sampling(profile):
            for _ in range(2):
                for item in items:
                    match_item(compiled, item)
        section.profiles.append(summarize(profile))
    return section
