"""Scheduling from Settings, and hot reload of feeds.yaml without a restart."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_config
from bot.fetcher import Fetcher
from bot.pipeline import Poller
from bot.scheduler import RELOAD_EVERY, FeedScheduler, jitter_for
from bot.store import Store
from tests.factories import rss
from tests.loopback import LoopbackServer, Request, Response

CONFIG = """\
# Our feeds (this comment must survive nothing here; we only read)
defaults:
  interval: 1h
  allow_private_networks: true
feeds:
  - name: One
    url: {url}/one.xml
  - name: Two
    url: {url}/two.xml
    interval: 30m
entities:
  - name: Anthropic
"""


@pytest.fixture
def rig(loopback: LoopbackServer, tmp_path: Path) -> Iterator[tuple[FeedScheduler, Path]]:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG.format(url=loopback.url))
    settings = load_config(path)
    store = Store(tmp_path / "r.db")
    fetcher = Fetcher(allow_private_networks=True)
    scheduler = FeedScheduler(Poller(settings, store, fetcher), config_path=path)
    yield scheduler, path
    scheduler.shutdown(wait=True)
    fetcher.close()
    store.close()


def test_reload_interval_is_well_under_a_minute() -> None:
    assert RELOAD_EVERY <= 30


def test_jitter_is_bounded() -> None:
    assert jitter_for(60) == 6
    assert jitter_for(86400) == 60


def test_jobs_follow_config_and_edits(rig: tuple[FeedScheduler, Path]) -> None:
    scheduler, path = rig
    scheduler.sync(scheduler.poller.settings, first=True)
    assert set(scheduler.feed_jobs()) == {"One", "Two"}
    text = path.read_text()
    path.write_text(
        text.replace("  - name: Two\n", "  - name: Three\n").replace("/two.xml", "/three.xml")
    )
    assert scheduler.reload() is True
    assert set(scheduler.feed_jobs()) == {"One", "Three"}
    assert scheduler.poller.settings.feed("Three") is not None
    assert scheduler.reload() is False  # unchanged file: nothing to do


def test_invalid_edit_is_refused_and_running_config_stays(
    rig: tuple[FeedScheduler, Path], caplog: pytest.LogCaptureFixture
) -> None:
    scheduler, path = rig
    scheduler.sync(scheduler.poller.settings, first=True)
    before = scheduler.poller.settings
    path.write_text(path.read_text().replace("interval: 30m", "interval: soon"))
    with caplog.at_level(logging.ERROR):
        assert scheduler.reload() is False
    assert scheduler.poller.settings is before
    assert set(scheduler.feed_jobs()) == {"One", "Two"}
    assert any("feeds.yaml:10: feeds[1].interval" in r.getMessage() for r in caplog.records)
    assert scheduler.last_reload_error


def test_disabled_feed_is_unscheduled(rig: tuple[FeedScheduler, Path]) -> None:
    scheduler, path = rig
    scheduler.sync(scheduler.poller.settings, first=True)
    path.write_text(path.read_text().replace("    interval: 30m\n", "    enabled: false\n"))
    assert scheduler.reload()
    assert set(scheduler.feed_jobs()) == {"One"}


def test_running_scheduler_polls_and_picks_up_an_added_feed(
    loopback: LoopbackServer, rig: tuple[FeedScheduler, Path]
) -> None:
    scheduler, path = rig
    polled = {name: threading.Event() for name in ("one", "two", "three")}

    def serve(name: str) -> None:
        def handler(request: Request) -> Response:
            polled[name].set()
            return Response(200, rss(), {"Content-Type": "application/rss+xml"})

        loopback.route(f"/{name}.xml", handler)

    for name in polled:
        serve(name)
    scheduler.reload_every = 0.2
    scheduler.start()
    assert polled["one"].wait(10) and polled["two"].wait(10)
    path.write_text(path.read_text() + "  - name: Lockheed Martin\n")
    path.write_text(
        path.read_text().replace(
            "entities:", f"  - name: Three\n    url: {loopback.url}/three.xml\nentities:"
        )
    )
    assert polled["three"].wait(10)
