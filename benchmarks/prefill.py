"""Fill a store with M synthetic items fast, through the Store's own schema.

``Store(path)`` creates the schema (migrations, FTS5 table, triggers), then this module writes
with plain sqlite3 and ``synchronous = OFF``, in 50,000-row transactions: ``executemany`` into
``items`` and ``matches``. The search index is then written as a live store writes it, because
search speed depends on its shape (FTS5 reads every segment): ``FTS_BATCH`` items per
transaction, ``INSERT INTO items_fts (rowid, title, summary) SELECT … FROM items`` as
``Store``'s own indexer does, and ``Store.tidy_index`` run to the end every ``TIDY_EVERY``
batches. The service runs it every minute, so this stands for a service storing 5,000 items a
minute or fewer. Writing the index in 50,000-row batches instead left 7 segments where a live
store has 2 to 5 (and 6 to 14 with no tidying at all).
Growing a store (100k → 1M) appends to it.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.data import EPOCH, feed_name, story
from bot.models import Entity
from bot.store import FTS_BATCH, Store, iso

BATCH = 50_000
TIDY_EVERY = 10  # FTS batches between two runs of Store.tidy_index
SPAN = 1_000_000


def prefill(path: Path, total: int, entities: tuple[Entity, ...], *, feeds: int = 1000) -> float:
    """Grow the store at ``path`` to ``total`` items; returns the seconds it took."""
    start = time.perf_counter()
    store = Store(path)  # the schema, as the bot creates it
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB while filling only
        (have,) = conn.execute("SELECT count(*) FROM items").fetchone()
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'items_ai'"
        ).fetchone()
        if row is not None:  # a schema that indexes by trigger: drop it while filling
            conn.execute("DROP TRIGGER items_ai")
        try:
            for first in range(have, total, BATCH):
                _batch(conn, first, min(BATCH, total - first), entities, feeds)
                _index(conn, store, first + min(BATCH, total - first))
        finally:
            if row is not None:
                conn.execute(row[0])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    finally:
        conn.close()
        store.close()
    return time.perf_counter() - start


def _batch(
    conn: sqlite3.Connection,
    first: int,
    count: int,
    entities: tuple[Entity, ...],
    feeds: int,
) -> None:
    rng = random.Random(first)
    items = []
    matches = []
    for n in range(first, first + count):
        # One item every two minutes, the millionth at EPOCH: a million items span ~3.8 years.
        when = EPOCH - timedelta(minutes=2 * (SPAN - n))
        s = story(f"p{n}", rng, entities, when)
        items.append(
            (
                n + 1,
                feed_name(n % feeds),
                s.guid,
                s.link.split("?")[0],
                s.title,
                s.text,
                "",
                f"Reporter {n % 17}",
                json.dumps(list(s.categories)),
                iso(when),
                iso(when + timedelta(minutes=3)),
                f"{n:032x}",
            )
        )
        for name in s.mentions:
            hits = [["summary", 0, len(name), name]]
            matches.append((n + 1, name, json.dumps(hits)))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO items (id, feed, guid, link, title, summary, content, author, categories, "
        "published_at, seen_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        items,
    )
    conn.executemany(
        "INSERT OR IGNORE INTO matches (item_id, entity, hits) VALUES (?, ?, ?)", matches
    )
    conn.execute("COMMIT")


def _index(conn: sqlite3.Connection, store: Store, upto: int) -> None:
    """Index the items up to ``upto`` as the store's indexer and its tidying job would."""
    (done,) = conn.execute("SELECT indexed_upto FROM fts_progress").fetchone()
    for batch, low in enumerate(range(done, upto, FTS_BATCH), start=done // FTS_BATCH + 1):
        high = min(low + FTS_BATCH, upto)
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO items_fts (rowid, title, summary) SELECT id, title, summary FROM items "
            "WHERE id > ? AND id <= ?",
            (low, high),
        )
        conn.execute("UPDATE fts_progress SET indexed_upto = ?", (high,))
        conn.execute("COMMIT")
        if batch % TIDY_EVERY == 0:
            store.tidy_index(budget=math.inf)
