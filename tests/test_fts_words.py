"""bot.fts_words answers as FTS5 does, or defers to it: checked against a real FTS5 table."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.fts_words import has_words, plain_words

# Characters on both sides of the ASCII line that FTS5's unicode61 tokenizer treats in every
# way: separators (ASCII punctuation, "_", em dash, curly quote, soft hyphen, NBSP), letters it
# folds (É, combining acute, ß, dotted İ, Kelvin sign, long s, fullwidth A), digits outside
# ASCII, private use, and characters newer than SQLite's Unicode tables (an emoji, a
# bidi isolate, an unassigned code point), which it takes as word characters.
ALPHABET = "contraiCONTRAI x19_-.'\n—’\u00ad\u00a0ÉéßİKſＡ²٣\u0301\ue000🤖\u2069\u0378₿"
WORDS = ("contract", "ai", "x1", "9", "on", "contra")


def fts5_matches(rows: list[tuple[str, str]], query: str) -> set[int]:
    """Rowids (1-based) of ``rows`` (title, summary) that FTS5's default tokenizer matches."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5 (title, summary)")
        conn.executemany("INSERT INTO t (title, summary) VALUES (?, ?)", rows)
        return {row[0] for row in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (query,))}


@settings(max_examples=600, deadline=None)
@given(
    title=st.text(ALPHABET, max_size=30),
    summary=st.text(ALPHABET, max_size=60),
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=2),
)
def test_has_words_agrees_with_fts5(title: str, summary: str, words: list[str]) -> None:
    query = " ".join(f'"{w}"' for w in words)
    plain = plain_words(query)
    assert plain is not None
    answer = has_words(f"{title}\n{summary}", plain)
    if answer is not None:
        assert answer == (fts5_matches([(title, summary)], query) == {1})


@pytest.mark.parametrize(
    "text",
    [
        "contra\u0301ct",  # FTS5 drops the combining accent: one token, "contract"
        "x\ue000contract",  # private use joins the token
        "contract\ue000",
        "\u017fcontract",  # long s
        "\uff41contract",  # fullwidth a
        "contract\u00b2",  # superscript two: a digit to FTS5
        "\uff23ontract",
        "con\u00adtract",  # soft hyphen: a separator
        "\u0130contract",  # dotted capital I
        "contract\u212a",  # Kelvin sign
        "\u00c9CONTRACT",
        "CONTRACT_award",
        "contract\u2014x",
        "a\u0301i contract",
        "contract🤖",  # newer than SQLite's tables: part of the token
        "\u2068contract\u2069",  # bidi isolates
        "contract\u0378",  # unassigned
    ],
)
def test_has_words_agrees_with_fts5_at_the_edges(text: str) -> None:
    answer = has_words(text, ("contract",))
    assert answer is None or answer == (fts5_matches([(text, "")], '"contract"') == {1})


def test_a_token_longer_than_fts5_keeps_goes_to_fts5() -> None:
    word = "b" * 32_768  # FTS5 cuts tokens at 32,768 bytes: a longer run matches this word
    answer = has_words("b" * 33_000, (word,))
    assert answer is None or answer == (fts5_matches([("b" * 33_000, "")], f'"{word}"') == {1})


def test_has_words_agrees_with_fts5_next_to_any_character() -> None:
    """One code point in 37, from U+0080 to the last, on either side of a word."""
    chars = [chr(c) for c in range(0x80, 0x110000, 37) if not 0xD800 <= c <= 0xDFFF]
    rows = [(f"contract{c}", f"{c}ai") for c in chars]
    contract, ai = fts5_matches(rows, '"contract"'), fts5_matches(rows, '"ai"')
    answered = 0
    for n, (title, summary) in enumerate(rows, start=1):
        for word, found in (("contract", contract), ("ai", ai)):
            answer = has_words(f"{title}\n{summary}", (word,))
            if answer is not None:
                answered += 1
                assert answer == (n in found), (hex(ord(title[-1])), word)
    assert answered > 100  # the separators among them were answered here


def test_has_words_answers_for_ascii_words_and_defers_otherwise() -> None:
    assert plain_words('"Contract" "AI"') == ("contract", "ai")
    assert plain_words('"contr"*') is None  # a prefix
    assert plain_words('"national security"') is None  # a phrase
    assert plain_words('"zürich"') is None
    assert has_words("A contract—signed “today”", ("contract",)) is True
    assert has_words("Subcontractors' day", ("contract",)) is False
    assert has_words("CONTRACT_award", ("contract",)) is True  # "_" separates tokens
    assert has_words("Résumé contract", ("contract",)) is None  # FTS5 folds é: it decides
    assert has_words("contract🤖", ("contract",)) is None
