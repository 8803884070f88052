"""The SQLite store on a real file: schema, dedupe, outbox, search with hostile text."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.migrations import FTS_DEFERRED, MIGRATIONS, _statements
from bot.models import Deadline, EntityMatch, Hit, Record
from bot.store import FTS_BATCH, FTS_LAG, Store, fts_query, iso
from tests.factories import NOW, make_item


@pytest.fixture
def store(db_path: Path) -> Store:
    s = Store(db_path)
    s.sync_feed("A", "https://a.example/feed")
    s.sync_feed("B", "https://b.example/feed")
    return s


def test_schema_is_versioned_and_wal(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(db_path: Path) -> None:
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this Redline"):
        Store(db_path)


def indexed(path: Path) -> int:
    """Rows in the FTS index (its docsize table has one per indexed item)."""
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM items_fts_docsize").fetchone()[0])


def test_new_items_reach_the_index_in_batches_and_search_sees_them_all(db_path: Path) -> None:
    store = Store(db_path)
    store.sync_feed("A", "https://a.example/feed")
    for n in range(3):  # three small polls: fewer than FTS_BATCH items, so nothing indexed yet
        records = [
            Record(make_item(id=f"{n}-{k}", link=None, title=f"Drone {n} {k}")) for k in range(5)
        ]
        store.save_poll("A", records, now=NOW)
    assert indexed(db_path) == 0
    reopened = Store(db_path)  # as after a crash: the pending items are in the items table
    assert len(reopened.search("drone", limit=100)) == 15
    assert indexed(db_path) == 15
    big = [Record(make_item(id=f"b{k}", link=None, title="Budget")) for k in range(FTS_BATCH)]
    store.save_poll("A", big, now=NOW)
    assert indexed(db_path) == 15 + FTS_BATCH  # a full batch is indexed by the poll itself


def test_items_stored_a_moment_ago_wait_for_their_batch_or_the_end_of_the_cycle(
    store: Store,
) -> None:
    """A search during a busy cycle does not wait for the writers: items stored less than
    FTS_LAG ago may be missing until their batch, or the cycle's end (index_pending)."""
    fresh = Record(make_item(id="fresh", link=None, title="Drone just stored"))
    store.save_poll("A", [fresh], now=datetime.now(UTC))
    assert store.search("drone") == []
    store.index_pending()
    assert [s.title for s in store.search("drone")] == ["Drone just stored"]


def test_a_poll_indexes_items_that_have_waited_longer_than_the_lag(store: Store) -> None:
    """Polls arriving one by one (the scheduler's way) index within FTS_LAG, not only every
    FTS_BATCH items, so searches seldom have to write."""
    store.save_poll("A", [Record(make_item(id="1", link=None, title="Drone"))], now=NOW)
    store.save_poll("A", [Record(make_item(id="2", link=None, title="Drone"))], now=NOW)
    assert indexed(store.path) == 0
    later = NOW + FTS_LAG + timedelta(seconds=1)
    store.save_poll("B", [Record(make_item(id="3", link=None, title="Drone"))], now=later)
    assert indexed(store.path) == 3


def test_a_store_it_cannot_write_is_searched_as_indexed(store: Store) -> None:
    store.save_poll("A", [Record(make_item(id="1", link=None, title="Drone one"))], now=NOW)
    assert [s.title for s in store.search("drone")] == ["Drone one"]
    store.save_poll("A", [Record(make_item(id="2", link=None, title="Drone two"))], now=NOW)
    store._db().conn.execute("PRAGMA query_only = ON")  # this thread's connection may not write
    assert [s.title for s in store.search("drone")] == ["Drone one"]


def test_a_database_from_before_deferred_indexing_keeps_its_index(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    before = MIGRATIONS.index(FTS_DEFERRED)
    for script in MIGRATIONS[:before]:  # the schema as the release before it left it
        for statement in _statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {before}")
    conn.execute(
        "INSERT INTO items (id, feed, guid, title, summary, published_at, seen_at, content_hash) "
        "VALUES (1, 'A', 'g', 'Old drone story', '', '2026-01-01', '2026-01-01', 'h')"
    )
    conn.execute("INSERT INTO items_fts (rowid, title, summary) VALUES (1, 'Old drone story', '')")
    conn.close()
    store = Store(db_path)
    assert [s.title for s in store.search("drone")] == ["Old drone story"]
    store.save_poll("A", [], [make_item(id="g", link=None, title="Old budget story")], now=NOW)
    assert store.search("drone") == []  # the update reached the index through the trigger
    assert [s.title for s in store.search("budget")] == ["Old budget story"]


def test_unseen_skips_known_guid_and_known_link_across_feeds(store: Store) -> None:
    first = make_item(id="g1", link="https://news.example/story")
    store.save_poll("A", [Record(first)], now=NOW)
    same_guid = make_item(id="g1", link="https://news.example/story")
    new_guid_same_link = make_item(id="g2", link="https://news.example/story")
    other_feed_same_link = make_item(id="other", link="https://news.example/story")
    fresh = make_item(id="g3", link="https://news.example/other")
    new, changed = store.unseen("A", [same_guid, new_guid_same_link, fresh])
    assert [i.id for i in new] == ["g3"]
    assert changed == []
    new_b, _ = store.unseen("B", [other_feed_same_link])
    assert new_b == []


def test_back_dated_item_with_new_id_is_new(store: Store) -> None:
    store.save_poll("A", [Record(make_item(id="recent", link=None))], now=NOW)
    old = make_item(id="old", link=None, published=NOW - timedelta(days=30))
    new, _ = store.unseen("A", [old])
    assert [i.id for i in new] == ["old"]


def test_duplicates_within_one_poll_are_stored_once(store: Store) -> None:
    a = make_item(id="x1", link="https://n.example/s")
    b = make_item(id="x2", link="https://n.example/s")
    new, _ = store.unseen("A", [a, b, a])
    assert [i.id for i in new] == ["x1"]


def test_changed_item_is_updated_without_realert(store: Store) -> None:
    item = make_item(id="g1", title="Old title")
    store.save_poll("A", [Record(item, destinations=("terminal",))], now=NOW)
    edited = make_item(id="g1", title="New title about Pentagon")
    new, changed = store.unseen("A", [edited])
    assert new == [] and [i.title for i in changed] == ["New title about Pentagon"]
    result = store.save_poll("A", [], changed, now=NOW)
    assert result.updated == 1 and result.deliveries == 0
    assert [s.title for s in store.search("New title")] == ["New title about Pentagon"]
    assert store.search("Old") == []


def test_unchanged_reseen_item_costs_no_write(store: Store) -> None:
    item = make_item(id="g1")
    store.save_poll("A", [Record(item)], now=NOW)
    assert store.unseen("A", [make_item(id="g1")]) == ([], [])


def test_save_poll_writes_item_matches_deadlines_and_outbox_together(store: Store) -> None:
    match = EntityMatch("Department of Defense", (Hit("title", 0, 8, "Pentagon"),))
    deadline = Deadline(date(2026, 2, 27), "The company has until Friday.")
    record = Record(make_item(), (match,), (deadline,), ("terminal", "terminal"))
    result = store.save_poll("A", [record], now=NOW, etag='"e1"', last_modified="lm")
    assert (result.new, result.deliveries) == (1, 1)
    [delivery] = store.pending_deliveries(now=NOW)
    assert delivery.destination == "terminal"
    assert delivery.alert.matches == (match,)
    assert delivery.alert.deadlines == (deadline,)
    assert delivery.alert.item.title == record.item.title
    state = store.feed_state("A")
    assert state is not None and state.etag == '"e1"' and state.first_polled_at == NOW


def test_failed_save_leaves_no_trace(store: Store) -> None:
    bad = Record(make_item(id="g1"), (EntityMatch("X", ()), EntityMatch("X", ())))
    with pytest.raises(sqlite3.IntegrityError):
        store.save_poll("A", [bad], now=NOW)
    assert store.count_items() == 0
    assert store.pending_deliveries(now=NOW) == []


def test_a_failed_commit_is_rolled_back_and_the_next_write_proceeds(store: Store) -> None:
    def orphan_match() -> None:
        with store._write() as conn:
            conn.execute("PRAGMA defer_foreign_keys = ON")  # checked at COMMIT, which then fails
            conn.execute("INSERT INTO matches (item_id, entity, hits) VALUES (999, 'X', '[]')")

    with pytest.raises(sqlite3.IntegrityError):
        orphan_match()
    record = Record(make_item(id="g2"))
    assert store.save_poll("A", [record], now=NOW).new == 1  # not "database is locked"
    assert store.count_items() == 1


def test_outbox_sent_failed_and_dead(store: Store) -> None:
    store.save_poll("A", [Record(make_item(), destinations=("terminal",))], now=NOW)
    [delivery] = store.pending_deliveries(now=NOW)
    store.mark_failed(delivery.id, "timeout", retry_at=NOW + timedelta(minutes=1), now=NOW)
    assert store.pending_deliveries(now=NOW) == []
    [again] = store.pending_deliveries(now=NOW + timedelta(minutes=2))
    assert again.attempts == 1
    store.mark_failed(again.id, "gone", retry_at=None, now=NOW)
    assert store.outbox_counts() == {"dead": 1}


def test_feed_url_change_resets_state(store: Store) -> None:
    store.record_success("A", now=NOW, etag='"x"', last_modified=None)
    store.record_failure("A", "boom", now=NOW, disabled_reason="gone")
    state = store.sync_feed("A", "https://a.example/new-feed")
    assert state.url == "https://a.example/new-feed"
    assert state.etag is None and state.disabled_reason is None and state.failures == 0


def test_moved_feed_keeps_polled_url(store: Store) -> None:
    store.move_feed("A", "https://a.example/moved")
    state = store.sync_feed("A", "https://a.example/feed")
    assert state.url == "https://a.example/moved"


def _seed_search(store: Store) -> None:
    records = [
        Record(
            make_item(id="1", link=None, title="Defense Production Act invoked", published=NOW),
            (EntityMatch("Defense Production Act", ()),),
        ),
        Record(
            make_item(id="2", link=None, title="Anthropic supply chain risk", published=NOW),
            (EntityMatch("Anthropic", ()),),
        ),
        Record(
            make_item(
                id="3", link=None, title="Old Anthropic news", published=NOW - timedelta(days=40)
            ),
            (EntityMatch("Anthropic", ()),),
        ),
    ]
    store.save_poll("A", records, now=NOW)


def test_search_filters_by_entity_and_since(store: Store) -> None:
    _seed_search(store)
    assert [s.title for s in store.search("Anthropic")] == [
        "Anthropic supply chain risk",
        "Old Anthropic news",
    ]
    assert [s.title for s in store.search("anthropic", since=NOW - timedelta(days=7))] == [
        "Anthropic supply chain risk"
    ]
    assert [s.title for s in store.search("invoked", entity="defense production act")] == [
        "Defense Production Act invoked"
    ]
    assert [s.title for s in store.search('"supply chain"')] == ["Anthropic supply chain risk"]
    assert [s.title for s in store.search("Anthr*")][0] == "Anthropic supply chain risk"


@pytest.mark.parametrize(
    "text",
    [
        '"',
        '"unbalanced',
        "NEAR(",
        "NEAR(a b",
        "a OR",
        "AND",
        "(",
        ")",
        "*",
        "a*b*",
        "-",
        "title:foo",
        "^x",
        "' OR 1=1 --",
        "\x00",
        "",
        "   ",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "a" * 5000,
    ],
)
def test_search_never_raises_on_hostile_text(store: Store, text: str) -> None:
    _seed_search(store)
    assert isinstance(store.search(text), list)


def test_fts_query_quotes_everything() -> None:
    assert fts_query('NEAR(xx "a b" yy* zz* zzz*') == '"a b" "NEAR" "xx" "yy" "zz" "zzz"*'
    assert fts_query("---") is None


def test_latest_is_matched_items_newest_first(store: Store) -> None:
    _seed_search(store)
    store.save_poll("A", [Record(make_item(id="9", link=None, title="unmatched"))], now=NOW)
    assert [s.title for s in store.latest(limit=5)][-1] == "Old Anthropic news"
    assert all(s.entities for s in store.latest(limit=5))
    assert [s.title for s in store.latest(entity="ANTHROPIC", limit=1)] == [
        "Anthropic supply chain risk"
    ]


def test_store_survives_reopen(db_path: Path) -> None:
    s = Store(db_path)
    s.sync_feed("A", "https://a.example/feed")
    s.save_poll("A", [Record(make_item(id="g1"))], now=NOW)
    s.close()
    again = Store(db_path)
    assert again.unseen("A", [make_item(id="g1")]) == ([], [])


def test_same_link_from_two_feeds_racing_is_stored_once(store: Store) -> None:
    story_a = make_item(id="a", link="https://n.example/shared")
    story_b = make_item(id="b", link="https://n.example/shared")
    new_a, _ = store.unseen("A", [story_a])
    new_b, _ = store.unseen("B", [story_b])  # both polls saw it as new before either wrote
    first = store.save_poll("A", [Record(new_a[0], destinations=("slack:C1",))], now=NOW)
    second = store.save_poll("B", [Record(new_b[0], destinations=("slack:C1",))], now=NOW)
    assert (first.new, second.new) == (1, 0)
    assert store.outbox_counts() == {"pending": 1}


def test_connections_of_finished_threads_are_closed(store: Store) -> None:
    import threading

    def use() -> None:
        store.count_items()

    for _ in range(20):
        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
    assert store.connection_count() <= 2


def test_url_change_polls_the_new_url_as_a_first_poll(store: Store) -> None:
    store.save_poll("A", [], now=NOW)
    assert store.sync_feed("A", "https://a.example/feed").first_polled_at == NOW
    assert store.sync_feed("A", "https://a.example/other").first_polled_at is None


def test_possessives_and_single_letters_do_not_narrow_a_search(store: Store) -> None:
    _seed_search(store)
    assert fts_query("Anthropic's risk") == '"Anthropic" "risk"'
    assert fts_query("a") == '"a"'
    assert [s.title for s in store.search("Anthropic’s supply")] == ["Anthropic supply chain risk"]


def test_fts_index_stays_consistent_through_inserts_and_updates(store: Store) -> None:
    records = [
        Record(make_item(id=str(n), link=None, title=f"Pentagon item {n}")) for n in range(50)
    ]
    store.save_poll("A", records, now=NOW)
    store.save_poll("A", [], [make_item(id="7", link=None, title="Renamed story")], now=NOW)
    assert len(store.search("Pentagon", limit=100)) == 49  # indexes the 50 pending items
    assert [s.title for s in store.search("Renamed")] == ["Renamed story"]
    store.save_poll("A", [], [make_item(id="8", link=None, title="Renamed again")], now=NOW)
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO items_fts (items_fts) VALUES ('integrity-check')")  # raises if not
    conn.close()
    assert [s.title for s in store.search("again")] == ["Renamed again"]


def segments(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(DISTINCT segid) FROM items_fts_idx").fetchone()[0])


def test_tidy_index_merges_segments_and_searches_find_the_same(store: Store) -> None:
    """Each FTS batch writes a segment; tidy_index merges them, and changes no result."""
    for batch in range(12):
        records = [
            Record(make_item(id=f"{batch}-{k}", link=None, title=f"Drone {k % 7} budget {batch}"))
            for k in range(40)
        ]
        store.save_poll("A", records, now=NOW)
        store.index_pending()  # a segment per batch, as polls far apart write them
    before = {q: store.search(q, limit=500) for q in ("drone", '"budget 3"', "budget 1*")}
    assert segments(store.path) >= 4
    assert store.tidy_index(budget=30) > 0
    assert segments(store.path) == 1  # twelve batches: every level merged into the next
    assert store.tidy_index() == 0  # nothing left to merge
    assert {q: store.search(q, limit=500) for q in before} == before
    assert len(before["drone"]) == 480
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO items_fts (items_fts) VALUES ('integrity-check')")  # raises if not
    conn.close()


def test_tidy_index_stops_at_its_budget(store: Store) -> None:
    for batch in range(6):
        store.save_poll("A", [Record(make_item(id=str(batch), link=None))], now=NOW)
        store.index_pending()
    assert store.tidy_index(budget=0) == 0
    assert segments(store.path) == 6


_REFERENCE = (
    "SELECT items_fts.rowid FROM items_fts JOIN items ON items.id = items_fts.rowid "
    "WHERE items_fts MATCH :query AND items.published_at >= :since AND EXISTS "
    "(SELECT 1 FROM matches WHERE item_id = items_fts.rowid AND entity = :entity COLLATE NOCASE) "
    "ORDER BY items_fts.rowid DESC LIMIT :window"
)


def _reference(
    store: Store, text: str, entity: str, since: datetime | None, limit: int
) -> list[int]:
    """Entity search by its definition, as the whole-index walk did it: the newest
    max(5 × limit, 50) hits the entity matched, then the newest published."""
    conn = sqlite3.connect(store.path)
    params = {
        "query": fts_query(text),
        "since": iso(since) if since else "",
        "entity": entity,
        "window": max(5 * limit, 50),
    }
    found = [store.item(row[0]) for row in conn.execute(_REFERENCE, params)]
    conn.close()
    ordered = sorted((i for i in found if i), key=lambda i: (i.published, i.key), reverse=True)
    return [i.key for i in ordered[:limit]]


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """10,000 items, three rowid ranges of an entity search: "contract" in every item,
    "national" and "security" in many but the phrase in three; Anthropic in 1 item of 700
    (looked up by rowid), DoD in 1 of 3 (scanned). Publication times jump around, so rowid
    order is not publication order."""
    store = Store(tmp_path_factory.mktemp("big") / "big.db")
    store.sync_feed("A", "https://a.example/feed")
    words = ["contract", "national", "security", "drone", "budget"]
    records = []
    for n in range(10_000):
        text = " ".join(words[(n + k) % 5] for k in range(n % 4 + 1))
        if n in (17, 5_000, 9_990):
            text += " national security"
        item = make_item(
            id=str(n),
            link=None,
            title=f"Item {n}",
            summary=f"{text} contract",
            published=NOW - timedelta(hours=(n * 37) % 500),
        )
        matches = [
            EntityMatch(e, ()) for e, every in (("Anthropic", 700), ("DoD", 3)) if not n % every
        ]
        records.append(Record(item, tuple(matches)))
    for start in range(0, len(records), 1000):
        store.save_poll("A", records[start : start + 1000], now=NOW)
    return store


@pytest.mark.parametrize(
    "text", ["contract", "drone budget", '"national security"', "secur*", "none"]
)
@pytest.mark.parametrize("entity", ["Anthropic", "dod", "nobody"])
@pytest.mark.parametrize("since", [None, NOW - timedelta(hours=100)])
@pytest.mark.parametrize("limit", [3, 11])
def test_entity_search_equals_the_whole_index_walk(
    big_store: Store, text: str, entity: str, since: datetime | None, limit: int
) -> None:
    found = big_store.search(text, entity=entity, since=since, limit=limit)
    assert [s.key for s in found] == _reference(big_store, text, entity, since, limit)


def test_entity_search_finds_a_rare_entity_under_a_common_word(big_store: Store) -> None:
    found = big_store.search("contract", entity="anthropic", limit=20)
    assert len(found) == 15  # every Anthropic item, though "contract" is in all 10,000
    assert big_store.search('"national security"', entity="Anthropic") == []


@pytest.mark.parametrize(
    "text", ['"national security"', '"drone budget"', '"budget contract" drone', '"no such"']
)
@pytest.mark.parametrize("limit", [3, 11])
def test_phrase_search_returns_the_newest_hits(big_store: Store, text: str, limit: int) -> None:
    """Read forwards or backwards, a phrase search finds what newest-first would."""
    conn = sqlite3.connect(big_store.path)
    newest = conn.execute(
        "SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
        (fts_query(text), max(5 * limit, 50)),
    ).fetchall()
    conn.close()
    expected = sorted(
        (i for i in (big_store.item(row[0]) for row in newest) if i),
        key=lambda i: (i.published, i.key),
        reverse=True,
    )
    found = big_store.search(text, limit=limit)
    assert [s.key for s in found] == [i.key for i in expected[:limit]]
    assert text == '"no such"' or found


@pytest.mark.parametrize(
    "where",
    [
        (3,),  # one hit, in the older half
        (990,),  # one hit, in the newer half
        (500, 501),  # at the split
        (100, 200, 300, 700),  # fewer older hits than needed
        (*range(1, 400, 50), 700),  # more older hits than needed
        (100, 200, 300, 400, 700, 800),  # more older hits than needed, all of them read
        tuple(range(1, 400, 7)),  # many, all older
        tuple(range(600, 1000, 7)),  # many, all newer
        (*range(1, 400, 5), 700, 800),  # a few newer, many older
        tuple(range(1, 1001, 3)),  # many in both
        (),
    ],
)
@pytest.mark.parametrize("want", [1, 5, 55])
def test_a_phrase_read_in_two_halves_finds_the_newest_hits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: tuple[int, ...], want: int
) -> None:
    import bot.store

    monkeypatch.setattr(bot.store, "PHRASE_SPLIT", 0)  # a small index is split as a big one
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)  # 2 cores
    store = Store(tmp_path / "halves.db")
    store.sync_feed("A", "https://a.example/feed")
    records = [
        Record(
            make_item(
                id=str(n),
                link=None,
                summary="alpha beta gamma" if n in where else "beta alpha gamma alpha",
            )
        )
        for n in range(1, 1001)
    ]
    store.save_poll("A", records, now=NOW)
    store.index_pending()
    with closing(sqlite3.connect(store.path)) as conn:
        newest = conn.execute(
            "SELECT rowid FROM items_fts WHERE items_fts MATCH '\"alpha beta\"' "
            "ORDER BY rowid DESC LIMIT ?",
            (want,),
        ).fetchall()
    try:
        assert store._keys_of_phrase('"alpha beta"', want) == [row[0] for row in newest]
        assert len(newest) == min(want, len(where))
        assert store.connection_count() == 2  # the helper read the older half
    finally:
        store.close()
    assert store._helper is None


def test_entity_search_tests_plain_words_as_fts5_would(tmp_path: Path) -> None:
    """A common word, a rare entity: each entity item is tested in Python or looked up in
    FTS5; either way the result is the whole-index walk's, and unindexed items stay out."""
    store = Store(tmp_path / "plain.db")
    store.sync_feed("A", "https://a.example/feed")
    summaries = [
        "An award for the lab",
        "Awards season",  # not the word
        "AWARD_notice",  # "_" separates: the word
        "Résumé of the award",  # a folded letter: FTS5 decides
        "re\u0301sume\u0301 with no such word",
        "The award—again",
        "sub-award",
        "An award🤖",  # newer than SQLite's Unicode tables: one token "award🤖"
        "\u2068award\u2069",  # bidi isolates: part of the token too
    ]
    records = []
    for n in range(12_000):
        rare = n % 400 == 0  # rare enough that its items are tested one by one
        summary = summaries[(n // 400) % len(summaries)] if rare else f"award number {n}"
        matches = (EntityMatch("Rare", ()),) if rare else ()
        item = make_item(id=str(n), link=None, title=f"Item {n}", summary=summary)
        records.append(Record(item, matches))
    store.save_poll("A", records, now=NOW)
    store.index_pending()
    just_stored = [
        Record(make_item(id=f"new{n}", link=None, summary="award"), (EntityMatch("Rare", ()),))
        for n in range(3)
    ]
    store.save_poll("A", just_stored, now=datetime.now(UTC))  # not indexed for FTS_LAG
    for limit in (3, 11, 30):
        found = [s.key for s in store.search("award", entity="rare", limit=limit)]
        assert found == _reference(store, "award", "rare", None, limit)
    assert len(store.search("award", entity="Rare", limit=60)) == 17  # 5 of 9 summaries
