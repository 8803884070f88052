"""The outbox worker: retries with backoff, dead letters with one admin notice, broken targets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.delivery import Deliverer, retry_delay
from bot.errors import NotifyError
from bot.models import Alert, EntityMatch, Notice, Record
from bot.notifiers import Notifiers
from bot.store import Store
from tests.factories import NOW, make_item


class Flaky:
    """A notifier whose next answers are scripted: an exception to raise, or a message id."""

    def __init__(self, prefix: str, *script: NotifyError | str) -> None:
        self.prefix = prefix
        self.script = list(script)
        self.sent: list[tuple[str, str]] = []
        self.posted: list[tuple[str, Notice]] = []

    def send(self, alert: Alert, destination: str) -> str | None:
        answer = self.script.pop(0) if self.script else "ok"
        if isinstance(answer, NotifyError):
            raise answer
        self.sent.append((destination, alert.item.title))
        return answer

    def post(self, notice: Notice, destination: str) -> str | None:
        self.posted.append((destination, notice))
        return None


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "r.db")
    s.sync_feed("Feed", "https://n.example/feed")
    return s


def queue(store: Store, *destinations: str, guid: str = "g") -> None:
    record = Record(make_item(id=guid, link=None), (EntityMatch("X", ()),), (), destinations)
    store.save_poll("Feed", [record], now=NOW)


def test_retry_delay_backs_off_with_jitter_and_honours_retry_after() -> None:
    delays = [retry_delay(n) for n in range(1, 9)]
    assert 24 <= delays[0] <= 36
    assert all(later >= earlier * 2 for earlier, later in itertools.pairwise(delays[:5]))
    assert max(delays) <= 6 * 3600 * 1.2
    assert retry_delay(3, retry_after=7.0) == 7.0
    assert 10 * 3600 < sum(retry_delay(n) for n in range(1, 8)) < 30 * 3600  # 8 attempts ≈ a day


def test_transient_failure_is_retried_then_sent_with_its_message_id(store: Store) -> None:
    slack = Flaky("slack", NotifyError("slack:C1", "HTTP 503", status=503), "1700.01")
    queue(store, "slack:C1")
    deliverer = Deliverer(store, Notifiers([slack]))
    assert deliverer.deliver_due(now=NOW) == 0
    assert store.outbox_counts() == {"pending": 1}
    assert deliverer.deliver_due(now=NOW + timedelta(seconds=10)) == 0  # not yet due
    assert deliverer.deliver_due(now=NOW + timedelta(minutes=2)) == 1
    assert store.alert_threads([1]) == {"slack:C1": "1700.01"}


def test_rate_limit_waits_as_told(store: Store) -> None:
    slack = Flaky("slack", NotifyError("slack:C1", "HTTP 429", status=429, retry_after=120))
    queue(store, "slack:C1")
    deliverer = Deliverer(store, Notifiers([slack]))
    deliverer.deliver_due(now=NOW)
    assert deliverer.deliver_due(now=NOW + timedelta(seconds=119)) == 0
    assert deliverer.deliver_due(now=NOW + timedelta(seconds=121)) == 1


def test_dead_letter_after_max_attempts_notifies_admins_once(store: Store) -> None:
    failures = [NotifyError("slack:C1", "HTTP 500", status=500) for _ in range(3)]
    slack = Flaky("slack", *failures)
    admin = Flaky("terminal")
    queue(store, "slack:C1")
    deliverer = Deliverer(
        store, Notifiers([slack, admin]), max_attempts=3, admin_destinations=lambda: ("terminal",)
    )
    moment = NOW
    for _ in range(5):
        deliverer.deliver_due(now=moment)
        moment += timedelta(days=1)
    assert store.outbox_counts() == {"dead": 1}
    assert slack.sent == []
    [(destination, notice)] = admin.posted
    assert destination == "terminal"
    assert "could not be delivered to slack:C1" in notice.title


def test_404_marks_destination_broken_and_tells_admins_once(store: Store) -> None:
    gone = NotifyError("discord:policy", "webhook not found (deleted?)", status=404)
    discord = Flaky("discord", gone)
    admin = Flaky("slack")
    queue(store, "discord:policy", guid="a")
    queue(store, "discord:policy", guid="b")
    deliverer = Deliverer(
        store, Notifiers([discord, admin]), admin_destinations=lambda: ("slack:CADMIN",)
    )
    deliverer.deliver_due(now=NOW)
    assert store.outbox_counts() == {"dead": 2}
    assert discord.sent == []  # the second was not even tried
    titles = [n.title for _, n in admin.posted]
    assert sum("is broken" in t for t in titles) == 1


def test_unknown_destination_is_dead_lettered(store: Store) -> None:
    queue(store, "slack:C1")
    Deliverer(store, Notifiers([Flaky("terminal")])).deliver_due(now=NOW)
    assert store.outbox_counts() == {"dead": 1}


def test_stop_finishes_the_delivery_in_flight_and_leaves_the_rest(store: Store) -> None:
    for n in range(5):
        queue(store, "slack:C1", guid=f"g{n}")
    deliverer = Deliverer(store, Notifiers([]))

    class StopAfterOne(Flaky):
        def send(self, alert: Alert, destination: str) -> str | None:
            deliverer.stop.set()
            return super().send(alert, destination)

    deliverer.notifiers = Notifiers([StopAfterOne("slack")])
    assert deliverer.deliver_due(now=NOW) == 1
    assert store.outbox_counts() == {"pending": 4, "sent": 1}


def test_rate_limit_pauses_the_destination_for_the_rest_of_the_pass(store: Store) -> None:
    limited = [NotifyError("slack:C1", "HTTP 429", status=429, retry_after=60) for _ in range(10)]
    slack = Flaky("slack", *limited)
    for n in range(10):
        queue(store, "slack:C1", guid=f"g{n}")
    Deliverer(store, Notifiers([slack])).deliver_due()
    assert len(slack.script) == 9  # one attempt, then the other nine waited
    assert store.outbox_counts() == {"pending": 10}
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert [d.attempts for d in store.pending_deliveries(now=later)].count(1) == 1


def test_deliveries_to_a_removed_route_are_dropped_quietly(store: Store) -> None:
    slack = Flaky("slack")
    admin = Flaky("terminal")
    queue(store, "slack:COLD", guid="a")
    queue(store, "slack:CNEW", guid="b")
    deliverer = Deliverer(
        store,
        Notifiers([slack, admin]),
        admin_destinations=lambda: ("terminal",),
        configured=lambda destination: destination != "slack:COLD",
    )
    deliverer.deliver_due(now=NOW)
    assert slack.sent == [("slack:CNEW", "Pentagon sets deadline for Anthropic")]
    assert store.outbox_counts() == {"dead": 1, "sent": 1}
    assert admin.posted == []
