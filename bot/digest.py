"""The daily digest: the last day's matched items grouped by entity, most-mentioned first, with
counts, and the deadlines of the next days. One per destination per local day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.errors import NotifyError
from bot.models import Entry, Notice, Route, StoredItem
from bot.notifiers import Notifiers
from bot.routing import destinations_of
from bot.store import Store

log = logging.getLogger(__name__)

PER_ENTITY = 5  # headlines listed under each entity


def build_digest(
    store: Store,
    *,
    now: datetime,
    since: timedelta = timedelta(hours=24),
    days_ahead: int = 7,
    route: Route | None = None,
    today: date | None = None,
) -> Notice | None:
    """The digest for one route (all items without one); None when there is nothing to say."""
    items = [i for i in store.matched_since(now - since) if _wanted(i, route)]
    by_entity: dict[str, list[StoredItem]] = defaultdict(list)
    for item in items:
        for entity in item.entities:
            if route is None or not route.entities or _casefold_in(entity, route.entities):
                by_entity[entity].append(item)
    today = today or now.date()  # the reader's date: deadlines before it have passed
    deadlines = [
        g
        for g in store.upcoming_deadlines(today, today + timedelta(days=days_ahead))
        if route is None
        or not route.entities
        or any(_casefold_in(e, route.entities) for e in g.entities)
    ]
    if not by_entity and not deadlines:
        return None
    entries: list[Entry] = []
    ranked = sorted(by_entity.items(), key=lambda pair: (-len(pair[1]), pair[0].casefold()))
    for entity, found in ranked:
        entries.append(Entry(f"{entity}: {len(found)} item{'s' if len(found) != 1 else ''}"))
        entries += [Entry(f"· {i.title}", i.link, i.feed) for i in found[:PER_ENTITY]]
        if len(found) > PER_ENTITY:
            entries.append(Entry(f"· and {len(found) - PER_ENTITY} more"))
    if deadlines:
        entries.append(Entry(f"Deadlines in the next {days_ahead} days: {len(deadlines)}"))
        for group in deadlines:
            who = ", ".join(group.entities)
            first = group.sources[0]
            entries.append(Entry(f"· {group.date:%a %b %d}: {who}", first.link, group.text))
    hours = round(since.total_seconds() / 3600)
    title = f"Redline digest: {len(items)} matched items in the last {hours} h"
    return Notice("digest", title, tuple(entries))


class Digester:
    """Sends each destination its digest once per local day, at or after ``digest.at``."""

    def __init__(self, store: Store, notifiers: Notifiers) -> None:
        self.store = store
        self.notifiers = notifiers

    def run(self, settings: Settings, *, now: datetime | None = None) -> int:
        policy = settings.digest
        now = now or datetime.now(UTC)
        local = now.astimezone(ZoneInfo(policy.timezone))
        if not policy.enabled or local.time() < policy.at:
            return 0
        sent = 0
        for destination, route in self._destinations(settings):
            if self.store.digest_sent(destination, local.date()):
                continue
            notice = build_digest(
                self.store, now=now, days_ahead=policy.days_ahead, route=route, today=local.date()
            )
            notifier = self.notifiers.for_destination(destination)
            if notice is not None and notifier is not None:
                try:
                    notifier.post(notice, destination)
                except NotifyError as error:
                    log.warning("digest failed destination=%s error=%s", destination, error)
                    continue  # retried on the next run
                sent += 1
            self.store.claim_digest(destination, local.date(), now=now)
        return sent

    def _destinations(self, settings: Settings) -> list[tuple[str, Route | None]]:
        platforms: Collection[str] = self.notifiers.prefixes
        found: dict[str, Route | None] = {}
        for route in settings.routes:
            for destination in destinations_of(route, platforms):
                found.setdefault(destination, route)
        if not found and "terminal" in platforms:
            found["terminal"] = None
        return list(found.items())


def _wanted(item: StoredItem, route: Route | None) -> bool:
    if route is None:
        return True
    if route.feeds and not _casefold_in(item.feed, route.feeds):
        return False
    return not route.entities or any(_casefold_in(e, route.entities) for e in item.entities)


def _casefold_in(value: str, names: Collection[str]) -> bool:
    return value.casefold() in {n.casefold() for n in names}
