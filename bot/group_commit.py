"""Group commit: concurrent writers share one transaction, each inside its own savepoint.

SQLite pays per transaction, and FTS5 flushes its pending index at every COMMIT: with one commit
per poll, a cycle of small polls stores about 8k items/s here; one commit for eight polls about
12k. The first writer to arrive leads: it takes every request queued behind it, runs each in a
SAVEPOINT (a request that raises is rolled back alone and gets its error), commits once and
wakes the others. There is no extra thread, and a writer that finds no one ahead commits at once.

Atomicity per request is unchanged: each request is all or nothing, and nothing of a batch is
stored unless its COMMIT succeeds (then every request in it gets that error).
"""

from __future__ import annotations

import copy
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")


class _Request(Generic[T]):
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], T]) -> None:
        self.work = work
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """Runs ``work(conn)`` calls from many threads in as few transactions as possible."""

    def __init__(
        self, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    ) -> None:
        self._transaction = transaction
        self._changed = threading.Condition()
        self._queue: list[_Request[Any]] = []
        self._leading = False

    def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a committed transaction (perhaps shared) and return its result."""
        request = _Request(work)
        with self._changed:
            self._queue.append(request)
            while self._leading and not request.done:
                self._changed.wait()
            lead = not request.done
            if lead:
                self._leading = True
                batch, self._queue = self._queue, []
        if lead:
            try:
                self._commit(batch)
            finally:
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()
        return request.outcome()

    def _commit(self, batch: list[_Request[Any]]) -> None:
        try:
            with self._transaction() as conn:
                for request in batch:
                    conn.execute("SAVEPOINT request")
                    try:
                        request.result = request.work(conn)
                    except Exception as error:
                        if not conn.in_transaction:
                            raise  # SQLite undid the whole transaction (I/O error, disk full)
                        conn.execute("ROLLBACK TO request")
                        request.error = error
                    conn.execute("RELEASE request")
        except BaseException as error:  # the whole batch is undone
            for request in batch:
                # A copy each: threads raising one object would splice their tracebacks.
                request.error, request.result = copy.copy(error), None
                request.error.__cause__ = error.__cause__
            raise
        finally:
            for request in batch:
                request.done = True
