"""The SQLite store: the only module that talks to the database.

One file in WAL mode, one connection per thread, short ``BEGIN IMMEDIATE`` write transactions.
Items are unique per (feed, guid) and, across feeds, by canonical link, so a story carried by
two feeds is stored and alerted once. Knows nothing of Slack, Discord or XML.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.fts_words import has_words, plain_words
from bot.group_commit import GroupCommit
from bot.migrations import migrate
from bot.models import (
    Alert,
    Deadline,
    Delivery,
    EntityMatch,
    Entry,
    FeedState,
    Hit,
    Item,
    Notice,
    PendingNotice,
    Record,
    StoredItem,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
MIN_PREFIX = 3  # shortest `word*` searched as a prefix
ENTITY_RANGE = 4096  # rowids in the first range an entity search walks (Store.search)
PROBE_COST = 300  # one FTS lookup by rowid (~30 µs) in FTS hits scanned (~0.1 µs each)
_PHRASE = re.compile(r'"[^" ]+ [^"]*"')  # a quoted FTS phrase of two or more words
# New items per FTS5 write: FTS5 writes a segment per transaction, so indexing 20 items per
# poll costs ~78 us an item and 500 at once ~40 (save_poll micro-benchmark, 2 cores).
FTS_BATCH = 512
FTS_LAG = timedelta(seconds=2)  # how long a stored item may wait for its batch before a search
MERGE_PAGES = 500  # FTS5 pages one Store.tidy_index step merges, in its own write transaction
PHRASE_SPLIT = 100_000  # indexed items from which a phrase is read in two halves at once
MAX_ROWID = 2**63 - 1
SEARCH_WINDOW = 5  # candidates per result a search or `latest` looks at, newest stored first
_FTS_TOKEN = re.compile(r"\w+\*?", re.UNICODE)
_FTS_PHRASE = re.compile(r'"([^"]*)"')


@dataclass(frozen=True, slots=True)
class DeadlineGroup:
    """One deadline: a date and an entity set, with every item that stated it."""

    date: date
    text: str  # the evidence sentence of the first source
    entities: tuple[str, ...]
    sources: tuple[StoredItem, ...]

    @property
    def key(self) -> str:
        return self.date.isoformat() + "|" + "|".join(self.entities)


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What one poll's write changed."""

    new: int
    updated: int
    deliveries: int


def iso(moment: datetime) -> str:
    """The one timestamp format in the database: sortable ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def content_hash(item: Item) -> str:
    """Changes when anything a reader sees changes; an unchanged re-seen item costs no write."""
    parts = (item.title, item.link or "", item.summary, item.content)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def fts_query(text: str) -> str | None:
    """Turn any user text into a safe FTS5 query: quoted phrases and tokens, ANDed.

    Operators (``NEAR(``, ``AND``, ``-``, ``:``, unbalanced quotes or parentheses) become
    plain words, so no input raises an FTS syntax error. ``word*`` keeps its prefix meaning.
    """
    terms: list[str] = []
    for phrase in _FTS_PHRASE.findall(text):
        words = re.findall(r"\w+", phrase)
        if words:
            terms.append('"' + " ".join(words) + '"')
    tokens = _FTS_TOKEN.findall(_FTS_PHRASE.sub(" ", text))
    if any(len(t.rstrip("*")) > 1 for t in tokens) or terms:
        # "Pentagon's deadline": the lone "s" would only narrow the search to nothing.
        tokens = [t for t in tokens if len(t.rstrip("*")) > 1]
    for token in tokens:
        if token.endswith("*"):
            word = token[:-1]
            # Prefixes of fewer than three letters match most of the index: taken as words.
            terms.append(f'"{word}"*' if len(word) >= MIN_PREFIX else f'"{word}"')
        else:
            terms.append(f'"{token}"')
    return " ".join(terms) if terms else None


class Store:
    """Named reads and writes over one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Each thread gets its own connection; those of threads that have ended are closed
        # when the next one opens (sqlite3 connections can't be weakly referenced).
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._polls = GroupCommit(self._write)
        self._helper: ThreadPoolExecutor | None = None
        self._helper_idle = threading.Semaphore()
        db = self._db()
        _enable_wal(db.conn)
        migrate(db.conn)

    # -- connections -------------------------------------------------------------------------

    def _db(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=5
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            db = sqlite_utils.Database(conn)
            self._local.db = db
            with self._lock:
                for thread in [t for t in self._connections if not t.is_alive()]:
                    self._connections.pop(thread).close()
                self._connections[threading.current_thread()] = conn
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. Writers in this process queue on a lock, which wakes the
        next one the moment the last commits (SQLite's own busy handler sleeps in steps of up
        to 100 ms); other processes are still waited for by the busy timeout. A COMMIT that
        fails (disk full, a deferred constraint) is rolled back too: SQLite leaves the
        transaction open, and the next writer would find the database locked."""
        conn = self._db().conn
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return list(self._db().query(sql, params))

    def check_writable(self) -> None:
        """Raise if a write transaction cannot start (locked for too long, read-only disk)."""
        with self._write():
            pass

    def close(self) -> None:
        """Close this thread's connection and those of finished threads. A connection still
        used by a live thread is left to it: closing it mid-statement is undefined behaviour."""
        with self._lock:
            helper, self._helper = self._helper, None
        if helper is not None:
            helper.shutdown(wait=True)  # its thread ends, and its connection is closed below
        current = threading.current_thread()
        with self._lock:
            for thread in list(self._connections):
                if thread is current or not thread.is_alive():
                    self._connections.pop(thread).close()
        self._local = threading.local()

    def connection_count(self) -> int:
        """Open connections (one per live thread that used the store)."""
        with self._lock:
            return len(self._connections)

    # -- feed state --------------------------------------------------------------------------

    def sync_feed(self, name: str, config_url: str) -> FeedState:
        """Ensure a row for the feed; a changed configured URL resets the polled URL and health.

        Read first: on every poll but the first after a change there is nothing to write, and
        a write transaction would queue behind the cycle's saves.
        """
        rows = self._rows("SELECT * FROM feeds WHERE name = ?", (name,))
        if rows and rows[0]["config_url"] == config_url:
            return _feed_state(rows[0])
        with self._write() as conn:
            conn.execute(
                "INSERT INTO feeds (name, config_url, url) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET config_url = excluded.config_url, "
                "url = excluded.url, etag = NULL, last_modified = NULL, failures = 0, "
                "next_poll_at = NULL, disabled_reason = NULL, first_polled_at = NULL, "
                "failing_since = NULL, failure_notified = 0 "
                "WHERE feeds.config_url != excluded.config_url",
                (name, config_url, config_url),
            )
        state = self.feed_state(name)
        assert state is not None
        return state

    def feed_state(self, name: str) -> FeedState | None:
        rows = self._rows("SELECT * FROM feeds WHERE name = ?", (name,))
        return _feed_state(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        return [_feed_state(row) for row in self._rows("SELECT * FROM feeds ORDER BY name")]

    def record_success(
        self,
        name: str,
        *,
        now: datetime,
        etag: str | None,
        last_modified: str | None,
        next_poll_at: datetime | None = None,
    ) -> None:
        with self._write() as conn:
            _update_success(conn, name, now, etag, last_modified, next_poll_at)

    def record_failure(
        self,
        name: str,
        error: str,
        *,
        now: datetime,
        next_poll_at: datetime | None = None,
        disabled_reason: str | None = None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE feeds SET last_error = ?, last_error_at = ?, failures = failures + 1, "
                "next_poll_at = ?, disabled_reason = COALESCE(?, disabled_reason), "
                "failing_since = COALESCE(failing_since, ?) WHERE name = ?",
                (
                    error,
                    iso(now),
                    next_poll_at and iso(next_poll_at),
                    disabled_reason,
                    iso(now),
                    name,
                ),
            )

    def move_feed(self, name: str, url: str) -> None:
        """Remember a permanent redirect: later polls go to the new URL."""
        with self._write() as conn:
            conn.execute("UPDATE feeds SET url = ? WHERE name = ?", (url, name))

    def enable_feed(self, name: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE feeds SET disabled_reason = NULL, failures = 0, next_poll_at = NULL "
                "WHERE name = ?",
                (name,),
            )

    # -- items -------------------------------------------------------------------------------

    def unseen(self, feed: str, items: Sequence[Item]) -> tuple[list[Item], list[Item]]:
        """Split a poll's items into (new, changed); items seen before and unchanged drop out.

        New means: no row with this (feed, guid), and no row in any feed with the same
        canonical link (a GUID change that keeps the link, or the same story in two feeds).
        Publication dates play no part: a back-dated item with a new id is still new.
        """
        if not items:
            return [], []
        known: dict[str, str] = {}
        linked: set[str] = set()
        guids = [item.id for item in items]
        links = [item.link for item in items if item.link]
        for chunk in _chunks(guids):
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT guid, content_hash FROM items WHERE feed = ? AND guid IN ({marks})",
                (feed, *chunk),
            ):
                known[row[0]] = row[1]
        for chunk in _chunks(links):
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT link FROM items WHERE link IN ({marks})",
                chunk,
            ):
                linked.add(row[0])
        new: list[Item] = []
        changed: list[Item] = []
        batch_links: set[str] = set()
        batch_guids: set[str] = set()
        for item in items:
            if item.id in known:
                if known[item.id] != content_hash(item):
                    changed.append(item)
            elif item.id in batch_guids or (item.link and item.link in linked | batch_links):
                continue
            else:
                new.append(item)
                batch_guids.add(item.id)
                if item.link:
                    batch_links.add(item.link)
        return new, changed

    def save_poll(
        self,
        feed: str,
        records: Sequence[Record],
        changed: Sequence[Item] = (),
        *,
        now: datetime,
        etag: str | None = None,
        last_modified: str | None = None,
        next_poll_at: datetime | None = None,
    ) -> SaveResult:
        """Store a successful poll atomically: new items, their matches and deadlines, their
        pending deliveries, updated items, and the feed's new state.

        Nothing is delivered that is not recorded here first; a crash before COMMIT leaves no
        trace, so the next poll sees the same items as new again. Polls saved at the same time
        share one COMMIT (``bot.group_commit``), each in its own savepoint.
        """

        def save(conn: sqlite3.Connection) -> SaveResult:
            new = deliveries = 0
            for record in records:
                key = _insert_item(conn, feed, record.item, now)
                if key is None:
                    continue
                new += 1
                conn.executemany(
                    "INSERT INTO matches (item_id, entity, hits) VALUES (?, ?, ?)",
                    [(key, m.entity, _hits_json(m.hits)) for m in record.matches],
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO deadlines (item_id, due_on, text) VALUES (?, ?, ?)",
                    [(key, d.date.isoformat(), d.text) for d in record.deadlines],
                )
                for destination in dict.fromkeys(record.destinations):
                    conn.execute(
                        "INSERT OR IGNORE INTO outbox "
                        "(item_id, destination, next_attempt_at, created_at) VALUES (?, ?, ?, ?)",
                        (key, destination, iso(now), iso(now)),
                    )
                    deliveries += 1
            _index_pending(conn, at_least=FTS_BATCH, stored_before=now - FTS_LAG)
            for item in changed:
                conn.execute(
                    "UPDATE items SET title = ?, link = ?, summary = ?, content = ?, "
                    "content_hash = ? WHERE feed = ? AND guid = ?",
                    (
                        item.title,
                        item.link,
                        item.summary,
                        item.content,
                        content_hash(item),
                        feed,
                        item.id,
                    ),
                )
            _update_success(conn, feed, now, etag, last_modified, next_poll_at)
            return SaveResult(new=new, updated=len(changed), deliveries=deliveries)

        return self._polls.run(save)

    def item(self, key: int) -> StoredItem | None:
        rows = self._rows(f"{_ITEM_SELECT} WHERE items.id = ? GROUP BY items.id", (key,))
        return _stored_item(rows[0]) if rows else None

    def full_item(self, key: int) -> Item | None:
        """The item as it was parsed (all text fields), or None."""
        rows = self._rows("SELECT * FROM items WHERE id = ?", (key,))
        return _item(rows[0]) if rows else None

    def matches_of(self, key: int) -> tuple[EntityMatch, ...]:
        rows = self._rows(
            "SELECT entity, hits FROM matches WHERE item_id = ? ORDER BY entity", (key,)
        )
        return tuple(EntityMatch(r["entity"], _hits_from_json(r["hits"])) for r in rows)

    def deadlines_of(self, key: int) -> tuple[Deadline, ...]:
        rows = self._rows(
            "SELECT due_on, text FROM deadlines WHERE item_id = ? ORDER BY due_on, text", (key,)
        )
        return tuple(Deadline(date.fromisoformat(r["due_on"]), r["text"]) for r in rows)

    def count_items(self) -> int:
        """Items stored. Items are never deleted and rowids never reused, so the largest rowid
        is the count, read from the end of the primary key instead of a full scan."""
        return int(self._db().execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0])

    # -- queries -----------------------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        entity: str | None = None,
        since: datetime | None = None,
        limit: int = 10,
    ) -> list[StoredItem]:
        """Full-text search, newest first. Any text is safe; text with no words finds nothing.

        The FTS index is walked newest-stored first (descending rowid) and stops after a
        window of candidates, which are then ordered by publication time: a very common word
        costs as much as a rare one instead of sorting every match. With an entity, the
        window holds the newest hits that the entity matched (``_keys_of_entity``).
        """
        query = fts_query(text)
        if query is None:
            return []
        self._catch_up_index()
        window = max(limit * SEARCH_WINDOW, 50)
        keys: list[int] | None = None
        if entity is not None:
            keys = self._keys_of_entity(query, entity, since, window)
        elif since is None and _PHRASE.search(query) and "*" not in query:
            keys = self._keys_of_phrase(query, window)
        if keys is not None:
            if not keys:
                return []
            marks = ",".join("?" * len(keys))
            rows = self._rows(f"{_ITEM_SELECT} WHERE items.id IN ({marks}) GROUP BY items.id", keys)
        else:
            where = ["items_fts MATCH ?"]
            params: list[Any] = [query]
            if since is not None:
                where.append("items.published_at >= ?")
                params.append(iso(since))
            rows = self._rows(
                "SELECT items.id, items.feed, items.title, items.link, items.summary, "
                "items.published_at, items.seen_at, (SELECT group_concat(entity, char(31)) "
                "FROM matches WHERE matches.item_id = items.id) AS entities "
                "FROM items_fts JOIN items ON items.id = items_fts.rowid "
                f"WHERE {' AND '.join(where)} ORDER BY items_fts.rowid DESC LIMIT ?",
                [*params, window],
            )
        found = sorted(
            (_stored_item(row) for row in rows), key=lambda i: (i.published, i.key), reverse=True
        )
        return found[:limit]

    def index_pending(self) -> None:
        """Index every item still waiting for an FTS batch (the end of a poll cycle calls this,
        so `redline poll --once` followed by `redline search` finds what was just stored)."""
        if self._db().execute(_PENDING).fetchone() is not None:
            with self._write() as conn:
                _index_pending(conn)

    def tidy_index(self, *, budget: float = 1.0) -> int:
        """Merge FTS5 segments in short steps for up to ``budget`` seconds; returns the steps
        that merged something (0: nothing left to merge).

        Every FTS batch writes a segment, and FTS5 by itself merges a level only once four
        segments share it, so a store indexed in batches holds 6 to 14 segments at 1M items.
        A search reads each segment: entity searches took about 6.4 ms p99 on such a store and
        about 3.7 ms when this ran every 5,000 items, which leaves 2 to 5 segments. The merges
        cost about 20 µs an indexed item over FTS5's own. Each step is its own transaction of
        ``MERGE_PAGES`` pages (tens of milliseconds at 1M items), so a poll's write seldom
        waits longer than a step or two.
        """
        deadline = time.monotonic() + budget
        steps = 0
        structure = "SELECT block FROM items_fts_data WHERE id = 10"
        while time.monotonic() < deadline:
            with self._write() as conn:
                before = conn.execute(structure).fetchone()
                conn.execute(
                    "INSERT INTO items_fts (items_fts, rank) VALUES ('merge', ?)", (MERGE_PAGES,)
                )
                if conn.execute(structure).fetchone() == before:
                    return steps
            steps += 1
        return steps

    def _catch_up_index(self) -> None:
        """Index the items still waiting for an FTS batch if the oldest of them was stored more
        than FTS_LAG ago. Younger ones belong to polls still storing, which index every
        FTS_BATCH items: waiting for their write lock would make a search during a busy
        cycle slow. So a search sees every item stored more than FTS_LAG ago.
        A store this process cannot write (read-only file, locked too long) is searched as
        indexed, and says so in the log."""
        oldest = self._db().execute(_PENDING).fetchone()
        if oldest is None or datetime.fromisoformat(oldest[0]) > datetime.now(UTC) - FTS_LAG:
            return
        try:
            self.index_pending()
        except sqlite3.OperationalError as error:
            log.warning("search without the items stored since %s: %s", oldest[0], error)

    def _keys_of_phrase(self, query: str, want: int) -> list[int]:
        """The newest ``want`` FTS hits of a query with a phrase, newest first.

        A phrase of two common words that is itself rare (5 hits in 1M items) makes FTS5 read
        both words' position lists whole, about 5 ms at 1M items, all of it in SQLite's C
        code with the GIL released. So on a machine with two or more cores a big index is
        read in two halves of its rowids at once, one in a helper thread: 4.8 → 2.8 ms for
        that phrase. Each half is read forwards (FTS5 walks position lists backwards about 40%
        slower), stopping after ``want + 1`` hits; a half with more than that is read again
        newest first, which stops early.
        """
        db = self._db()
        (top,) = db.execute("SELECT indexed_upto FROM fts_progress").fetchone()
        helper = self._phrase_helper() if top >= PHRASE_SPLIT else None
        middle = top // 2 if helper is not None else 0
        older: Future[list[int]] | None = None
        if helper is not None and self._helper_idle.acquire(blocking=False):
            try:  # a helper busy with another search's half: this one reads both itself
                older = helper.submit(self._phrase_hits, query, 1, middle, want + 1, "ASC")
            except RuntimeError:  # shut down by close(): read it here
                self._helper_idle.release()
            else:
                older.add_done_callback(lambda _: self._helper_idle.release())
        try:
            hits = self._phrase_hits(query, middle + 1, MAX_ROWID, want + 1, "ASC")
        finally:
            older_hits = older.result() if older is not None else None
        if len(hits) > want:
            return self._phrase_hits(query, middle + 1, MAX_ROWID, want, "DESC")
        keys = hits[::-1]
        if middle == 0 or len(keys) == want:
            return keys
        if older_hits is None:
            older_hits = self._phrase_hits(query, 1, middle, want + 1, "ASC")
        need = want - len(keys)
        if len(older_hits) > need:
            return keys + self._phrase_hits(query, 1, middle, need, "DESC")
        return keys + older_hits[::-1]

    def _phrase_hits(self, query: str, low: int, high: int, limit: int, order: str) -> list[int]:
        sql = (
            "SELECT rowid FROM items_fts WHERE items_fts MATCH ? AND rowid BETWEEN ? AND ? "
            f"ORDER BY rowid {order} LIMIT ?"
        )
        return [row[0] for row in self._db().execute(sql, (query, low, high, limit))]

    def _phrase_helper(self) -> ThreadPoolExecutor | None:
        """The thread that reads the older half of a big index, or None on one core."""
        if _usable_cores() < 2:
            return None
        with self._lock:
            if self._helper is None:
                self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search")
            return self._helper

    def _keys_of_entity(
        self, query: str, entity: str, since: datetime | None, want: int
    ) -> list[int]:
        """The newest ``want`` items (by rowid) that match ``query`` and ``entity``, newest first.

        Walks rowid ranges newest first, each four times as wide as the last, and in each lets
        the rarer side drive: the entity's items there are counted (an index range) and the
        FTS hits estimated from their density in the first range. Few entity items: each is
        looked up in FTS by rowid. Otherwise the range's FTS hits are scanned and kept if the
        entity matched. A rare entity with a common word thus costs a few hundred lookups
        instead of a walk over the whole index. A prefix is expanded over the whole index by
        every FTS query, so it gets one range.
        """
        db = self._db()
        (top,) = db.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()
        since_clause = (
            "AND (SELECT published_at FROM items WHERE id = items_fts.rowid) >= :since"
            if since is not None
            else ""
        )
        of_entity = (
            "SELECT item_id FROM matches WHERE entity = :entity COLLATE NOCASE "
            "AND item_id BETWEEN :lo AND :hi"
        )
        # The range's FTS hits that are entity items; ``+rowid`` keeps FTS5 from taking the
        # IN list as rowids to look up.
        scanned = (
            "SELECT rowid FROM items_fts WHERE items_fts MATCH :query "
            f"AND rowid BETWEEN :lo AND :hi AND +rowid IN ({of_entity}) {since_clause}"
        )
        params: dict[str, Any] = {"entity": entity, "query": query}
        if since is not None:
            params["since"] = iso(since)
        (params["indexed"],) = db.execute("SELECT indexed_upto FROM fts_progress").fetchone()
        lookup_cost = _lookup_cost(query)
        density = 0.0
        keys: list[int] = []
        size = top if "*" in query else ENTITY_RANGE
        hi = top
        while hi > 0 and len(keys) < want:
            lo = max(1, hi - size + 1)
            params.update(lo=lo, hi=hi, want=want - len(keys))
            if lookup_cost and not density:
                (found,) = db.execute(
                    "SELECT count(*) FROM items_fts WHERE items_fts MATCH :query "
                    "AND rowid BETWEEN :lo AND :hi",
                    params,
                ).fetchone()
                density = max(found, 1) / (hi - lo + 1)
            (items,) = db.execute(f"SELECT count(*) FROM ({of_entity})", params).fetchone()
            if items and items * lookup_cost < density * (hi - lo + 1):
                keys += self._look_up(params, since is not None)
            elif items:
                keys += sorted((row[0] for row in db.execute(scanned, params)), reverse=True)
            hi = lo - 1
            size *= 4
        return keys[:want]

    def _look_up(self, params: dict[str, Any], since: bool) -> list[int]:
        """The range's entity items, newest first, that match the query, until ``want``.

        For a query of plain ASCII words, an item is tested in Python where that gives FTS5's
        answer (``bot.fts_words``: about 1 µs, where a lookup by rowid in FTS5 costs 6 to
        16 µs); any other item or query is looked up in FTS5. Items not yet in the index are
        left out, as FTS5 would leave them.
        """
        db = self._db()
        words = plain_words(params["query"])
        candidates = db.execute(
            "SELECT items.id, items.title, items.summary FROM matches "
            "CROSS JOIN items ON items.id = matches.item_id "
            "WHERE matches.entity = :entity COLLATE NOCASE "
            "AND matches.item_id BETWEEN :lo AND min(:hi, :indexed) "
            + ("AND items.published_at >= :since " if since else "")
            + "ORDER BY matches.item_id DESC",
            params,
        )
        lookup = "SELECT 1 FROM items_fts WHERE items_fts MATCH :query AND rowid = :key"
        keys: list[int] = []
        for key, title, summary in candidates:
            if keys and keys[-1] == key:  # the entity under two spellings (NOCASE)
                continue
            found = has_words(f"{title}\n{summary}", words) if words else None
            if found is None:
                found = db.execute(lookup, {**params, "key": key}).fetchone() is not None
            if found:
                keys.append(key)
                if len(keys) >= params["want"]:
                    break
        return keys

    def latest(self, *, entity: str | None = None, limit: int = 5) -> list[StoredItem]:
        """The newest items that matched a watched entity (or the given one): the newest
        stored matches, by the (entity, item) index, ordered by publication time."""
        condition = "WHERE entity = ? COLLATE NOCASE" if entity else ""
        params: list[Any] = [entity] if entity else []
        window = max(limit * SEARCH_WINDOW, 50)
        rows = self._rows(
            f"{_ITEM_SELECT} WHERE items.id IN (SELECT item_id FROM matches {condition} "
            "ORDER BY item_id DESC LIMIT ?) GROUP BY items.id",
            [*params, window],
        )
        found = sorted(
            (_stored_item(row) for row in rows), key=lambda i: (i.published, i.key), reverse=True
        )
        return found[:limit]

    def upcoming_deadlines(self, start: date, end: date) -> list[DeadlineGroup]:
        """Deadlines due from ``start`` to ``end`` (inclusive), one per (date, entity set).

        A deadline stated by several items is one deadline with several sources.
        """
        rows = self._rows(
            "SELECT deadlines.due_on, deadlines.text, items.id, items.feed, items.title, "
            "items.summary, items.link, items.published_at, items.seen_at, "
            "(SELECT group_concat(entity, char(31)) FROM "
            "(SELECT entity FROM matches WHERE item_id = items.id ORDER BY entity)) AS entities "
            "FROM deadlines JOIN items ON items.id = deadlines.item_id "
            "WHERE deadlines.due_on BETWEEN ? AND ? ORDER BY deadlines.due_on, items.id",
            (start.isoformat(), end.isoformat()),
        )
        groups: dict[tuple[str, str], DeadlineGroup] = {}
        for row in rows:
            key = (row["due_on"], row["entities"] or "")
            source = _stored_item(row)
            group = groups.get(key)
            if group is None:
                groups[key] = DeadlineGroup(
                    date.fromisoformat(row["due_on"]), row["text"], source.entities, (source,)
                )
            elif source.key not in {s.key for s in group.sources}:
                groups[key] = DeadlineGroup(
                    group.date, group.text, group.entities, (*group.sources, source)
                )
        return list(groups.values())

    # -- reminders and digests ---------------------------------------------------------------

    def alert_threads(self, keys: Sequence[int]) -> dict[str, str | None]:
        """Destination → the first delivered alert's message id, over the given items."""
        found: dict[str, str | None] = {}
        for chunk in _chunks([str(k) for k in keys]):
            marks = ",".join("?" * len(chunk))
            for destination, ref in self._db().execute(
                f"SELECT destination, message_ref FROM outbox WHERE status = 'sent' "
                f"AND item_id IN ({marks}) ORDER BY sent_at, id",
                chunk,
            ):
                found.setdefault(destination, ref)
        return found

    def deadline_group(self, key: str) -> DeadlineGroup | None:
        """The deadline a reminder row names (see DeadlineGroup.key), if still stored."""
        day = date.fromisoformat(key.split("|", 1)[0])
        return next((g for g in self.upcoming_deadlines(day, day) if g.key == key), None)

    def claim_reminder(
        self,
        key: str,
        offset: float,
        destination: str,
        thread: str | None,
        *,
        now: datetime,
        status: str = "pending",
    ) -> None:
        """Record a due reminder (pending, or skipped), once per (deadline, offset,
        destination) ever."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO reminders (deadline_key, offset_s, destination, thread, "
                "created_at, status) VALUES (?, ?, ?, ?, ?, ?)",
                (key, int(offset), destination, thread, iso(now), status),
            )

    def pending_reminders(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT rowid, * FROM reminders WHERE status = 'pending' ORDER BY created_at, rowid"
        )

    def finish_reminder(self, rowid: int, *, now: datetime, error: str | None, dead: bool) -> None:
        """Mark a reminder sent (``error=None``), or count a failed attempt."""
        with self._write() as conn:
            if error is None:
                conn.execute(
                    "UPDATE reminders SET status = 'sent', sent_at = ?, attempts = attempts + 1 "
                    "WHERE rowid = ?",
                    (iso(now), rowid),
                )
            else:
                conn.execute(
                    "UPDATE reminders SET attempts = attempts + 1, last_error = ?, "
                    "status = CASE WHEN ? THEN 'dead' ELSE 'pending' END WHERE rowid = ?",
                    (error, dead, rowid),
                )

    def matched_since(self, since: datetime) -> list[StoredItem]:
        """Matched items first seen since ``since``, newest first."""
        rows = self._rows(
            f"{_ITEM_SELECT} WHERE items.seen_at >= ? AND items.id IN "
            "(SELECT item_id FROM matches) GROUP BY items.id ORDER BY items.published_at DESC",
            (iso(since),),
        )
        return [_stored_item(row) for row in rows]

    def digest_sent(self, destination: str, day: date) -> bool:
        rows = self._db().execute(
            "SELECT 1 FROM digests WHERE destination = ? AND sent_on = ?",
            (destination, day.isoformat()),
        )
        return rows.fetchone() is not None

    def export_matched(self, since: datetime) -> list[dict[str, Any]]:
        """Matched items published since ``since``, oldest first, as plain rows for export."""
        rows = self._rows(
            "SELECT items.id, items.feed, items.published_at AS published, items.title, "
            "items.link, items.summary, "
            "(SELECT group_concat(entity, char(31)) FROM matches WHERE item_id = items.id) "
            "AS entities, (SELECT group_concat(due_on || ': ' || text, char(31)) FROM deadlines "
            "WHERE item_id = items.id) AS deadlines FROM items "
            "WHERE items.published_at >= ? AND items.id IN (SELECT item_id FROM matches) "
            "ORDER BY items.published_at, items.id",
            (iso(since),),
        )
        for row in rows:
            row["entities"] = sorted(row["entities"].split("\x1f")) if row["entities"] else []
            row["deadlines"] = sorted(row["deadlines"].split("\x1f")) if row["deadlines"] else []
        return rows

    def claim_digest(self, destination: str, day: date, *, now: datetime) -> bool:
        """True the first time a digest for ``day`` is claimed for ``destination``."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO digests (destination, sent_on, sent_at) VALUES (?, ?, ?)",
                (destination, day.isoformat(), iso(now)),
            )
            return cursor.rowcount == 1

    # -- notices (admin notices; reminders and digests use their own tables) ------------------

    def queue_notice(
        self,
        notice: Notice,
        destinations: Sequence[str],
        *,
        now: datetime,
        failing_feed: str | None = None,
    ) -> None:
        """Queue ``notice`` for each destination; with ``failing_feed``, also mark that feed's
        failure streak as reported, in the same transaction (so it is reported once)."""
        entries = json.dumps([[e.text, e.url, e.detail] for e in notice.entries])
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO notices (destination, kind, title, entries, thread, "
                "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (d, notice.kind, notice.title, entries, notice.thread, iso(now), iso(now))
                    for d in dict.fromkeys(destinations)
                ],
            )
            if failing_feed is not None:
                conn.execute(
                    "UPDATE feeds SET failure_notified = 1 WHERE name = ?", (failing_feed,)
                )

    def pending_notices(self, *, now: datetime, limit: int = 50) -> list[PendingNotice]:
        rows = self._rows(
            "SELECT * FROM notices WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY id LIMIT ?",
            (iso(now), limit),
        )
        return [
            PendingNotice(
                int(row["id"]),
                row["destination"],
                int(row["attempts"]),
                Notice(
                    row["kind"],
                    row["title"],
                    tuple(Entry(t, u, d) for t, u, d in json.loads(row["entries"])),
                    row["thread"],
                ),
            )
            for row in rows
        ]

    def mark_notice(
        self, notice_id: int, *, now: datetime, error: str | None, retry_at: datetime | None
    ) -> None:
        """Sent (``error=None``), retried at ``retry_at``, or dead (``retry_at=None``)."""
        with self._write() as conn:
            if error is None:
                conn.execute(
                    "UPDATE notices SET status = 'sent', sent_at = ?, attempts = attempts + 1 "
                    "WHERE id = ?",
                    (iso(now), notice_id),
                )
            else:
                conn.execute(
                    "UPDATE notices SET attempts = attempts + 1, last_error = ?, "
                    "status = CASE WHEN ? IS NULL THEN 'dead' ELSE 'pending' END, "
                    "next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ?",
                    (error, retry_at and iso(retry_at), retry_at and iso(retry_at), notice_id),
                )

    # -- audit -------------------------------------------------------------------------------

    def record_audit(
        self,
        *,
        at: datetime,
        platform: str,
        user_id: str,
        command: str,
        args: str,
        allowed: bool,
        outcome: str,
        before: str | None,
        after: str | None,
        request_id: str | None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO audit (at, platform, user_id, command, args, allowed, "
                "outcome, before, after, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    iso(at),
                    platform,
                    user_id,
                    command,
                    args,
                    allowed,
                    outcome,
                    before,
                    after,
                    request_id,
                ),
            )

    def audit_has(self, request_id: str) -> bool:
        rows = self._db().execute("SELECT 1 FROM audit WHERE request_id = ?", (request_id,))
        return rows.fetchone() is not None

    def audit_log(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))

    def audit_summary(self) -> str:
        """``3 applied, 1 refused; last: feeds add by U123 at …`` or empty when none."""
        rows = self._rows(
            "SELECT count(*) AS n, sum(allowed = 0) AS refused, "
            "sum(outcome = 'applied') AS applied FROM audit"
        )
        if not rows or not rows[0]["n"]:
            return ""
        last = self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT 1")[0]
        return (
            f"{rows[0]['applied'] or 0} applied, {rows[0]['refused'] or 0} refused; last: "
            f"{last['command']} by {last['platform']}:{last['user_id']} at {last['at']} "
            f"({last['outcome']})"
        )

    # -- outbox ------------------------------------------------------------------------------

    def pending_deliveries(self, *, now: datetime, limit: int = 100) -> list[Delivery]:
        """Deliveries due now, oldest first, each with the alert rebuilt from the store."""
        rows = self._rows(
            "SELECT outbox.id AS outbox_id, outbox.destination, outbox.attempts, "
            "items.id AS item_key, items.feed, items.guid, items.title, items.link, "
            "items.summary, items.content, items.author, items.categories, items.published_at "
            "FROM outbox JOIN items ON items.id = outbox.item_id "
            "WHERE outbox.status = 'pending' AND outbox.next_attempt_at <= ? "
            "ORDER BY outbox.id LIMIT ?",
            (iso(now), limit),
        )
        return [self._delivery(row) for row in rows]

    def _delivery(self, row: dict[str, Any]) -> Delivery:
        item_key = int(row["item_key"])
        item = _item(row)
        alert = Alert(
            feed=row["feed"],
            item=item,
            matches=self.matches_of(item_key),
            deadlines=self.deadlines_of(item_key),
            item_key=item_key,
        )
        return Delivery(
            id=int(row["outbox_id"]),
            destination=row["destination"],
            attempts=int(row["attempts"]),
            alert=alert,
        )

    def mark_sent(self, delivery_id: int, *, now: datetime, message_ref: str | None) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, message_ref = ?, "
                "attempts = attempts + 1, last_error = NULL WHERE id = ?",
                (iso(now), message_ref, delivery_id),
            )

    def mark_failed(
        self, delivery_id: int, error: str, *, retry_at: datetime | None, now: datetime
    ) -> None:
        """Count a failed attempt; ``retry_at=None`` dead-letters the delivery."""
        with self._write() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, "
                "status = CASE WHEN ? IS NULL THEN 'dead' ELSE 'pending' END, "
                "next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ?",
                (error, retry_at and iso(retry_at), retry_at and iso(retry_at), delivery_id),
            )

    def outbox_counts(self) -> dict[str, int]:
        rows = self._db().execute("SELECT status, count(*) FROM outbox GROUP BY status")
        return {status: int(count) for status, count in rows}


_ITEM_SELECT = (
    "SELECT items.id, items.feed, items.title, items.link, items.summary, items.published_at, "
    "items.seen_at, "
    "group_concat(matches.entity, char(31)) AS entities "
    "FROM items LEFT JOIN matches ON matches.item_id = items.id"
)


def _usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _enable_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to WAL. The switch takes an exclusive lock that SQLite's busy handler does not
    wait for, so two processes opening a new database at once retry here."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# The first item not yet in the FTS index, if any.
_PENDING = (
    "SELECT seen_at FROM items WHERE id > (SELECT indexed_upto FROM fts_progress) "
    "ORDER BY id LIMIT 1"
)


def _index_pending(
    conn: sqlite3.Connection, *, at_least: int = 1, stored_before: datetime | None = None
) -> None:
    """Add the items not yet in FTS to it, if there are ``at_least`` of them or the oldest was
    stored before ``stored_before`` (so a steady trickle of polls indexes within FTS_LAG and
    searches seldom have to). The mark is complete because rowids only grow: Redline never
    deletes items, so no id is reused below it."""
    (upto,) = conn.execute("SELECT indexed_upto FROM fts_progress").fetchone()
    (top,) = conn.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()
    if top <= upto:
        return
    due = top - upto >= at_least
    if not due and stored_before is not None:
        (oldest,) = conn.execute(_PENDING).fetchone()  # a row exists: top > upto
        due = datetime.fromisoformat(oldest) <= stored_before
    if due:
        conn.execute(
            "INSERT INTO items_fts (rowid, title, summary) "
            "SELECT id, title, summary FROM items WHERE id > ?",
            (upto,),
        )
        conn.execute("UPDATE fts_progress SET indexed_upto = ?", (top,))


def _insert_item(conn: sqlite3.Connection, feed: str, item: Item, now: datetime) -> int | None:
    # The link check runs inside the write transaction: two feeds polled at once that carry
    # the same story cannot both insert it.
    cursor = conn.execute(
        "INSERT OR IGNORE INTO items (feed, guid, link, title, summary, content, author, "
        "categories, published_at, seen_at, content_hash) "
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
        "WHERE ?3 IS NULL OR NOT EXISTS (SELECT 1 FROM items WHERE link = ?3)",
        (
            feed,
            item.id,
            item.link,
            item.title,
            item.summary,
            item.content,
            item.author,
            json.dumps(list(item.categories)),
            iso(item.published or now),
            iso(now),
            content_hash(item),
        ),
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def _update_success(
    conn: sqlite3.Connection,
    name: str,
    now: datetime,
    etag: str | None,
    last_modified: str | None,
    next_poll_at: datetime | None,
) -> None:
    conn.execute(
        "UPDATE feeds SET etag = ?, last_modified = ?, last_success_at = ?, "
        "first_polled_at = COALESCE(first_polled_at, ?), failures = 0, last_error = NULL, "
        "failing_since = NULL, failure_notified = 0, next_poll_at = ? WHERE name = ?",
        (etag, last_modified, iso(now), iso(now), next_poll_at and iso(next_poll_at), name),
    )


def _feed_state(row: dict[str, Any]) -> FeedState:
    return FeedState(
        name=row["name"],
        url=row["url"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        first_polled_at=_from_iso(row["first_polled_at"]),
        last_success_at=_from_iso(row["last_success_at"]),
        last_error=row["last_error"],
        last_error_at=_from_iso(row["last_error_at"]),
        failures=int(row["failures"]),
        next_poll_at=_from_iso(row["next_poll_at"]),
        disabled_reason=row["disabled_reason"],
        failing_since=_from_iso(row["failing_since"]),
        failure_notified=bool(row["failure_notified"]),
    )


def _item(row: dict[str, Any]) -> Item:
    return Item(
        id=row["guid"],
        title=row["title"],
        link=row["link"],
        summary=row["summary"],
        content=row["content"],
        published=_from_iso(row["published_at"]),
        author=row["author"],
        categories=tuple(json.loads(row["categories"])),
    )


def _stored_item(row: dict[str, Any]) -> StoredItem:
    entities = tuple(sorted(set(row["entities"].split("\x1f")))) if row["entities"] else ()
    published = _from_iso(row["published_at"])
    assert published is not None
    return StoredItem(
        key=int(row["id"]),
        feed=row["feed"],
        title=row["title"],
        link=row["link"],
        summary=row["summary"],
        published=published,
        entities=entities,
        seen=_from_iso(row.get("seen_at")),
    )


def _lookup_cost(query: str) -> int:
    """What looking one rowid up in FTS costs, in FTS hits scanned, or 0 when it is never
    worth it: a phrase or a prefix costs up to milliseconds a lookup (measured at 1M items)."""
    terms = query.split('"')[1::2]
    if "*" in query or any(" " in term for term in terms):
        return 0
    return PROBE_COST * len(terms)


def _hits_json(hits: Sequence[Hit]) -> str:
    return json.dumps([[h.field, h.start, h.end, h.term] for h in hits])


def _hits_from_json(text: str) -> tuple[Hit, ...]:
    return tuple(Hit(f, int(s), int(e), t) for f, s, e, t in json.loads(text))
