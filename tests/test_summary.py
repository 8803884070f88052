"""Alert summaries: telling sentences first, at most 300 characters, never cut mid-word."""

from __future__ import annotations

from datetime import date

import pytest

from bot.models import Deadline, EntityMatch, Hit
from bot.summary import shorten, summarise
from tests.factories import make_item

TEXT = (
    "Markets were calm on Tuesday. Analysts expect little change. "
    "The Pentagon told Anthropic it has until Friday to agree. "
    "Weather was mild. Comments are due March 3, 2026, officials said."
)
PENTAGON = EntityMatch("Department of Defense", (Hit("summary", 0, 8, "Pentagon"),))


def test_sentences_naming_an_entity_or_deadline_come_first() -> None:
    deadline = Deadline(date(2026, 3, 3), "Comments are due March 3, 2026, officials said.")
    summary = summarise(make_item(summary=TEXT), [PENTAGON], [deadline])
    assert summary == (
        "The Pentagon told Anthropic it has until Friday to agree. "
        "Comments are due March 3, 2026, officials said."
    )


def test_without_telling_sentences_the_first_two_are_used() -> None:
    assert summarise(make_item(summary=TEXT)) == (
        "Markets were calm on Tuesday. Analysts expect little change."
    )


def test_content_is_used_when_summary_is_empty() -> None:
    assert summarise(make_item(summary="", content="Only content here.")) == "Only content here."
    assert summarise(make_item(summary="", content="")) == ""


@pytest.mark.parametrize("length", [10, 50, 299, 300, 301, 1000])
def test_never_longer_than_the_limit_and_never_mid_word(length: int) -> None:
    words = ("Pentagon " + "deliberations " * 200)[:length]
    summary = summarise(make_item(summary=words), [PENTAGON])
    assert len(summary) <= 300
    stem = summary.removesuffix("…")
    assert words.startswith(stem)
    assert len(stem) == len(words.strip()) or words[len(stem)] == " "


def test_shorten_handles_one_long_word() -> None:
    assert shorten("x" * 500, 300) == "x" * 299 + "…"
    assert len(shorten("x" * 500, 300)) == 300
