"""The Discord interactions endpoint over real HTTP: signed with a real Ed25519 key, served by
the real server, commands run by a real CommandRunner on a real store and feeds.yaml, follow-ups
and registration received by a fake Discord."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey

from bot.admin import Admin
from bot.commands import SUBCOMMANDS, CommandRunner
from bot.config import Settings, load_config
from bot.discord_app import build_discord, build_interactions_app, register_commands
from bot.discord_commands import command_definitions, command_text
from bot.errors import ConfigError, RedlineError
from bot.fetcher import Fetcher
from bot.models import Admins, Deadline, EntityMatch, Hit, Record
from bot.query import Queries
from bot.server import HttpServer, build_app
from bot.store import Store
from tests.factories import NOW, make_item, rss
from tests.fake_discord import FakeDiscord
from tests.loopback import LoopbackServer

APP_ID = "111000000000000001"
ADMIN_USER, ADMIN_ROLE, PLAIN_USER = (
    "222000000000000001",
    "333000000000000001",
    "444000000000000001",
)
CONFIG = """\
defaults:
  allow_private_networks: true
feeds:
  - name: DefenseScoop
    url: https://defensescoop.com/feed/
entities:
  - name: Anthropic
    aliases: [Claude]
  - name: Department of Defense
    aliases: [Pentagon]
"""
_ids = itertools.count(1)


@dataclass
class Endpoint:
    url: str
    key: SigningKey
    fake: FakeDiscord
    settings: list[Settings]
    store: Store
    config: Path
    http: httpx.Client

    def send(
        self,
        payload: dict[str, Any] | bytes,
        *,
        key: SigningKey | None = None,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        tamper: bool = False,
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = (key or self.key).sign(stamp.encode() + body).signature.hex()
        sent = {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": stamp}
        sent.update(headers or {})
        if tamper:
            body = body.replace(b"status", b"feeds ")
        return self.http.post(self.url, content=body, headers={k: v for k, v in sent.items() if v})

    def run(self, *path: str, **options: Any) -> dict[str, Any]:
        response = self.send(interaction(*path, **options))
        assert response.status_code == 200
        data: dict[str, Any] = response.json()
        return data


def interaction(
    *path: str,
    user: str = PLAIN_USER,
    roles: tuple[str, ...] = (),
    permissions: str = "0",
    dm: bool = False,
    interaction_id: str | None = None,
    token: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    kinds = {bool: 5, int: 4, str: 3}
    leaf = [{"name": k, "type": kinds[type(v)], "value": v} for k, v in options.items()]
    node: list[dict[str, Any]] = leaf
    for depth, name in reversed(list(enumerate(path))):
        node = [{"type": 1 if depth == len(path) - 1 else 2, "name": name, "options": node}]
    n = next(_ids)
    payload: dict[str, Any] = {
        "type": 2,
        "id": interaction_id or f"9{n:017d}",
        "application_id": APP_ID,
        "token": token or f"itoken-{n}",
        "data": {"id": "1", "name": "redline", "type": 1, "options": node},
    }
    if dm:
        payload["user"] = {"id": user}
    else:
        payload["guild_id"] = "666000000000000001"
        payload["member"] = {"user": {"id": user}, "roles": list(roles), "permissions": permissions}
    return payload


def seed(store: Store) -> None:
    store.sync_feed("DefenseScoop", "https://defensescoop.com/feed/")
    anthropic = EntityMatch("Anthropic", (Hit("title", 0, 9, "Anthropic"),))
    dod = EntityMatch("Department of Defense", (Hit("summary", 4, 12, "Pentagon"),))
    records = [
        Record(
            make_item(
                id=str(n),
                link=f"https://n.example/{n}",
                title=f"Anthropic story {n}",
                summary="The Pentagon gave Anthropic until Friday.",
                published=NOW - timedelta(days=n),
            ),
            (anthropic, dod),
            (Deadline(date(2026, 2, 27), "Anthropic has until Friday."),) if n < 2 else (),
        )
        for n in range(8)
    ]
    hostile = make_item(
        id="evil",
        link="https://n.example/evil",
        title="Anthropic @everyone <@&456> [win](https://evil.example)",
        published=NOW - timedelta(days=9),
    )
    records.append(Record(hostile, (anthropic,)))
    store.save_poll("DefenseScoop", records, now=NOW)


@pytest.fixture
def make_endpoint(tmp_path: Path, loopback: LoopbackServer) -> Iterator[Callable[..., Endpoint]]:
    opened: list[Callable[[], None]] = []

    def make(defer_after: float = 2.0) -> Endpoint:
        folder = tmp_path / f"e{len(opened)}"
        folder.mkdir()
        config = folder / "feeds.yaml"
        config.write_text(CONFIG)
        current = [load_config(config)]
        store = Store(folder / "r.db")
        fetcher = Fetcher(allow_private_networks=True)
        queries = Queries(store, lambda: current[0], started_at=NOW - timedelta(hours=1))
        admin = Admin(
            store,
            config,
            settings=lambda: current[0],
            on_change=lambda s: current.__setitem__(0, s),
            fetcher=fetcher,
        )
        runner = CommandRunner(queries, admin, now=lambda: NOW)
        key = SigningKey.generate()
        fake = FakeDiscord(loopback)
        http = httpx.Client(timeout=10)
        app = build_interactions_app(
            runner,
            public_key=key.verify_key.encode().hex(),
            api_url=fake.api_url,
            admins=lambda: Admins(discord=(ADMIN_USER, ADMIN_ROLE)),
            client=http,
            defer_after=defer_after,
        )
        server = HttpServer(
            build_app({"/discord/interactions": app}, lambda: (True, {})),
            host="127.0.0.1",
            port=0,
        )
        server.start()
        opened.extend([store.close, fetcher.close, server.close, http.close])
        url = f"http://127.0.0.1:{server.port}/discord/interactions"
        return Endpoint(url, key, fake, current, store, config, http)

    yield make
    for close in reversed(opened):  # clients before the server, so waitress has no open socket
        close()


@pytest.fixture
def endpoint(make_endpoint: Callable[..., Endpoint]) -> Endpoint:
    return make_endpoint()


def embed_of(answer: dict[str, Any]) -> dict[str, Any]:
    [embed] = answer["data"]["embeds"]
    assert answer["data"]["allowed_mentions"] == {"parse": []}
    result: dict[str, Any] = embed
    return result


# -- verification -------------------------------------------------------------------------------


def test_ping_gets_pong(endpoint: Endpoint) -> None:
    response = endpoint.send({"type": 1, "id": "1", "application_id": APP_ID})
    assert response.status_code == 200 and response.json() == {"type": 1}


@pytest.mark.parametrize(
    "attack",
    [
        "bad signature",
        "tampered body",
        "wrong key",
        "stale",
        "future",
        "no signature",
        "no timestamp",
        "bad hex",
        "timestamp not a number",
    ],
)
def test_every_verification_failure_is_401(endpoint: Endpoint, attack: str) -> None:
    payload = interaction("status")
    now = int(time.time())
    kwargs: dict[str, dict[str, Any]] = {
        "bad signature": {"headers": {"X-Signature-Ed25519": "00" * 64}},
        "tampered body": {"tamper": True},
        "wrong key": {"key": SigningKey.generate()},
        "stale": {"timestamp": now - 301},
        "future": {"timestamp": now + 3600},
        "no signature": {"headers": {"X-Signature-Ed25519": ""}},
        "no timestamp": {"headers": {"X-Signature-Timestamp": ""}},
        "bad hex": {"headers": {"X-Signature-Ed25519": "zz" * 64}},
        "timestamp not a number": {"headers": {"X-Signature-Timestamp": "soon"}},
    }
    response = endpoint.send(payload, **kwargs[attack])
    assert response.status_code == 401
    assert endpoint.send(payload).status_code == 200  # the same request, properly signed


def test_get_and_unknown_types_are_refused(endpoint: Endpoint) -> None:
    assert endpoint.http.get(endpoint.url).status_code == 405
    assert endpoint.send({"type": 3}).status_code == 400
    assert endpoint.send(b"[1, 2]").status_code == 400


# -- commands -----------------------------------------------------------------------------------


def test_read_commands_answer_ephemerally(endpoint: Endpoint) -> None:
    seed(endpoint.store)
    answers = {
        "help": endpoint.run("help"),
        "entities": endpoint.run("entities"),
        "status": endpoint.run("status"),
        "feeds": endpoint.run("feeds", "list"),
        "search": endpoint.run("search", query="Anthropic", limit=3),
        "latest": endpoint.run("latest", entity="Anthropic", count=2),
        "deadlines": endpoint.run("deadlines", days=7),
        "why": endpoint.run("why", item=1),
    }
    for name, answer in answers.items():
        assert answer["type"] == 4, name
        assert answer["data"]["flags"] == 64, name
    assert embed_of(answers["help"])["title"] == "/redline commands"
    assert "Anthropic" in embed_of(answers["entities"])["description"]
    assert "items stored: 9" in embed_of(answers["status"])["description"]
    assert "DefenseScoop" in embed_of(answers["feeds"])["description"]
    search = embed_of(answers["search"])
    assert search["title"] == "Search: Anthropic"
    assert "](https://n.example/0)" in search["description"]
    assert search["description"].endswith("…and 1 more")
    assert embed_of(answers["latest"])["description"].count("• ") == 2
    assert "Fri 2026-02-27" in embed_of(answers["deadlines"])["description"]
    assert embed_of(answers["why"])["title"].startswith("Why #1")


def test_share_makes_the_answer_public(endpoint: Endpoint) -> None:
    answer = endpoint.run("status", share=True)
    assert answer["data"]["flags"] == 0


def test_option_values_cannot_change_the_grammar(endpoint: Endpoint) -> None:
    seed(endpoint.store)
    scoped = endpoint.run("search", query="Pentagon", entity="Department of Defense")
    assert embed_of(scoped)["title"] == "Search: Pentagon"
    assert "Anthropic story 0" in embed_of(scoped)["description"]
    literal = endpoint.run("search", query="Anthropic entity:Nobody limit:1")
    assert "entity" in embed_of(literal)["title"] and "limit" in embed_of(literal)["title"]
    refused = endpoint.run("search", query="x --share")
    assert refused["data"]["flags"] == 64 and "share" in embed_of(refused)["title"]


@pytest.mark.parametrize(
    ("path", "options", "text"),
    [
        (
            ("search",),
            {"query": "a  b", "since": "7d", "limit": 3},
            'search a b since:"7d" limit:3',
        ),
        (("search",), {"query": "x", "entity": 'Bad "Name'}, 'search x entity:"Bad \'Name"'),
        (("latest",), {"entity": "Task Force 59"}, "latest Task Force 59 5"),
        (("latest",), {"entity": "Task Force 59", "count": 2}, "latest Task Force 59 2"),
        (("deadlines",), {}, "deadlines"),
        (("feeds", "list"), {"share": True}, "feeds --share"),
        (
            ("feeds", "add"),
            {"url": "https://x.example/f", "name": "X News"},
            "feeds add https://x.example/f X News",
        ),
        (
            ("watch", "add"),
            {"name": 'Shield "AI"', "aliases": "Hivemind, V-BAT"},
            r'watch add "Shield \"AI\"" "Hivemind" "V-BAT"',
        ),
        (
            ("watch", "alias"),
            {"name": "Department of Defense", "alias": "DoW"},
            'watch alias "Department of Defense" "DoW"',
        ),
    ],
)
def test_command_text(path: tuple[str, ...], options: dict[str, Any], text: str) -> None:
    data = interaction(*path, **options)["data"]
    assert command_text(data)[0] == text


def test_admin_by_user_id_adds_a_feed(endpoint: Endpoint, loopback: LoopbackServer) -> None:
    url = loopback.add_feed("/f.xml", rss({"title": "x", "guid": "1"}, title="Loop News"))
    answer = endpoint.run("feeds", "add", user=ADMIN_USER, url=url)
    assert "Loop News" in embed_of(answer)["title"], embed_of(answer)
    assert endpoint.settings[0].feed("Loop News") is not None
    for verb in ("pause", "resume", "remove"):
        answer = endpoint.run("feeds", verb, user=ADMIN_USER, name="Loop News")
        assert answer["type"] == 4 and "admins" not in embed_of(answer)["title"], verb
    assert endpoint.settings[0].feed("Loop News") is None


def test_admin_by_role_and_by_manage_server(endpoint: Endpoint) -> None:
    answer = endpoint.run("watch", "add", roles=(ADMIN_ROLE,), name="Shield AI", aliases="Hivemind")
    assert embed_of(answer)["title"].startswith("Now watching")
    manager = str(1 << 5)
    answer = endpoint.run("watch", "alias", permissions=manager, name="Shield AI", alias="V-BAT")
    assert "admins" not in embed_of(answer)["title"]
    entity = next(e for e in endpoint.settings[0].entities if e.name == "Shield AI")
    assert entity.aliases == ("Hivemind", "V-BAT")
    answer = endpoint.run("watch", "remove", dm=True, user=ADMIN_USER, name="Shield AI")
    assert "Shield AI" not in [e.name for e in endpoint.settings[0].entities]


def test_non_admin_is_refused(endpoint: Endpoint) -> None:
    before = endpoint.config.read_bytes()
    answer = endpoint.run("watch", "add", roles=("999",), permissions=str(1 << 4), name="X Corp")
    assert "Only Redline admins" in embed_of(answer)["title"]
    assert endpoint.config.read_bytes() == before
    answer = endpoint.run("feeds", "remove", dm=True, name="DefenseScoop")
    assert "Only Redline admins" in embed_of(answer)["title"]


def test_replayed_interaction_applies_once(endpoint: Endpoint) -> None:
    payload = interaction("watch", "add", user=ADMIN_USER, interaction_id="7", name="Palantir")
    first = endpoint.send(payload).json()
    second = endpoint.send(payload).json()
    assert embed_of(first)["title"].startswith("Now watching")
    assert embed_of(second)["title"].startswith("Already applied")


def test_mentions_and_links_in_replies_are_neutralised(endpoint: Endpoint) -> None:
    seed(endpoint.store)
    answer = endpoint.run("search", query="win")
    text = json.dumps(answer, ensure_ascii=False)
    assert "@everyone" not in text and "<@&456>" not in text and "@\u200beveryone" in text
    assert r"\[win\]\(https://evil.example\)" in embed_of(answer)["description"]


def test_slow_command_is_deferred_then_patched(make_endpoint: Callable[..., Endpoint]) -> None:
    endpoint = make_endpoint(defer_after=0.0)
    seed(endpoint.store)
    follow_up = endpoint.fake.follow_up(APP_ID, "slow-token")
    response = endpoint.send(interaction("search", token="slow-token", query="Anthropic"))
    assert response.json() == {"type": 5, "data": {"flags": 64}}
    assert follow_up.arrived.wait(5)
    [request] = follow_up.requests
    assert request.method == "PATCH"
    body = follow_up.body()
    assert body["allowed_mentions"] == {"parse": []}
    assert body["embeds"][0]["title"] == "Search: Anthropic"


# -- registration and wiring -------------------------------------------------------------------


def test_command_definitions_cover_the_grammar() -> None:
    [redline] = command_definitions()
    seen: set[str] = set()

    def walk(options: list[dict[str, Any]], prefix: str) -> None:
        for option in options:
            assert option["name"] == option["name"].lower() and len(option["name"]) <= 32
            assert 1 <= len(option["description"]) <= 100
            if option["type"] in (1, 2):
                name = f"{prefix} {option['name']}".strip()
                seen.add(name)
                walk(option.get("options", []), name)

    walk(redline["options"], "")
    grammar = {"feeds list" if n == "feeds" else n for n in SUBCOMMANDS}
    assert grammar <= seen


@pytest.mark.parametrize("guild", [None, "666000000000000001"])
def test_registration_puts_the_definitions(loopback: LoopbackServer, guild: str | None) -> None:
    fake = FakeDiscord(loopback)
    path = fake.commands_path(APP_ID, guild)
    count = register_commands(
        application_id=APP_ID, bot_token="bot-token-SECRET", api_url=fake.api_url, guild_id=guild
    )
    [request] = loopback.requests_to(path)
    assert request.method == "PUT"
    assert request.headers["authorization"] == "Bot bot-token-SECRET"
    assert json.loads(request.body) == command_definitions() == fake.registered[path]
    assert count == 1


def test_registration_failure_is_one_line_without_the_token(loopback: LoopbackServer) -> None:
    fake = FakeDiscord(loopback)
    fake.commands_path(APP_ID)
    with pytest.raises(RedlineError) as info:
        register_commands(application_id=APP_ID, bot_token="wrong-SECRET", api_url=fake.api_url)
    assert "HTTP 401" in str(info.value) and "SECRET" not in str(info.value)
    assert "\n" not in str(info.value)


def test_build_discord(caplog: pytest.LogCaptureFixture) -> None:
    runner: Any = None
    none: dict[str, str] = {}
    key = SigningKey.generate().verify_key.encode().hex()
    with caplog.at_level(logging.INFO, logger="bot.discord_app"):
        on = build_discord({"DISCORD_PUBLIC_KEY": key}, runner, Admins, none.get)
        off = build_discord({}, runner, Admins, none.get)
    assert on.wsgi is not None and off.wsgi is None
    assert on.notifier.prefix == "discord"
    assert key not in caplog.text and "interactions=/discord/interactions" in caplog.text
    on.close()
    off.close()
    with pytest.raises(ConfigError, match="DISCORD_PUBLIC_KEY"):
        build_discord({"DISCORD_PUBLIC_KEY": "not-hex"}, runner, Admins, none.get)


def test_cli_register_is_idempotent(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    fake = FakeDiscord(loopback)
    path = fake.commands_path(APP_ID, "666000000000000001")
    monkeypatch.setenv("DISCORD_APPLICATION_ID", APP_ID)
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "bot-token-SECRET")
    monkeypatch.setenv("REDLINE_DISCORD_API_URL", fake.api_url)
    for _ in range(2):
        assert main(["discord", "register", "--guild", "666000000000000001"]) == 0
    assert "registered" in capsys.readouterr().out
    first, second = loopback.requests_to(path)
    assert first.body == second.body  # a bulk overwrite: the second run changes nothing
    monkeypatch.delenv("DISCORD_BOT_TOKEN")
    assert main(["discord", "register"]) == 2
    assert "DISCORD_BOT_TOKEN" in capsys.readouterr().err
