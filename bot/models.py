"""Frozen data carriers passed between the pipeline's stages.

config → (Feed, Entity) · fetcher → FetchResult · parser → ParsedFeed[Item] ·
matcher → EntityMatch[Hit] · deadlines → Deadline · pipeline → Alert → notifiers.
All datetimes are aware and in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time


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
class Route:
    """Where alerts go: a Slack channel and/or a Discord webhook, with optional filters."""

    name: str
    slack: str | None = None  # channel ID
    discord: str | None = None  # webhook URL, always from an environment variable
    entities: tuple[str, ...] = ()  # only items matching one of these canonical names
    feeds: tuple[str, ...] = ()  # only items from these feeds
    deadlines_only: bool = False  # only items that state a deadline


@dataclass(frozen=True, slots=True)
class Admins:
    """Who may edit feeds and the watchlist from chat, and where admin notices go."""

    slack: tuple[str, ...] = ()  # user IDs
    discord: tuple[str, ...] = ()  # user or role IDs
    notify_slack: str | None = None  # channel ID for notices (dead letters, failing feeds)
    notify_discord: str | None = None  # webhook URL for notices


@dataclass(frozen=True, slots=True)
class Reminders:
    """When deadline reminders go out: ``before`` each deadline's moment, which is ``at``
    (local time in ``timezone``) on the deadline's date. ``0`` means the morning of the day."""

    before: tuple[float, ...] = (86400.0, 0.0)  # seconds
    at: time = time(8, 0)
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Digest:
    """The daily digest: at ``at`` local time in ``timezone``, the last day's matched items
    grouped by entity and the deadlines of the next ``days_ahead`` days."""

    enabled: bool = True
    at: time = time(8, 0)
    timezone: str = "UTC"
    days_ahead: int = 7


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
class Entry:
    """One line of a reply or notice: text (untrusted: renderers escape it), an optional link,
    and an optional detail line shown under it."""

    text: str
    url: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """A message that is not an item alert: a deadline reminder, a digest, an admin notice."""

    kind: str  # "reminder", "digest" or "notice"
    title: str
    entries: tuple[Entry, ...] = ()
    thread: str | None = None  # the platform message id to reply under, where threads exist


@dataclass(frozen=True, slots=True)
class PendingNotice:
    """A queued notice for one destination."""

    id: int
    destination: str
    attempts: int
    notice: Notice


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
    seen: datetime | None = None  # when Redline first stored it


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
    failing_since: datetime | None = None  # first failure of the current streak
    failure_notified: bool = False  # the admins were told about this streak
