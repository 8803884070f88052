"""Deadline reminders: before each upcoming deadline, to every channel that got its alert.

A deadline's moment is ``reminders.at`` (local time in ``reminders.timezone``) on its date; a
reminder is due ``before`` that moment for each configured offset (default 24 h and 0 h, the
morning of the day). Each (deadline, offset, destination) is claimed once in the store, so a
reminder is never sent twice, also across restarts; a deadline that has passed is not reminded,
and neither is one whose alert went out after the reminder's time (the alert was the news).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.delivery import PERMANENT
from bot.errors import NotifyError
from bot.models import Entry, Notice, Reminders
from bot.notifiers import Notifiers
from bot.store import DeadlineGroup, Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 60  # tried once a minute: a reminder survives an hour-long platform outage


def moment(day: date, policy: Reminders) -> datetime:
    """The instant a deadline on ``day`` counts from, in UTC."""
    local = datetime.combine(day, policy.at, tzinfo=ZoneInfo(policy.timezone))
    return local.astimezone(UTC)


def reminder_notice(group: DeadlineGroup, offset: float, thread: str | None) -> Notice:
    """The reminder message: when, what for, and each source."""
    when = "today" if offset == 0 else f"in {_span(offset)}"
    who = ", ".join(group.entities) or "a watched item"
    title = f"Deadline {when} ({group.date:%a %b %d}): {who}"
    entries = [Entry(group.text)]
    entries += [
        Entry(source.title, source.link, f"{source.feed} · {source.published:%Y-%m-%d}")
        for source in group.sources
    ]
    return Notice("reminder", title, tuple(entries), thread)


class Reminder:
    """Finds due reminders, claims them in the store, and sends them."""

    def __init__(
        self,
        store: Store,
        notifiers: Notifiers,
        *,
        admin_destinations: Callable[[], tuple[str, ...]] = tuple,
    ) -> None:
        self.store = store
        self.notifiers = notifiers
        self.admin_destinations = admin_destinations

    def run(self, policy: Reminders, *, now: datetime | None = None) -> int:
        """Claim what is due at ``now`` and send every pending reminder; returns how many sent."""
        now = now or datetime.now(UTC)
        self.claim_due(policy, now=now)
        return self.send_pending(now=now)

    def claim_due(self, policy: Reminders, *, now: datetime) -> None:
        zone = ZoneInfo(policy.timezone)
        today = now.astimezone(zone).date()
        horizon = max(policy.before, default=0.0)
        last = today + timedelta(days=int(horizon // 86400) + 2)
        for group in self.store.upcoming_deadlines(today, last):
            if group.date < today:
                continue  # passed (in the reminders' time zone)
            first_seen = min(source.seen or source.published for source in group.sources)
            threads = self.store.alert_threads([source.key for source in group.sources])
            due = [
                offset
                for offset in sorted(policy.before)  # the most recent reminder time first
                if first_seen <= moment(group.date, policy) - timedelta(seconds=offset) <= now
            ]
            for position, offset in enumerate(due):
                # After downtime only the latest due reminder is sent ("today", not also
                # "in 1 day"); the earlier ones are recorded as skipped so they never go out.
                status = "pending" if position == 0 else "skipped"
                for destination, thread in threads.items():
                    self.store.claim_reminder(
                        group.key, offset, destination, thread, now=now, status=status
                    )

    def send_pending(self, *, now: datetime) -> int:
        sent = 0
        for row in self.store.pending_reminders():
            group = self.store.deadline_group(row["deadline_key"])
            notifier = self.notifiers.for_destination(row["destination"])
            if group is None or notifier is None or group.date < now.date() - timedelta(days=1):
                reason = "deadline gone" if group is None else "no notifier or deadline passed"
                self.store.finish_reminder(row["rowid"], now=now, error=reason, dead=True)
                continue
            notice = reminder_notice(group, row["offset_s"], row["thread"])
            try:
                notifier.post(notice, row["destination"])
            except NotifyError as error:
                dead = row["attempts"] + 1 >= MAX_ATTEMPTS or error.status in PERMANENT
                self.store.finish_reminder(row["rowid"], now=now, error=str(error), dead=dead)
                log.warning("reminder failed destination=%s error=%s", row["destination"], error)
                if dead:
                    lost = Notice(
                        "notice",
                        f"A deadline reminder could not be delivered to {row['destination']}",
                        (Entry(notice.title, None, f"last error: {error}"),),
                    )
                    targets = [d for d in self.admin_destinations() if d != row["destination"]]
                    self.store.queue_notice(lost, targets, now=now)
                continue
            self.store.finish_reminder(row["rowid"], now=now, error=None, dead=False)
            sent += 1
        return sent


def _span(seconds: float) -> str:
    hours = round(seconds / 3600)
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{hours} hour{'s' if hours != 1 else ''}"
