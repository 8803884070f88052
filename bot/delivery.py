"""The delivery worker: drains the outbox (alerts) and queued notices into the notifiers.

At-least-once: a delivery is marked sent only after the platform accepted it. Failures are
retried with exponential backoff and jitter (or the platform's Retry-After) and dead-lettered
after ``max_attempts``, with one notice to the admins. A 401/403/404 means the destination is
gone (a deleted Discord webhook): its deliveries are dead-lettered at once, the admins told once.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot import metrics
from bot.errors import NotifyError
from bot.models import Delivery, Entry, Notice
from bot.notifiers import Notifiers
from bot.store import Store

log = logging.getLogger(__name__)

BASE_DELAY = 30.0  # seconds before the first retry; doubles each attempt (8 attempts ≈ a day)
MAX_DELAY = 6 * 3600.0
# The destination itself is gone or refuses us (deleted webhook, revoked token): retrying is futile.
PERMANENT = frozenset({401, 403, 404})


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failures: the server's word, else backoff with jitter."""
    if retry_after is not None:
        return max(retry_after, 1.0)
    delay = min(BASE_DELAY * 4 ** max(attempts - 1, 0), MAX_DELAY)
    return float(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not cryptography


def _platform(destination: str) -> str:
    return destination.split(":", 1)[0]


class Deliverer:
    """Sends due outbox rows and notices. ``run_forever`` is the background worker."""

    def __init__(
        self,
        store: Store,
        notifiers: Notifiers,
        *,
        max_attempts: int = 8,
        admin_destinations: Callable[[], tuple[str, ...]] = tuple,
        configured: Callable[[str], bool] = lambda destination: True,
    ) -> None:
        self.store = store
        self.configured = configured
        self.notifiers = notifiers
        self.max_attempts = max_attempts
        self.admin_destinations = admin_destinations
        self.wake = threading.Event()
        self.stop = threading.Event()
        self._broken: set[str] = set()

    def deliver_due(self, *, now: datetime | None = None) -> int:
        """Deliver everything due, until done or stopped; returns how many alerts were sent."""
        sent = 0
        paused: set[str] = set()  # destinations that asked us to wait (429): skipped this pass
        while not self.stop.is_set():
            moment = now or datetime.now(UTC)
            batch = [
                d
                for d in self.store.pending_deliveries(now=moment, limit=50)
                if d.destination not in paused
            ]
            for delivery in batch:
                if self.stop.is_set():
                    break
                if delivery.destination not in paused:
                    sent += self._deliver(delivery, now, paused)
            notices = self._send_notices(moment)
            if not batch and not notices:
                break
        return sent

    def _deliver(self, delivery: Delivery, clock: datetime | None, paused: set[str]) -> int:
        """Send one delivery. Retry times count from when the failure happened (``clock`` is
        only given by tests), so a slow pass never makes a retry due early."""
        now = clock or datetime.now(UTC)
        notifier = self.notifiers.for_destination(delivery.destination)
        if not self.configured(delivery.destination):
            # The route was removed from feeds.yaml after the alert was queued.
            self._dead(delivery, "no route sends here any more", now, notify=False)
            return 0
        if notifier is None or delivery.destination in self._broken:
            why = "destination broken" if notifier else "no notifier configured"
            # A broken destination was reported once when it broke; don't repeat per alert.
            self._dead(delivery, f"{why} for {delivery.destination}", now, notify=notifier is None)
            return 0
        try:
            ref = notifier.send(delivery.alert, delivery.destination)
        except NotifyError as error:
            attempts = delivery.attempts + 1
            metrics.ALERTS.labels(_platform(delivery.destination), "failed").inc()
            if error.retry_after is not None:
                paused.add(delivery.destination)
            if error.status in PERMANENT:
                self._mark_broken(delivery.destination, now)
                self._dead(delivery, str(error), now, notify=False)
            elif attempts >= self.max_attempts:
                self._dead(delivery, str(error), now)
            else:
                delay = retry_delay(attempts, error.retry_after)
                retry_at = now + timedelta(seconds=delay)
                self.store.mark_failed(delivery.id, str(error), retry_at=retry_at, now=now)
            log.warning(
                "delivery failed destination=%s attempts=%d error=%s",
                delivery.destination,
                attempts,
                error,
            )
            return 0
        self.store.mark_sent(delivery.id, now=datetime.now(UTC), message_ref=ref)
        metrics.ALERTS.labels(_platform(delivery.destination), "sent").inc()
        return 1

    def reset_broken(self) -> None:
        """Forget broken destinations (the configuration changed: a webhook may be fixed)."""
        self._broken.clear()

    def _dead(self, delivery: Delivery, error: str, now: datetime, *, notify: bool = True) -> None:
        self.store.mark_failed(delivery.id, error, retry_at=None, now=now)
        metrics.ALERTS.labels(_platform(delivery.destination), "dead").inc()
        if not notify:
            return
        item = delivery.alert.item
        notice = Notice(
            "notice",
            f"An alert could not be delivered to {delivery.destination}",
            (Entry(item.title, item.link, f"{delivery.alert.feed} · last error: {error}"),),
        )
        self._notify_admins(notice, now, avoid=delivery.destination)

    def _mark_broken(self, destination: str, now: datetime) -> None:
        if destination in self._broken:
            return
        self._broken.add(destination)
        notice = Notice(
            "notice",
            f"{destination} is broken: the platform refused it (deleted webhook or bad token)",
            (Entry("Fix the route's webhook or channel, then restart Redline."),),
        )
        self._notify_admins(notice, now, avoid=destination)

    def _notify_admins(self, notice: Notice, now: datetime, *, avoid: str) -> None:
        destinations = [d for d in self.admin_destinations() if d != avoid]
        if destinations:
            self.store.queue_notice(notice, destinations, now=now)
        log.warning("admin notice: %s", notice.title)

    def _send_notices(self, now: datetime) -> int:
        """Send due notices; a failing notice is retried, then dropped (never notified about)."""
        pending = self.store.pending_notices(now=now)
        for queued in pending:
            notifier = self.notifiers.for_destination(queued.destination)
            try:
                if notifier is None or queued.destination in self._broken:
                    raise NotifyError(queued.destination, "no working notifier")
                notifier.post(queued.notice, queued.destination)
            except NotifyError as error:
                attempts = queued.attempts + 1
                retry_at = (
                    None
                    if attempts >= self.max_attempts
                    else now + timedelta(seconds=retry_delay(attempts, error.retry_after))
                )
                self.store.mark_notice(queued.id, now=now, error=str(error), retry_at=retry_at)
                continue
            self.store.mark_notice(queued.id, now=now, error=None, retry_at=None)
        return len(pending)

    def run_forever(self, *, idle: float = 5.0) -> None:
        """Drain the outbox whenever woken (a poll stored alerts) or every ``idle`` seconds,
        until ``stop`` is set; the delivery in flight when it is set is finished first."""
        while not self.stop.is_set():
            try:
                self.deliver_due()
            except Exception:
                log.exception("delivery pass failed; retrying shortly")
            self.wake.wait(idle)
            self.wake.clear()
