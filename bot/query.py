"""Read-only use cases behind the chat commands and the CLI: search, latest, deadlines, why,
feeds, status. Each returns plain data; commands.py turns it into a reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot import __version__
from bot.config import Settings
from bot.matcher import Explanation, compile_watchlist, explain
from bot.models import Deadline, FeedState, StoredItem
from bot.store import DeadlineGroup, Store

NextPolls = Callable[[], dict[str, datetime | None]]


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One configured feed as `feeds` shows it."""

    name: str
    url: str
    enabled: bool
    state: FeedState | None
    next_poll: datetime | None

    @property
    def health(self) -> str:
        """ok, failing, disabled, paused or new."""
        if not self.enabled:
            return "paused"
        if self.state is None or (self.state.last_success_at is None and not self.state.failures):
            return "new"
        if self.state.disabled_reason:
            return "disabled"
        return "failing" if self.state.failures else "ok"


@dataclass(frozen=True, slots=True)
class Status:
    version: str
    uptime: timedelta
    feeds_by_health: dict[str, int]
    last_poll: datetime | None
    items: int
    outbox: dict[str, int]


@dataclass(frozen=True, slots=True)
class Why:
    """Why an item matched or did not."""

    item: StoredItem
    explanations: tuple[Explanation, ...]
    deadlines: tuple[Deadline, ...]


class Queries:
    """The store and the running configuration, seen read-only."""

    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        *,
        next_polls: NextPolls | None = None,
        started_at: datetime | None = None,
    ) -> None:
        self.store = store
        self._settings = settings
        self._next_polls = next_polls or dict
        self.started_at = started_at or datetime.now(UTC)

    @property
    def settings(self) -> Settings:
        return self._settings()

    def search(
        self, text: str, *, entity: str | None, since: datetime | None, limit: int
    ) -> list[StoredItem]:
        return self.store.search(text, entity=entity, since=since, limit=limit)

    def latest(self, *, entity: str | None, limit: int) -> list[StoredItem]:
        return self.store.latest(entity=entity, limit=limit)

    def deadlines(self, *, days: int, today: date | None = None) -> list[DeadlineGroup]:
        start = today or datetime.now(UTC).date()
        return self.store.upcoming_deadlines(start, start + timedelta(days=days))

    def why(self, key: int) -> Why | None:
        stored = self.store.item(key)
        if stored is None:
            return None
        full = self.store.full_item(key)
        assert full is not None
        watchlist = compile_watchlist(self.settings.entities)
        return Why(stored, explain(watchlist, full), self.store.deadlines_of(key))

    def feeds(self) -> list[FeedHealth]:
        states = {state.name: state for state in self.store.feed_states()}
        next_polls = self._next_polls()
        return [
            FeedHealth(f.name, f.url, f.enabled, states.get(f.name), next_polls.get(f.name))
            for f in self.settings.feeds
        ]

    def status(self, *, now: datetime | None = None) -> Status:
        feeds = self.feeds()
        counts: dict[str, int] = {}
        for feed in feeds:
            counts[feed.health] = counts.get(feed.health, 0) + 1
        successes = [f.state.last_success_at for f in feeds if f.state and f.state.last_success_at]
        return Status(
            version=__version__,
            uptime=(now or datetime.now(UTC)) - self.started_at,
            feeds_by_health=counts,
            last_poll=max(successes) if successes else None,
            items=self.store.count_items(),
            outbox=self.store.outbox_counts(),
        )
