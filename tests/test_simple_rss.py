"""The RSS fast path against feedparser: whenever it answers, parse_feed's result is the same.

Three sources of documents: feedparser's own corpus, generated RSS 2.0 (hypothesis) built from
the elements the fast path accepts with text chosen to hit feedparser's quirks (HTML guessing,
mojibake repair, cp1252, URL joining, entity-looking links), and hand-written documents it must
decline.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import ParseError
from bot.models import ParsedFeed
from bot.parser import parse_feed
from bot.simple_rss import parse_simple_rss
from tests.test_corpus_robustness import FILES, content_type

NAMESPACES = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:x="urn:example:x"'
)


def both(data: bytes, kind: str | None) -> tuple[ParsedFeed | str, ParsedFeed | str]:
    """parse_feed with and without the fast path; a ParseError becomes its message."""

    def run(fast_path: bool) -> ParsedFeed | str:
        try:
            return parse_feed(data, content_type=kind, fast_path=fast_path)
        except ParseError as exc:
            return f"ParseError: {exc}"

    return run(True), run(False)


def rss(channel: str, *, root: str = '<rss version="2.0" {ns}>') -> bytes:
    head = root.format(ns=NAMESPACES)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{head}<channel>{channel}</channel></rss>'.encode()
    )


def test_corpus_documents_the_fast_path_accepts_parse_the_same() -> None:
    accepted, different = 0, []
    for path in FILES:
        data = path.read_bytes()
        kind = content_type(path, data)
        if not data.strip() or parse_simple_rss(data, kind) is None:
            continue
        accepted += 1
        fast, slow = both(data, kind)
        if fast != slow:
            different.append(path.name)
    assert different == []
    assert accepted >= 50  # the corpus has ~90 plain RSS 2.0 documents: the path is exercised


# -- generated documents ---------------------------------------------------------------------

FRAGMENTS = (
    "Pentagon",
    " deadline ",
    "<b>bold</b>",
    "</p>",
    "<p>",
    "<script>x</script>",
    "&amp;",
    "&lt;i&gt;",
    "&nbsp;",
    "&copy;",
    "&bogus;",
    "&#169;",
    "Ã©",  # UTF-8 read as Latin-1: feedparser repairs it
    "Ã",
    "\x93quoted\x94",  # C1 controls: feedparser maps them as cp1252
    "\x85",
    "é",
    "€",
    "中文",
    "\u2028",
    "\xa0",
    "\t",
    "\n  ",
    "http://example.com/a?b=1&c=2",
    "http:///example.com//x",
    "/relative/path",
    "a&b;c",
    "]]",
    "'\"",
)
text = st.lists(st.sampled_from(FRAGMENTS), max_size=5).map("".join)
LINKS = ("https://news.example/1", "https://news.example/2", "https://news.example/q?a=1&b;c=2")
urls = st.one_of(text, st.sampled_from(LINKS), st.tuples(st.sampled_from(LINKS), text).map("".join))
dates = st.sampled_from(
    (
        "Fri, 27 Feb 2026 17:01:00 EST",
        "Mon, 02 Mar 2026 09:00:00 +0000",
        "2026-03-02T09:00:00Z",
        "2026-03-02",
        "not a date",
        "",
        "Thu, 31 Feb 2026 25:61:00 GMT",
    )
)


def body(value: str, cdata: bool) -> str:
    return f"<![CDATA[{value}]]>" if cdata and "]]>" not in value else escape(value)


def element(name: str, value: str, cdata: bool, attrs: str = "") -> str:
    return f"<{name}{attrs}>{body(value, cdata)}</{name}>"


@st.composite
def child(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(
            (
                "title",
                "link",
                "description",
                "guid",
                "pubDate",
                "dc:date",
                "author",
                "dc:creator",
                "category",
                "dc:subject",
                "content:encoded",
                "comments",
                "enclosure",
                "source",
                "x:extra",
            )
        )
    )
    cdata = draw(st.booleans())
    if kind in ("pubDate", "dc:date"):
        return element(kind, draw(dates), cdata)
    if kind == "enclosure":
        return '<enclosure url="http://example.com/a.mp3" length="1" type="audio/mpeg"/>'
    attrs = ""
    if kind == "guid":
        permalink = draw(st.sampled_from((None, "true", "false", "True")))
        attrs = "" if permalink is None else f" isPermaLink={quoteattr(permalink)}"
    elif kind == "category" and draw(st.booleans()):
        attrs = ' domain="http://example.com/scheme"'
    elif kind == "source":
        attrs = ' url="http://example.com/source.xml"'
    return element(kind, draw(urls if kind in ("link", "guid") else text), cdata, attrs)


@st.composite
def document(draw: st.DrawFn) -> tuple[bytes, bool]:
    """An RSS 2.0 document and whether it stays inside the fast path (one description per item)."""
    parts, simple = [], True
    for _ in range(draw(st.integers(0, 3))):
        children = draw(st.lists(child(), max_size=9))
        simple &= sum(c.startswith("<description") for c in children) <= 1
        parts.append("<item>" + "".join(children) + "</item>")
    channel_bits = [
        element("title", draw(text), draw(st.booleans())) for _ in range(draw(st.integers(0, 2)))
    ]
    if draw(st.booleans()):
        channel_bits.append(
            f"<image><url>http://e.com/i.png</url>{element('title', draw(text), False)}</image>"
        )
    if draw(st.booleans()):
        channel_bits.append(f"<ttl>{draw(st.sampled_from(('60', ' 15 ', 'soon', '0')))}</ttl>")
    channel_bits.append(
        '<atom:link href="http://e.com/feed" rel="self" type="application/rss+xml"/>'
    )
    order = draw(st.permutations(channel_bits + parts))
    return rss("".join(order)), simple


KINDS = (
    None,
    "application/rss+xml",
    "application/rss+xml; charset=utf-8",
    "text/xml; charset=utf-8",
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document(), st.sampled_from(KINDS))
def test_generated_rss_parses_the_same_on_both_paths(
    doc: tuple[bytes, bool], kind: str | None
) -> None:
    data, simple = doc
    if simple:  # the path must really be taken, or this test proves nothing
        assert parse_simple_rss(data, kind) is not None
    fast, slow = both(data, kind)
    assert fast == slow


def test_the_fast_path_covers_a_typical_news_item() -> None:
    data = rss(
        "<title>Wire</title><ttl>30</ttl>"
        "<item><title>Pentagon sets a Friday deadline</title>"
        "<link>https://news.example/a?utm_source=x&amp;id=7</link>"
        "<dc:creator><![CDATA[A. Reporter]]></dc:creator>"
        "<pubDate>Fri, 27 Feb 2026 17:01:00 EST</pubDate>"
        '<category><![CDATA[Defense]]></category><guid isPermaLink="false">wire-7</guid>'
        "<description>&lt;p&gt;The &lt;b&gt;Department of War&lt;/b&gt; said&lt;/p&gt;"
        "</description>"
        "</item>"
    )
    assert parse_simple_rss(data, "application/rss+xml") is not None
    parsed = parse_feed(data, content_type="application/rss+xml")
    assert parsed == parse_feed(data, content_type="application/rss+xml", fast_path=False)
    [item] = parsed.items
    assert (item.id, item.link, item.author) == (
        "wire-7",
        "https://news.example/a?id=7",
        "A. Reporter",
    )
    assert item.summary == "The Department of War said"
    assert parsed.title == "Wire" and parsed.ttl == 1800


# -- documents it must leave to feedparser ------------------------------------------------------

ITEM_OK = "<title>t</title><link>https://e.com/a</link>"
DECLINED = {
    "atom": b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>',
    "rdf": b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    b'xmlns="http://purl.org/rss/1.0/"><channel><title>t</title></channel></rdf:RDF>',
    "alternate atom:link in an item": rss(
        f'<item>{ITEM_OK}<atom:link rel="alternate" href="https://e.com/b"/></item>'
    ),
    "media:title": rss(
        '<item><media:title xmlns:media="http://search.yahoo.com/mrss/">m</media:title></item>'
    ),
    "dc prefix on an unknown namespace": rss(
        '<item><dc:title xmlns:dc="urn:not-dublin-core">x</dc:title></item>'
    ),
    "default namespace": rss(f"<item>{ITEM_OK}</item>", root='<rss version="2.0" xmlns="urn:x">'),
    "xml:base": rss(
        f"<item>{ITEM_OK}</item>", root='<rss version="2.0" xml:base="https://e.com/">'
    ),
    "second description": rss(
        "<item><description>a</description><description>b</description></item>"
    ),
    "markup inside a description": rss("<item><description><p>a</p></description></item>"),
    "typed title": rss('<item><title type="html">a</title></item>'),
    "atom-style summary in RSS": rss("<item><summary>s</summary></item>"),
    "undefined entity": rss("<item><title>&nbsp;</title></item>"),
    "two channels": b'<rss version="2.0"><channel/><channel/></rss>',
    "content:encoded under a capitalised unknown prefix": rss(
        '<item><title>x</title><Content:encoded xmlns:Content="urn:other">Pentagon'
        "</Content:encoded></item>"
    ),
    "itunes:summary under a capitalised unknown prefix": rss(
        '<item><Itunes:summary xmlns:Itunes="urn:other">Pentagon</Itunes:summary></item>'
    ),
    "x_published_parsed collision": rss(
        '<item><published:parsed xmlns:published="urn:p">1</published:parsed></item>'
    ),
}


@pytest.mark.parametrize("name", DECLINED)
def test_documents_outside_plain_rss_are_left_to_feedparser(name: str) -> None:
    data = DECLINED[name]
    assert parse_simple_rss(data, None) is None
    fast, slow = both(data, None)
    assert fast == slow


def test_encoding_feedparser_would_flag_is_declined() -> None:
    data = rss("<title>caf\u00e9</title>")
    # RFC 3023: text/xml without a charset is us-ascii; feedparser overrides it and says so.
    assert parse_simple_rss(data, "text/xml") is None
    fast, slow = both(data, "text/xml")
    assert fast == slow and isinstance(fast, ParsedFeed) and fast.error


def test_a_body_naming_a_local_file_is_not_read_as_that_file(tmp_path: Path) -> None:
    secret = tmp_path / "feed.xml"
    secret.write_bytes(rss("<title>local file</title><item><title>secret</title></item>"))
    for fast_path in (True, False):
        with pytest.raises(ParseError):
            parse_feed(str(secret).encode(), fast_path=fast_path)
