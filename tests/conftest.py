"""Shared fixtures: a clean environment, a loopback HTTP server, a real SQLite file."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer

_STRIPPED_PREFIXES = ("SLACK_", "DISCORD_", "REDLINE_")
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's tokens, Redline settings or proxies."""
    for name in list(os.environ):
        if name.startswith(_STRIPPED_PREFIXES) or name.lower() in _PROXY_VARS:
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`redline` commands configure the root logger on the test's captured stderr; undo it, so
    a later test never logs to a stream that has been closed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "redline.db"
