"""The `redline` command end to end: exit codes, one-line errors, check --json, search."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.factories import NOW, rss
from tests.loopback import LoopbackServer

WATCHLIST = """\
feeds: []
entities:
  - name: Anthropic
    aliases: [Claude]
  - name: Department of Defense
    aliases: [Pentagon, Department of War]
    exclude: [Pentagon City]
"""

FEED = rss(
    {
        "title": "Pentagon gives Anthropic a deadline",
        "link": "https://news.example/a?utm_source=x#top",
        "guid": "a",
        "description": "Officials said Claude is at stake.",
        "published": NOW,
    },
    {"title": "Shopping at Pentagon City", "link": "https://news.example/b", "guid": "b"},
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(WATCHLIST)
    return path


def test_check_json_shape(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(FEED)
    assert main(["check", str(feed), "--config", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [sorted(entry) for entry in data] == [
        ["alert", "deadlines", "entities", "link", "published", "title"]
    ] * 2
    first, second = data
    assert first["title"] == "Pentagon gives Anthropic a deadline"
    assert first["link"] == "https://news.example/a"
    assert first["published"] == "2026-02-24T15:00:00Z"
    assert first["entities"] == ["Anthropic", "Department of Defense"]
    assert first["alert"] is True
    assert isinstance(first["deadlines"], list)
    assert second["entities"] == [] and second["alert"] is False
    assert second["published"] is None


def test_check_over_http(
    loopback: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("defaults:\n  allow_private_networks: true\n" + WATCHLIST)
    url = loopback.add_feed("/f.xml", FEED)
    assert main(["check", url, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "● Pentagon gives Anthropic a deadline" in out
    assert "2 items, 1 would alert" in out


def test_check_refuses_private_address_by_default(
    loopback: LoopbackServer, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = loopback.add_feed("/f.xml", FEED)
    assert main(["check", url, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("redline: error: ") and "loopback" in err and len(err.splitlines()) == 1
    assert loopback.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "/nonexistent/feed.xml"], "No such file"),
        (["check", "NOT_A_FEED"], "not an RSS or Atom feed"),
        (["search", "x", "--since", "soon"], "--since"),
        (["search", "x", "--limit", "0"], "--limit"),
        (["poll"], "--once"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    config: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "NOT_A_FEED").write_text("<html><body>hello</body></html>")
    args = [a if a != "NOT_A_FEED" else str(tmp_path / "NOT_A_FEED") for a in args]
    code = main([*args, "--config", str(config), "--db", str(tmp_path / "r.db")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_bad_config_lists_every_problem_with_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "feeds.yaml"
    bad.write_text(
        "feeds:\n  - name: A\n    url: ftp://x.example/feed\n  - name: B\n"
        "    url: https://b.example/\n    interval: 2s\n"
    )
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any(f"{bad}:3: feeds[0].url" in line for line in err), err
    assert any(f"{bad}:6: feeds[1].interval" in line for line in err), err


def test_config_check_summarises_bundled_file(capsys: pytest.CaptureFixture[str]) -> None:
    bundled = Path(__file__).resolve().parents[1] / "feeds.yaml"
    assert main(["config", "check", str(bundled)]) == 0
    assert ": OK: " in capsys.readouterr().out


def test_poll_once_then_search(
    loopback: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = loopback.add_feed("/f.xml", FEED)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"defaults:\n  allow_private_networks: true\nfeeds:\n  - name: News\n    url: {url}\n"
        + WATCHLIST.replace("feeds: []\n", "")
    )
    db = tmp_path / "r.db"
    assert main(["poll", "--once", "--config", str(config), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["search", "deadline", "--db", str(db), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert (
        "Pentagon gives Anthropic a deadline" in out and "[Anthropic, Department of Defense]" in out
    )
    assert main(["search", 'NEAR("(', "--db", str(db)]) == 0
    assert "no matching items" in capsys.readouterr().out


def test_poll_once_exits_1_when_every_feed_fails(
    loopback: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "defaults:\n  allow_private_networks: true\nfeeds:\n"
        f"  - name: Missing\n    url: {loopback.url}/missing.xml\n"
    )
    assert main(["poll", "--once", "--config", str(config), "--db", str(tmp_path / "r.db")]) == 1
    assert "Missing: HTTP 404" in capsys.readouterr().err


def test_python_dash_m_bot_and_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("redline ")


@pytest.mark.parametrize(
    "command",
    ["run", "poll", "check", "search", "config", "digest", "status", "feeds", "watch", "export"],
)
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "example" in capsys.readouterr().out


ADMIN_CONFIG = """\
# our feeds
feeds:
  - name: DefenseScoop   # keep this comment
    url: https://defensescoop.com/feed/
entities:
  - name: Anthropic
"""


def test_shell_admin_commands_share_the_chat_code_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(ADMIN_CONFIG)
    common = ["--config", str(config), "--db", str(tmp_path / "r.db")]
    assert main(["watch", "add", "Scale AI, Scale", *common]) == 0
    assert main(["watch", "alias", "Anthropic", "Claude", *common]) == 0
    assert main(["feeds", "pause", "DefenseScoop", *common]) == 0
    assert main(["feeds", "remove", "Nope", *common]) == 1
    text = config.read_text()
    assert "# keep this comment" in text
    assert "name: Scale AI" in text
    assert "aliases: [Scale]" in text
    assert "aliases: [Claude]" in text
    assert "enabled: false" in text
    capsys.readouterr()
    assert main(["feeds", "list", *common]) == 0
    assert "DefenseScoop" in capsys.readouterr().out
    assert main(["status", *common]) == 0
    out = capsys.readouterr().out
    assert "feeds: 1 paused" in out
    assert "admin edits: 3 applied" in out


def test_export_csv_and_json(
    loopback: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = loopback.add_feed("/f.xml", FEED)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"defaults:\n  allow_private_networks: true\nfeeds:\n  - name: News\n    url: {url}\n"
        "    backfill: 5\n" + WATCHLIST.replace("feeds: []\n", "")
    )
    common = ["--config", str(config), "--db", str(tmp_path / "r.db")]
    assert main(["poll", "--once", *common]) == 0
    capsys.readouterr()
    assert main(["export", "--since", "3650d", "--format", "json", *common]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["entities"] == ["Anthropic", "Department of Defense"]
    assert main(["export", "--since", "3650d", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "id,feed,published,title,link,entities,deadlines,summary"
    assert "Anthropic; Department of Defense" in lines[1]


def test_each_poll_once_leaves_the_search_index_merged(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    """A cycle indexes what it stored (one FTS segment); `poll --once` then merges segments."""
    import sqlite3
    from contextlib import closing

    config = tmp_path / "feeds.yaml"
    db = tmp_path / "r.db"
    url = loopback.url + "/f.xml"
    config.write_text(
        f"defaults:\n  allow_private_networks: true\nfeeds:\n  - name: News\n    url: {url}\n"
    )
    for cycle in range(3):
        stories = [
            {"title": f"Drone story {n}", "guid": f"g{n}", "link": f"https://n.example/{n}"}
            for n in range(3 * cycle, 3 * cycle + 3)
        ]
        loopback.add_feed("/f.xml", rss(*stories))
        assert main(["poll", "--once", "--config", str(config), "--db", str(db)]) == 0
    with closing(sqlite3.connect(db)) as conn:
        (segments,) = conn.execute("SELECT count(DISTINCT segid) FROM items_fts_idx").fetchone()
        (items,) = conn.execute("SELECT count(*) FROM items_fts_docsize").fetchone()
    assert (segments, items) == (1, 9)
