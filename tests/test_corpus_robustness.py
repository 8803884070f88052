"""parse_feed over feedparser's own test corpus: nothing but ParsedFeed or ParseError comes out.

The corpus (391 feeds: ill-formed XML, legacy encodings, entities, every format) lives in
shared/corpora/feedparser-tests beside the repository clone; see its README for provenance.
"""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

import feedparser
import pytest

from bot.errors import ParseError
from bot.models import ParsedFeed
from bot.parser import TITLE_CAP, html_to_text, parse_feed

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "feedparser-tests"
if not CORPUS.is_dir():
    pytest.skip(f"feedparser corpus not found at {CORPUS}", allow_module_level=True)

FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file())
ILLFORMED = [p for p in FILES if p.relative_to(CORPUS).parts[0] == "illformed"]
MAX_ITEMS = 1000
_HEADER_TYPE = re.compile(rb"^Header:\s*Content-type:\s*(.*?)\s*$", re.M | re.I)
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\ud800-\udfff]")


def rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def content_type(path: Path, data: bytes) -> str | None:
    """The Content-Type feedparser's harness would serve: the file's Header: line, else text/xml
    for files under an http folder, else none (a plain document)."""
    match = _HEADER_TYPE.search(data)
    if match:
        return match.group(1).decode("ascii", "replace")
    return "text/xml" if "http" in rel(path) else None


def headers(path: Path, data: bytes) -> dict[str, str] | None:
    kind = content_type(path, data)
    return {"content-type": kind} if kind else None


def parse_or_none(path: Path) -> ParsedFeed | None:
    data = path.read_bytes()
    try:
        return parse_feed(data, content_type=content_type(path, data), max_items=MAX_ITEMS)
    except ParseError:
        return None


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_parse_returns_feed_or_raises_parse_error(path: Path) -> None:
    parsed = parse_or_none(path)  # any other exception fails the test
    if parsed is None:
        return
    assert isinstance(parsed, ParsedFeed)
    assert len(parsed.title) <= TITLE_CAP
    assert parsed.error is None or ("\n" not in parsed.error and len(parsed.error) <= 200)
    for item in parsed.items:
        assert item.id
        texts = [item.id, item.title, item.summary, item.content, item.author or ""]
        texts += [*item.categories, parsed.title]
        for text in texts:
            assert isinstance(text, str)
            assert not _INVISIBLE.search(text), f"control character or surrogate in {text!r}"
            text.encode("utf-8")  # storable and sendable
        assert item.link is None or item.link.startswith(("http://", "https://"))
        assert item.published is None or item.published.tzinfo is UTC


@pytest.mark.parametrize("path", ILLFORMED, ids=rel)
def test_illformed_feeds_recover_as_many_items_as_feedparser(path: Path) -> None:
    assert_no_fewer_items(path)


@pytest.mark.parametrize("path", [p for p in FILES if p not in ILLFORMED], ids=rel)
def test_other_feeds_keep_as_many_items_as_feedparser(path: Path) -> None:
    """Removing DOCTYPEs and bad character references must not cost a well-formed feed items."""
    assert_no_fewer_items(path)


def assert_no_fewer_items(path: Path) -> None:
    data = path.read_bytes()
    raw = feedparser.parse(data, response_headers=headers(path, data))
    parsed = parse_or_none(path)
    assert (len(parsed.items) if parsed else 0) >= min(len(raw.entries), MAX_ITEMS)


@pytest.mark.parametrize("path", FILES, ids=rel)
def test_fast_feedparser_options_lose_nothing(path: Path) -> None:
    """sanitize_html=False and resolve_relative_uris=False halve feedparser's cost; they must
    not change which entries come out or what their titles say once reduced to text."""
    data = path.read_bytes()
    response_headers = headers(path, data)
    default = feedparser.parse(data, response_headers=response_headers)
    fast = feedparser.parse(
        data, response_headers=response_headers, sanitize_html=False, resolve_relative_uris=False
    )
    assert len(fast.entries) == len(default.entries)
    assert entry_titles(fast) == entry_titles(default)


def entry_titles(result: feedparser.FeedParserDict) -> list[str]:
    return [html_to_text(dict.get(entry, "title") or "") for entry in result.entries]
