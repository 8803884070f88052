"""The README documents every feeds.yaml key, CLI command and slash subcommand."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.commands import SUBCOMMANDS
from bot.config_sections import KEYS, SECTIONS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _config_keys() -> list[str]:
    keys = []
    for path, names in KEYS.items():
        for name in names:
            if path == "admins" and name == "notify":
                continue  # documented through its own keys
            keys.append(f"{path}.{name}")
    return keys


@pytest.mark.parametrize("key", _config_keys())
def test_every_config_key_is_documented(key: str) -> None:
    assert f"`{key}`" in README, f"README's configuration reference lacks `{key}`"


def test_every_section_is_documented() -> None:
    for section in SECTIONS:
        assert f"{section}:" in README


def _cli_commands() -> list[str]:
    found = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    command = f"{prefix} {name}".strip()
                    nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                    if nested:
                        walk(sub, command)
                    else:
                        found.append(command)

    walk(build_parser(), "")
    return found


@pytest.mark.parametrize("command", _cli_commands())
def test_every_cli_command_is_documented(command: str) -> None:
    assert f"`redline {command}" in README, f"README's CLI reference lacks `redline {command}`"


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_every_slash_subcommand_is_documented(subcommand: str) -> None:
    assert f"| `{subcommand}" in README, f"README's slash-command table lacks `{subcommand}`"
