"""Which destinations an alert goes to: feeds.yaml's routes, filtered by entity, feed and
deadline, once per channel even when two routes share it.

Destinations are outbox strings: ``slack:<channel ID>``, ``discord:<route name>``, ``terminal``.
With no chat platform configured (no credentials, or no routes) everything goes to the terminal.
"""

from __future__ import annotations

from collections.abc import Collection

from bot.config import Settings
from bot.models import Deadline, EntityMatch, Route
from bot.pipeline import Router, terminal_only


def destinations_of(route: Route, platforms: Collection[str]) -> tuple[str, ...]:
    """The outbox destinations a route names, for the platforms that are configured."""
    found = []
    if route.slack and "slack" in platforms:
        found.append(f"slack:{route.slack}")
    if route.discord and "discord" in platforms:
        found.append(f"discord:{route.name}")
    return tuple(found)


def qualifies(
    route: Route, feed: str, matches: tuple[EntityMatch, ...], deadlines: tuple[Deadline, ...]
) -> bool:
    """Whether an item passes a route's filters (an empty filter lets everything through)."""
    if route.deadlines_only and not deadlines:
        return False
    if route.feeds and feed.casefold() not in {f.casefold() for f in route.feeds}:
        return False
    if route.entities:
        wanted = {e.casefold() for e in route.entities}
        if not any(m.entity.casefold() in wanted for m in matches):
            return False
    return True


def build_router(settings: Settings, platforms: Collection[str]) -> Router:
    """A router over the configured routes; the terminal when no route can be delivered."""
    routes = [r for r in settings.routes if destinations_of(r, platforms)]
    if not routes:
        return terminal_only

    def route(
        feed: str, matches: tuple[EntityMatch, ...], deadlines: tuple[Deadline, ...]
    ) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for candidate in routes:
            if qualifies(candidate, feed, matches, deadlines):
                found.update(dict.fromkeys(destinations_of(candidate, platforms)))
        return tuple(found)

    return route
