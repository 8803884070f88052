"""The store's schema history: an ordered list of forward migrations keyed by ``user_version``.

Add a migration by appending its SQL; never edit one that has shipped. Each runs in one
transaction together with the version bump, so a crash leaves the schema at a known version.
"""

from __future__ import annotations

import sqlite3

INITIAL = """
CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    config_url TEXT NOT NULL,        -- the URL as configured (a change resets url)
    url TEXT NOT NULL,               -- the URL polled (follows permanent redirects)
    etag TEXT,
    last_modified TEXT,
    first_polled_at TEXT,
    last_success_at TEXT,
    last_error TEXT,
    last_error_at TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at TEXT,
    disabled_reason TEXT
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    guid TEXT NOT NULL,
    link TEXT,
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '',
    author TEXT,
    categories TEXT NOT NULL DEFAULT '[]',
    published_at TEXT NOT NULL,      -- published, else updated, else first seen
    seen_at TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    UNIQUE (feed, guid)
);
CREATE INDEX items_link ON items (link) WHERE link IS NOT NULL;
CREATE INDEX items_published_at ON items (published_at);
CREATE VIRTUAL TABLE items_fts USING fts5 (
    title, summary, content='items', content_rowid='id'
);
CREATE TRIGGER items_ai AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
CREATE TRIGGER items_ad AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, summary)
    VALUES ('delete', old.id, old.title, old.summary);
END;
CREATE TRIGGER items_au AFTER UPDATE OF title, summary ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, summary)
    VALUES ('delete', old.id, old.title, old.summary);
    INSERT INTO items_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
CREATE TABLE matches (
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    entity TEXT NOT NULL,
    hits TEXT NOT NULL,              -- JSON: [[field, start, end, term], ...]
    PRIMARY KEY (item_id, entity)
);
CREATE INDEX matches_entity ON matches (entity COLLATE NOCASE, item_id);
CREATE TABLE deadlines (
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    due_on TEXT NOT NULL,            -- YYYY-MM-DD (UTC)
    text TEXT NOT NULL,
    PRIMARY KEY (item_id, due_on, text)
);
CREATE INDEX deadlines_due_on ON deadlines (due_on);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,       -- "terminal", "slack:C0123", "discord:policy"
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    message_ref TEXT,                -- platform message id (Slack ts, Discord id)
    last_error TEXT,
    UNIQUE (item_id, destination)
);
CREATE INDEX outbox_pending ON outbox (status, next_attempt_at);
"""

AUDIT = """
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    platform TEXT NOT NULL,          -- slack | discord | cli
    user_id TEXT NOT NULL,           -- the platform's verified user id, never a display name
    command TEXT NOT NULL,
    args TEXT NOT NULL,              -- JSON
    allowed INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    before TEXT,                     -- JSON of the feed or entity before the edit
    after TEXT,
    request_id TEXT UNIQUE           -- refuses a replayed request
);
"""

REMINDERS = """
CREATE TABLE reminders (
    deadline_key TEXT NOT NULL,      -- due date and entity set: one deadline, many sources
    offset_s INTEGER NOT NULL,       -- seconds before the deadline's moment
    destination TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    thread TEXT,                     -- the alert's message id in that destination
    created_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT,
    PRIMARY KEY (deadline_key, offset_s, destination)
);
CREATE TABLE digests (
    destination TEXT NOT NULL,
    sent_on TEXT NOT NULL,           -- local date of the digest
    sent_at TEXT NOT NULL,
    PRIMARY KEY (destination, sent_on)
);
"""

NOTICES = """
ALTER TABLE feeds ADD COLUMN failing_since TEXT;       -- first failure of the current streak
ALTER TABLE feeds ADD COLUMN failure_notified INTEGER NOT NULL DEFAULT 0;
CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    kind TEXT NOT NULL,              -- notice | reminder | digest
    title TEXT NOT NULL,
    entries TEXT NOT NULL,           -- JSON: [[text, url, detail], ...]
    thread TEXT,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT
);
CREATE INDEX notices_pending ON notices (status, next_attempt_at);
"""

# New items are indexed by Store.save_poll in one executemany per poll, about a third cheaper
# than a trigger firing per row; updates and deletes keep their triggers.
FTS_BATCH = """
DROP TRIGGER items_ai;
"""

# New items reach FTS in batches (Store.save_poll every FTS_BATCH items or FTS_LAG, a cycle's
# end, a search), not one FTS5 write per poll: FTS5 flushes a segment per transaction. The mark
# says which rows are indexed; the update and delete triggers touch only those. It relies on
# item ids never being reused below it: items are never deleted (items has no AUTOINCREMENT,
# so a retention job that deletes items must first move to tracking indexed rows another way).
FTS_DEFERRED = """
CREATE TABLE fts_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL      -- every item with id <= this is in items_fts
);
INSERT INTO fts_progress (id, indexed_upto) SELECT 1, coalesce(max(id), 0) FROM items;
DROP TRIGGER items_ad;
CREATE TRIGGER items_ad AFTER DELETE ON items
WHEN old.id <= (SELECT indexed_upto FROM fts_progress) BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, summary)
    VALUES ('delete', old.id, old.title, old.summary);
END;
DROP TRIGGER items_au;
CREATE TRIGGER items_au AFTER UPDATE OF title, summary ON items
WHEN old.id <= (SELECT indexed_upto FROM fts_progress) BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, summary)
    VALUES ('delete', old.id, old.title, old.summary);
    INSERT INTO items_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
"""

# Store.tidy_index merges the FTS5 segments that share a level as soon as there are two, not
# four: a search pays per segment (an entity search's lookups by rowid cost about 6 µs on one
# segment and 14 on seven, at 1M items). FTS5 keeps the setting in items_fts_config.
FTS_USERMERGE = """
INSERT INTO items_fts (items_fts, rank) VALUES ('usermerge', 2);
"""

MIGRATIONS: tuple[str, ...] = (
    INITIAL,
    AUDIT,
    REMINDERS,
    NOTICES,
    FTS_BATCH,
    FTS_DEFERRED,
    FTS_USERMERGE,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; returns the resulting version. Refuses a newer schema.

    The version is read inside the write transaction, so two processes opening a new database
    at once apply each migration exactly once.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"database schema version {version} is newer than this Redline "
                    f"(knows {len(MIGRATIONS)}); upgrade Redline"
                )
            if version == len(MIGRATIONS):
                conn.execute("COMMIT")
                return int(version)
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a script into statements (triggers contain semicolons; sqlite3 knows when a
    statement is complete). executescript() can't be used: it commits the open transaction."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements
