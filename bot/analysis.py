"""The CPU-bound part of a poll: parse a fetched body, match its items, find their deadlines.

It is a pure function of (body, watchlist, time), so with a worker pool it runs in the worker
processes and the polling process keeps only fetching and storing (SQLite releases the GIL;
Python matching would not). A worker compiles the watchlist once per configuration: tasks carry
a key, and the pickled entities only when the worker answers that it does not have that key.
"""

from __future__ import annotations

import hashlib
import pickle
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

from bot.deadlines import item_deadlines
from bot.matcher import Watchlist, compile_watchlist, match_item
from bot.models import Deadline, Entity, EntityMatch, ParsedFeed
from bot.parser import parse_feed

__all__ = ["Analysed", "Rules", "analyse", "analyse_in"]

Finding = tuple[tuple[EntityMatch, ...], tuple[Deadline, ...]]


@dataclass(frozen=True, slots=True)
class Analysed:
    """A parsed feed and, per item id (first occurrence wins), its matches and deadlines."""

    feed: ParsedFeed
    findings: dict[str, Finding]


@dataclass(frozen=True, slots=True)
class Rules:
    """A compiled watchlist and how to rebuild it elsewhere: its key and pickled entities."""

    watchlist: Watchlist
    key: str
    blob: bytes

    @classmethod
    def of(cls, entities: tuple[Entity, ...]) -> Rules:
        blob = pickle.dumps(entities, protocol=pickle.HIGHEST_PROTOCOL)
        key = hashlib.sha256(blob).hexdigest()
        return cls(compile_watchlist(entities), key, blob)


def analyse(body: bytes, content_type: str | None, watchlist: Watchlist, now: datetime) -> Analysed:
    """Parse, then match every item; deadlines only for items that matched (nobody is alerted
    about the others). Raises ParseError when the bytes are not a feed."""
    feed = parse_feed(body, content_type=content_type)
    findings: dict[str, Finding] = {}
    for item in feed.items:
        if item.id not in findings:
            matches = match_item(watchlist, item)
            deadlines = item_deadlines(item, item.published or now) if matches else ()
            findings[item.id] = (matches, deadlines)
    return Analysed(feed, findings)


def analyse_in(
    pool: Executor, body: bytes, content_type: str | None, rules: Rules, now: datetime
) -> Analysed:
    """``analyse`` in a worker of ``pool``; the entities travel only to a worker lacking them."""
    done = pool.submit(_in_worker, body, content_type, rules.key, None, now).result()
    if done is None:
        done = pool.submit(_in_worker, body, content_type, rules.key, rules.blob, now).result()
    if done is None:  # pragma: no cover - a worker given the blob always compiles it
        raise RuntimeError("worker refused a watchlist it was sent")
    return done


# One watchlist per worker process: the latest configuration's.
_worker_rules: tuple[str, Watchlist] | None = None


def _in_worker(
    body: bytes, content_type: str | None, key: str, blob: bytes | None, now: datetime
) -> Analysed | None:
    """Runs in a worker: None asks the parent to resend with the pickled entities."""
    global _worker_rules
    if _worker_rules is None or _worker_rules[0] != key:
        if blob is None:
            return None
        # The blob comes from our own parent process through the pool's pipe, never from outside.
        entities = pickle.loads(blob)  # noqa: S301
        _worker_rules = (key, compile_watchlist(entities))
    return analyse(body, content_type, _worker_rules[1], now)
