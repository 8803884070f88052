"""Store under load: the poller, the delivery worker and 50 concurrent slash-command queries
for 30 seconds (REDLINE_LOAD_SECONDS), with no "database is locked" and no lost write."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

from bot.admin import Admin
from bot.commands import Caller, CommandRunner
from bot.config import Settings
from bot.delivery import Deliverer
from bot.fetcher import Fetcher
from bot.models import Entity, Feed
from bot.notifiers import Notifiers
from bot.notifiers.terminal import TerminalNotifier
from bot.pipeline import Poller
from bot.query import Queries
from bot.store import Store
from tests.loopback import LoopbackServer
from tests.test_crash import FEEDS, GrowingFeeds

SECONDS = float(os.environ.get("REDLINE_LOAD_SECONDS", "30"))
QUERIES = ("search Pentagon", 'search "story feed1"', "latest 5", "status", "feeds", "deadlines")


@pytest.mark.timeout(SECONDS + 90)
def test_fifty_queries_beside_poller_and_delivery(loopback: LoopbackServer, tmp_path: Path) -> None:
    growing = GrowingFeeds(loopback)
    feeds = tuple(
        Feed(f"Feed {n}", f"{loopback.url}/feed{n}.xml", interval=5, backfill=1000)
        for n in range(FEEDS)
    )
    settings = Settings(
        feeds=feeds,
        entities=(Entity("Department of Defense", aliases=("Pentagon",)),),
        allow_private_networks=True,
    )
    store = Store(tmp_path / "r.db")
    out = io.StringIO()
    fetcher = Fetcher(allow_private_networks=True)
    deliverer = Deliverer(store, Notifiers([TerminalNotifier(out)]))
    poller = Poller(settings, store, fetcher, on_alert=deliverer.wake.set)
    runner = CommandRunner(
        Queries(store, lambda: settings),
        Admin(store, None, settings=lambda: settings, on_change=lambda s: None),
    )
    errors: list[BaseException] = []
    answered = [0]
    stop = threading.Event()

    def guard(work: object) -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as error:  # collected and asserted on
            errors.append(error)

    def poll() -> None:
        while not stop.is_set():
            poller.poll_all(workers=4)
            time.sleep(0.05)

    def query(n: int) -> None:
        caller = Caller("slack", f"U{n:08d}")
        while not stop.is_set():
            reply = runner.run(QUERIES[n % len(QUERIES)], caller)
            assert reply.ok, reply.title
            answered[0] += 1

    threads = [threading.Thread(target=guard, args=(poll,))]
    threads.append(threading.Thread(target=guard, args=(deliverer.run_forever,)))
    threads += [threading.Thread(target=guard, args=(lambda n=n: query(n),)) for n in range(50)]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    growing.frozen = True
    for thread in threads[2:]:
        thread.join(timeout=30)
    threads[0].join(timeout=30)
    poller.poll_all()  # everything served is stored
    deliverer.stop.set()
    deliverer.wake.set()
    threads[1].join(timeout=30)
    deliverer.stop.clear()
    deliverer.deliver_due()
    fetcher.close()
    served = growing.served()
    stored = store.count_items()
    counts = store.outbox_counts()
    print(
        f"\n{SECONDS:.0f} s: {answered[0]} queries answered, {stored} items stored, "
        f"{counts.get('sent', 0)} alerts delivered, errors {len(errors)}"
    )
    store.close()
    assert errors == []
    assert stored == len(served)
    assert counts == {"sent": len(served)}
    assert out.getvalue().count("● Pentagon story") == len(served)
