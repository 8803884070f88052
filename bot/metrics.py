"""Prometheus metrics, served at /metrics. Counters live here and are bumped by the stages;
gauges that describe the store (outbox depth, dead letters, failing feeds) are read from it at
scrape time by ``StoreCollector``, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from bot.store import Store

REGISTRY = CollectorRegistry()

POLLS = Counter(
    "redline_polls",
    "Feed polls by outcome (ok, not_modified, failed, skipped)",
    ["status"],
    registry=REGISTRY,
)
FETCHES = Counter(
    "redline_fetches",
    "Feed fetch results by status class (2xx, 304, 3xx, 4xx, 5xx, error)",
    ["status_class"],
    registry=REGISTRY,
)
ITEMS_STORED = Counter("redline_items_stored", "New items stored", registry=REGISTRY)
MATCHES = Counter(
    "redline_matches", "New items matching each watched entity", ["entity"], registry=REGISTRY
)
ALERTS = Counter(
    "redline_alerts",
    "Alert deliveries by platform and result (sent, failed, dead)",
    ["platform", "result"],
    registry=REGISTRY,
)
COMMAND_SECONDS = Histogram(
    "redline_command_seconds",
    "Slash-command latency by platform",
    ["platform"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)


def status_class(status: int | None) -> str:
    """``2xx``, ``304``, ``3xx``, ``4xx``, ``5xx`` or ``error`` (no HTTP answer)."""
    if status is None:
        return "error"
    if status == 304:
        return "304"
    return f"{status // 100}xx" if 200 <= status < 600 else "error"


class StoreCollector(Collector):
    """Gauges read from the store at scrape time."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        outbox = self.store.outbox_counts()
        depth = GaugeMetricFamily("redline_outbox_depth", "Alert deliveries waiting to be sent")
        depth.add_metric([], outbox.get("pending", 0))
        yield depth
        dead = GaugeMetricFamily("redline_dead_letters", "Alert deliveries given up on")
        dead.add_metric([], outbox.get("dead", 0))
        yield dead
        failing = GaugeMetricFamily(
            "redline_feed_failures", "Consecutive failed polls per feed", labels=["feed"]
        )
        for state in self.store.feed_states():
            failing.add_metric([state.name], state.failures)
        yield failing
        fetched = {s.labels["status_class"]: s.value for s in _samples(FETCHES, "_total")}
        total = sum(fetched.values())
        ratio = GaugeMetricFamily(
            "redline_not_modified_ratio", "Share of fetches answered 304 Not Modified"
        )
        ratio.add_metric([], fetched.get("304", 0.0) / total if total else 0.0)
        yield ratio


def _samples(metric: Counter, suffix: str) -> Iterator[Sample]:
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(suffix):
                yield sample
