"""The whole poll path over loopback: fetch → parse → match → store → outbox → terminal."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.delivery import Deliverer
from bot.fetcher import Fetcher
from bot.models import Entity, Feed
from bot.notifiers import Notifiers
from bot.notifiers.terminal import TerminalNotifier
from bot.pipeline import Poller
from bot.store import Store
from tests.factories import NOW, rss
from tests.loopback import LoopbackServer, Response

ENTITIES = (
    Entity("Anthropic", aliases=("Claude",)),
    Entity("Department of Defense", aliases=("Pentagon", "DoD"), exclude=("Pentagon City",)),
)


def story(n: int, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "link": f"https://news.example/{n}",
        "guid": f"story-{n}",
        "description": f"<p>Story {n} &amp; more.</p>",
        "published": NOW - timedelta(hours=n),
        **extra,
    }


class Rig:
    """A poller and a delivery worker over a real store file and a loopback server."""

    def __init__(self, server: LoopbackServer, db_path: Path, *feeds: Feed) -> None:
        self.server = server
        self.db_path = db_path
        self.feeds = feeds
        self.out = io.StringIO()
        self.open()

    def open(self) -> None:
        self.settings = Settings(feeds=self.feeds, entities=ENTITIES, allow_private_networks=True)
        self.store = Store(self.db_path)
        self.fetcher = Fetcher(allow_private_networks=True)
        self.poller = Poller(self.settings, self.store, self.fetcher)
        self.deliverer = Deliverer(self.store, Notifiers([TerminalNotifier(self.out)]))

    def restart(self) -> None:
        self.close()
        self.open()

    def close(self) -> None:
        self.fetcher.close()
        self.store.close()

    def cycle(self, now: Any = None) -> list[Any]:
        outcomes = self.poller.poll_all(now=now)
        self.deliverer.deliver_due(now=now)
        return outcomes

    def alerts(self) -> list[str]:
        return [block.splitlines()[0] for block in self.out.getvalue().split("\n\n") if block]


@pytest.fixture
def rig_factory(loopback: LoopbackServer, db_path: Path) -> Iterator[Any]:
    rigs: list[Rig] = []

    def make(*feeds: Feed) -> Rig:
        rig = Rig(loopback, db_path, *feeds)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def feed(server: LoopbackServer, path: str, name: str = "News", **kw: Any) -> Feed:
    return Feed(name=name, url=server.url + path, interval=60, **kw)


def test_first_poll_is_silent_then_new_matches_alert(
    loopback: LoopbackServer, rig_factory: Any
) -> None:
    loopback.add_feed("/a.xml", rss(story(1, "Pentagon and Anthropic talk"), story(2, "Weather")))
    rig = rig_factory(feed(loopback, "/a.xml"))
    [outcome] = rig.cycle()
    assert (outcome.status, outcome.new, outcome.alerts) == ("ok", 2, 0)
    assert rig.alerts() == []

    loopback.add_feed(
        "/a.xml",
        rss(
            story(0, "Claude gets a Friday deadline"),
            story(5, "Mall news from Pentagon City"),
            story(1, "Pentagon and Anthropic talk"),
        ),
    )
    [outcome] = rig.cycle()
    assert (outcome.new, outcome.alerts) == (2, 1)
    assert rig.alerts() == ["● Claude gets a Friday deadline"]
    assert "entities: Anthropic (Claude)" in rig.out.getvalue()


def test_second_cycle_on_unchanged_feed_is_a_304_and_parses_nothing(
    loopback: LoopbackServer, rig_factory: Any
) -> None:
    loopback.add_feed("/a.xml", rss(story(1, "Pentagon news")))
    rig = rig_factory(feed(loopback, "/a.xml"))
    rig.cycle()
    [outcome] = rig.cycle()
    assert outcome.status == "not_modified"
    second = loopback.requests_to("/a.xml")[-1]
    assert second.headers.get("if-none-match")
    assert second.headers.get("if-modified-since")


def test_backfill_alerts_on_newest_n_matches_of_first_poll(
    loopback: LoopbackServer, rig_factory: Any
) -> None:
    loopback.add_feed(
        "/a.xml",
        rss(story(3, "Pentagon three"), story(1, "Pentagon one"), story(2, "Pentagon two")),
    )
    rig = rig_factory(feed(loopback, "/a.xml", backfill=2))
    rig.cycle()
    assert sorted(rig.alerts()) == ["● Pentagon one", "● Pentagon two"]


def test_same_story_in_two_feeds_alerts_once(loopback: LoopbackServer, rig_factory: Any) -> None:
    loopback.add_feed("/a.xml", rss(story(9, "Old")))
    loopback.add_feed("/b.xml", rss(story(8, "Older")))
    rig = rig_factory(feed(loopback, "/a.xml", "A"), feed(loopback, "/b.xml", "B"))
    rig.cycle()
    shared = story(0, "DoD awards AI contract")
    loopback.add_feed("/a.xml", rss(shared, story(9, "Old")))
    loopback.add_feed("/b.xml", rss({**shared, "guid": "b-guid"}, story(8, "Older")))
    rig.cycle()
    assert rig.alerts() == ["● DoD awards AI contract"]


def test_dedupe_survives_restart_and_guid_change(
    loopback: LoopbackServer, rig_factory: Any
) -> None:
    loopback.add_feed("/a.xml", rss(story(9, "Old")))
    rig = rig_factory(feed(loopback, "/a.xml"))
    rig.cycle()
    loopback.add_feed("/a.xml", rss(story(0, "Pentagon update"), story(9, "Old")))
    rig.cycle()
    rig.restart()
    loopback.add_feed(
        "/a.xml", rss({**story(0, "Pentagon update"), "guid": "renamed"}, story(9, "Old"))
    )
    [outcome] = rig.cycle()
    assert outcome.new == 0
    assert rig.alerts() == ["● Pentagon update"]


def test_back_dated_new_item_still_alerts(loopback: LoopbackServer, rig_factory: Any) -> None:
    loopback.add_feed("/a.xml", rss(story(1, "Recent")))
    rig = rig_factory(feed(loopback, "/a.xml"))
    rig.cycle()
    loopback.add_feed("/a.xml", rss(story(1, "Recent"), story(500, "Pentagon archive piece")))
    rig.cycle()
    assert rig.alerts() == ["● Pentagon archive piece"]


def test_unmatched_items_are_stored_not_alerted(loopback: LoopbackServer, rig_factory: Any) -> None:
    loopback.add_feed("/a.xml", rss(story(9, "Old")))
    rig = rig_factory(feed(loopback, "/a.xml"))
    rig.cycle()
    loopback.add_feed("/a.xml", rss(story(0, "Nothing to see"), story(9, "Old")))
    rig.cycle()
    assert rig.alerts() == []
    assert rig.store.count_items() == 2


def test_one_broken_feed_does_not_stop_the_others(
    loopback: LoopbackServer, rig_factory: Any
) -> None:
    loopback.add_feed("/good.xml", rss(story(1, "Fine")))
    loopback.add_feed("/bad.xml", b"<html><body>not a feed</body></html>", content_type="text/html")
    rig = rig_factory(
        feed(loopback, "/good.xml", "Good"),
        feed(loopback, "/bad.xml", "Bad"),
        feed(loopback, "/missing.xml", "Missing"),
    )
    outcomes = {o.feed: o for o in rig.cycle()}
    assert outcomes["Good"].status == "ok"
    assert outcomes["Bad"].status == "failed"
    assert outcomes["Missing"].status == "failed" and "404" in (outcomes["Missing"].error or "")
    state = rig.store.feed_state("Missing")
    assert state is not None and state.failures == 1 and state.last_error


def test_gone_feed_is_disabled(loopback: LoopbackServer, rig_factory: Any) -> None:
    loopback.script("/gone.xml", Response(410, b"gone"))
    rig = rig_factory(feed(loopback, "/gone.xml"))
    [first] = rig.cycle()
    assert first.status == "failed"
    [second] = rig.cycle()
    assert second.status == "skipped"
    assert len(loopback.requests_to("/gone.xml")) == 1


def test_retry_after_is_honoured(loopback: LoopbackServer, rig_factory: Any) -> None:
    loopback.add_feed("/busy.xml", rss(story(1, "x")))
    loopback.script("/busy.xml", Response(429, b"", {"Retry-After": "120"}))
    rig = rig_factory(feed(loopback, "/busy.xml"))
    assert rig.cycle(now=NOW)[0].status == "failed"
    assert rig.cycle(now=NOW + timedelta(seconds=60))[0].status == "skipped"
    assert rig.cycle(now=NOW + timedelta(seconds=121))[0].status == "ok"
    assert len(loopback.requests_to("/busy.xml")) == 2


def test_permanent_redirect_updates_the_polled_url(
    loopback: LoopbackServer, rig_factory: Any
) -> None:
    new_url = loopback.add_feed("/new.xml", rss(story(1, "x")))
    loopback.route("/old.xml", lambda request: Response(301, b"", {"Location": new_url}))
    rig = rig_factory(feed(loopback, "/old.xml"))
    rig.cycle()
    state = rig.store.feed_state("News")
    assert state is not None and state.url == new_url
    rig.cycle()
    assert len(loopback.requests_to("/old.xml")) == 1
    assert len(loopback.requests_to("/new.xml")) == 2


def test_hot_swapped_watchlist_applies_to_next_poll(
    loopback: LoopbackServer, rig_factory: Any
) -> None:
    loopback.add_feed("/a.xml", rss(story(9, "Old")))
    rig = rig_factory(feed(loopback, "/a.xml"))
    rig.cycle()
    rig.poller.configure(
        Settings(feeds=rig.feeds, entities=(Entity("Palantir"),), allow_private_networks=True)
    )
    loopback.add_feed("/a.xml", rss(story(0, "Palantir wins Pentagon deal"), story(9, "Old")))
    rig.cycle()
    assert "entities: Palantir (Palantir)\n" in rig.out.getvalue()


@pytest.fixture
def pool_rig(loopback: LoopbackServer, tmp_path: Path) -> Iterator[Any]:
    """A poller with two real worker processes over a store file; (poller, store, pool)."""
    from bot.workers import build_parse_pool

    pool = build_parse_pool(2)
    assert pool is not None
    store = Store(tmp_path / "pool.db")
    with Fetcher(allow_private_networks=True) as fetcher:

        def make(settings: Settings) -> tuple[Poller, Store, ProcessPoolExecutor]:
            return Poller(settings, store, fetcher, parse_pool=pool), store, pool

        yield make
    pool.shutdown()
    store.close()


def test_a_dead_parse_worker_does_not_stop_parsing(loopback: LoopbackServer, pool_rig: Any) -> None:
    import os
    import signal

    url = loopback.add_feed("/a.xml", rss(story(1, "Pentagon one")))
    settings = Settings(feeds=(Feed("A", url, 60),), allow_private_networks=True)
    poller, store, pool = pool_rig(settings)
    assert poller.poll_feed(settings.feeds[0], now=NOW).status == "ok"
    for process in list(pool._processes.values()):  # the OOM killer, say
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    loopback.add_feed("/a.xml", rss(story(0, "Pentagon two"), story(1, "Pentagon one")))
    assert poller.poll_feed(settings.feeds[0], now=NOW).status == "ok"
    assert store.count_items() == 2
    loopback.add_feed("/a.xml", rss(story(2, "Pentagon three")))
    assert poller.poll_feed(settings.feeds[0], now=NOW).status == "ok"  # the new pool
    assert poller._parse_pool is not pool
    assert poller._parse_pool is not None
    poller._parse_pool.shutdown()


def test_workers_match_with_the_watchlist_of_the_latest_configuration(
    loopback: LoopbackServer, pool_rig: Any
) -> None:
    """Matching runs in the worker processes; a hot reload reaches them on the next poll."""
    url = loopback.add_feed("/a.xml", rss(story(1, "Anduril and Palantir bid")))
    first = Settings(
        feeds=(Feed("A", url, 60, backfill=5),),
        entities=(Entity("Anduril"),),
        allow_private_networks=True,
    )
    poller, store, _ = pool_rig(first)
    assert poller.poll_feed(first.feeds[0], now=NOW).alerts == 1
    assert [i.entities for i in store.latest()] == [("Anduril",)]  # not Palantir yet
    renamed = (Entity("Palantir", aliases=("Palantir Technologies",)),)
    poller.configure(Settings(feeds=first.feeds, entities=renamed, allow_private_networks=True))
    loopback.add_feed(
        "/a.xml", rss(story(2, "Palantir Technologies wins"), story(1, "Anduril and Palantir bid"))
    )
    assert poller.poll_feed(first.feeds[0], now=NOW).alerts == 1
    assert [i.title for i in store.latest(entity="Palantir")] == ["Palantir Technologies wins"]


def test_parse_workers_yield_the_cpu_to_the_polling_process(pool_rig: Any) -> None:
    """Workers run niced, so the poller (the serial stage) is never queued behind them."""
    import os

    from bot.workers import WORKER_NICE

    _, _, pool = pool_rig(Settings())
    mine = os.nice(0)
    assert pool.submit(os.nice, 0).result() == min(mine + WORKER_NICE, 19)
