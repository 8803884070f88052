"""OPML: reading readers' exports, importing through `feeds add`, exporting OPML 2.0."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import listparser
import pytest

from bot.admin import Admin
from bot.commands import Caller
from bot.config import Settings, load_config
from bot.errors import ParseError
from bot.fetcher import Fetcher
from bot.opml import MAX_OPML_BYTES, ImportSummary, OpmlFeed, export_opml, import_opml, read_opml
from bot.store import Store
from tests.factories import make_feed, rss
from tests.loopback import LoopbackServer

FIXTURES = Path(__file__).parent / "feeds" / "opml"
ADMIN = Caller("cli", "dana", is_admin=True)
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)

CONFIG = """\
# Redline feeds
defaults:
  allow_private_networks: true
feeds:
  - name: DefenseScoop   # the one we start with
    url: https://defensescoop.com/feed/
entities:
  - name: Anthropic
"""


# -- reading -----------------------------------------------------------------------------------

READERS = {
    "feedly.opml": [
        ("DefenseScoop", "https://defensescoop.com/feed/", ("Defense", "Policy & Law")),
        ("Breaking Defense", "https://breakingdefense.com/feed/", ("Defense",)),
        ("Defense One - All Content", "https://www.defenseone.com/rss/all/", ("Defense",)),
        ("OpenAI News", "https://openai.com/news/rss.xml", ("AI labs",)),
        ("Google DeepMind News", "https://deepmind.google/blog/rss.xml", ("AI labs",)),
        ("Lawfare", "https://www.lawfaremedia.org/feeds/lawfare", ("Policy & Law",)),
    ],
    "inoreader.opml": [
        (
            "U.S. Department of Defense News",
            "https://www.defense.gov/DesktopModules/ArticleCS/RSS.ashx?ContentType=1&Site=945&max=10",
            ("Government",),
        ),
        ("DARPA News", "https://www.darpa.mil/rss.xml", ("Government",)),
        (
            "The Register – AI + ML",
            "https://www.theregister.com/software/ai_ml/headlines.atom",
            ("Tech press",),
        ),
        ("Ars Technica", "https://feeds.arstechnica.com/arstechnica/index", ("Tech press",)),
        ("War on the Rocks", "https://warontherocks.com/feed/", ()),
    ],
    "miniflux.opml": [
        (
            "C4ISRNET",
            "https://www.c4isrnet.com/arc/outboundfeeds/rss/?outputType=xml",
            ("All",),
        ),
        ("Breaking Defense", "https://breakingdefense.com/feed/", ("Defense",)),
        (
            "CDAO Announcements",
            "https://www.ai.mil/rss/announcements.xml",
            ("Defense", "Pentagon"),
        ),
        (
            "Defense News – Pentagon",
            "https://www.defensenews.com/arc/outboundfeeds/rss/category/pentagon/?outputType=xml",
            ("Defense", "Pentagon"),
        ),
    ],
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_reader_exports_parse_with_categories_as_tags(name: str) -> None:
    feeds = read_opml((FIXTURES / name).read_bytes())
    assert [(f.title, f.url, f.tags) for f in feeds] == READERS[name]


def test_category_attribute_paths_become_tags() -> None:
    data = b"""<opml version="2.0"><body>
      <outline text="AI">
        <outline type="rss" text="X" xmlUrl="https://x.example/feed"
                 category="/Defense/Pentagon,/AI"/>
      </outline>
      <outline type="rss" text="  Spaced\n  title " xmlUrl=" https://y.example/feed "/>
      <outline text="no feed here"/>
      <outline type="link" text="Another list" url="https://lists.example/more.opml"/>
    </body></opml>"""
    assert read_opml(data) == [
        OpmlFeed("X", "https://x.example/feed", ("Defense", "Pentagon", "AI")),
        OpmlFeed("Spaced title", "https://y.example/feed", ()),
    ]


def test_encodings_are_honoured() -> None:
    latin1 = (
        '<?xml version="1.0" encoding="iso-8859-1"?>'
        '<opml version="1.1"><body><outline text="Défense" xmlUrl="https://d.example/"/>'
        "</body></opml>"
    ).encode("latin-1")
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><opml version="2.0"><body>'
    utf16 += '<outline text="Sécurité" xmlUrl="https://s.example/"/></body></opml>'
    assert [f.title for f in read_opml(latin1)] == ["Défense"]
    assert [f.title for f in read_opml(utf16.encode("utf-16"))] == ["Sécurité"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an OPML file"),
        (b"\x00\x01garbage\xff", "not utf-8 text"),
        (b"just some words", "not an OPML file"),
        ((FIXTURES.parent / "not_a_feed.html").read_bytes(), "not an OPML file"),
        ((FIXTURES.parent / "rss20.xml").read_bytes(), "not an OPML file"),
        (b'{"feeds": ["https://x.example/"]}', "not an OPML file"),
        (b'<?xml version="1.0" encoding="x-nonsense"?><opml/>', "unknown encoding"),
        (b"<opml>" + b" " * MAX_OPML_BYTES + b"</opml>", "larger than 10 MB"),
    ],
)
def test_garbage_is_a_one_line_parse_error(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        read_opml(data)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_empty_outline_list_is_no_feeds() -> None:
    assert read_opml(b'<opml version="2.0"><head/><body/></opml>') == []


def test_entity_bomb_does_not_expand() -> None:
    levels = "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    )  # 10**9 "lol"s if expanded
    data = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY lol0 "lol">{levels}]>'
        '<opml version="2.0"><body>'
        '<outline type="rss" text="&lol9;" xmlUrl="https://bomb.example/&lol9;"/>'
        "</body></opml>"
    ).encode()
    started = time.perf_counter()
    [feed] = read_opml(data)
    assert time.perf_counter() - started < 1
    assert "lollol" not in feed.title + feed.url
    assert len(feed.title) < 20


def test_external_entities_read_no_file_and_fetch_nothing(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    url = loopback.add_feed("/dtd", b'<!ENTITY remote "FETCHED-VALUE">')
    data = (
        f'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "{url}" ['
        f'<!ENTITY file SYSTEM "file://{secret}"><!ENTITY web SYSTEM "{url}">'
        f'<!ENTITY % param SYSTEM "{url}"> %param;]>'
        '<opml version="2.0"><body>'
        '<outline type="rss" text="&file;&web;&remote;" xmlUrl="https://x.example/?q=&file;"/>'
        "</body></opml>"
    ).encode()
    [feed] = read_opml(data)
    assert "TOP-SECRET" not in feed.title + feed.url
    assert "FETCHED" not in feed.title + feed.url
    assert loopback.requests == []


def test_a_url_string_is_never_fetched(loopback: LoopbackServer) -> None:
    """listparser fetches a str that looks like a URL; read_opml only ever hands it bytes."""
    url = loopback.add_feed("/list.opml", (FIXTURES / "feedly.opml").read_bytes())
    with pytest.raises(ParseError):
        read_opml(url.encode())
    assert loopback.requests == []


# -- exporting ---------------------------------------------------------------------------------

EXPORTED = Settings(
    feeds=(
        make_feed(name="DefenseScoop", url="https://defensescoop.com/feed/", tags=("defense",)),
        make_feed(
            name='Lawfare & "Friends" <AI>',
            url="https://www.lawfaremedia.org/feeds/lawfare?a=1&b=2",
            tags=("policy", "defense"),
        ),
        make_feed(name="War on the Rocks", url="https://warontherocks.com/feed/"),
        make_feed(name="Sécurité – Défense", url="https://s.example/rss", enabled=False),
        make_feed(
            name="CDAO",
            url="https://www.ai.mil/rss/announcements.xml",
            tags=("defense", "Pentagon", "AI"),
        ),
    )
)


def test_export_round_trips_through_listparser() -> None:
    feeds = read_opml(export_opml(EXPORTED, now=NOW).encode())
    assert sorted(feeds, key=lambda f: f.url) == sorted(
        (OpmlFeed(f.name, f.url, f.tags) for f in EXPORTED.feeds), key=lambda f: f.url
    )


def test_export_is_opml_2_with_only_the_attributes_readers_use() -> None:
    text = export_opml(EXPORTED, now=NOW)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    root = ET.fromstring(text)
    assert root.tag == "opml" and root.attrib == {"version": "2.0"}
    assert root.findtext("head/title") == "Redline feeds"
    assert parsedate_to_datetime(root.findtext("head/dateCreated") or "") == NOW
    folders = root.findall("body/outline[@text]")
    assert [f.get("text") for f in folders if f.get("type") is None] == ["defense", "policy"]
    outlines = root.findall(".//outline[@xmlUrl]")
    assert len(outlines) == len(EXPORTED.feeds)
    for outline in outlines:
        assert outline.get("type") == "rss"
        assert outline.get("text") == outline.get("title")
        assert set(outline.attrib) <= {"type", "text", "title", "xmlUrl", "category"}
    lawfare = root.find("body/outline[@text='policy']/outline")
    assert lawfare is not None
    assert lawfare.get("title") == 'Lawfare & "Friends" <AI>'
    assert lawfare.get("xmlUrl") == "https://www.lawfaremedia.org/feeds/lawfare?a=1&b=2"
    assert lawfare.get("category") == "/policy,/defense"
    parsed = listparser.parse(text.encode())
    assert parsed["version"] == "opml2" and not parsed["bozo"]
    assert len(parsed["feeds"]) == len(EXPORTED.feeds)


def test_export_drops_characters_xml_cannot_carry() -> None:
    settings = Settings(feeds=(make_feed(name="Bell\x07 News\x00", tags=("a\x1b",)),))
    root = ET.fromstring(export_opml(settings, now=NOW))
    outline = root.find(".//outline[@xmlUrl]")
    assert outline is not None and outline.get("text") == "Bell News"
    assert read_opml(export_opml(settings).encode())[0].tags == ("a",)


def test_export_of_no_feeds_is_still_a_document() -> None:
    assert read_opml(export_opml(Settings()).encode()) == []


# -- importing ---------------------------------------------------------------------------------


class Rig:
    """A real feeds.yaml, store and Admin, as the CLI builds them."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "feeds.yaml"
        self.path.write_text(CONFIG)
        self.current = [load_config(self.path)]
        self.store = Store(tmp_path / "r.db")
        self.fetcher = Fetcher(allow_private_networks=True)
        self.admin = Admin(
            self.store,
            self.path,
            settings=self.settings,
            on_change=lambda s: self.current.__setitem__(0, s),
            fetcher=self.fetcher,
        )

    def settings(self) -> Settings:
        return self.current[0]

    def close(self) -> None:
        self.fetcher.close()
        self.store.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def opml(*outlines: tuple[str, str]) -> bytes:
    body = "".join(
        f'<outline type="rss" text="{title}" title="{title}" xmlUrl="{url}"/>'
        for title, url in outlines
    )
    return f'<opml version="2.0"><head><title>t</title></head><body>{body}</body></opml>'.encode()


def test_import_adds_good_feeds_and_reports_the_rest(
    rig: Rig, loopback: LoopbackServer, tmp_path: Path
) -> None:
    good = loopback.add_feed("/good.xml", rss({"title": "x", "guid": "1"}, title="Good"))
    other = loopback.add_feed("/other.xml", rss({"title": "y", "guid": "2"}, title="Other"))
    page = loopback.add_feed("/page", b"<html><body>hi</body></html>", content_type="text/html")
    missing = loopback.url + "/missing.xml"
    file = tmp_path / "list.opml"
    file.write_bytes(
        opml(
            ("DefenseScoop", good),  # the name is taken: "DefenseScoop (2)"
            ("Already here", "HTTPS://DefenseScoop.COM:443/feed/"),
            ("A web page", page),
            ("Gone", missing),
            ("DefenseScoop", other),  # "DefenseScoop (3)"
            ("Good again", good.replace("127.0.0.1", "127.0.0.1.")),
        )
    )
    calls: list[tuple[int, int, str]] = []
    summary = import_opml(file, rig.admin, ADMIN, rig.settings, lambda *call: calls.append(call))

    assert summary == ImportSummary(
        added=((good, "DefenseScoop (2)"), (other, "DefenseScoop (3)")),
        skipped=(
            ("HTTPS://DefenseScoop.COM:443/feed/", "already configured as DefenseScoop"),
            (good.replace("127.0.0.1", "127.0.0.1."), "already configured as DefenseScoop (2)"),
        ),
        failed=summary.failed,
    )
    assert [url for url, _ in summary.failed] == [page, missing]
    page_reason, missing_reason = (reason for _, reason in summary.failed)
    assert "not an RSS or Atom feed" in page_reason
    assert "404" in missing_reason
    assert [c[:2] for c in calls] == [(n, 6) for n in range(1, 7)]
    assert calls[-1][2] == good.replace("127.0.0.1", "127.0.0.1.")

    saved = load_config(rig.path)
    assert [(f.name, f.url) for f in saved.feeds] == [
        ("DefenseScoop", "https://defensescoop.com/feed/"),
        ("DefenseScoop (2)", good),
        ("DefenseScoop (3)", other),
    ]
    assert rig.settings() == saved
    assert "# the one we start with" in rig.path.read_text()
    audit = list(reversed(rig.store.audit_log()))
    assert [(row["user_id"], row["command"], row["outcome"][:7]) for row in audit] == [
        ("dana", "feeds add", "applied"),
        ("dana", "feeds add", "failed:"),
        ("dana", "feeds add", "failed:"),
        ("dana", "feeds add", "applied"),
    ]
    assert "DefenseScoop (2)" in audit[0]["after"]


def test_a_url_repeated_in_the_file_is_skipped_even_if_it_failed(
    rig: Rig, loopback: LoopbackServer, tmp_path: Path
) -> None:
    missing = loopback.url + "/missing.xml"
    file = tmp_path / "list.opml"
    file.write_bytes(opml(("Gone", missing), ("Gone too", missing.replace("http:", "HTTP:"))))
    summary = import_opml(file, rig.admin, ADMIN, rig.settings)
    assert summary.added == ()
    assert [url for url, _ in summary.failed] == [missing]
    assert summary.skipped == ((missing.replace("http:", "HTTP:"), "repeated in the file"),)
    assert len(loopback.requests_to("/missing.xml")) == 1


def test_import_by_a_non_admin_adds_nothing(rig: Rig, loopback: LoopbackServer) -> None:
    good = loopback.add_feed("/good.xml", rss({"title": "x", "guid": "1"}))
    file = rig.path.parent / "list.opml"
    file.write_bytes(opml(("Good", good)))
    summary = import_opml(file, rig.admin, Caller("cli", "eve"), rig.settings)
    assert summary.added == () and summary.failed == (
        (good, "Only Redline admins can run `feeds add`."),
    )
    assert loopback.requests == []
    assert [f.name for f in load_config(rig.path).feeds] == ["DefenseScoop"]


def test_import_of_an_unreadable_or_bad_file_names_it(rig: Rig, tmp_path: Path) -> None:
    with pytest.raises(ParseError, match=r"nope\.opml: No such file"):
        import_opml(tmp_path / "nope.opml", rig.admin, ADMIN, rig.settings)
    bad = tmp_path / "bad.opml"
    bad.write_text("<html>not a list</html>")
    with pytest.raises(ParseError, match=r"bad\.opml: not an OPML file"):
        import_opml(bad, rig.admin, ADMIN, rig.settings)
    assert rig.store.audit_log() == []


def test_cli_import_and_export(
    tmp_path: Path, loopback: LoopbackServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    good = loopback.add_feed("/good.xml", rss({"title": "x", "guid": "1"}, title="Good"))
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>s</title></head><body>'
        f'<outline text="Defense"><outline type="rss" text="Good" xmlUrl="{good}"/>'
        f'<outline type="rss" text="Missing" xmlUrl="{loopback.url}/missing.xml"/>'
        "</outline></body></opml>"
    )
    config = tmp_path / "feeds.yaml"
    config.write_text("defaults:\n  allow_private_networks: true\nfeeds: []\n")
    common = ["--config", str(config), "--db", str(tmp_path / "r.db")]
    assert main(["feeds", "import", str(opml), *common]) == 1  # one failed
    out = capsys.readouterr().out
    assert "added 1, skipped 0, failed 1" in out
    assert "tags: [Defense]" in config.read_text()
    assert main(["feeds", "export", *common]) == 0
    exported = capsys.readouterr().out
    assert f'xmlUrl="{good}"' in exported and 'type="rss"' in exported
