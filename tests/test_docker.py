"""The Dockerfile, compose.yaml and .dockerignore, checked against the code they package.

Docker cannot run here, so these tests read the files and hold them to the code: the command
is the console script, the user is not root, the volume is where the store lives by default,
the port and the health check are the ones bot.server serves (the health check command itself
is run against a real server), and compose passes through exactly the environment variables
the code reads.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.cli import DEFAULT_DB, build_parser, cmd_run
from bot.server import DEFAULT_PORT, HttpServer, build_app

ROOT = Path(__file__).resolve().parents[1]
HEALTH_PATH = "/healthz"  # bot.server.build_app's health route (no constant there)
PASSTHROUGH = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*):-(?P<default>[^}]*)\}")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        found.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return found


def only(keyword: str) -> str:
    values = [rest for name, rest in instructions() if name == keyword]
    assert len(values) == 1, f"expected one {keyword}, found {len(values)}"
    return values[0]


def env() -> dict[str, str]:
    words = [w for name, rest in instructions() if name == "ENV" for w in shlex.split(rest)]
    return dict(word.split("=", 1) for word in words)


def healthcheck() -> tuple[dict[str, str], str]:
    """The HEALTHCHECK's options and its shell-form command."""
    options, marker, command = only("HEALTHCHECK").partition(" CMD ")
    assert marker, "HEALTHCHECK must have a CMD"
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in options.split())
    return flags, command.strip()


def compose() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(ROOT / "compose.yaml")
    return data


def service() -> dict[str, Any]:
    services = compose()["services"]
    assert list(services) == ["redline"]
    redline: dict[str, Any] = services["redline"]
    return redline


def with_defaults(text: str) -> str:
    """Compose's interpolation with no .env: every ``${NAME:-default}`` becomes its default."""
    return PASSTHROUGH.sub(lambda m: m.group("default"), text)


# -- Dockerfile ----------------------------------------------------------------------------------


def test_base_image_is_python_311_slim() -> None:
    assert only("FROM") == "python:3.11-slim"


def test_cmd_is_the_redline_console_script_running_the_service() -> None:
    assert json.loads(only("CMD")) == ["redline", "run"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["redline"] == "bot.cli:main"
    assert build_parser().parse_args(["run"]).handler is cmd_run
    assert any(name == "RUN" and "pip install ." in rest for name, rest in instructions())


def test_runs_as_the_non_root_user_it_creates() -> None:
    user = only("USER")
    assert user.split(":")[0] not in ("root", "0", "")
    creates = [rest for name, rest in instructions() if name == "RUN" and "useradd" in rest]
    assert creates and re.search(rf"useradd\b[^&]*\s{re.escape(user)}(\s|$)", creates[0])
    assert [name for name, _ in instructions()].index("USER") < [
        name for name, _ in instructions()
    ].index("CMD")


def test_volume_is_where_the_store_lives_by_default() -> None:
    [volume] = json.loads(only("VOLUME"))
    workdir = PurePosixPath(only("WORKDIR"))
    db = PurePosixPath(env()["REDLINE_DB"])
    # REDLINE_DB and the CLI's relative default (storage/redline.db) both land on the volume.
    assert db.parent == PurePosixPath(volume) == workdir / DEFAULT_DB.parent
    assert workdir / DEFAULT_DB.as_posix() == db
    assert DEFAULT_DB.parent == Path("storage") and (ROOT / "storage" / "README.md").is_file()
    run = " ".join(rest for name, rest in instructions() if name == "RUN")
    assert f"mkdir -p {volume}" in run and f"chown {only('USER')}:{only('USER')} {volume}" in run


def test_config_env_is_the_copied_feed_list() -> None:
    copies = [rest.split() for name, rest in instructions() if name == "COPY"]
    assert ["feeds.yaml", "./feeds.yaml"] in copies
    assert PurePosixPath(env()["REDLINE_CONFIG"]) == PurePosixPath(only("WORKDIR")) / "feeds.yaml"


def test_expose_and_health_port_are_the_servers_default() -> None:
    assert only("EXPOSE") == str(DEFAULT_PORT)
    _, command = healthcheck()
    [(name, default)] = set(PASSTHROUGH.findall(command))
    assert (name, default) == ("REDLINE_PORT", str(DEFAULT_PORT))


@pytest.fixture
def shell_path(tmp_path: Path) -> str:
    """A PATH on which ``python`` is this interpreter, as it is in the image."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture
def health_server() -> Iterator[tuple[HttpServer, list[bool]]]:
    healthy = [True]
    server = HttpServer(
        build_app({}, lambda: (healthy[0], {"scheduler": healthy[0]})), host="127.0.0.1", port=0
    )
    server.start()
    yield server, healthy
    server.close()


def run_healthcheck(command: str, port: int, path: str) -> int:
    result = subprocess.run(  # the Dockerfile's own command, as Docker runs it
        ["/bin/sh", "-c", command],
        env={"PATH": path, "REDLINE_PORT": str(port)},
        capture_output=True,
        timeout=20,
        check=False,
    )
    return result.returncode


def test_healthcheck_requests_the_path_the_server_serves_and_fails_on_503(
    health_server: tuple[HttpServer, list[bool]], shell_path: str
) -> None:
    server, healthy = health_server
    _, command = healthcheck()
    [url] = re.findall(r"https?://[^'\"\s]+", command)
    assert url.startswith("http://127.0.0.1:") and url.split("}", 1)[1] == HEALTH_PATH
    base = f"http://127.0.0.1:{server.port}"
    with urllib.request.urlopen(base + HEALTH_PATH, timeout=5) as response:
        assert response.status == 200 and json.load(response)["ok"] is True
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(base + "/health", timeout=5)
    assert missing.value.code == 404
    missing.value.close()
    assert run_healthcheck(command, server.port, shell_path) == 0
    healthy[0] = False
    assert run_healthcheck(command, server.port, shell_path) != 0


def test_healthcheck_fails_when_nothing_listens(
    health_server: tuple[HttpServer, list[bool]], shell_path: str
) -> None:
    server, _ = health_server
    port = server.port
    server.close()
    assert run_healthcheck(healthcheck()[1], port, shell_path) != 0


def test_dockerignore_keeps_secrets_out_and_what_the_build_copies_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not [p for p in patterns if p.startswith("!")], "exceptions make this check unsound"

    def ignored(path: str) -> bool:
        parts = PurePosixPath(path).parts
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        return any(
            fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
            or fnmatch.fnmatch(PurePosixPath(prefix).name, pattern.removeprefix("**/"))
            for pattern in patterns
            for prefix in prefixes
        )

    for secret in (".env", ".env.production", "prod.env", "storage/redline.db", ".git/config"):
        assert ignored(secret), secret
    sources = [src for name, rest in instructions() if name == "COPY" for src in rest.split()[:-1]]
    assert sources == ["pyproject.toml", "README.md", "bot", "feeds.yaml"]
    for source in [*sources, "bot/cli.py", "bot/notifiers/slack.py"]:
        assert (ROOT / source).exists() and not ignored(source), source


# -- compose.yaml --------------------------------------------------------------------------------


def test_compose_builds_this_image_with_its_volume_port_and_config() -> None:
    redline = service()
    assert redline["build"] == "."
    assert [with_defaults(p) for p in redline["ports"]] == [f"{DEFAULT_PORT}:{DEFAULT_PORT}"]
    [volume] = json.loads(only("VOLUME"))
    named, config = redline["volumes"]
    name, _, target = named.partition(":")
    assert target == volume and name in compose()["volumes"]
    source, target, mode = config.split(":")
    assert (source, target, mode) == ("./feeds.yaml", env()["REDLINE_CONFIG"], "ro")
    environment = redline["environment"]
    for var in ("REDLINE_CONFIG", "REDLINE_DB"):
        assert with_defaults(environment[var]) == env()[var]
    assert with_defaults(environment["REDLINE_PORT"]) == str(DEFAULT_PORT)


def test_compose_healthcheck_is_the_dockerfiles() -> None:
    check = service()["healthcheck"]
    flags, command = healthcheck()
    kind, test = check["test"]
    assert kind == "CMD-SHELL"
    assert test.replace("$$", "$") == command  # $$: the container's shell expands it
    assert {k: str(check[k.replace("-", "_")]) for k in flags} == flags


def code_environment() -> set[str]:
    """Environment variables bot/ reads: ``environ.get("X")``, ``environ["X"]``, ``getenv``,
    and any string constant that is a Redline, Slack or Discord variable name."""
    read = re.compile(r"""(?:environ(?:\.get)?\s*[(\[]\s*|getenv\(\s*)["']([A-Za-z_]\w*)["']""")
    ours = re.compile(r"(?:SLACK|DISCORD|REDLINE)_[A-Z0-9_]*[A-Z0-9]")
    wsgi = {"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE"}
    wsgi |= {"CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR"}
    names: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        source = path.read_text()
        names |= {n for n in read.findall(source) if n not in wsgi and not n.startswith("HTTP_")}
        names |= {
            node.value
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and ours.fullmatch(node.value)
        }
    return names


def test_compose_passes_through_exactly_the_variables_the_code_reads() -> None:
    environment: dict[str, str] = service()["environment"]
    code = code_environment()
    assert {"SLACK_BOT_TOKEN", "REDLINE_PORT", "REDLINE_DB"} <= code  # the scan works
    assert sorted(code - set(environment)) == [], "read by bot/ but missing from compose.yaml"
    readme = (ROOT / "README.md").read_text()
    for name in set(environment) - code:
        # Route webhooks are read through ${VAR} in feeds.yaml, as the README shows.
        assert name.startswith("DISCORD_WEBHOOK_") and "${" + name + "}" in readme, name
    for name, value in environment.items():
        match = PASSTHROUGH.fullmatch(value)
        assert match is not None and match.group("name") == name, f"{name}: {value}"


def test_every_compose_variable_is_documented_in_a_comment() -> None:
    text = (ROOT / "compose.yaml").read_text()
    comments = "\n".join(line for line in text.splitlines() if line.strip().startswith("#"))
    for name in service()["environment"]:
        assert re.search(rf"\b{name}\b", comments), name
    assert "DISCORD_WEBHOOK_*" in comments and ".env" in comments


def test_empty_passthroughs_mean_unset() -> None:
    """compose hands an unset variable over as "": the code must treat that as unset."""
    from bot.discord_app import build_discord
    from bot.slack_app import build_slack

    empty = {name: "" for name in code_environment()}
    runner: Any = None
    admins: Any = lambda: None  # noqa: E731 - never called without credentials
    assert build_slack(empty, runner, admins) is None
    discord = build_discord(empty, runner, admins, lambda route: None)
    assert discord.wsgi is None
    discord.close()
