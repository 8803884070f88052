"""Feeds that fail: backoff, one notice after a long failure and one on recovery; servers'
requested waits (Retry-After, Cache-Control, Expires, <ttl>); one fetch per shared URL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.fetcher import Fetcher
from bot.models import Feed
from bot.pipeline import MAX_BACKOFF, Poller
from bot.store import Store
from tests.factories import NOW, rss
from tests.loopback import LoopbackServer, Response

HOUR = timedelta(hours=1)


@pytest.fixture
def rig(loopback: LoopbackServer, tmp_path: Path) -> Iterator[tuple[Poller, Store, Feed]]:
    feed = Feed("Flaky", loopback.url + "/f.xml", interval=600)
    settings = Settings(feeds=(feed,), allow_private_networks=True)
    store = Store(tmp_path / "r.db")
    fetcher = Fetcher(allow_private_networks=True)
    poller = Poller(settings, store, fetcher, admin_destinations=lambda: ("slack:CADMIN",))
    yield poller, store, feed
    fetcher.close()
    store.close()


def notices(store: Store) -> list[str]:
    return [n.notice.title for n in store.pending_notices(now=NOW + timedelta(days=30))]


def test_backoff_grows_to_a_day_and_never_freezes(
    loopback: LoopbackServer, rig: tuple[Poller, Store, Feed]
) -> None:
    poller, store, feed = rig
    loopback.route("/f.xml", lambda r: Response(500, b"SECRET-BODY"))
    moment = NOW
    waits = []
    for _ in range(12):
        outcome = poller.poll_feed(feed, now=moment)
        assert outcome.status == "failed"
        assert "SECRET-BODY" not in (outcome.error or "")
        state = store.feed_state("Flaky")
        assert state is not None
        wait = (state.next_poll_at - moment) if state.next_poll_at else timedelta(0)
        waits.append(wait)
        if wait:
            early = poller.poll_feed(feed, now=moment + wait - timedelta(seconds=1))
            assert early.status == "skipped"
        moment += max(wait, timedelta(seconds=600))
    assert waits[0] == timedelta(0)  # the first failure keeps the normal interval
    assert waits[1] == timedelta(seconds=1200)
    assert waits[2] == timedelta(seconds=2400)
    assert max(waits) == timedelta(seconds=MAX_BACKOFF)


def test_one_notice_after_six_hours_and_one_on_recovery(
    loopback: LoopbackServer, rig: tuple[Poller, Store, Feed]
) -> None:
    poller, store, feed = rig
    loopback.route("/f.xml", lambda r: Response(503, b"down"))
    for hours in (0, 1, 3, 5):
        poller.poll_feed(feed, now=NOW + hours * HOUR)
    assert notices(store) == []
    for hours in (6.5, 9, 20):
        poller.poll_feed(feed, now=NOW + hours * HOUR)
    assert notices(store) == ["Feed Flaky has been failing since 2026-02-24 15:00 UTC"]
    state = store.feed_state("Flaky")
    assert state is not None and state.last_error and "503" in state.last_error
    loopback.route(
        "/f.xml", lambda r: Response(200, rss(), {"Content-Type": "application/rss+xml"})
    )
    assert poller.poll_feed(feed, now=NOW + 50 * HOUR).status == "ok"
    poller.poll_feed(feed, now=NOW + 52 * HOUR)
    assert notices(store)[-1] == "Feed Flaky has recovered"
    assert len(notices(store)) == 2


def test_short_failures_send_no_notice(
    loopback: LoopbackServer, rig: tuple[Poller, Store, Feed]
) -> None:
    poller, store, feed = rig
    loopback.script("/f.xml", Response(500), Response(500))
    loopback.add_feed("/f.xml", rss())
    poller.poll_feed(feed, now=NOW)
    poller.poll_feed(feed, now=NOW + HOUR)
    assert poller.poll_feed(feed, now=NOW + 3 * HOUR).status == "ok"
    assert notices(store) == []


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Cache-Control": "public, max-age=3600"}, 3600),
        ({"Cache-Control": "s-maxage=7200"}, 7200),
        ({"Retry-After": "1800"}, 1800),
        ({"Expires": format_datetime(NOW.replace(year=2099))}, 86400),  # capped at a day
        ({"Cache-Control": "max-age=60"}, None),  # shorter than the interval: nothing to add
    ],
)
def test_server_requested_wait_is_a_lower_bound(
    loopback: LoopbackServer,
    rig: tuple[Poller, Store, Feed],
    headers: dict[str, str],
    wait: int | None,
) -> None:
    poller, store, feed = rig
    loopback.route(
        "/f.xml", lambda r: Response(200, rss(), {"Content-Type": "text/xml", **headers})
    )
    poller.poll_feed(feed, now=NOW)
    state = store.feed_state("Flaky")
    assert state is not None
    if wait is None or wait <= 60:
        assert state.next_poll_at is None or state.next_poll_at <= NOW + timedelta(seconds=60)
    else:
        assert state.next_poll_at is not None
        assert abs((state.next_poll_at - NOW).total_seconds() - wait) < 5
        assert poller.poll_feed(feed, now=NOW + timedelta(seconds=wait - 10)).status == "skipped"


def test_rss_ttl_is_a_lower_bound(
    loopback: LoopbackServer, rig: tuple[Poller, Store, Feed]
) -> None:
    poller, _, feed = rig
    body = rss().replace(b"<description>test feed</description>", b"<ttl>90</ttl>")
    loopback.add_feed("/f.xml", body)
    poller.poll_feed(feed, now=NOW)
    assert poller.poll_feed(feed, now=NOW + timedelta(minutes=60)).status == "skipped"
    assert poller.poll_feed(feed, now=NOW + timedelta(minutes=91)).status == "not_modified"


def test_feeds_sharing_a_url_fetch_it_once_per_cycle(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    url = loopback.add_feed("/shared.xml", rss({"title": "x", "guid": "1"}))
    feeds = tuple(Feed(f"Copy {n}", url, interval=600) for n in range(4))
    store = Store(tmp_path / "r.db")
    with Fetcher(allow_private_networks=True) as fetcher:
        poller = Poller(Settings(feeds=feeds, allow_private_networks=True), store, fetcher)
        outcomes = poller.poll_all(now=NOW)
        assert [o.status for o in outcomes] == ["ok"] * 4
        assert len(loopback.requests_to("/shared.xml")) == 1
    store.close()


def test_disabled_feed_state_survives_config_reload(rig: tuple[Poller, Store, Feed]) -> None:
    poller, store, feed = rig
    store.sync_feed(feed.name, feed.url)
    store.record_failure(feed.name, "gone", now=NOW, disabled_reason="gone (HTTP 410)")
    poller.configure(replace(poller.settings, interval=300))
    assert poller.poll_feed(feed, now=NOW).status == "skipped"


def test_a_feed_never_reuses_its_own_earlier_answer(
    loopback: LoopbackServer, rig: tuple[Poller, Store, Feed]
) -> None:
    poller, _, feed = rig
    loopback.route("/f.xml", lambda r: Response(200, rss(), {"Content-Type": "text/xml"}))
    poller.poll_feed(feed, now=NOW)
    poller.poll_feed(feed, now=NOW + timedelta(seconds=5))
    assert len(loopback.requests_to("/f.xml")) == 2
