"""feeds.yaml + environment → a frozen :class:`Settings`; every problem reported with file:line.

Validation never stops at the first mistake: it collects every problem, each located as
``feeds.yaml:14: feeds[3].url: must start with http:// or https://``, and raises one ConfigError,
so one run shows the whole list to fix. Any string may say ``${VAR}``, filled from the
environment, so secrets stay out of the file. Editing the file in place: bot/config_edit.py.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.parser import Parser
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scanner import Scanner

from bot.config_checker import (
    DEFAULT_INTERVAL,
    MIN_INTERVAL,
    Checker,
    Draft,
    kind,
    listing,
    parse_interval,
)
from bot.config_sections import SECTIONS
from bot.errors import ConfigError
from bot.models import Admins, Digest, Entity, Feed, Reminders, Route

__all__ = [
    "DEFAULT_INTERVAL",
    "MIN_INTERVAL",
    "Settings",
    "load_config",
    "parse_config",
    "parse_interval",
    "yaml_problem",
]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything feeds.yaml configures, validated. ``source`` is the file it came from, if any."""

    feeds: tuple[Feed, ...] = ()
    entities: tuple[Entity, ...] = ()
    interval: float = DEFAULT_INTERVAL
    allow_private_networks: bool = False
    notify_failing_after: float = 6 * 3600.0  # a feed failing this long → one admin notice
    delivery_attempts: int = 8  # then a delivery is dead-lettered
    routes: tuple[Route, ...] = ()
    admins: Admins = field(default_factory=Admins)
    reminders: Reminders = field(default_factory=Reminders)
    digest: Digest = field(default_factory=Digest)
    source: Path | None = None

    def feed(self, name: str) -> Feed | None:
        """The feed called ``name`` (case-insensitive, as chat commands type it), or None."""
        wanted = name.strip().casefold()
        return next((f for f in self.feeds if f.name.casefold() == wanted), None)


def load_config(path: Path, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate ``path``; an unreadable file is a ConfigError like any other problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (bad byte at offset {exc.start})"]) from None
    except OSError as exc:  # a directory, no permission, ...
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    return replace(parse_config(text, source=str(path), environ=environ), source=path)


def parse_config(
    text: str, *, source: str = "feeds.yaml", environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate feeds.yaml text; ``source`` names it in messages, ``environ`` fills ``${VAR}``."""
    doc = _load(text, source)
    if doc is None:  # an empty file: nothing configured yet
        doc = {}
    if not isinstance(doc, dict):
        keys = listing(SECTIONS)
        raise ConfigError([f"{source}:1: must be a mapping with keys {keys}; got {kind(doc)}"])
    check = Checker(source, os.environ if environ is None else environ)
    check.keys(doc, "", SECTIONS)
    draft = Draft()
    for key, section in SECTIONS.items():
        if key in doc:
            section(check, doc, key, draft)
    if check.problems:
        raise ConfigError([message for _, message in sorted(check.problems, key=lambda p: p[0])])
    return Settings(
        feeds=tuple(draft.feeds),
        entities=tuple(draft.entities),
        interval=draft.interval,
        allow_private_networks=draft.allow_private_networks,
        notify_failing_after=draft.notify_failing_after,
        delivery_attempts=draft.delivery_attempts,
        routes=tuple(draft.routes),
        admins=draft.admins,
        reminders=draft.reminders,
        digest=draft.digest,
    )


def yaml_problem(source: str, exc: YAMLError) -> str:
    """One located line for a ruamel syntax error (config_edit reports its own with it)."""
    if not isinstance(exc, MarkedYAMLError):
        return f"{source}: invalid YAML: {exc}"
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    context = f" ({exc.context})" if exc.problem and exc.context else ""
    return f"{where}: invalid YAML: {exc.problem or exc.context}{context}"


def _load(text: str, source: str) -> Any:
    """Round-trip types and line numbers (``.lc``), without the comments only editing needs.

    ruamel's pure parser takes ~0.6 s for a 1,000-feed file; its optional C parser
    (``ruamel.yaml[oldlibyaml]``), when installed, takes a quarter of that. A file the C parser
    rejects is re-read by the pure one, so error messages are the same either way.
    """
    if _C_LOADER is not None:
        loader = _C_LOADER(text)
        try:
            return loader.get_single_data()
        except YAMLError:
            pass
        finally:
            loader.dispose()
    yaml = YAML(typ="rt")
    yaml.Scanner, yaml.Parser = Scanner, Parser  # not the comment-gathering ones: ~20% faster
    try:
        return yaml.load(text)
    except YAMLError as exc:
        raise ConfigError([yaml_problem(source, exc)]) from None


def _c_loader() -> Any:
    """ruamel's C parser under its round-trip constructor, as ruamel.yaml.cyaml pairs them."""
    for module in ("_ruamel_yaml", "_ruamel_yaml_clibz"):
        try:
            c_parser = importlib.import_module(module).CParser
        except ImportError:
            continue

        def init(self: Any, stream: str, c_parser: Any = c_parser) -> None:
            c_parser.__init__(self, stream)
            self._parser = self._composer = self
            RoundTripConstructor.__init__(self, loader=self)
            VersionedResolver.__init__(self, loader=self)  # YAML 1.2, like YAML(typ="rt")
            self.comment_handling = None

        bases = (c_parser, RoundTripConstructor, VersionedResolver)
        return type("CRoundTripLoader", bases, {"__init__": init})
    return None


_C_LOADER = _c_loader()
