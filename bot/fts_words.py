"""Whether FTS5 would find plain words in a text, answered in Python where that is exact.

An entity search tests a rare entity's items one by one, and a lookup by rowid in FTS5 costs
6 to 16 µs (more with more index segments); this test costs about 1 µs. It must give FTS5's
answer, so it answers only when it can be sure and says "ask FTS5" (None) otherwise.

FTS5's unicode61 tokenizer splits text into runs of word characters and folds them. In ASCII
the word characters are the letters and digits, folded by ``lower()``. Outside ASCII, which
characters SQLite treats as separators depends on the Unicode tables compiled into it (older
than Python's: an emoji or a character added since is a word character to it), so each one
met is asked of SQLite itself, once, and remembered. A text with a non-ASCII character that is
not a separator goes to FTS5.
"""

from __future__ import annotations

import re
import sqlite3
import string
import threading

__all__ = ["has_words", "plain_words"]

_PLAIN_QUERY = re.compile(r'"[A-Za-z0-9]+"(?: "[A-Za-z0-9]+")*')
_NOT_ASCII = re.compile(r"[^\x00-\x7f]")
_WORD_CHARS = frozenset(string.ascii_lowercase + string.digits)
MAX_TOKEN = 32_768  # FTS5 cuts longer tokens: a text this long goes to FTS5

_separators: dict[str, bool] = {}
_probe_lock = threading.Lock()
_probe: sqlite3.Connection | None = None


def plain_words(query: str) -> tuple[str, ...] | None:
    """The words of an FTS query of plain ASCII words (``"a" "b"``: each of them, anywhere),
    lower-cased; None for any other query."""
    if not _PLAIN_QUERY.fullmatch(query):
        return None
    return tuple(query.lower().strip('"').split('" "'))


def has_words(text: str, words: tuple[str, ...]) -> bool | None:
    """Whether FTS5 would find each of ``words`` among the tokens of ``text`` (one column, or
    columns joined by a newline), or None when only FTS5 can tell."""
    if len(text) >= MAX_TOKEN:
        return None
    if not text.isascii() and not all(map(_is_separator, set(_NOT_ASCII.findall(text)))):
        return None
    low = text.lower()
    return all(_has_word(low, word) for word in words)


def _has_word(text: str, word: str) -> bool:
    """``word`` occurs in ``text`` as a whole run of ASCII letters and digits."""
    start = text.find(word)
    while start != -1:
        end = start + len(word)
        if (start == 0 or text[start - 1] not in _WORD_CHARS) and (
            end == len(text) or text[end] not in _WORD_CHARS
        ):
            return True
        start = text.find(word, start + 1)
    return False


def _is_separator(char: str) -> bool:
    """Whether FTS5's default tokenizer splits "x<char>y" into exactly "x" and "y"."""
    known = _separators.get(char)
    if known is None:
        known = _separators[char] = _ask_sqlite(char)
    return known


def _ask_sqlite(char: str) -> bool:
    global _probe
    with _probe_lock:
        if _probe is None:
            _probe = sqlite3.connect(":memory:", check_same_thread=False)
            _probe.execute("CREATE VIRTUAL TABLE probe USING fts5 (text)")
            _probe.execute("CREATE VIRTUAL TABLE probe_terms USING fts5vocab (probe, instance)")
        _probe.execute("DELETE FROM probe")
        _probe.execute("INSERT INTO probe (rowid, text) VALUES (1, ?)", (f"x{char}y",))
        terms = _probe.execute("SELECT term, offset FROM probe_terms ORDER BY offset").fetchall()
    return terms == [("x", 0), ("y", 1)]
