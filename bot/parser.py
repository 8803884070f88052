"""feedparser over bytes → ParsedFeed of normalised Items.

feedparser does the hard part (encodings, RSS 0.90–2.0, RDF, Atom 0.3/1.0, broken XML). This module
adds what Redline needs on top of it and guards against two of its hazards:

* When its strict XML parser gives up, feedparser falls back to a loose parser that expands the
  entities declared in the DOCTYPE (a 25 KB feed becomes 50 MB of text). Declarations are removed
  from the prolog before feedparser sees the bytes; undefined entities then only make a feed bozo.
* A numeric character reference to a surrogate or beyond U+10FFFF makes feedparser *raise* (the
  loose parser calls ``chr()`` on it). Such references become U+FFFD first, and anything feedparser
  still raises is reported as the feed's error.

Entries become Items with a stable id, a canonical link and capped plain text.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import xml.sax
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import feedparser

from bot.errors import ParseError
from bot.models import Item, ParsedFeed
from bot.simple_rss import parse_simple_rss

__all__ = ["canonical_link", "html_to_text", "parse_feed"]

TITLE_CAP = 1000
AUTHOR_CAP = 200
ID_CAP = 1000  # a longer guid is hashed: it is a key, not text
ERROR_CAP = 200

# --- DOCTYPE and character-reference defusing (on bytes) ----------------------------------------

_PROLOG_MISC = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)
# A whole DOCTYPE, internal subset included. Possessive loops: a hostile subset cannot backtrack.
_DOCTYPE = re.compile(
    rb"""<!DOCTYPE(?:[^\["'>]+|"[^"]*"|'[^']*')*+"""
    rb"""(?:\[(?:<!--.*?-->|<\?.*?\?>|"[^"]*"|'[^']*'|[^\]"'<]+|<(?!!--|\?))*+\])?\s*>""",
    re.S | re.I,
)
_DECL_KEYWORD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)
_ROOT = re.compile(rb"<\w")  # where feedparser's own DOCTYPE handling stops looking
# Only references of 4+ hex or 5+ decimal significant digits can be out of range.
_BIG_CHARREF = re.compile(rb"&#(?:[xX]0*([1-9a-fA-F][0-9a-fA-F]{3,})|0*([1-9][0-9]{4,}));")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.I)
_DECL_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']+)""")
_DECL_ENCODING_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])[^"']*""")
# Encodings whose ASCII characters are single ASCII bytes, so a bytes regex sees what they decode
# to. Anything else (UTF-16/32, UTF-7, EBCDIC, unicode-escape...) is decoded first.
_ASCII_SAFE = re.compile(
    r"utf-8|ascii|iso8859-|cp125|cp874|cp93[26]|cp949|cp950|koi8|mac-|euc|shift_jis|big5|gb|"
    r"iso2022|hz|johab|tis-620"
)
_SNIFFED = (  # BOMs and the XML spec's "<?" markers for encodings that are not ASCII-safe
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),
)
_WIDE_STARTS = tuple(prefix for prefix, _ in _SNIFFED)
_BOMS = (codecs.BOM_UTF32_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE)


def strip_declarations(data: bytes) -> bytes:
    """Remove every DOCTYPE (internal subset included) and ENTITY declaration from the prolog.

    Removed lines are kept as newlines so feedparser's error line numbers still match the feed.
    """
    if _DECL_KEYWORD.search(data) is None:
        return data
    kept: list[bytes] = []
    pos = keep_from = 3 if data.startswith(codecs.BOM_UTF8) else 0
    while pos < len(data):
        if m := _PROLOG_MISC.match(data, pos):
            pos = m.end()
        elif m := _DOCTYPE.match(data, pos):
            kept += (data[keep_from:pos], b"\n" * data.count(b"\n", pos, m.end()))
            pos = keep_from = m.end()
        else:
            break  # the root element, or junk such as a DOCTYPE this regex cannot delimit
    root = _ROOT.search(data, pos)
    end = root.start() if root else len(data)
    # Whatever is left of a declaration loses its keyword, so no parser honours it.
    head = _DECL_KEYWORD.sub(b" ", b"".join(kept) + data[keep_from:end])
    return head + data[end:]


def _fix_charref(m: re.Match[bytes]) -> bytes:
    hex_digits, dec_digits = m.group(1), m.group(2)
    digits = hex_digits or dec_digits
    if len(digits) <= 8:
        cp = int(digits, 16 if hex_digits else 10)
        if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF:
            return m.group(0)
    return b"&#xFFFD;"


def _defuse_ascii(data: bytes) -> tuple[bytes, bool]:
    """Strip declarations and neutralise bad charrefs; say whether a charref was replaced."""
    data = strip_declarations(data)
    fixed, n = _BIG_CHARREF.subn(_fix_charref, data)
    return fixed, n > 0 and fixed != data


def _unsafe_views(data: bytes, content_type: str | None) -> list[tuple[str, int]]:
    """(codec, bytes to skip) for every non-ASCII-safe encoding feedparser might decode with."""
    views: list[tuple[str, int]] = []
    for prefix, codec in _SNIFFED:
        if data.startswith(prefix):
            views.append((codec, len(prefix) if prefix in _BOMS else 0))
            break
    charset = _CHARSET.search(content_type or "")
    declared = _DECL_ENCODING.match(data[:512])
    names = [charset.group(1)] if charset else []
    names += [declared.group(1).decode("ascii", "replace")] if declared else []
    for name in names:
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            continue
        if not _ASCII_SAFE.match(codec) and (codec, 0) not in views:
            views.append((codec, 0))
    return views


def _defuse(data: bytes, content_type: str | None) -> tuple[bytes, str | None, bool]:
    """Return bytes and content type that are safe to hand to feedparser.

    For an encoding that is not ASCII-safe, look at the text it decodes to; if that needs
    defusing, hand feedparser the defused text as UTF-8 (declaration and charset rewritten).
    """
    for codec, skip in _unsafe_views(data, content_type):
        try:
            text = data[skip:].decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue  # feedparser cannot use this encoding either
        utf8 = text.encode("utf-8", "surrogatepass")
        fixed, replaced = _defuse_ascii(utf8)
        if fixed != utf8:
            text = _DECL_ENCODING_TEXT.sub(r"\1utf-8", fixed.decode("utf-8", "replace"), count=1)
            media = (content_type or "").split(";")[0].strip()
            return text.encode("utf-8"), f"{media}; charset=utf-8" if media else None, replaced
    fixed, replaced = _defuse_ascii(data)
    return fixed, content_type, replaced


# --- plain text ---------------------------------------------------------------------------------

# Word lists: easier to read and extend than one quoted string per line.
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br caption dd div dl dt figcaption figure footer form "  # noqa: SIM905
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead "
    "tr ul".split()
)
_SKIPPED_TAGS = frozenset({"script", "style", "template"})
# Comments, doctypes, CDATA and processing instructions carry no text; removed as HTML5 does
# ('<!-->' is empty, an unterminated comment runs to the end). html.parser differs, and raises
# AssertionError on input such as '<![['.
_HTML_DECLARATION = re.compile(r"<!--(?:-?>|.*?(?:--!?>|\Z))|<[!?][^>]*(?:>|\Z)", re.S)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff\u200b]")


class _TextExtractor(HTMLParser):
    """Collects text nodes; block elements become spaces, script/style content is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _collapse(text: str) -> str:
    return " ".join(_INVISIBLE.sub("", text).split())


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags stripped, entities decoded, whitespace collapsed."""
    if "<" not in html and "&" not in html:
        return _collapse(html)
    if "<!" in html or "<?" in html:
        html = _HTML_DECLARATION.sub("", html)
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # html.parser has asserts; a hostile summary must not stop a feed
        return _collapse(unescape(_HTML_TAG.sub(" ", html)))
    return _collapse("".join(extractor.parts))


def _cap(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, marked with '…'."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    cut = cut[:space] if space > limit // 2 else cut[: limit - 1]
    return cut.rstrip() + "…"


# --- links --------------------------------------------------------------------------------------

_TRACKING_PARAMS = frozenset(  # utm_* is matched by prefix
    "fbclid gclid dclid gbraid wbraid msclkid yclid twclid ttclid li_fat_id igshid mc_cid mc_eid "  # noqa: SIM905
    "_hsenc _hsmi __hstc __hssc __hsfp hsctatracking mkt_tok ref_src ref_url _ga _gl "
    "oly_anon_id oly_enc_id rb_clickid s_cid vero_conv vero_id wickedid cmpid ncid".split()
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(param: str) -> bool:
    key = unquote(param.partition("=")[0]).strip().lower()
    return key.startswith("utm_") or key in _TRACKING_PARAMS


def canonical_link(url: str) -> str | None:
    """The form of an item link used for display and cross-feed dedupe, or None if unusable.

    Absolute http(s) only; scheme and host lowercased, default port and fragment dropped,
    tracking parameters removed, other parameters kept verbatim and in order.
    """
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host or any(c.isspace() for c in parts.netloc):
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    path = (parts.path or "/").replace(" ", "%20")
    return urlunsplit((scheme, netloc, path, query, ""))


# --- entries ------------------------------------------------------------------------------------


def _raw(d: Any, key: str) -> Any:
    """dict.get, bypassing FeedParserDict's aliases (which warn for 'updated' fallbacks)."""
    return dict.get(d, key)


def _plain(value: Any, kind: Any, limit: int) -> str:
    """Plain text of a feedparser value, honouring its declared type (HTML unless plain)."""
    if not isinstance(value, str) or not value:
        return ""
    return _cap(html_to_text(value) if "html" in str(kind or "html") else _collapse(value), limit)


def _field(d: Any, key: str, limit: int) -> str:
    detail = _raw(d, f"{key}_detail")
    return _plain(_raw(d, key), _raw(detail, "type") if isinstance(detail, dict) else None, limit)


def _published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        st = _raw(entry, key)
        if not st:
            continue
        try:
            year, month, day, hour, minute, second = st[:6]
            moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)  # already UTC
        except (TypeError, ValueError, OverflowError):
            continue
        if 1990 <= moment.year <= 2100:
            return moment
    return None


def _categories(entry: Any) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for tag in _raw(entry, "tags") or ():
        term = _collapse(str(_raw(tag, "term") or "")) if isinstance(tag, dict) else ""
        if term:
            seen.setdefault(term.casefold(), _cap(term, AUTHOR_CAP))
    return tuple(seen.values())


def _item_id(entry: Any, title: str, link: str | None, summary: str) -> str:
    guid = _collapse(str(_raw(entry, "id") or ""))
    if guid and len(guid) <= ID_CAP:
        return guid
    if link and not guid:
        return link
    date = str(_raw(entry, "published") or _raw(entry, "updated") or "")
    # Untitled, undated items (legal in RSS 2.0) would all collide: let their text tell them apart.
    key = guid or f"{title}\n{date}" + ("" if title or date else f"\n{summary}")
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def _item(entry: Any, max_text: int) -> Item:
    title = _field(entry, "title", min(TITLE_CAP, max_text))
    summary = _field(entry, "summary", max_text)
    content = ""
    contents = _raw(entry, "content")
    if contents and isinstance(contents[0], dict):
        content = _plain(_raw(contents[0], "value"), _raw(contents[0], "type"), max_text)
        content = "" if content == summary else content
    raw_link = _raw(entry, "link")
    link = canonical_link(raw_link) if isinstance(raw_link, str) else None
    author = _cap(_collapse(str(_raw(entry, "author") or "")), AUTHOR_CAP)
    return Item(
        id=_item_id(entry, title, link, summary),
        title=title,
        link=link,
        summary=summary,
        content=content,
        published=_published(entry),
        author=author or None,
        categories=_categories(entry),
    )


# --- feed ---------------------------------------------------------------------------------------


def _describe(exc: BaseException, *, crashed: bool = False, extra_lines: int = 0) -> str:
    """One short line for a bozo exception, e.g. 'undefined entity at line 3'."""
    if isinstance(exc, xml.sax.SAXParseException):
        line = exc.getLineNumber()
        line = line - extra_lines if isinstance(line, int) and line > extra_lines else line
        message = f"{exc.getMessage()} at line {line}" if line else exc.getMessage()
    elif crashed:
        message = f"feedparser crashed: {type(exc).__name__}: {exc}"
    else:
        message = str(exc) or type(exc).__name__
    return _cap(_collapse(message), ERROR_CAP)


def _ttl(feed: Any) -> float | None:
    try:
        minutes = float(str(_raw(feed, "ttl")).strip())
    except ValueError:
        return None
    return minutes * 60 if 0 < minutes < 1e6 else None


def parse_feed(
    data: bytes,
    *,
    content_type: str | None = None,
    max_items: int = 1000,
    max_text: int = 20_000,
    fast_path: bool = True,
) -> ParsedFeed:
    """Parse feed bytes into a ParsedFeed; a broken but recognisable feed is data, not an error.

    Plain RSS 2.0 goes through ``bot.simple_rss`` (same result, about five times faster);
    ``fast_path=False`` sends everything to feedparser, for comparisons.
    Raises ParseError only when the bytes are clearly not a feed: no items, no feed title and
    no RSS/Atom version.
    """
    if max_items < 0 or max_text < 2:
        raise ValueError("max_items must be >= 0 and max_text >= 2")
    if not data.strip():
        raise ParseError("not an RSS or Atom feed: empty document")
    safe, safe_type, replaced = _defuse(data, content_type)
    fast = parse_simple_rss(safe, safe_type) if fast_path else None
    try:
        # A BytesIO, never bare bytes: feedparser opens bytes that name a file as that file.
        result = fast or feedparser.parse(
            io.BytesIO(safe),
            response_headers={"content-type": safe_type} if safe_type else None,
            sanitize_html=False,  # Redline reduces HTML to text itself
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser raises on some inputs; a bad feed must not stop a run
        return ParsedFeed(title="", items=(), error=_describe(exc, crashed=True))
    feed = _raw(result, "feed") or {}
    entries = _raw(result, "entries") or []
    title = _field(feed, "title", min(TITLE_CAP, max_text))
    # feedparser prepends an XML declaration line to a document without one.
    declared = safe.removeprefix(codecs.BOM_UTF8).startswith((b"<?xml", *_WIDE_STARTS))
    bozo = _raw(result, "bozo_exception")
    error = _describe(bozo, extra_lines=0 if declared else 1) if bozo else None
    if replaced and error is None:
        error = "invalid numeric character reference replaced with U+FFFD"
    if not entries and not title and not _raw(result, "version"):
        raise ParseError(f"not an RSS or Atom feed: {error or 'no feed, channel or items found'}")
    items = tuple(_item(entry, max_text) for entry in entries[:max_items])
    return ParsedFeed(title=title, items=items, error=error, ttl=_ttl(feed))
