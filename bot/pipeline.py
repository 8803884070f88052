"""poll_feed(): the only place that knows the order of the stages.

fetch → analyse (parse, match, deadlines; in a worker process when there is a pool) →
(new items only) route → store + outbox, in one transaction.
A feed that fails updates its own health and the cycle moves on; nothing here raises for bad
input. Delivery happens elsewhere (bot.delivery drains the outbox).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, CancelledError, Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot import metrics
from bot.analysis import Analysed, Rules, analyse, analyse_in
from bot.config import Settings
from bot.deadlines import item_deadlines
from bot.errors import FetchError, ParseError
from bot.fetcher import Fetcher
from bot.matcher import compile_watchlist, match_item
from bot.models import (
    Deadline,
    EntityMatch,
    Entry,
    Feed,
    FeedState,
    FetchResult,
    Item,
    Notice,
    Record,
)
from bot.parser import parse_feed
from bot.store import Store
from bot.workers import build_parse_pool

log = logging.getLogger(__name__)

MAX_BACKOFF = 24 * 3600.0  # a failing feed is retried at least daily, never frozen
SHARED_FETCH_TTL = 30.0  # seconds a fetch answers other feeds polling the same URL

# Decides where an alert goes: (feed name, matches, deadlines) → destinations.
Router = Callable[[str, tuple[EntityMatch, ...], tuple[Deadline, ...]], tuple[str, ...]]


def terminal_only(
    feed: str, matches: tuple[EntityMatch, ...], deadlines: tuple[Deadline, ...]
) -> tuple[str, ...]:
    """The router used when no chat routes are configured: every alert to the terminal."""
    return ("terminal",)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one feed's poll did, for logs, exit codes and status."""

    feed: str
    status: str  # "ok", "not_modified", "failed", "skipped"
    new: int = 0
    alerts: int = 0
    error: str | None = None


class Poller:
    """Polls feeds into the store. Safe to call from several threads at once."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        *,
        router: Callable[[Settings], Router] = lambda settings: terminal_only,
        on_alert: Callable[[], None] | None = None,
        admin_destinations: Callable[[], tuple[str, ...]] = tuple,
        parse_pool: Executor | None = None,
    ) -> None:
        self.store = store
        self._parse_pool = parse_pool
        self.stopping = False  # set at shutdown: failures of polls cut short are not recorded
        self.fetcher = fetcher
        self._build_router = router
        self._on_alert = on_alert
        self._admin_destinations = admin_destinations
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._recent: dict[
            tuple[str, str | None, str | None], tuple[float, FetchResult, set[str]]
        ] = {}
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Swap in a new configuration (hot reload); polls in flight finish with the old one."""
        rules = Rules.of(settings.entities)
        urls = Counter(feed.url for feed in settings.feeds if feed.enabled)
        self._shared_urls = frozenset(url for url, count in urls.items() if count > 1)
        self._rules: tuple[Settings, Rules, Router] = (
            settings,
            rules,
            self._build_router(settings),
        )

    @property
    def settings(self) -> Settings:
        return self._rules[0]

    def poll_all(self, *, now: datetime | None = None, workers: int = 8) -> list[PollOutcome]:
        """One cycle over every enabled feed, concurrently; outcomes in configuration order."""
        feeds = [feed for feed in self.settings.feeds if feed.enabled]
        if not feeds:
            return []
        with ThreadPoolExecutor(max_workers=min(workers, len(feeds))) as pool:
            outcomes = list(pool.map(lambda feed: self._poll_guarded(feed, now), feeds))
        try:
            self.store.index_pending()  # a finished cycle leaves nothing out of search
        except sqlite3.OperationalError as error:  # the next save or search catches up
            log.warning("search index not caught up after the cycle: %s", error)
        return outcomes

    def _poll_guarded(self, feed: Feed, now: datetime | None) -> PollOutcome:
        """One feed of a cycle: an unexpected error (a bug, a full disk) fails this feed, not
        the whole cycle, and is logged with its traceback."""
        try:
            return self.poll_feed(feed, now=now)
        except Exception as error:
            log.exception("poll crashed feed=%s", feed.name)
            return PollOutcome(feed.name, "failed", error=f"internal error: {error}")

    def poll_feed(self, feed: Feed, *, now: datetime | None = None) -> PollOutcome:
        """Poll one feed. Never two polls of one feed at once: a second caller skips."""
        lock = self._lock_for("feed:" + feed.name)
        if not lock.acquire(blocking=False):
            return PollOutcome(feed.name, "skipped", error="a poll of this feed is running")
        try:
            outcome = self._poll(feed, now or datetime.now(UTC))
        finally:
            lock.release()
        metrics.POLLS.labels(outcome.status).inc()
        return outcome

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _fetch(
        self, feed: str, url: str, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        """One request per URL per cycle, even when several feeds share a URL: another feed
        polling the same URL (with the same validators) within ``SHARED_FETCH_TTL`` reuses the
        answer, once. A feed never reuses an answer it has already had."""
        key = (url, etag, last_modified)
        if url not in self._shared_urls:
            return self.fetcher.fetch(url, etag=etag, last_modified=last_modified)
        with self._lock_for("url:" + url):
            cached = self._recent.get(key)
            if cached and time.monotonic() - cached[0] < SHARED_FETCH_TTL and feed not in cached[2]:
                cached[2].add(feed)
                return cached[1]
            result = self.fetcher.fetch(url, etag=etag, last_modified=last_modified)
            with self._locks_guard:
                horizon = time.monotonic() - SHARED_FETCH_TTL
                self._recent = {k: v for k, v in self._recent.items() if v[0] > horizon}
                self._recent[key] = (time.monotonic(), result, {feed})
            return result

    def _poll(self, feed: Feed, now: datetime) -> PollOutcome:
        _, rules, router = self._rules
        state = self.store.sync_feed(feed.name, feed.url)
        if state.disabled_reason:
            return PollOutcome(feed.name, "skipped", error=state.disabled_reason)
        if state.next_poll_at and state.next_poll_at > now:
            wait = f"next poll not before {state.next_poll_at:%Y-%m-%d %H:%M:%S} UTC"
            return PollOutcome(feed.name, "skipped", error=wait)
        try:
            result = self._fetch(feed.name, state.url, state.etag, state.last_modified)
        except FetchError as error:
            metrics.FETCHES.labels(metrics.status_class(error.status)).inc()
            return self._fail(feed, state, error, now)
        metrics.FETCHES.labels(metrics.status_class(result.status)).inc()
        if result.moved_to:
            log.warning(
                "feed moved permanently feed=%s old=%s new=%s (update feeds.yaml)",
                feed.name,
                state.url,
                result.moved_to,
            )
            self.store.move_feed(feed.name, result.moved_to)
        if result.not_modified or result.body is None:
            self.store.record_success(
                feed.name,
                now=now,
                etag=result.etag,
                last_modified=result.last_modified,
                next_poll_at=_not_before(result, None, now),
            )
            self._recovered(feed, state, now)
            return PollOutcome(feed.name, "not_modified")
        try:
            analysed = self._analyse(result.body, result.content_type, rules, now)
        except ParseError as error:
            return self._fail(feed, state, error, now)
        parsed = analysed.feed
        if parsed.error:
            log.info("feed is ill-formed but readable feed=%s error=%s", feed.name, parsed.error)
        new, changed = self.store.unseen(feed.name, parsed.items)
        first_poll = state.first_polled_at is None
        backfill = _newest(new, feed.backfill) if first_poll else None
        records = []
        for item in new:
            matches, deadlines = analysed.findings[item.id]
            alert = bool(matches) and (backfill is None or item.id in backfill)
            destinations = router(feed.name, matches, deadlines) if alert else ()
            records.append(Record(item, matches, deadlines, destinations))
        saved = self.store.save_poll(
            feed.name,
            records,
            changed,
            now=now,
            etag=result.etag,
            last_modified=result.last_modified,
            next_poll_at=_not_before(result, parsed.ttl, now),
        )
        self._recovered(feed, state, now)
        metrics.ITEMS_STORED.inc(saved.new)
        for record in records:
            for match in record.matches:
                metrics.MATCHES.labels(match.entity).inc()
        if saved.deliveries and self._on_alert is not None:
            self._on_alert()
        log.info(
            "feed polled feed=%s items=%d new=%d updated=%d alerts=%d",
            feed.name,
            len(parsed.items),
            saved.new,
            saved.updated,
            saved.deliveries,
        )
        return PollOutcome(feed.name, "ok", new=saved.new, alerts=saved.deliveries)

    def _analyse(
        self, body: bytes, content_type: str | None, rules: Rules, now: datetime
    ) -> Analysed:
        """Parsing and matching are pure Python and hold the GIL: with a process pool they run
        on the other cores while this thread's siblings fetch and store."""
        pool = self._parse_pool
        if pool is None:
            return analyse(body, content_type, rules.watchlist, now)
        try:
            return analyse_in(pool, body, content_type, rules, now)
        except (BrokenExecutor, CancelledError):  # CancelledError: another thread replaced it
            # A worker died (the OOM killer, a signal): parse here, and start a fresh pool.
            log.error("parse worker pool broke; restarting it")
            with self._locks_guard:
                if self._parse_pool is pool:
                    self._parse_pool = build_parse_pool()
                    pool.shutdown(wait=False, cancel_futures=True)
            return analyse(body, content_type, rules.watchlist, now)

    def _fail(
        self, feed: Feed, state: FeedState, error: FetchError | ParseError, now: datetime
    ) -> PollOutcome:
        """Record the failure, back off (interval × 2ⁿ up to a day, or longer if the server
        asked), and tell the admins once when the feed has failed for too long."""
        message = str(error)
        if self.stopping:
            return PollOutcome(feed.name, "skipped", error=f"stopping: {message}")
        status = error.status if isinstance(error, FetchError) else None
        retry_after = (error.retry_after if isinstance(error, FetchError) else None) or 0.0
        disabled = "gone (HTTP 410): remove the feed or change its URL" if status == 410 else None
        backoff = min(feed.interval * 2 ** min(state.failures, 20), MAX_BACKOFF)
        wait = max(backoff if state.failures else 0.0, retry_after)
        retry_at = now + timedelta(seconds=wait) if wait else None
        self.store.record_failure(
            feed.name, message, now=now, next_poll_at=retry_at, disabled_reason=disabled
        )
        log.warning(
            "feed failed feed=%s failures=%d error=%s", feed.name, state.failures + 1, message
        )
        since = state.failing_since or now
        if not state.failure_notified and now - since >= timedelta(
            seconds=self.settings.notify_failing_after
        ):
            notice = Notice(
                "notice",
                f"Feed {feed.name} has been failing since {since:%Y-%m-%d %H:%M} UTC",
                (Entry(f"last error: {message}", None, f"{state.failures + 1} failed polls"),),
            )
            self.store.queue_notice(
                notice, self._admin_destinations(), now=now, failing_feed=feed.name
            )
        return PollOutcome(feed.name, "failed", error=message)

    def _recovered(self, feed: Feed, state: FeedState, now: datetime) -> None:
        """After a reported failure streak, one notice that the feed works again."""
        if state.failure_notified:
            notice = Notice("notice", f"Feed {feed.name} has recovered")
            self.store.queue_notice(notice, self._admin_destinations(), now=now)


def _newest(items: Sequence[Item], count: int) -> set[str]:
    """Ids of the newest ``count`` items (undated items count as oldest, feed order breaks ties)."""
    if count <= 0:
        return set()
    floor = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(
        enumerate(items), key=lambda pair: (pair[1].published or floor, -pair[0]), reverse=True
    )
    return {item.id for _, item in ranked[:count]}


def _not_before(result: FetchResult, ttl: float | None, now: datetime) -> datetime | None:
    """The earliest next poll the server asked for (Retry-After on success, RSS <ttl>)."""
    waits = [w for w in (result.retry_after, ttl) if w]
    return now + timedelta(seconds=max(waits)) if waits else None


@dataclass(frozen=True, slots=True)
class Checked:
    """One item as `redline check` sees it: what would be matched and alerted."""

    item: Item
    matches: tuple[EntityMatch, ...]
    deadlines: tuple[Deadline, ...]

    @property
    def alert(self) -> bool:
        return bool(self.matches)


def check_feed(body: bytes, settings: Settings, *, now: datetime) -> list[Checked]:
    """Parse and match feed bytes against the watchlist without touching the store.

    Raises ParseError when the bytes are not a feed.
    """
    watchlist = compile_watchlist(settings.entities)
    checked = []
    for item in parse_feed(body).items:
        matches = match_item(watchlist, item)
        deadlines = item_deadlines(item, item.published or now)
        checked.append(Checked(item, matches, deadlines))
    return checked
