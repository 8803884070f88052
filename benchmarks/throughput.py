"""New items through the whole pipeline, and how cycle time grows with the number of feeds.

For each feed count N: a fresh store; a priming cycle (one item per feed: the silent first
poll); then the measured cycle, where every feed serves 20 items, all new, so each one goes
fetch → parse → match → deadlines → store, and matched ones are written to the outbox as
alerts; then a steady cycle in which every feed answers 304.
"""

from __future__ import annotations

from benchmarks.context import Context
from benchmarks.first_cycle import ok, stage_note
from benchmarks.report import Row, Section, count, secs

TITLE = "Pipeline throughput and cycle-time growth"


def run(ctx: Context) -> Section:
    scale = ctx.scale
    section = Section("pipeline", TITLE)
    k = scale.new_items
    measured = {}
    for n in scale.growth_feeds:
        steps = [
            {"label": "prime", "state": {"feeds": n, "first": 0, "count": 1, "build": 0}},
            {"label": "new", "state": {"feeds": n, "first": 1, "count": k, "build": 1}},
            {"label": "steady", "state": {"feeds": n, "first": 1, "count": k, "build": 1}},
        ]
        _, new, steady = ctx.cycle(ctx.fresh_db(f"growth-{n}"), n, steps)
        measured[n] = (new, steady)
    new, steady = measured[scale.throughput_feeds]
    rate = new["new"] / new["wall"]
    section.rows.append(
        Row(
            f"pipeline: new items/s ({count(scale.throughput_feeds)} feeds × {k} new, 2nd cycle)",
            f"{count(rate)} items/s",
            "≥ 4,000 items/s",
            ok(new, rate >= 4000),
            note=(
                f"{count(new['new'])} new items in {secs(new['wall'])}, "
                f"{count(new['alerts'])} alerts written to the outbox "
                f"(outbox rows {new['rows']['outbox']:+d}, matches {new['rows']['matches']:+d}, "
                f"deadlines {new['rows']['deadlines']:+d}); " + stage_note(new)
            ),
        )
    )
    for n, (new, _) in measured.items():
        section.rows.append(
            Row(
                f"growth: cycle, {count(n)} feeds × {k} new items",
                secs(new["wall"]),
                note=f"{1000 * new['wall'] / n:.2f} ms per feed, "
                f"{count(new['new'] / new['wall'])} items/s; " + stage_note(new),
            )
        )
    for n, (_, steady) in measured.items():
        section.rows.append(
            Row(
                f"growth: cycle, {count(n)} feeds all 304",
                secs(steady["wall"]),
                note=f"{1000 * steady['wall'] / n:.2f} ms per feed; statuses {steady['statuses']}",
            )
        )
    return section
