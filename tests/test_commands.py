"""The /redline grammar and its use cases, on a real store and a real feeds.yaml."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.admin import Admin
from bot.commands import SUBCOMMANDS, Caller, CommandRunner, Reply, UsageError, parse
from bot.config import Settings, load_config
from bot.fetcher import Fetcher
from bot.models import Deadline, EntityMatch, Hit, Record
from bot.query import Queries
from bot.store import Store
from tests.factories import NOW, make_item, rss
from tests.loopback import LoopbackServer

CONFIG = """\
# Redline feeds (comment at the top)
defaults:
  interval: 10m
  allow_private_networks: {private}
feeds:
  # the one feed we start with
  - name: DefenseScoop
    url: https://defensescoop.com/feed/
entities:
  - name: Anthropic   # the lab
    aliases: [Claude]
  - name: Department of Defense
    aliases: [Pentagon]
"""

ADMIN = Caller("slack", "UADMIN", is_admin=True)
USER = Caller("slack", "UUSER", is_admin=False)


@dataclass
class Rig:
    runner: CommandRunner
    store: Store
    path: Path
    settings: list[Settings]

    fetcher: Fetcher

    def run(self, text: str, caller: Caller = USER) -> Reply:
        return self.runner.run(text, caller)

    def close(self) -> None:
        self.fetcher.close()
        self.store.close()


def build(tmp_path: Path, *, private: bool = True) -> Rig:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG.format(private=str(private).lower()))
    current = [load_config(path)]
    store = Store(tmp_path / "r.db")
    queries = Queries(store, lambda: current[0], started_at=NOW - timedelta(hours=5))
    fetcher = Fetcher(allow_private_networks=private)
    admin = Admin(
        store,
        path,
        settings=lambda: current[0],
        on_change=lambda s: current.__setitem__(0, s),
        fetcher=fetcher,
    )
    return Rig(CommandRunner(queries, admin, now=lambda: NOW), store, path, current, fetcher)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = build(tmp_path)
    yield r
    r.close()


def seed(store: Store) -> None:
    store.sync_feed("DefenseScoop", "https://defensescoop.com/feed/")
    match = EntityMatch("Anthropic", (Hit("title", 0, 9, "Anthropic"),))
    records = [
        Record(
            make_item(
                id=str(n),
                link=f"https://n.example/{n}",
                title=f"Anthropic story {n}",
                summary="The Pentagon gave Anthropic until Friday.",
                published=NOW - timedelta(days=n),
            ),
            (match,),
            (Deadline(date(2026, 2, 27), "Anthropic has until Friday."),) if n < 2 else (),
        )
        for n in range(15)
    ]
    store.save_poll("DefenseScoop", records, now=NOW)


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("", "help", {}),
        ("help", "help", {}),
        (
            'search "supply chain" entity:Anthropic since:7d limit:3',
            "search",
            {"query": '"supply chain"', "entity": "Anthropic", "since": "7d", "limit": "3"},
        ),
        (
            'search DPA entity:"Department of Defense"',
            "search",
            {"query": "DPA", "entity": "Department of Defense"},
        ),
        ("latest", "latest", {}),
        (
            "latest Department of Defense 3",
            "latest",
            {"entity": "Department of Defense", "count": "3"},
        ),
        ("deadlines 7", "deadlines", {"days": "7"}),
        ("why #12", "why", {"item": "#12"}),
        ("FEEDS", "feeds", {}),
        (
            "feeds add https://x.example/feed X News",
            "feeds add",
            {"url": "https://x.example/feed", "name": "X News"},
        ),
        ("feeds pause DefenseScoop", "feeds pause", {"name": "DefenseScoop"}),
        (
            "watch add Scale AI, Scale, ScaleAI",
            "watch add",
            {"name": "Scale AI", "aliases": "Scale\x1fScaleAI"},
        ),
        (
            'watch add "Shield AI" Hivemind',
            "watch add",
            {"name": "Shield AI", "aliases": "Hivemind"},
        ),
        (
            "watch alias Department of Defense, DoW",
            "watch alias",
            {"name": "Department of Defense", "aliases": "DoW"},
        ),
    ],
)
def test_grammar(text: str, name: str, args: dict[str, str]) -> None:
    command = parse(text)
    assert (command.name, command.args) == (name, args)


def test_share_flag_makes_reply_public(rig: Rig) -> None:
    assert parse("status --share").public
    assert rig.run("status --share").public
    assert not rig.run("status").public


@pytest.mark.parametrize(
    "text",
    [
        "bogus",
        "search",
        "search entity:X",
        "why",
        "why abc",
        "latest x 0",
        "deadlines 9999",
        "watch",
        "watch alias OnlyName",
        'watch add "unbalanced',
        "feeds add",
        "search x limit:abc",
        "search x since:soon",
        "why 999999",
    ],
)
def test_bad_input_gets_usage_not_a_traceback(rig: Rig, text: str) -> None:
    reply = rig.run(text)
    assert reply.ok is False
    assert reply.title


def test_every_subcommand_is_in_help(rig: Rig) -> None:
    reply = rig.run("help")
    listed = " ".join(e.text for e in reply.entries)
    for name in SUBCOMMANDS:
        assert name.split()[-1] in listed


def test_search_latest_and_more_line(rig: Rig) -> None:
    seed(rig.store)
    reply = rig.run("search Anthropic limit:5")
    assert len(reply.entries) == 5
    assert reply.more == 1  # one extra fetched: "more" says there is more, not how many
    assert reply.entries[0].text.startswith("#") and "Anthropic story 0" in reply.entries[0].text
    assert reply.entries[0].url == "https://n.example/0"
    latest = rig.run("latest anthropic 3")
    assert [e.text.split(" ", 1)[1] for e in latest.entries] == [
        "Anthropic story 0",
        "Anthropic story 1",
        "Anthropic story 2",
    ]
    assert rig.run("search nothingmatches").title.endswith("nothing found")
    assert rig.run('search NEAR("( *').ok


def test_deadlines_groups_sources(rig: Rig) -> None:
    assert rig.run("deadlines").title.startswith("No deadlines")
    seed(rig.store)
    reply = rig.run("deadlines 7")
    [entry] = reply.entries
    assert entry.text.startswith("Fri 2026-02-27")
    assert "2 sources" in entry.detail


def test_entities_and_why(rig: Rig) -> None:
    seed(rig.store)
    entities = rig.run("entities")
    assert [e.text for e in entities.entries] == ["Anthropic", "Department of Defense"]
    why = rig.run("why 1")
    text = " ".join(e.text for e in why.entries)
    assert "Anthropic: counted" in text
    assert "Department of Defense: counted" in text
    assert any(e.text.startswith("deadline 2026-02-27") for e in why.entries)


def test_feeds_and_status(rig: Rig) -> None:
    seed(rig.store)
    feeds = rig.run("feeds")
    assert feeds.entries[0].text == "DefenseScoop"
    assert "ok" in feeds.entries[0].detail
    status = " | ".join(e.text for e in rig.run("status").entries)
    assert "up 5h 0m" in status and "feeds: 1 ok" in status and "items stored: 15" in status


def test_non_admin_is_refused_and_audited(rig: Rig) -> None:
    before = rig.path.read_bytes()
    reply = rig.run("feeds remove DefenseScoop", USER)
    assert reply.ok is False and "admin" in reply.title
    assert rig.path.read_bytes() == before
    [row] = rig.store.audit_log()
    assert (row["user_id"], row["allowed"], row["command"]) == ("UUSER", 0, "feeds remove")


def test_admin_adds_a_working_feed_keeping_comments(rig: Rig, loopback: LoopbackServer) -> None:
    url = loopback.add_feed("/f.xml", rss({"title": "x", "guid": "1"}, title="Loop News"))
    reply = rig.run(f"feeds add {url}", ADMIN)
    assert reply.ok, reply.title
    text = rig.path.read_text()
    assert "# Redline feeds (comment at the top)" in text
    assert "# the one feed we start with" in text
    assert "# the lab" in text
    assert rig.settings[0].feed("Loop News") is not None
    assert load_config(rig.path).feed("Loop News") is not None
    [row] = rig.store.audit_log()
    assert row["outcome"] == "applied" and row["before"] is None and "Loop News" in row["after"]


def test_feeds_add_refuses_non_feed_and_private_address(
    tmp_path: Path, loopback: LoopbackServer
) -> None:
    rig = build(tmp_path / "a")
    page = loopback.add_feed("/page", b"<html><body>hi</body></html>", content_type="text/html")
    reply = rig.run(f"feeds add {page}", ADMIN)
    assert reply.ok is False and "not an RSS or Atom feed" in reply.title
    strict = build(tmp_path / "b", private=False)
    url = loopback.add_feed("/f.xml", rss({"title": "x", "guid": "1"}))
    before = len(loopback.requests)
    reply = strict.run(f"feeds add {url}", ADMIN)
    assert reply.ok is False and "loopback" in reply.title
    assert len(loopback.requests) == before
    rig.close()
    strict.close()


def test_pause_resume_remove_and_watch_edits(rig: Rig) -> None:
    assert rig.run("feeds pause defensescoop", ADMIN).ok
    assert rig.settings[0].feeds[0].enabled is False
    assert rig.run("feeds resume DefenseScoop", ADMIN).ok
    assert rig.settings[0].feeds[0].enabled is True
    assert rig.run("watch add Scale AI, Scale", ADMIN).ok
    assert rig.run("watch alias Department of Defense, Department of War", ADMIN).ok
    entity = next(e for e in rig.settings[0].entities if e.name == "Department of Defense")
    assert entity.aliases == ("Pentagon", "Department of War")
    assert rig.run("watch remove Anthropic", ADMIN).ok
    assert [e.name for e in rig.settings[0].entities] == ["Department of Defense", "Scale AI"]
    assert rig.run("feeds remove DefenseScoop", ADMIN).ok
    assert rig.settings[0].feeds == ()
    assert "# the lab" not in rig.path.read_text()  # removed with its entity
    assert "# Redline feeds (comment at the top)" in rig.path.read_text()
    reply = rig.run("watch add Department of Defense", ADMIN)
    assert reply.ok is False and "duplicate" in reply.title.lower()


def test_replayed_request_applies_once(rig: Rig) -> None:
    caller = Caller("slack", "UADMIN", is_admin=True, request_id="req-1")
    assert rig.run("watch add Palantir", caller).title.startswith("Now watching")
    assert rig.run("watch add Palantir", caller).title.startswith("Already applied")
    assert [e.name for e in rig.settings[0].entities].count("Palantir") == 1


def test_concurrent_admin_edits_lose_nothing(rig: Rig) -> None:
    def add(n: int) -> None:
        rig.run(f"watch add Entity {n}", Caller("slack", "UADMIN", True, request_id=f"r{n}"))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = {e.name for e in load_config(rig.path).entities}
    assert {f"Entity {n}" for n in range(8)} <= names


def test_usage_error_names_its_usage() -> None:
    with pytest.raises(UsageError) as info:
        parse("why")
    assert info.value.usage == "why"


@pytest.mark.parametrize("text", ["watch add ,", 'watch add ""', "watch alias ,", "feeds remove"])
def test_empty_names_get_usage(rig: Rig, text: str) -> None:
    reply = rig.run(text, ADMIN)
    assert reply.ok is False


def test_share_flag_anywhere_does_not_shift_arguments(rig: Rig) -> None:
    assert rig.run("--share watch add Foo", ADMIN).public
    assert [e.name for e in rig.settings[0].entities][-1] == "Foo"


def test_feed_urls_are_shown_without_query_or_userinfo(tmp_path: Path) -> None:
    rig = build(tmp_path)
    path = rig.path
    path.write_text(
        path.read_text().replace(
            "https://defensescoop.com/feed/", "https://intel.example.com/feed.xml?key=s3cr3t"
        )
    )
    rig.settings[0] = load_config(path)
    [entry] = rig.run("feeds --share").entries
    assert entry.url == "https://intel.example.com/feed.xml?…"
    rig.close()


def test_resume_in_any_case_reenables_a_gone_feed(rig: Rig) -> None:
    rig.store.sync_feed("DefenseScoop", "https://defensescoop.com/feed/")
    rig.store.record_failure("DefenseScoop", "gone", now=NOW, disabled_reason="gone (HTTP 410)")
    assert rig.run("feeds pause defensescoop", ADMIN).ok
    assert rig.run("feeds resume defensescoop", ADMIN).ok
    state = rig.store.feed_state("DefenseScoop")
    assert state is not None and state.disabled_reason is None
