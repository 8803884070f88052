"""Deadline extraction and entity matching scored against the hand-labelled news corpus.

tests/data/corpus.jsonl holds realistic defense-AI items, each labelled by reading it: the
entities a careful reader finds mentioned and the deadlines it states (dates on or after its
publication). Scores are over (item id, date) and (item id, entity) pairs; ``pytest -s`` shows
them together with every miss and false alarm.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.deadlines import item_deadlines
from bot.matcher import compile_watchlist, match_item
from bot.models import Entity, Item

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus.jsonl"
WATCHLIST = DATA / "corpus_watchlist.yaml"

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Score:
    expected: frozenset[Pair]
    found: frozenset[Pair]

    @property
    def precision(self) -> float:
        return len(self.found & self.expected) / len(self.found) if self.found else 1.0

    @property
    def recall(self) -> float:
        return len(self.found & self.expected) / len(self.expected) if self.expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def report(self, what: str) -> str:
        lines = [
            f"{what}: precision {self.precision:.3f}  recall {self.recall:.3f}  F1 {self.f1:.3f}"
            f"  ({len(self.found & self.expected)} right, {len(self.found - self.expected)} false,"
            f" {len(self.expected - self.found)} missed, of {len(self.expected)})"
        ]
        lines += [f"  false  {item} {value}" for item, value in sorted(self.found - self.expected)]
        lines += [f"  missed {item} {value}" for item, value in sorted(self.expected - self.found)]
        return "\n".join(lines)


def load_corpus() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def published(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["published"])


def to_item(row: dict[str, Any]) -> Item:
    return Item(id=row["id"], title=row["title"], summary=row["summary"], published=published(row))


def load_watchlist() -> list[Entity]:
    document = YAML(typ="safe").load(WATCHLIST.read_text(encoding="utf-8"))
    return [
        Entity(
            name=entry["name"],
            aliases=tuple(entry.get("aliases", ())),
            exclude=tuple(entry.get("exclude", ())),
            context=tuple(entry.get("context", ())),
            case_sensitive=bool(entry.get("case_sensitive", False)),
        )
        for entry in document["entities"]
    ]


def pairs(rows: Iterable[tuple[str, Iterable[str]]]) -> frozenset[Pair]:
    return frozenset((item_id, value) for item_id, values in rows for value in values)


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return load_corpus()


def test_corpus_is_well_formed(corpus: list[dict[str, Any]]) -> None:
    ids = [row["id"] for row in corpus]
    assert len(ids) == len(set(ids)) >= 90
    names = {entity.name for entity in load_watchlist()}
    for row in corpus:
        assert published(row).utcoffset() is not None, row["id"]
        assert row["kind"] in ("deadline", "hard_negative", "negative"), row["id"]
        assert (row["kind"] == "deadline") == bool(row["deadlines"]), row["id"]
        assert set(row["entities"]) <= names, row["id"]
        for day in row["deadlines"]:  # a stated deadline already past is not a label
            assert date.fromisoformat(day) >= published(row).date(), row["id"]
    positives = sum(row["kind"] == "deadline" for row in corpus) / len(corpus)
    hard = sum(row["kind"] == "hard_negative" for row in corpus) / len(corpus)
    print(
        f"\ncorpus: {len(corpus)} items, {positives:.0%} with deadlines, {hard:.0%} hard negatives"
    )
    assert 0.35 <= positives <= 0.55
    assert hard >= 0.30


def test_deadline_scores(corpus: list[dict[str, Any]]) -> None:
    items = [(to_item(row), published(row)) for row in corpus]
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        found = [(item.id, item_deadlines(item, when)) for item, when in items]
    per_item_ms = (time.perf_counter() - started) * 1000 / (rounds * len(items))
    score = Score(
        expected=pairs((row["id"], row["deadlines"]) for row in corpus),
        found=pairs((item_id, (d.date.isoformat() for d in ds)) for item_id, ds in found),
    )
    print("\n" + score.report("deadlines") + f"\n  {per_item_ms:.3f} ms per item")
    assert score.precision >= 0.90
    assert score.recall >= 0.85
    assert per_item_ms < 5  # generous: measured well under a millisecond


def test_entity_scores(corpus: list[dict[str, Any]]) -> None:
    watchlist = compile_watchlist(load_watchlist())
    score = Score(
        expected=pairs((row["id"], row["entities"]) for row in corpus),
        found=pairs(
            (row["id"], (m.entity for m in match_item(watchlist, to_item(row)))) for row in corpus
        ),
    )
    print("\n" + score.report("entities"))
    assert score.f1 >= 0.95
