"""Destinations for alerts. Each notifier owns one destination prefix and one platform.

A destination is a string stored in the outbox: ``terminal``, ``slack:<channel>``,
``discord:<route>``. ``Notifiers`` picks the notifier by prefix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from bot.models import Alert


class Notifier(Protocol):
    """Sends one alert to one destination; returns the platform's message id, if any.

    Raises ``NotifyError`` (with ``retry_after`` when the platform said so) on failure.
    """

    prefix: str

    def send(self, alert: Alert, destination: str) -> str | None: ...


class Notifiers:
    """Fan-out by destination prefix."""

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self._by_prefix = {notifier.prefix: notifier for notifier in notifiers}

    def for_destination(self, destination: str) -> Notifier | None:
        return self._by_prefix.get(destination.split(":", 1)[0])

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(self._by_prefix)
