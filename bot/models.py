"""Frozen data carriers passed between the pipeline's stages.

config → (Feed, Entity) · fetcher → FetchResult · parser → ParsedFeed[Item] ·
matcher → EntityMatch[Hit] · deadlines → Deadline · pipeline → Alert → notifiers.
All datetimes are aware and in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Feed:
    """One configured feed."""

    name: str
    url: str
    interval: float  # seconds
    enabled: bool = True
    tags: tuple[str, ...] = ()
    backfill: int = 0  # on the first poll, alert on the newest N items instead of none


@dataclass(frozen=True, slots=True)
class Entity:
    """One watched entity: a canonical name and the phrases that mean it."""

    name: str
    aliases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    case_sensitive: bool = False

    @property
    def terms(self) -> tuple[str, ...]:
        """The canonical name followed by its aliases: every phrase that counts as a mention."""
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a conditional GET produced. ``body`` is None on 304 Not Modified."""

    url: str  # the URL finally fetched, after redirects
    status: int
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # set when a permanent redirect (301/308) changed the feed's URL
    retry_after: float | None = None  # seconds the server asked us to wait, if any
    elapsed: float = 0.0
    content_type: str | None = None  # the Content-Type header: feedparser reads its charset

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class Item:
    """One normalised feed entry. Text fields are plain text, capped in length."""

    id: str  # feed guid, else canonical link, else a hash of title and date
    title: str
    link: str | None = None  # canonical: no fragment, no tracking parameters
    summary: str = ""
    content: str = ""  # full text when the feed carries more than the summary
    published: datetime | None = None  # published, else updated; None when the feed gives neither
    author: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """An item list plus what went wrong, if anything (feedparser's ``bozo`` in words)."""

    title: str
    items: tuple[Item, ...]
    error: str | None = None  # a recoverable problem; items may still be present
    ttl: float | None = None  # RSS <ttl> in seconds


@dataclass(frozen=True, slots=True)
class Hit:
    """One matched phrase: ``text[start:end]`` of the item's ``field`` equals what matched."""

    field: str  # "title", "summary" or "content"
    start: int
    end: int
    term: str  # the configured alias (or canonical name) that matched


@dataclass(frozen=True, slots=True)
class EntityMatch:
    """A canonical entity found in an item, with every hit that counted."""

    entity: str
    hits: tuple[Hit, ...]


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline stated by an item, resolved to a UTC calendar date, with its evidence."""

    date: date
    text: str  # the sentence it came from


@dataclass(frozen=True, slots=True)
class Alert:
    """A matched new item on its way to the notifiers."""

    feed: str
    item: Item
    matches: tuple[EntityMatch, ...]
    deadlines: tuple[Deadline, ...] = ()
    item_key: int | None = None  # the store's row id, once stored

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(sorted(m.entity for m in self.matches))


@dataclass(frozen=True, slots=True)
class Record:
    """A new item with what matching found, ready to store in one transaction."""

    item: Item
    matches: tuple[EntityMatch, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    destinations: tuple[str, ...] = ()  # where to alert ("terminal", "slack:C0123"); () = silent


@dataclass(frozen=True, slots=True)
class Delivery:
    """One pending outbox row: an alert for one destination."""

    id: int
    destination: str
    attempts: int
    alert: Alert


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as queries return it."""

    key: int
    feed: str
    title: str
    link: str | None
    summary: str
    published: datetime
    entities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    first_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0
    next_poll_at: datetime | None = None
    disabled_reason: str | None = None
