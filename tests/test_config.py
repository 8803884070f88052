"""feeds.yaml → Settings: the bundled file, every located problem, ${VAR}, and safe editing."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest
from ruamel.yaml.comments import CommentedMap

from bot.config import DEFAULT_INTERVAL, Settings, load_config, parse_config, parse_interval
from bot.config_edit import append_entry, edit_config, find_entry, remove_entry
from bot.errors import ConfigError

BUNDLED = Path(__file__).resolve().parent.parent / "feeds.yaml"


def problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(dedent(text), **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def parse(text: str, **kwargs: object) -> Settings:
    return parse_config(dedent(text), **kwargs)  # type: ignore[arg-type]


# --- the bundled feeds.yaml ----------------------------------------------------------------


def test_bundled_config_loads_with_real_https_feeds() -> None:
    settings = load_config(BUNDLED, environ={})
    enabled = [f for f in settings.feeds if f.enabled]
    assert len(enabled) >= 12
    assert all(f.url.startswith("https://") for f in settings.feeds)
    assert all("example" not in f.url for f in settings.feeds)
    names = [f.name.casefold() for f in settings.feeds]
    assert len(names) == len(set(names))
    assert all(600 <= f.interval <= 1800 for f in settings.feeds)  # 10m-30m
    assert all(f.tags for f in settings.feeds)
    assert settings.source == BUNDLED  # and environ={} proved it needs no ${VAR}


def test_bundled_watchlist_covers_the_department_and_the_labs() -> None:
    settings = load_config(BUNDLED, environ={})
    by_name = {e.name: e for e in settings.entities}
    dod = by_name["Department of Defense"]
    assert {"Pentagon", "Department of War", "DoD"} <= set(dod.terms)
    assert "Pentagon City" in dod.exclude
    # "DoW" is left out on purpose: a case-insensitive entity would fire on "Dow" (see feeds.yaml).
    insensitive = {t.casefold() for e in settings.entities if not e.case_sensitive for t in e.terms}
    assert "dow" not in insensitive
    assert by_name["Meta"].case_sensitive
    assert by_name["xAI"].case_sensitive  # "XAI" is explainable AI
    for lab, model in [
        ("Anthropic", "Claude"),
        ("OpenAI", "ChatGPT"),
        ("Google DeepMind", "Gemini"),
    ]:
        assert model in by_name[lab].aliases
    assert "DPA" in by_name["Defense Production Act"].aliases
    assert by_name["Defense Production Act"].context
    for name in ["DARPA", "Palantir", "Anduril", "Scale AI", "Lockheed Martin", "Pete Hegseth"]:
        assert name in by_name


def test_bundled_feed_lookup_is_case_insensitive() -> None:
    settings = load_config(BUNDLED, environ={})
    feed = settings.feed("defensescoop")
    assert feed is not None
    assert feed.url == "https://defensescoop.com/feed/"
    assert settings.feed("no such feed") is None


# --- a valid file ---------------------------------------------------------------------------


def test_full_schema_parses_into_settings() -> None:
    settings = parse(
        """\
        defaults:
          interval: 10m
          allow_private_networks: true
        feeds:
          - name: Local
            url: http://127.0.0.1:8080/feed.xml
            interval: 1h30m
            enabled: false
            tags: [test, test, local]
            backfill: 3
          - name: Plain
            url: https://example.org/rss
        entities:
          - name: Department of Defense
            aliases: [Pentagon, DoD]
            exclude: [Pentagon City]
            context: [AI, model]
            case_sensitive: false
          - name: Meta
            case_sensitive: true
        """
    )
    local, plain = settings.feeds
    assert local.interval == 5400
    assert (local.enabled, local.tags, local.backfill) == (False, ("test", "local"), 3)
    assert plain.interval == 600 and plain.enabled and plain.backfill == 0
    assert settings.allow_private_networks
    dod, meta = settings.entities
    assert dod.aliases == ("Pentagon", "DoD") and dod.context == ("AI", "model")
    assert meta.case_sensitive and meta.aliases == ()
    assert settings.source is None


@pytest.mark.parametrize(
    "text",
    ["", "# nothing yet\n", "feeds: []\n", "feeds:\nentities:\n", "defaults:\n  interval: 1m\n"],
)
def test_empty_configurations_are_valid(text: str) -> None:
    settings = parse(text)
    assert settings.feeds == () and settings.entities == ()
    assert settings.interval in (DEFAULT_INTERVAL, 60)


# --- each problem, located ------------------------------------------------------------------

PROBLEMS = [
    (
        "colour: red\n",
        "feeds.yaml:1: colour: unknown key; "
        "allowed: admins, defaults, digest, entities, feeds, reminders, routes",
    ),
    (
        "defaults:\n  intervall: 5m\n",
        "feeds.yaml:2: defaults.intervall: unknown key (did you mean 'interval'?); "
        "allowed: allow_private_networks, delivery_attempts, interval, notify_failing_after",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example/\n    enable: true\n",
        "feeds.yaml:4: feeds[0].enable: unknown key (did you mean 'enabled'?); "
        "allowed: backfill, enabled, interval, name, tags, url",
    ),
    (
        "entities:\n  - name: A\n    alias: [B]\n",
        "feeds.yaml:3: entities[0].alias: unknown key (did you mean 'aliases'?); "
        "allowed: aliases, case_sensitive, context, exclude, name",
    ),
    (
        "feeds:\n  - name: A\n    url: ftp://a.example/feed\n",
        "feeds.yaml:3: feeds[0].url: must start with http:// or https://",
    ),
    (
        "feeds:\n  - name: A\n    url: a.example/feed\n",
        "feeds.yaml:3: feeds[0].url: must start with http:// or https://",
    ),
    ("feeds:\n  - name: A\n    url: https:///feed\n", "feeds.yaml:3: feeds[0].url: has no host"),
    (
        "feeds:\n  - name: A\n    url: https://bob:hunter2@a.example/feed\n",
        "feeds.yaml:3: feeds[0].url: must not contain a user name or password (userinfo); "
        "drop the part before '@'",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example:99999/\n",
        "feeds.yaml:3: feeds[0].url: is not a valid URL",
    ),
    (
        "feeds:\n  - name: A\n    url: http://127.0.0.1:8000/feed\n",
        "feeds.yaml:3: feeds[0].url: points at a loopback or private address; "
        "allow it with defaults.allow_private_networks",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example/\n    interval: 10x\n",
        "feeds.yaml:4: feeds[0].interval: invalid duration '10x': use seconds (90) or a number "
        "with a unit (s, m, h, d, w), e.g. 30s, 10m, 1h30m, 7d",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example/\n    interval: 4s\n",
        "feeds.yaml:4: feeds[0].interval: must be at least 5s (got 4s)",
    ),
    ("defaults:\n  interval: 3\n", "feeds.yaml:2: defaults.interval: must be at least 5s (got 3)"),
    (
        "defaults:\n  interval: true\n",
        "feeds.yaml:2: defaults.interval: must be a duration like 10m; got true/false",
    ),
    (
        "feeds:\n  - name: Scoop\n    url: https://a.example/\n"
        "  - name: SCOOP\n    url: https://b.example/\n",
        "feeds.yaml:4: feeds[1].name: duplicate feed name 'SCOOP' (see feeds[0], line 2)",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example/feed\n"
        "  - name: B\n    url: https://A.EXAMPLE/feed\n",
        "feeds.yaml:5: feeds[1].url: duplicate feed URL (see feeds[0], line 3)",
    ),
    (
        "entities:\n  - name: Anduril\n  - name: anduril\n",
        "feeds.yaml:3: entities[1].name: duplicate entity name 'anduril' (see entities[0], line 2)",
    ),
    (
        "entities:\n  - name: xAI\n    aliases: [Grok]\n  - name: Other\n    aliases: [grok]\n",
        "feeds.yaml:5: entities[1].aliases[0]: 'grok' is already a name or alias of another "
        "entity (see entities[0], line 3)",
    ),
    (
        "entities:\n  - name: A\n    aliases:\n      - B\n      - ''\n",
        "feeds.yaml:5: entities[0].aliases[1]: must not be empty",
    ),
    (
        "entities:\n  - name: A\n    aliases: [B, '  ']\n",
        "feeds.yaml:3: entities[0].aliases[1]: must not be empty",
    ),
    (
        "entities:\n  - name: Pentagon\n    exclude: [Pentagram]\n",
        "feeds.yaml:3: entities[0].exclude[0]: 'Pentagram' contains none of the entity's names, "
        "so it can never apply",
    ),
    (
        "feeds:\n  - url: https://a.example/\n",
        "feeds.yaml:2: feeds[0].name: required key is missing",
    ),
    (
        "feeds:\n  - name: A\n    tags: [x]\n",
        "feeds.yaml:2: feeds[0].url: required key is missing",
    ),
    (
        "entities:\n  - aliases: [B]\n",
        "feeds.yaml:2: entities[0].name: required key is missing",
    ),
    ("feeds:\n  name: A\n", "feeds.yaml:1: feeds: must be a list; got a mapping"),
    ("feeds:\n  - A\n", "feeds.yaml:2: feeds[0]: must be a mapping; got text 'A'"),
    ("feeds:\n  -\n", "feeds.yaml:2: feeds[0]: must be a mapping; got nothing (null)"),
    (
        "feeds:\n  - name: 42\n    url: https://a.example/\n",
        "feeds.yaml:2: feeds[0].name: must be a string; got a number (42)",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example/\n    enabled: yes\n",
        "feeds.yaml:4: feeds[0].enabled: must be true or false; got text 'yes' "
        "(YAML 1.2 reads yes/no/on/off as text)",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example/\n    tags: defense\n",
        "feeds.yaml:4: feeds[0].tags: must be a list; got text 'defense'",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example/\n    backfill: -1\n",
        "feeds.yaml:4: feeds[0].backfill: must be a whole number ≥ 0; got a number (-1)",
    ),
    (
        "entities:\n  - name: A\n    case_sensitive: 1\n",
        "feeds.yaml:3: entities[0].case_sensitive: must be true or false; got a number (1)",
    ),
    (
        "feeds:\n  - name: A\n    url: https://a.example/?key=${FEED_KEY}\n",
        "feeds.yaml:3: feeds[0].url: environment variable FEED_KEY is not set",
    ),
    (
        "- name: A\n",
        "feeds.yaml:1: must be a mapping with keys "
        "admins, defaults, digest, entities, feeds, reminders, routes; got a list",
    ),
]


@pytest.mark.parametrize(("text", "expected"), PROBLEMS)
def test_each_problem_is_reported_with_file_line_and_field(text: str, expected: str) -> None:
    assert problems(text, environ={}) == [expected]


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    found = problems(
        """\
        feeds:
          - name: A
            url: ftp://a.example/
            interval: 1s
          - name: a
            url: https://b.example/
            colour: red
        entities:
          - aliases: [X, '']
        defaults:
          interval: soon
        """,
        source="conf/feeds.yaml",
    )
    assert [p.split(": ", 2)[:2] for p in found] == [
        ["conf/feeds.yaml:3", "feeds[0].url"],
        ["conf/feeds.yaml:4", "feeds[0].interval"],
        ["conf/feeds.yaml:5", "feeds[1].name"],
        ["conf/feeds.yaml:7", "feeds[1].colour"],
        ["conf/feeds.yaml:9", "entities[0].name"],
        ["conf/feeds.yaml:9", "entities[0].aliases[1]"],
        ["conf/feeds.yaml:11", "defaults.interval"],
    ]
    assert str(ConfigError(found)).count("\n") == len(found) - 1


def test_private_addresses_are_allowed_when_the_config_says_so() -> None:
    settings = parse(
        """\
        defaults:
          allow_private_networks: true
        feeds:
          - name: Intranet
            url: http://localhost:8080/feed
          - name: Lab
            url: http://[::1]:9000/feed
        """
    )
    assert [f.name for f in settings.feeds] == ["Intranet", "Lab"]


# --- ${VAR} ---------------------------------------------------------------------------------


def test_env_vars_are_substituted_in_any_string() -> None:
    settings = parse(
        """\
        defaults:
          interval: ${POLL}
        feeds:
          - name: ${FEED_NAME} feed
            url: https://${HOST}/rss?token=${TOKEN}
        """,
        environ={"POLL": "1m", "FEED_NAME": "Intranet", "HOST": "news.example", "TOKEN": "s3"},
    )
    assert settings.interval == 60
    assert settings.feeds[0].name == "Intranet feed"
    assert settings.feeds[0].url == "https://news.example/rss?token=s3"


def test_env_vars_default_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDLINE_TEST_HOST", "env.example")
    text = "feeds:\n  - name: A\n    url: https://${REDLINE_TEST_HOST}/feed\n"
    assert parse(text).feeds[0].url == "https://env.example/feed"


def test_each_missing_env_var_is_named_once() -> None:
    found = problems(
        "feeds:\n  - name: A\n    url: https://${HOST}/${PATH_PART}/${HOST}\n", environ={}
    )
    assert found == [
        "feeds.yaml:3: feeds[0].url: environment variable HOST is not set",
        "feeds.yaml:3: feeds[0].url: environment variable PATH_PART is not set",
    ]


def test_only_the_exact_env_var_pattern_is_substituted() -> None:
    settings = parse(
        "feeds:\n  - name: $HOME ${lower} ${1X}\n    url: https://a.example/\n", environ={}
    )
    assert settings.feeds[0].name == "$HOME ${lower} ${1X}"


# --- intervals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5),
        ("4s", 4),  # parse_interval has no floor: --since 4s is fine; the config rejects it
        (90, 90),
        ("90", 90),
        (7.5, 7.5),
        ("10m", 600),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("1.5h", 5400),
    ],
)
def test_parse_interval_accepts(text: str | float, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10x", "invalid duration '10x'"),
        ("", "invalid duration ''"),
        ("m", "invalid duration 'm'"),
        ("-5s", "invalid duration '-5s'"),
        ("10M", "invalid duration '10M'"),
        ("30m1h", "give each unit once, largest first"),
        ("1h1h", "give each unit once, largest first"),
        (0, "must be a positive duration"),
        (-90, "must be a positive duration"),
        ("0s", "must be a positive duration"),
        ("99999d", "is too long"),
        (True, "got true/false"),
    ],
)
def test_parse_interval_rejects(text: str | float, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_interval(text)


def test_config_interval_floor_is_five_seconds() -> None:
    text = "feeds:\n  - name: A\n    url: https://a.example/\n    interval: {}\n"
    assert parse(text.format("5s")).feeds[0].interval == 5
    assert parse(text.format(5)).feeds[0].interval == 5
    assert problems(text.format("4s")) == [
        "feeds.yaml:4: feeds[0].interval: must be at least 5s (got 4s)"
    ]


# --- files ----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}: no such file"]


def test_directory_and_bad_encoding_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)
    binary = tmp_path / "feeds.yaml"
    binary.write_bytes(b"feeds: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_load_config_names_the_file_in_problems(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - name: A\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}:2: feeds[0].url: required key is missing"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "feeds:\n  - name: A\n    url: [https://a.example/\n  - name: B\n",
            "feeds.yaml:4: invalid YAML: expected ',' or ']', but got ':' "
            "(while parsing a flow sequence)",
        ),
        (
            "feeds:\n  - name: A\n    name: B\n",
            'feeds.yaml:3: invalid YAML: found duplicate key "name" with value "B" '
            '(original value: "A") (while constructing a mapping)',
        ),
        (
            "defaults:\n  interval: 10m\n bad: indent\n",
            "feeds.yaml:3: invalid YAML: expected <block end>, but found '<block mapping start>' "
            "(while parsing a block mapping)",
        ),
    ],
)
def test_yaml_syntax_errors_carry_ruamels_line(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_a_thousand_feeds_load(tmp_path: Path) -> None:
    """The shape of a large deployment; the time is measured in benchmarks, not asserted here."""
    lines = ["defaults:\n  interval: 10m\nfeeds:\n"]
    for i in range(1000):
        lines.append(
            f"  - name: Feed {i}  # comment\n    url: https://site{i}.example/feed/\n"
            f"    interval: 15m\n    enabled: true\n    tags: [defense, ai]\n    backfill: 0\n"
        )
    path = tmp_path / "feeds.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    settings = load_config(path)
    assert len(settings.feeds) == 1000
    assert settings.feed("feed 999") is not None


# --- editing --------------------------------------------------------------------------------

EDITABLE = """\
# Redline feeds (hand-written header)
defaults:
  interval: 10m   # poll every ten minutes

feeds:
  # the Pentagon's tech beat
  - name: DefenseScoop
    url: https://defensescoop.com/feed/
    tags: [defense]
  - name: Secret
    url: "https://intranet.example/feed?token=${FEED_TOKEN}"

entities:
  - name: Anduril   # a contractor
"""


@pytest.fixture
def editable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FEED_TOKEN", "t0k3n")
    path = tmp_path / "feeds.yaml"
    path.write_text(EDITABLE, encoding="utf-8")
    return path


def add_feed(name: str, url: str) -> Callable[[CommentedMap], None]:
    def change(doc: CommentedMap) -> None:
        append_entry(doc, "feeds", {"name": name, "url": url})

    return change


def test_edit_keeps_comments_order_quotes_and_env_vars(editable: Path) -> None:
    settings = edit_config(editable, add_feed("Defense One", "https://www.defenseone.com/rss/all/"))
    assert [f.name for f in settings.feeds] == ["DefenseScoop", "Secret", "Defense One"]
    assert settings.feeds[1].url.endswith("token=t0k3n")  # validated with the env filled in
    assert settings.source == editable
    expected = EDITABLE.replace(
        '?token=${FEED_TOKEN}"\n',
        '?token=${FEED_TOKEN}"\n'
        "  - name: Defense One\n    url: https://www.defenseone.com/rss/all/\n",
    )
    assert editable.read_text(encoding="utf-8") == expected  # byte-for-byte, ${VAR} kept
    assert load_config(editable) == settings


def test_edit_updates_nested_values_in_place(editable: Path) -> None:
    def pause_and_alias(doc: CommentedMap) -> None:
        find_entry(doc, "feeds", "defensescoop")["enabled"] = False  # type: ignore[index]
        find_entry(doc, "entities", "Anduril")["aliases"] = ["Anduril Industries"]  # type: ignore[index]

    settings = edit_config(editable, pause_and_alias)
    assert not settings.feed("DefenseScoop").enabled  # type: ignore[union-attr]
    text = editable.read_text(encoding="utf-8")
    assert "    tags: [defense]\n    enabled: false\n  - name: Secret\n" in text
    assert "  - name: Anduril   # a contractor\n    aliases:\n      - Anduril Industries\n" in text


def test_append_and_remove_keep_section_comments_in_place(tmp_path: Path) -> None:
    """ruamel hangs the lines between entries on the entry above; edits must not move them."""
    path = tmp_path / "feeds.yaml"
    path.write_bytes(BUNDLED.read_bytes())

    def change(doc: CommentedMap) -> None:
        assert remove_entry(doc, "feeds", "war on the rocks")  # last of the trade-press block
        assert remove_entry(doc, "entities", "Palantir")  # first of the contractors
        assert not remove_entry(doc, "feeds", "no such feed")
        append_entry(
            doc, "feeds", {"name": "Nextgov AI", "url": "https://ai.example/", "tags": ["ai"]}
        )
        append_entry(doc, "entities", {"name": "Oracle", "aliases": ["Oracle Cloud"]})

    settings = edit_config(path, change)
    assert settings.feed("Nextgov AI") is not None and settings.feed("War on the Rocks") is None
    text = path.read_text(encoding="utf-8")
    assert "    tags: [defense]\n\n  # --- Federal technology press" in text
    assert "  # --- Contractors ---\n  - name: Anduril\n" in text
    assert (
        "    tags: [tech]\n  - name: Nextgov AI\n    url: https://ai.example/\n    tags: [ai]\n"
        "\n# Matching is whole-word" in text
    )
    assert text.endswith("JWCC]\n  - name: Oracle\n    aliases: [Oracle Cloud]\n")


def test_noop_edit_leaves_the_bundled_file_byte_identical(tmp_path: Path) -> None:
    copy = tmp_path / "feeds.yaml"
    copy.write_bytes(BUNDLED.read_bytes())

    def touch(doc: CommentedMap) -> None:
        doc["defaults"]["interval"] = doc["defaults"]["interval"]

    edit_config(copy, touch)
    assert copy.read_bytes() == BUNDLED.read_bytes()


def test_invalid_edit_is_refused_and_the_file_is_untouched(editable: Path) -> None:
    before = editable.read_bytes()
    with pytest.raises(ConfigError) as caught:
        edit_config(editable, add_feed("defensescoop", "gopher://x.example/"))
    assert caught.value.problems == [
        f"{editable}:12: feeds[2].name: duplicate feed name 'defensescoop' (see feeds[0], line 7)",
        f"{editable}:13: feeds[2].url: must start with http:// or https://",
    ]
    assert editable.read_bytes() == before
    assert [p.name for p in editable.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_edit_that_raises_leaves_the_file_untouched(editable: Path) -> None:
    before = editable.read_bytes()

    def boom(doc: CommentedMap) -> None:
        doc["feeds"].clear()
        raise RuntimeError("admin changed their mind")

    with pytest.raises(RuntimeError):
        edit_config(editable, boom)
    assert editable.read_bytes() == before


def test_edit_refuses_when_an_env_var_is_missing(editable: Path) -> None:
    before = editable.read_bytes()
    with pytest.raises(ConfigError, match="environment variable FEED_TOKEN is not set"):
        edit_config(editable, add_feed("X", "https://x.example/"), environ={})
    assert editable.read_bytes() == before


def test_edit_keeps_file_mode_and_missing_file_is_a_config_error(editable: Path) -> None:
    editable.chmod(0o640)
    edit_config(editable, add_feed("X", "https://x.example/"))
    assert editable.stat().st_mode & 0o777 == 0o640
    with pytest.raises(ConfigError, match="no such file"):
        edit_config(editable.with_name("absent.yaml"), add_feed("Y", "https://y.example/"))


def test_concurrent_edits_all_land(editable: Path) -> None:
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(prefix: str) -> None:
        try:
            start.wait(timeout=10)
            for i in range(10):
                edit_config(editable, add_feed(f"{prefix}{i}", f"https://{prefix}{i}.example/"))
        except BaseException as exc:  # surfaced below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    names = {f.name for f in load_config(editable).feeds}
    assert {f"{p}{i}" for p in "ab" for i in range(10)} <= names
    assert len(names) == 22
    assert editable.read_text(encoding="utf-8").startswith("# Redline feeds (hand-written header)")


# --- the optional C parser ------------------------------------------------------------------


def test_merge_keys_and_anchors_are_understood() -> None:
    text = dedent(
        """\
        feeds:
          - &scoop
            name: DefenseScoop
            url: https://defensescoop.com/feed/
            interval: 20m
          - <<: *scoop
            name: "Scoop mirror"
            url: 'https://mirror.example/feed/'
            colour: red
        """
    )
    assert problems(text) == [
        "feeds.yaml:9: feeds[1].colour: unknown key; allowed: backfill, enabled, interval, "
        "name, tags, url"
    ]
    settings = parse(text.replace("    colour: red\n", ""))
    assert [(f.name, f.interval) for f in settings.feeds] == [
        ("DefenseScoop", 1200),
        ("Scoop mirror", 1200),
    ]


def test_c_parser_reads_exactly_what_the_pure_parser_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where ruamel's C parser is installed it is used; both must agree, errors included."""
    import bot.config

    if bot.config._C_LOADER is None:
        pytest.skip("ruamel's C parser is not installed")
    texts = [BUNDLED.read_text(encoding="utf-8"), EDITABLE, "feeds:\n  - name: A\n    name: B\n"]
    texts += [text for text, _ in PROBLEMS]
    with_c = [_outcome(text) for text in texts]
    monkeypatch.setattr(bot.config, "_C_LOADER", None)
    assert [_outcome(text) for text in texts] == with_c


def _outcome(text: str) -> Settings | list[str]:
    try:
        return parse_config(text, environ={"FEED_TOKEN": "x"})
    except ConfigError as exc:
        return exc.problems


def test_entry_helpers_on_sections_built_in_the_same_change(editable: Path) -> None:
    def change(doc: CommentedMap) -> None:
        del doc["entities"]
        append_entry(doc, "entities", {"name": "Shield AI", "aliases": ["Hivemind"]})
        doc["feeds"] = [{"name": "Only", "url": "https://only.example/"}]
        assert find_entry(doc, "feeds", "ONLY") is not None
        assert remove_entry(doc, "feeds", "only")
        assert find_entry(doc, "nothing", "x") is None

    settings = edit_config(editable, change)
    assert settings.feeds == ()
    assert [(e.name, e.aliases) for e in settings.entities] == [("Shield AI", ("Hivemind",))]
    assert "entities:\n  - name: Shield AI\n    aliases: [Hivemind]\n" in editable.read_text()


@pytest.mark.parametrize("how", ["remove each", "assign empty list", "delete key"])
def test_emptying_a_commented_section_still_writes_valid_yaml(editable: Path, how: str) -> None:
    def change(doc: CommentedMap) -> None:
        if how == "remove each":
            assert remove_entry(doc, "feeds", "DefenseScoop")
            assert remove_entry(doc, "feeds", "Secret")
        elif how == "assign empty list":
            doc["feeds"] = []
        else:
            del doc["feeds"]

    settings = edit_config(editable, change)
    assert settings.feeds == ()
    text = editable.read_text(encoding="utf-8")
    assert load_config(editable) == settings
    assert text.startswith("# Redline feeds (hand-written header)\ndefaults:\n")
    assert text.endswith("entities:\n  - name: Anduril   # a contractor\n")
    if how != "delete key":
        assert "feeds: []\n# the Pentagon's tech beat\n" in text
