"""The delivery worker: drains the outbox into the notifiers, with retries.

At-least-once: a delivery is marked sent only after the platform accepted it. Failures are
retried with exponential backoff and jitter (or the platform's Retry-After) and dead-lettered
after ``max_attempts``.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, datetime, timedelta

from bot.errors import NotifyError
from bot.notifiers import Notifiers
from bot.store import Store

log = logging.getLogger(__name__)

BASE_DELAY = 30.0  # seconds before the first retry; doubles each attempt
MAX_DELAY = 6 * 3600.0


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failures: the server's word, else backoff with jitter."""
    if retry_after is not None:
        return max(retry_after, 1.0)
    delay = min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)
    return float(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not cryptography


class Deliverer:
    """Sends due outbox rows. ``run_forever`` is the background worker; ``deliver_due`` one pass."""

    def __init__(self, store: Store, notifiers: Notifiers, *, max_attempts: int = 8) -> None:
        self.store = store
        self.notifiers = notifiers
        self.max_attempts = max_attempts
        self.wake = threading.Event()

    def deliver_due(self, *, now: datetime | None = None) -> int:
        """Deliver everything due; returns how many were sent."""
        sent = 0
        while True:
            moment = now or datetime.now(UTC)
            batch = self.store.pending_deliveries(now=moment, limit=50)
            if not batch:
                return sent
            for delivery in batch:
                notifier = self.notifiers.for_destination(delivery.destination)
                if notifier is None:
                    self.store.mark_failed(
                        delivery.id,
                        f"no notifier configured for {delivery.destination}",
                        retry_at=None,
                        now=moment,
                    )
                    continue
                try:
                    ref = notifier.send(delivery.alert, delivery.destination)
                except NotifyError as error:
                    attempts = delivery.attempts + 1
                    dead = attempts >= self.max_attempts
                    retry_at = (
                        None
                        if dead
                        else moment + timedelta(seconds=retry_delay(attempts, error.retry_after))
                    )
                    self.store.mark_failed(delivery.id, str(error), retry_at=retry_at, now=moment)
                    log.warning(
                        "delivery failed destination=%s attempts=%d dead=%s error=%s",
                        delivery.destination,
                        attempts,
                        dead,
                        error,
                    )
                    continue
                self.store.mark_sent(delivery.id, now=datetime.now(UTC), message_ref=ref)
                sent += 1

    def run_forever(self, stop: threading.Event, *, idle: float = 5.0) -> None:
        """Drain the outbox whenever woken (a poll stored alerts) or every ``idle`` seconds."""
        while not stop.is_set():
            try:
                self.deliver_due()
            except Exception:
                log.exception("delivery pass failed; retrying shortly")
            self.wake.wait(idle)
            self.wake.clear()
