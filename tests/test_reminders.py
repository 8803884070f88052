"""Deadline reminders with a controlled clock, and the daily digest."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import time_machine

from bot.config import Settings
from bot.digest import Digester, build_digest
from bot.errors import NotifyError
from bot.models import Alert, Deadline, Digest, EntityMatch, Hit, Notice, Record, Reminders, Route
from bot.notifiers import Notifiers
from bot.notifiers.terminal import TerminalNotifier
from bot.reminders import Reminder, moment
from bot.store import Store
from tests.factories import make_item

PUBLISHED = datetime(2026, 2, 24, 15, 0, tzinfo=UTC)  # a Tuesday
FRIDAY = date(2026, 2, 27)
POLICY = Reminders(before=(86400.0, 0.0), at=time(8, 0), timezone="UTC")


class Recorder:
    """A notifier that records what it was asked to post (and can fail on demand)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.posts: list[tuple[str, Notice]] = []
        self.fail = False

    def send(self, alert: Alert, destination: str) -> str | None:
        return f"ts-{alert.item.id}"

    def post(self, notice: Notice, destination: str) -> str | None:
        if self.fail:
            raise NotifyError(destination, "HTTP 500", status=500)
        self.posts.append((destination, notice))
        return None


def anthropic(hits: str = "Anthropic") -> tuple[EntityMatch, ...]:
    return (EntityMatch("Anthropic", (Hit("title", 0, 9, hits),)),)


def store_deadline(
    store: Store, guid: str, *, destinations: tuple[str, ...], seen: datetime
) -> int:
    record = Record(
        make_item(id=guid, link=f"https://n.example/{guid}", title=f"Story {guid}"),
        anthropic(),
        (Deadline(FRIDAY, "Anthropic has until 5:01 p.m. Friday."),),
        destinations,
    )
    store.save_poll("Feed", [record], now=seen)
    for delivery in store.pending_deliveries(now=seen):
        store.mark_sent(delivery.id, now=seen, message_ref=f"ts-{guid}")
    return 0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "r.db")
    s.sync_feed("Feed", "https://n.example/feed")
    return s


def test_moment_is_local_time_on_the_day() -> None:
    ny = Reminders(at=time(8, 0), timezone="America/New_York")
    assert moment(FRIDAY, ny) == datetime(2026, 2, 27, 13, 0, tzinfo=UTC)


def test_reminders_fire_24h_before_and_on_the_morning_once_each(store: Store) -> None:
    slack = Recorder("slack")
    store_deadline(store, "a", destinations=("slack:C1",), seen=PUBLISHED)
    reminder = Reminder(store, Notifiers([slack]))
    assert reminder.run(POLICY, now=datetime(2026, 2, 26, 7, 59, tzinfo=UTC)) == 0
    assert reminder.run(POLICY, now=datetime(2026, 2, 26, 8, 0, tzinfo=UTC)) == 1
    assert reminder.run(POLICY, now=datetime(2026, 2, 26, 9, 0, tzinfo=UTC)) == 0
    assert reminder.run(POLICY, now=datetime(2026, 2, 27, 8, 1, tzinfo=UTC)) == 1
    assert reminder.run(POLICY, now=datetime(2026, 2, 27, 18, 0, tzinfo=UTC)) == 0
    (dest1, first), (dest2, second) = slack.posts
    assert dest1 == dest2 == "slack:C1"
    assert first.thread == second.thread == "ts-a"  # a reply in the alert's thread
    assert first.title.startswith("Deadline in 1 day (Fri Feb 27): Anthropic")
    assert second.title.startswith("Deadline today")


def test_no_duplicate_reminder_after_restart(store: Store, tmp_path: Path) -> None:
    store_deadline(store, "a", destinations=("slack:C1",), seen=PUBLISHED)
    first = Recorder("slack")
    Reminder(store, Notifiers([first])).run(POLICY, now=datetime(2026, 2, 26, 8, 0, tzinfo=UTC))
    store.close()
    again = Store(tmp_path / "r.db")
    second = Recorder("slack")
    Reminder(again, Notifiers([second])).run(POLICY, now=datetime(2026, 2, 26, 8, 5, tzinfo=UTC))
    assert len(first.posts) == 1
    assert second.posts == []


def test_several_sources_make_one_deadline_reminded_once_per_channel(store: Store) -> None:
    store_deadline(store, "a", destinations=("slack:C1",), seen=PUBLISHED)
    store_deadline(store, "b", destinations=("slack:C1", "slack:C2"), seen=PUBLISHED)
    slack = Recorder("slack")
    Reminder(store, Notifiers([slack])).run(POLICY, now=datetime(2026, 2, 26, 8, 0, tzinfo=UTC))
    assert sorted(d for d, _ in slack.posts) == ["slack:C1", "slack:C2"]
    notice = slack.posts[0][1]
    assert {e.url for e in notice.entries if e.url} == {
        "https://n.example/a",
        "https://n.example/b",
    }


def test_passed_deadline_and_late_alert_are_not_reminded(store: Store) -> None:
    slack = Recorder("slack")
    reminder = Reminder(store, Notifiers([slack]))
    # Alerted Thursday 20:00: the 24 h reminder time (Thursday 08:00) came before the alert.
    store_deadline(
        store, "late", destinations=("slack:C1",), seen=datetime(2026, 2, 26, 20, 0, tzinfo=UTC)
    )
    reminder.run(POLICY, now=datetime(2026, 2, 26, 20, 30, tzinfo=UTC))
    assert slack.posts == []
    reminder.run(POLICY, now=datetime(2026, 2, 28, 9, 0, tzinfo=UTC))  # Saturday: passed
    assert slack.posts == []


def test_failed_reminder_is_retried(store: Store) -> None:
    store_deadline(store, "a", destinations=("slack:C1",), seen=PUBLISHED)
    slack = Recorder("slack")
    slack.fail = True
    reminder = Reminder(store, Notifiers([slack]))
    at = datetime(2026, 2, 26, 8, 0, tzinfo=UTC)
    assert reminder.run(POLICY, now=at) == 0
    slack.fail = False
    assert reminder.run(POLICY, now=at + timedelta(minutes=1)) == 1


def test_reminder_timing_with_time_machine(store: Store) -> None:
    store_deadline(store, "a", destinations=("terminal",), seen=PUBLISHED)
    out = io.StringIO()
    reminder = Reminder(store, Notifiers([TerminalNotifier(out)]))
    with time_machine.travel(datetime(2026, 2, 26, 7, 0, tzinfo=UTC), tick=False) as traveller:
        assert reminder.run(POLICY) == 0
        traveller.move_to(datetime(2026, 2, 26, 8, 30, tzinfo=UTC))
        assert reminder.run(POLICY) == 1
    assert "⏰ Deadline in 1 day" in out.getvalue()


def seed_digest(store: Store, now: datetime) -> None:
    dod = (EntityMatch("Department of Defense", (Hit("title", 0, 8, "Pentagon"),)),)
    records = [
        Record(
            make_item(id=f"a{n}", link=f"https://n.example/a{n}", title=f"Anthropic {n}"),
            anthropic(),
        )
        for n in range(3)
    ] + [
        Record(make_item(id="d1", link="https://n.example/d1", title="Pentagon news"), dod),
        Record(make_item(id="x", link="https://n.example/x", title="Unmatched")),
        Record(
            make_item(id="dl", link="https://n.example/dl", title="Pentagon deadline"),
            dod,
            (Deadline(now.date() + timedelta(days=3), "Bids are due Friday."),),
        ),
    ]
    store.save_poll("Feed", records, now=now - timedelta(hours=2))
    old = make_item(id="old", link="https://n.example/old", title="Anthropic old")
    store.save_poll("Feed", [Record(old, anthropic())], now=now - timedelta(days=3))


def test_digest_groups_by_entity_most_mentioned_first(store: Store) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    seed_digest(store, now)
    notice = build_digest(store, now=now)
    assert notice is not None
    texts = [e.text for e in notice.entries]
    assert texts[0] == "Anthropic: 3 items"
    assert texts.index("Department of Defense: 2 items") == 4
    assert "· Anthropic old" not in texts and "· Unmatched" not in texts
    assert texts[-2] == "Deadlines in the next 7 days: 1"
    assert texts[-1].startswith("· Thu Mar 05: Department of Defense")
    assert notice.title == "Redline digest: 5 matched items in the last 24 h"


def test_digest_per_route_filter_and_once_a_day(store: Store) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    seed_digest(store, now)
    settings = Settings(
        routes=(
            Route("policy", slack="C1", entities=("Department of Defense",)),
            Route("all", slack="C2"),
        ),
        digest=Digest(at=time(8, 0), timezone="UTC"),
    )
    slack = Recorder("slack")
    digester = Digester(store, Notifiers([slack]))
    assert digester.run(settings, now=now.replace(hour=7)) == 0  # before 08:00
    assert digester.run(settings, now=now) == 2
    assert digester.run(settings, now=now + timedelta(hours=1)) == 0  # once a day
    policy = dict(slack.posts)["slack:C1"]
    assert [e.text for e in policy.entries][0] == "Department of Defense: 2 items"
    assert not any("Anthropic" in e.text for e in policy.entries)
    assert digester.run(settings, now=now + timedelta(days=1)) == 2


def test_cli_digest_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    store = Store(tmp_path / "r.db")
    store.sync_feed("Feed", "https://n.example/feed")
    seed_digest(store, datetime.now(UTC))
    store.close()
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    args = ["digest", "--db", str(tmp_path / "r.db"), "--config", str(tmp_path / "feeds.yaml")]
    assert main(args) == 0
    assert "Anthropic: 3 items" in capsys.readouterr().out


def test_after_downtime_only_the_latest_due_reminder_goes_out(store: Store) -> None:
    store_deadline(store, "a", destinations=("slack:C1",), seen=PUBLISHED)
    slack = Recorder("slack")
    reminder = Reminder(store, Notifiers([slack]))
    # Down all Thursday; back on Friday at 15:00: "today", not also "in 1 day".
    reminder.run(POLICY, now=datetime(2026, 2, 27, 15, 0, tzinfo=UTC))
    reminder.run(POLICY, now=datetime(2026, 2, 27, 15, 5, tzinfo=UTC))
    assert [n.title.split(" (")[0] for _, n in slack.posts] == ["Deadline today"]


def test_digest_uses_the_readers_date_for_upcoming_deadlines(store: Store) -> None:
    # 08:00 Friday in Tokyo is still Thursday in UTC: a Thursday deadline has passed there.
    now = datetime(2026, 2, 26, 23, 0, tzinfo=UTC)
    record = Record(
        make_item(id="t", link="https://n.example/t", title="Thursday thing"),
        anthropic(),
        (Deadline(date(2026, 2, 26), "Due Thursday."),),
    )
    store.save_poll("Feed", [record], now=now - timedelta(hours=1))
    settings = Settings(digest=Digest(at=time(8, 0), timezone="Asia/Tokyo"))
    slack = Recorder("terminal")
    Digester(store, Notifiers([slack])).run(settings, now=now)
    [(_, notice)] = slack.posts
    assert not any("Thu Feb 26" in e.text for e in notice.entries)


def test_a_reminder_that_cannot_be_delivered_tells_the_admins(store: Store) -> None:
    store_deadline(store, "a", destinations=("slack:C1",), seen=PUBLISHED)

    class Gone(Recorder):
        def post(self, notice: Notice, destination: str) -> str | None:
            raise NotifyError(destination, "slack: channel_not_found", status=404)

    reminder = Reminder(store, Notifiers([Gone("slack")]), admin_destinations=lambda: ("terminal",))
    reminder.run(POLICY, now=datetime(2026, 2, 26, 8, 0, tzinfo=UTC))
    [queued] = store.pending_notices(now=datetime(2026, 2, 27, tzinfo=UTC))
    assert queued.destination == "terminal"
    assert "reminder could not be delivered to slack:C1" in queued.notice.title
