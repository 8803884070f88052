"""Group commit over a real SQLite file: shared commits, per-request savepoints, failed COMMITs."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.group_commit import GroupCommit


class Db:
    """A file with a table of rows and a deferred foreign key, and a count of transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.transactions = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        with sqlite3.connect(path) as conn:
            conn.executescript(
                "PRAGMA journal_mode = WAL;"
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                "CREATE TABLE rows (name TEXT PRIMARY KEY, parent INTEGER REFERENCES parent (id) "
                "DEFERRABLE INITIALLY DEFERRED);"
            )

    def conn(self) -> sqlite3.Connection:
        if not hasattr(self._local, "conn"):
            self._local.conn = sqlite3.connect(self.path, isolation_level=None)
            self._local.conn.execute("PRAGMA foreign_keys = ON")
        conn: sqlite3.Connection = self._local.conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn()
        with self._lock:
            self.transactions += 1
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT leaves the transaction open
                    conn.execute("ROLLBACK")
                raise

    def names(self) -> set[str]:
        with sqlite3.connect(self.path) as conn:
            return {row[0] for row in conn.execute("SELECT name FROM rows")}


@pytest.fixture
def db(tmp_path: Path) -> Db:
    return Db(tmp_path / "group.db")


def insert(name: str, parent: int | None = None) -> Callable[[sqlite3.Connection], str]:
    def work(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO rows (name, parent) VALUES (?, ?)", (name, parent))
        return name

    return work


def test_a_lone_writer_commits_at_once(db: Db) -> None:
    group = GroupCommit(db.transaction)
    assert group.run(insert("a")) == "a"
    assert db.names() == {"a"} and db.transactions == 1


def test_writers_queued_behind_a_leader_share_one_commit(db: Db) -> None:
    group = GroupCommit(db.transaction)
    queued = threading.Semaphore(0)
    results: dict[str, object] = {}

    def slow_leader(conn: sqlite3.Connection) -> str:
        for _ in range(7):  # hold the batch open until the seven others are waiting
            assert queued.acquire(timeout=5)
        time.sleep(0.05)
        conn.execute("INSERT INTO rows (name) VALUES ('leader')")
        return "leader"

    def follower(name: str) -> None:
        queued.release()
        results[name] = group.run(insert(name))

    leader = threading.Thread(target=lambda: results.update(leader=group.run(slow_leader)))
    leader.start()
    while db.transactions == 0:
        time.sleep(0.001)
    followers = [threading.Thread(target=follower, args=(f"f{n}",)) for n in range(7)]
    for thread in followers:
        thread.start()
    for thread in [leader, *followers]:
        thread.join(10)
    assert db.names() == {"leader", *(f"f{n}" for n in range(7))}
    assert results == {"leader": "leader", **{f"f{n}": f"f{n}" for n in range(7)}}
    assert db.transactions == 2  # the leader's, then one for all seven followers


Work = Callable[[sqlite3.Connection], object]


def batch_behind_a_leader(
    db: Db, group: GroupCommit, others: Mapping[str, Work]
) -> dict[str, BaseException]:
    """A leader inserts 'first' alone while ``others`` queue behind it as one batch; the
    errors each thread got, by name."""
    release = threading.Event()
    errors: dict[str, BaseException] = {}

    def leader(conn: sqlite3.Connection) -> None:
        release.wait(5)
        conn.execute("INSERT INTO rows (name) VALUES ('first')")

    def run(name: str, work: Work) -> None:
        try:
            group.run(work)
        except BaseException as error:
            errors[name] = error

    threads = [threading.Thread(target=run, args=("leader", leader))]
    threads[0].start()
    while db.transactions == 0:
        time.sleep(0.001)
    for name, work in others.items():
        threads.append(threading.Thread(target=run, args=(name, work)))
        threads[-1].start()
    time.sleep(0.1)
    release.set()
    for thread in threads:
        thread.join(10)
    return errors


def test_a_failing_request_is_rolled_back_alone(db: Db) -> None:
    def failing(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO rows (name) VALUES ('half')")
        raise ValueError("bad poll")

    group = GroupCommit(db.transaction)
    errors = batch_behind_a_leader(db, group, {"failing": failing, "last": insert("last")})
    assert db.names() == {"first", "last"}
    assert set(errors) == {"failing"} and str(errors["failing"]) == "bad poll"


def test_a_failed_commit_fails_every_request_and_stores_nothing(db: Db) -> None:
    group = GroupCommit(db.transaction)
    # A dangling deferred foreign key passes its savepoint but makes COMMIT fail.
    others = {"orphan": insert("orphan", parent=99), "fine": insert("fine")}
    errors = batch_behind_a_leader(db, group, others)
    assert db.names() == {"first"}  # the leader committed alone, before the others queued
    assert set(errors) == {"orphan", "fine"}
    assert all(isinstance(e, sqlite3.IntegrityError) for e in errors.values())
    assert errors["orphan"] is not errors["fine"]  # one object per thread: no spliced tracebacks
    assert group.run(insert("after")) == "after"
    assert db.names() == {"first", "after"}
