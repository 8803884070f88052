"""One cycle over hostile feeds beside a good one: each ends as a recorded error or a bounded
partial result within the time and memory caps, and the good feed's cycle is unaffected."""

from __future__ import annotations

import gzip
import resource
import time
from datetime import timedelta
from pathlib import Path

from bot.config import Settings
from bot.fetcher import Fetcher
from bot.models import Entity, Feed
from bot.pipeline import Poller
from bot.store import Store
from tests.factories import NOW, rss
from tests.loopback import LoopbackServer, Response

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<rss version="2.0"><channel><title>&d;</title><item><title>Pentagon &d;</title>
<guid>x</guid></item></channel></rss>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>Pentagon &xxe;</title>
<guid>y</guid></item></channel></rss>"""


def many_items(count: int) -> bytes:
    return rss(
        *(
            {"title": f"Pentagon item {i}", "guid": f"i{i}", "link": f"https://n.example/{i}"}
            for i in range(count)
        )
    )


def test_hostile_feeds_do_not_hurt_the_cycle(loopback: LoopbackServer, tmp_path: Path) -> None:
    good = rss({"title": "Pentagon good news", "guid": "g", "link": "https://n.example/g"})
    loopback.add_feed("/good.xml", good)
    loopback.route("/slow.xml", lambda r: Response(200, good, delay=5.0))
    loopback.route(
        "/truncated.xml",
        lambda r: Response(200, good[: len(good) // 2], {"Content-Type": "text/xml"}),
    )
    loopback.route("/garbage.xml", lambda r: Response(200, bytes(range(256)) * 50))
    loopback.route("/empty.xml", lambda r: Response(200, b""))
    bomb = gzip.compress(b"<rss>" + b" " * (60 * 1024 * 1024))
    loopback.route("/bomb.xml", lambda r: Response(200, bomb, {"Content-Encoding": "gzip"}))
    loopback.add_feed("/ten-thousand.xml", many_items(10_000))
    huge = b"<rss><channel>" + b"<!-- padding -->" * (50 * 1024 * 1024 // 16) + b"</channel></rss>"
    loopback.route("/fifty-mb.xml", lambda r: Response(200, huge))
    loopback.add_feed("/laughs.xml", BILLION_LAUGHS)
    loopback.add_feed("/xxe.xml", XXE)
    names = [
        "good",
        "slow",
        "truncated",
        "garbage",
        "empty",
        "bomb",
        "ten-thousand",
        "fifty-mb",
        "laughs",
        "xxe",
    ]
    feeds = tuple(Feed(n, f"{loopback.url}/{n}.xml", interval=60, backfill=10**6) for n in names)
    settings = Settings(
        feeds=feeds, entities=(Entity("DoD", aliases=("Pentagon",)),), allow_private_networks=True
    )
    store = Store(tmp_path / "r.db")
    fetcher = Fetcher(allow_private_networks=True, total_timeout=2.0)
    poller = Poller(settings, store, fetcher)
    started = time.monotonic()
    outcomes = {o.feed: o for o in poller.poll_all(now=NOW, workers=10)}
    elapsed = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert outcomes["good"].status == "ok"
    assert outcomes["good"].new == 1
    assert outcomes["slow"].status == "failed" and "timed out" in (outcomes["slow"].error or "")
    assert outcomes["bomb"].status == "failed" and "larger than" in (outcomes["bomb"].error or "")
    assert outcomes["fifty-mb"].status == "failed"
    assert outcomes["garbage"].status == "failed"
    assert outcomes["empty"].status == "failed"
    assert outcomes["truncated"].status in ("ok", "failed")  # recovered partially or refused
    assert outcomes["ten-thousand"].status == "ok"
    assert outcomes["ten-thousand"].new == 1000  # bounded partial result
    for name in ("laughs", "xxe"):
        assert outcomes[name].status in ("ok", "failed")
    texts = " ".join(s.title for s in store.search("Pentagon", limit=50))
    assert "root:" not in texts and "aaaaaaaaaa" * 10 not in texts
    for name in names:
        state = store.feed_state(name)
        assert state is not None
        if outcomes[name].status == "failed":
            assert state.last_error and "\n" not in state.last_error
    assert elapsed < 20, elapsed
    assert peak_mb < 600, peak_mb
    assert poller.poll_feed(feeds[0], now=NOW + timedelta(minutes=2)).status == "not_modified"
    fetcher.close()
    store.close()
