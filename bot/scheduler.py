"""APScheduler jobs built from Settings: one per enabled feed, plus the config watcher.

Each feed job runs at the feed's interval with jitter, never twice at once (max_instances=1),
missed runs coalesced. The watcher re-reads feeds.yaml every few seconds; a valid edit is
applied without a restart, an invalid one is logged and the running config stays.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings, load_config
from bot.errors import ConfigError
from bot.models import Feed
from bot.pipeline import Poller

log = logging.getLogger(__name__)

RELOAD_EVERY = 15.0  # seconds between checks of feeds.yaml: edits apply well within a minute
_FEED_JOB = "feed:"


def jitter_for(interval: float) -> float:
    """Up to 10% of the interval (at most a minute), so feeds on one host spread out."""
    return min(interval * 0.1, 60.0)


class FeedScheduler:
    """Keeps APScheduler's jobs in step with the configuration."""

    def __init__(
        self,
        poller: Poller,
        *,
        config_path: Path | None = None,
        workers: int = 8,
        reload_every: float = RELOAD_EVERY,
        apply: Callable[[Settings], None] | None = None,
    ) -> None:
        self.poller = poller
        self._apply = apply
        self.config_path = config_path
        self.reload_every = reload_every
        self._config_digest = _digest(config_path) if config_path else None
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        self.last_reload_error: str | None = None

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self.sync(self.poller.settings, first=True)
        if self.config_path is not None:
            self._scheduler.add_job(
                self.reload,
                IntervalTrigger(seconds=self.reload_every),
                id="config-reload",
                replace_existing=True,
            )
        self._scheduler.start()

    def every(self, seconds: float, job: Callable[[], object], job_id: str) -> None:
        """Run ``job`` every ``seconds`` (reminders, digests), never two at once."""
        self._scheduler.add_job(
            job, IntervalTrigger(seconds=seconds), id=job_id, replace_existing=True
        )

    def shutdown(self, *, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def feed_jobs(self) -> dict[str, datetime | None]:
        """Feed name → next run time: what is scheduled now."""
        return {
            job.id.removeprefix(_FEED_JOB): job.next_run_time
            for job in self._scheduler.get_jobs()
            if job.id.startswith(_FEED_JOB)
        }

    def sync(self, settings: Settings, *, first: bool = False) -> None:
        """Add, reschedule and remove feed jobs to match ``settings``."""
        wanted = {feed.name: feed for feed in settings.feeds if feed.enabled}
        current = {job.id: job for job in self._scheduler.get_jobs()}
        for job_id, job in current.items():
            if job_id.startswith(_FEED_JOB) and job_id.removeprefix(_FEED_JOB) not in wanted:
                job.remove()
                log.info("feed unscheduled feed=%s", job_id.removeprefix(_FEED_JOB))
        now = datetime.now(UTC)
        for index, feed in enumerate(wanted.values()):
            job_id = _FEED_JOB + feed.name
            trigger = IntervalTrigger(seconds=feed.interval, jitter=jitter_for(feed.interval))
            existing = current.get(job_id)
            if existing is None:
                # First polls start at once, staggered by 50 ms so a thousand feeds don't
                # all open connections in the same instant.
                self._scheduler.add_job(
                    self.poller.poll_feed,
                    trigger,
                    args=[feed],
                    id=job_id,
                    replace_existing=True,
                    next_run_time=now + timedelta(seconds=0.05 * (index % 200)),
                    misfire_grace_time=max(int(feed.interval), 1),
                )
                if not first:
                    log.info("feed scheduled feed=%s interval=%ss", feed.name, feed.interval)
            elif existing.args[0] != feed:
                previous: Feed = existing.args[0]
                existing.modify(args=[feed])
                if previous.interval != feed.interval:
                    existing.reschedule(trigger)
                if previous.url != feed.url:
                    existing.modify(next_run_time=now)

    def reload(self) -> bool:
        """Apply feeds.yaml if it changed; returns True when a new configuration took effect."""
        assert self.config_path is not None
        digest = _digest(self.config_path)
        if digest == self._config_digest:
            return False
        self._config_digest = digest
        try:
            settings = load_config(self.config_path)
        except ConfigError as error:
            self.last_reload_error = str(error)
            for problem in error.problems:
                log.error("config edit refused, keeping the running config: %s", problem)
            return False
        self.last_reload_error = None
        if self._apply is not None:
            self._apply(settings)  # the service's one place that applies a configuration
        else:
            self.poller.configure(settings)
            self.sync(settings)
        log.info(
            "config reloaded feeds=%d entities=%d", len(settings.feeds), len(settings.entities)
        )
        return True


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
