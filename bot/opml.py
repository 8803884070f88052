"""OPML in and out: feed lists that move between Redline and Feedly, Inoreader, Miniflux ….

``read_opml`` turns an OPML document (bytes only: nothing is ever fetched) into a list of
``OpmlFeed``. A feed's categories become its tags, path part by path part, in document order:
a feed in folder ``Pentagon`` inside folder ``Defense`` (or with
``category="/Defense/Pentagon"``) gets the tags ``("Defense", "Pentagon")``. listparser reads
the document with an HTML tokenizer (html.parser, or lxml's when lxml is installed), which
neither expands entities nor loads external ones; DOCTYPE and ENTITY declarations are also
removed before it sees the bytes, as the feed parser does.

``import_opml`` adds each new feed through ``Admin.apply("feeds add", …)``: the same fetch,
parse, address guard and audit as the chat command. ``export_opml`` writes OPML 2.0 with only
the attributes those readers use (``type``, ``text``, ``title``, ``xmlUrl``, ``category``).
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import listparser

from bot.admin import Admin, AdminError
from bot.config import Settings
from bot.errors import ParseError
from bot.parser import strip_declarations

if TYPE_CHECKING:
    from bot.commands import Caller

__all__ = ["ImportSummary", "OpmlFeed", "export_opml", "import_opml", "read_opml"]

MAX_OPML_BYTES = 10 * 1024 * 1024  # the fetcher's cap on a feed; a 10,000-feed OPML is ~2 MB
NAME_CAP = 80  # as `feeds add` caps a feed's own title

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF16_LE, "utf-16"),
)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# Characters XML 1.0 cannot carry (ElementTree would write them and produce a broken file).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed outline: its title (may be empty), its ``xmlUrl`` and its category path parts."""

    title: str
    url: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did, each as ``(url, detail)``: the name given, or why not added."""

    added: tuple[tuple[str, str], ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


# -- reading -----------------------------------------------------------------------------------


def read_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order; raises ParseError (one line)."""
    if len(data) > MAX_OPML_BYTES:
        raise ParseError(f"larger than {MAX_OPML_BYTES // (1024 * 1024)} MB")
    safe = strip_declarations(_as_utf8(data))
    try:
        # bytes, never str: listparser fetches a str that starts with http:// or https://
        result: Any = listparser.parse(safe)
    except Exception as error:  # its HTML tokenizer on hostile input: report, don't crash
        raise ParseError(f"not a readable OPML file: {_one_line(error)}") from None
    if not str(result.get("version", "")).startswith("opml"):
        raise ParseError("not an OPML file (no <opml> element)")
    feeds = []
    for found in result["feeds"]:
        url = str(found.get("url") or "").strip()
        if url:
            title = " ".join(str(found.get("title") or "").split())
            feeds.append(OpmlFeed(title, url, _tags(found.get("categories") or [])))
    return feeds


def _as_utf8(data: bytes) -> bytes:
    """The document as UTF-8 with a BOM, its XML declaration dropped: listparser's tokenizer
    (html.parser, or lxml's HTML parser when lxml is installed) reads a BOM, not a declaration."""
    codec = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if codec is None:
        declared = _DECLARED.match(data[:512])
        codec = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        text = data.decode(codec)
    except LookupError:
        raise ParseError(f"unknown encoding {codec!r}") from None
    except UnicodeDecodeError as error:
        raise ParseError(f"not {error.encoding} text (bad byte at offset {error.start})") from None
    return codecs.BOM_UTF8 + _DECLARATION.sub("", text.lstrip("\ufeff"), count=1).encode("utf-8")


def _tags(categories: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """Category paths (``[["Defense", "Pentagon"], ["AI"]]``) → unique parts in order."""
    parts = (" ".join(part.split()) for path in categories for part in path)
    return tuple(dict.fromkeys(part for part in parts if part))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


# -- importing ---------------------------------------------------------------------------------


def import_opml(
    path: Path,
    admin: Admin,
    caller: Caller,
    settings: Callable[[], Settings],
    progress: Callable[[int, int, str], None] | None = None,
) -> ImportSummary:
    """Add the feeds of the OPML file at ``path`` that are not configured yet.

    A URL already configured (scheme and host compared case-insensitively, default port
    ignored) or repeated in the file is skipped; every other one goes through ``feeds add``
    under its OPML title, made unique with `` (2)``, `` (3)`` …; a refusal lands in ``failed``
    with its reason. ``progress(done, total, url)`` is called after each feed.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ParseError(f"{path}: {error.strerror or error}") from None
    try:
        feeds = read_opml(data)
    except ParseError as error:
        raise ParseError(f"{path}: {error}") from None
    current = settings()
    configured = {_url_key(feed.url): feed.name for feed in current.feeds}
    names = {feed.name.casefold() for feed in current.feeds}
    in_file: set[str] = set()
    added: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for done, feed in enumerate(feeds, start=1):
        key = _url_key(feed.url)
        if key in configured:
            skipped.append((feed.url, f"already configured as {configured[key]}"))
        elif key in in_file:
            skipped.append((feed.url, "repeated in the file"))
        else:
            name = _unique_name(feed.title or urlsplit(feed.url).hostname or feed.url, names)
            try:
                args = {"url": feed.url, "name": name, "tags": "\x1f".join(feed.tags)}
                admin.apply("feeds add", args, caller)
            except AdminError as error:
                failed.append((feed.url, _one_line(error)))
            else:
                added.append((feed.url, name))
                configured[key] = name
                names.add(name.casefold())
        in_file.add(key)
        if progress is not None:
            progress(done, len(feeds), feed.url)
    return ImportSummary(tuple(added), tuple(skipped), tuple(failed))


def _url_key(url: str) -> str:
    """One key for the spellings of one URL: scheme and host lower-cased, default port dropped."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    return parts._replace(scheme=scheme, netloc=netloc).geturl()


def _unique_name(title: str, taken: set[str]) -> str:
    """``title`` capped, with `` (2)``, `` (3)`` … appended while it collides (case-insensitive)."""
    base = title[:NAME_CAP].strip()
    name, n = base, 1
    while name.casefold() in taken:
        n += 1
        name = f"{base} ({n})"
    return name


# -- exporting ---------------------------------------------------------------------------------


def export_opml(settings: Settings, *, now: datetime | None = None) -> str:
    """Every configured feed as OPML 2.0, grouped in outlines by first tag; paused ones too.

    A feed with several tags sits under its first and lists all of them in ``category``
    (``"/defense,/policy"``), as the OPML 2.0 spec describes (a tag containing ``/`` or ``,``
    cannot be written there, so it is left out of it).
    """
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = "Redline feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(
        (now or datetime.now(UTC)).astimezone(UTC), usegmt=True
    )
    body = ET.SubElement(opml, "body")
    folders: dict[str, ET.Element] = {}
    for feed in settings.feeds:
        parent = body
        if feed.tags:
            first = _xml_text(feed.tags[0])
            if first not in folders:
                folders[first] = ET.SubElement(body, "outline", text=first, title=first)
            parent = folders[first]
        name = _xml_text(feed.name)
        outline = ET.SubElement(
            parent, "outline", type="rss", text=name, title=name, xmlUrl=_xml_text(feed.url)
        )
        # "/" and "," delimit category paths: a tag containing one can only be a folder.
        categories = [_xml_text(t) for t in feed.tags if not set(t) & {"/", ","}]
        if len(feed.tags) > 1 and categories:
            outline.set("category", ",".join("/" + tag for tag in categories))
    ET.indent(opml)
    text = ET.tostring(opml, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)
