"""`redline run` and `redline poll --once`: wires store, fetcher, poller, notifiers, scheduler.

Data flows one way: the scheduler's jobs poll into the store and outbox; the delivery worker
drains the outbox to the notifiers. SIGINT/SIGTERM stop both cleanly.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType

from bot.config import Settings
from bot.delivery import Deliverer
from bot.digest import Digester
from bot.fetcher import Fetcher
from bot.notifiers import Notifiers
from bot.notifiers.terminal import TerminalNotifier
from bot.pipeline import Poller, PollOutcome
from bot.reminders import Reminder
from bot.scheduler import FeedScheduler
from bot.store import Store

log = logging.getLogger(__name__)


class Service:
    """One running Redline: built from Settings, a store path and (for hot reload) a config path."""

    def __init__(self, settings: Settings, db_path: Path, *, config_path: Path | None) -> None:
        self.store = Store(db_path)
        self.fetcher = Fetcher(allow_private_networks=settings.allow_private_networks)
        self.notifiers = Notifiers([TerminalNotifier()])
        self.deliverer = Deliverer(self.store, self.notifiers)
        self.poller = Poller(settings, self.store, self.fetcher, on_alert=self.deliverer.wake.set)
        self.scheduler = FeedScheduler(self.poller, config_path=config_path)
        self.reminder = Reminder(self.store, self.notifiers)
        self.digester = Digester(self.store, self.notifiers)
        self.stop = threading.Event()

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.scheduler.shutdown(wait=True)
        self.fetcher.close()
        self.store.close()

    def poll_once(self) -> list[PollOutcome]:
        """One cycle over every enabled feed, then deliver what it found."""
        outcomes = self.poller.poll_all()
        self.deliverer.deliver_due()
        return outcomes

    def run_until_stopped(self) -> None:
        """Start the scheduler and the delivery worker; return after SIGINT or SIGTERM."""
        self._install_signal_handlers()
        worker = threading.Thread(
            target=self.deliverer.run_forever, args=(self.stop,), name="delivery", daemon=True
        )
        worker.start()
        self.scheduler.every(60, self._remind_and_digest, "reminders-and-digest")
        self.scheduler.start()
        settings = self.poller.settings
        log.info(
            "redline running feeds=%d entities=%d notifiers=%s db=%s",
            sum(1 for feed in settings.feeds if feed.enabled),
            len(settings.entities),
            ",".join(self.notifiers.prefixes),
            self.store.path,
        )
        self.stop.wait()
        log.info("stopping")
        self.deliverer.wake.set()
        self.scheduler.shutdown(wait=True)
        worker.join(timeout=10)

    def _remind_and_digest(self) -> None:
        settings = self.poller.settings
        self.reminder.run(settings.reminders)
        self.digester.run(settings)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, frame: FrameType | None) -> None:
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
