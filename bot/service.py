"""`redline run` and `redline poll --once`: wires store, fetcher, poller, notifiers, chat apps,
the HTTP server and the scheduler.

Data flows one way: the scheduler's jobs poll into the store and outbox; the delivery worker
drains the outbox to the notifiers; chat commands read the store through queries. SIGINT and
SIGTERM finish the delivery in flight and stop within seconds.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from prometheus_client import make_wsgi_app

from bot import metrics
from bot.admin import Admin
from bot.commands import CommandRunner
from bot.config import Settings
from bot.delivery import Deliverer
from bot.digest import Digester
from bot.discord_app import build_discord
from bot.fetcher import Fetcher
from bot.metrics import StoreCollector
from bot.notifiers import Notifier, Notifiers
from bot.notifiers.terminal import TerminalNotifier
from bot.pipeline import Poller, PollOutcome
from bot.query import Queries
from bot.reminders import Reminder
from bot.routing import build_router, destinations_of
from bot.scheduler import FeedScheduler
from bot.server import DEFAULT_PORT, HttpServer, WSGIApp, build_app
from bot.slack_app import build_slack
from bot.store import Store
from bot.workers import build_parse_pool

log = logging.getLogger(__name__)

ADMIN_WEBHOOK = "@admin"  # the Discord "route" name of admins.notify.discord
STOP_BUDGET = 8.0  # seconds a SIGTERM waits for the work in flight (then exit within 10 s)


class Service:
    """One running Redline, built from Settings, a store path and (for hot reload) a config path."""

    def __init__(
        self,
        settings: Settings,
        db_path: Path,
        *,
        config_path: Path | None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.environ = env
        self.started_at = datetime.now(UTC)
        self.store = Store(db_path)
        self.fetcher = Fetcher(allow_private_networks=settings.allow_private_networks)
        queries = Queries(
            self.store,
            lambda: self.settings,
            next_polls=lambda: self.scheduler.feed_jobs(),
            started_at=self.started_at,
        )
        self.admin = Admin(
            self.store,
            config_path,
            settings=lambda: self.settings,
            on_change=self.apply,
            fetcher=self.fetcher,
        )
        self.runner = CommandRunner(queries, self.admin)
        self.slack = build_slack(env, self.runner, lambda: self.settings.admins)
        self.discord = build_discord(env, self.runner, lambda: self.settings.admins, self._webhook)
        chat: list[Notifier] = [x.notifier for x in (self.slack, self.discord) if x is not None]
        self.notifiers = Notifiers([TerminalNotifier(), *chat])
        self.deliverer = Deliverer(
            self.store,
            self.notifiers,
            max_attempts=settings.delivery_attempts,
            admin_destinations=self.admin_destinations,
            configured=self.configured,
        )
        self.parse_pool = build_parse_pool()
        self.poller = Poller(
            settings,
            self.store,
            self.fetcher,
            parse_pool=self.parse_pool,
            router=lambda s: build_router(s, self.notifiers.prefixes),
            on_alert=self.deliverer.wake.set,
            admin_destinations=self.admin_destinations,
        )
        self.scheduler = FeedScheduler(self.poller, config_path=config_path, apply=self.apply)
        self._apply_lock = threading.Lock()
        self._retired: list[Fetcher] = []
        self.reminder = Reminder(
            self.store, self.notifiers, admin_destinations=self.admin_destinations
        )
        self.digester = Digester(self.store, self.notifiers)
        self.http: HttpServer | None = None
        self.drained = True  # False when a stop left polls in flight (see run_until_stopped)
        self._collector: StoreCollector | None = None
        self.stop = threading.Event()

    @property
    def settings(self) -> Settings:
        """The running configuration (hot reloads and admin edits replace it)."""
        return self.poller.settings

    def apply(self, settings: Settings) -> None:
        """A new configuration (a hot reload or an admin edit): matching, routes, schedule,
        the address guard and delivery limits all follow at once, one change at a time."""
        with self._apply_lock:
            previous = self.poller.settings
            if settings.allow_private_networks != previous.allow_private_networks:
                self._retired.append(self.fetcher)  # polls in flight finish with it
                self.fetcher = Fetcher(allow_private_networks=settings.allow_private_networks)
                self.poller.fetcher = self.fetcher
                self.admin.fetcher = self.fetcher
            self.poller.configure(settings)
            self.deliverer.max_attempts = settings.delivery_attempts
            self.deliverer.reset_broken()
            if self.scheduler.running:
                self.scheduler.sync(settings)

    def admin_destinations(self) -> tuple[str, ...]:
        """Where admin notices go: admins.notify, else the terminal (and the log)."""
        admins = self.settings.admins
        found = []
        if admins.notify_slack and "slack" in self.notifiers.prefixes:
            found.append(f"slack:{admins.notify_slack}")
        if admins.notify_discord and "discord" in self.notifiers.prefixes:
            found.append(f"discord:{ADMIN_WEBHOOK}")
        return tuple(found) or ("terminal",)

    def configured(self, destination: str) -> bool:
        """Whether the running configuration still sends anything to ``destination``."""
        if destination == "terminal" or destination in self.admin_destinations():
            return True
        platforms = self.notifiers.prefixes
        return any(destination in destinations_of(r, platforms) for r in self.settings.routes)

    def _webhook(self, route: str) -> str | None:
        settings = self.settings
        if route == ADMIN_WEBHOOK:
            return settings.admins.notify_discord
        return next((r.discord for r in settings.routes if r.name == route), None)

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
        if not self.drained:
            # Threads still poll: closing the store under them would be unsafe. The process
            # exits; SQLite's WAL keeps every committed write and nothing half-written.
            return
        self.scheduler.shutdown(wait=True)
        if self.http is not None:
            self.http.close()
        if self._collector is not None:
            metrics.REGISTRY.unregister(self._collector)
        for integration in (self.slack, self.discord):
            if integration is not None:
                integration.close()
        if self.parse_pool is not None:
            self.parse_pool.shutdown(wait=True, cancel_futures=True)
        for fetcher in (*self._retired, self.fetcher):
            fetcher.close()
        self.store.close()

    def poll_once(self) -> list[PollOutcome]:
        """One cycle over every enabled feed, then deliver what it found."""
        outcomes = self.poller.poll_all()
        self.deliverer.deliver_due()
        self._tidy_index()
        return outcomes

    # -- running -------------------------------------------------------------------------------

    def start(self, *, port: int | None = None, host: str = "0.0.0.0") -> None:  # noqa: S104
        """Start the HTTP server, chat connections, the delivery worker and the scheduler."""
        self._start_http(port, host)
        if self.slack is not None:
            self.slack.start()
        worker = threading.Thread(target=self.deliverer.run_forever, name="delivery", daemon=True)
        worker.start()
        self._worker = worker
        self.scheduler.every(60, self._remind_and_digest, "reminders-and-digest")
        self.scheduler.every(60, self._tidy_index, "search-index")
        self.scheduler.start()
        settings = self.settings
        log.info(
            "redline running feeds=%d entities=%d notifiers=%s db=%s",
            sum(1 for feed in settings.feeds if feed.enabled),
            len(settings.entities),
            ",".join(self.notifiers.prefixes),
            self.store.path,
        )

    def run_until_stopped(self, *, budget: float = STOP_BUDGET) -> bool:
        """Start everything; after SIGINT or SIGTERM, let the delivery and polls in flight
        finish for up to ``budget`` seconds. True when everything finished in time."""
        self._install_signal_handlers()
        self.start(port=int(self.environ.get("REDLINE_PORT") or DEFAULT_PORT))
        self.stop.wait()
        log.info("stopping")
        self.poller.stopping = True
        self.deliverer.stop.set()
        self.deliverer.wake.set()
        deadline = time.monotonic() + budget
        jobs = threading.Thread(
            target=self.scheduler.shutdown, kwargs={"wait": True}, name="stop", daemon=True
        )
        jobs.start()
        self._worker.join(timeout=max(deadline - time.monotonic(), 0))
        jobs.join(timeout=max(deadline - time.monotonic(), 0))
        self.drained = not (jobs.is_alive() or self._worker.is_alive())
        if not self.drained:
            log.warning("stopping with polls still in flight; their items are polled again")
        return self.drained

    def _start_http(self, port: int | None, host: str) -> None:
        collector = StoreCollector(self.store)
        metrics.REGISTRY.register(collector)
        self._collector = collector
        routes: dict[str, WSGIApp] = {"/metrics": make_wsgi_app(metrics.REGISTRY)}
        if self.slack is not None and self.slack.wsgi is not None:
            routes["/slack/events"] = self.slack.wsgi
        if self.discord is not None and self.discord.wsgi is not None:
            routes["/discord/interactions"] = self.discord.wsgi
        try:
            self.http = HttpServer(build_app(routes, self.health), host=host, port=port or 0)
        except OSError as error:
            if "/slack/events" in routes or "/discord/interactions" in routes:
                raise
            log.warning("http server not started port=%s error=%s", port, error)
            return
        self.http.start()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Scheduler alive, a recent successful poll, and a writable database."""
        facts: dict[str, Any] = {"scheduler": self.scheduler.running}
        states = self.store.feed_states()
        successes = [s.last_success_at for s in states if s.last_success_at]
        last = max(successes) if successes else None
        facts["last_success_age_s"] = (
            round((datetime.now(UTC) - last).total_seconds()) if last else None
        )
        try:
            self.store.check_writable()
            facts["db"] = "ok"
        except Exception as error:  # any failure is reported, not raised
            facts["db"] = f"error: {error}"
        enabled = [f for f in self.settings.feeds if f.enabled]
        limit = timedelta(seconds=3 * max((f.interval for f in enabled), default=600.0) + 600)
        # Healthy: nothing to poll, or a poll succeeded recently (or we only just started).
        newest = last or self.started_at
        fresh = not enabled or datetime.now(UTC) - newest < limit
        return bool(facts["scheduler"] and facts["db"] == "ok" and fresh), facts

    def _remind_and_digest(self) -> None:
        settings = self.settings
        self.reminder.run(settings.reminders)
        self.digester.run(settings)

    def _tidy_index(self) -> None:
        """Keep searches fast: merge the search index's segments (at most a second a minute)."""
        try:
            self.store.tidy_index()
        except sqlite3.OperationalError as error:  # locked for too long: the next run merges
            log.warning("search index not merged: %s", error)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, frame: FrameType | None) -> None:
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
