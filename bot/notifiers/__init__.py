"""Destinations for alerts. Each notifier owns one destination prefix and one platform.

A destination is a string stored in the outbox: ``terminal``, ``slack:<channel>``,
``discord:<route>``. ``Notifiers`` picks the notifier by prefix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from bot.models import Alert, Notice


class Notifier(Protocol):
    """Sends to one platform. Both methods return the platform's message id (Slack ``ts``,
    Discord message id), if any, and raise ``NotifyError`` (with ``retry_after`` when the
    platform said so) on failure. Feed text in alerts and notices is untrusted."""

    prefix: str

    def send(self, alert: Alert, destination: str) -> str | None:
        """Post an item alert."""
        ...

    def post(self, notice: Notice, destination: str) -> str | None:
        """Post a reminder, digest or admin notice (in ``notice.thread`` where possible)."""
        ...


class Notifiers:
    """Fan-out by destination prefix."""

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self._by_prefix = {notifier.prefix: notifier for notifier in notifiers}

    def for_destination(self, destination: str) -> Notifier | None:
        return self._by_prefix.get(destination.split(":", 1)[0])

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(self._by_prefix)
