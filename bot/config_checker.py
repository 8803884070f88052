"""The building blocks of feeds.yaml validation: typed readers that collect located problems.

Each reader takes ``(parent, key, path)``: the mapping or list holding the value, its key or index
(which locates it), and the field path used in messages, e.g. ``feeds[3].url``. The sections that
use them are in bot/config_sections.py; loading and Settings in bot/config.py.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.scalarbool import ScalarBoolean

from bot.models import Admins, Digest, Entity, Feed, Reminders, Route

DEFAULT_INTERVAL = 600.0  # seconds between polls when neither defaults nor the feed say
MIN_INTERVAL = 5.0  # faster polling is rude to publishers and never needed
MAX_DURATION = 3650 * 86400.0  # beyond ten years a duration is a typo (and overflows timers)

ENV_VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(rf"(?:{_NUMBER}[wdhms])+")
_DURATION_PART = re.compile(rf"({_NUMBER})([wdhms])")
_UNIT_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
YAML_1_1_BOOLS = {"yes", "no", "on", "off", "y", "n"}


def parse_interval(text: str | float) -> float:
    """Seconds in ``90``, ``"90"``, ``"30s"``, ``"10m"``, ``"1h30m"``, ``"7d"`` or ``"2w"``.

    Shared with CLI flags like ``--since 7d``, so the 5 s polling floor is the caller's to check.
    Units go largest first, each once: ``1m1h`` is rejected rather than guessed at.
    """
    if isinstance(text, bool | ScalarBoolean):
        raise ValueError("must be a duration such as 90, 30s, 10m, 1h30m or 7d; got true/false")
    if isinstance(text, int | float):
        seconds = float(text)
    elif re.fullmatch(_NUMBER, compact := "".join(text.split())):
        seconds = float(compact)
    elif _DURATION.fullmatch(compact):
        parts = _DURATION_PART.findall(compact)
        units = [unit for _, unit in parts]
        if units != sorted(set(units), key=list(_UNIT_SECONDS).index):
            raise ValueError(f"invalid duration {text!r}: give each unit once, largest first")
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    else:
        raise ValueError(
            f"invalid duration {text!r}: use seconds (90) or a number with a unit "
            "(s, m, h, d, w), e.g. 30s, 10m, 1h30m, 7d"
        )
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"must be a positive duration; got {text!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"is too long ({text!r}); at most 3650d")
    return seconds


@dataclass(slots=True)
class Draft:
    """What the sections have built so far; later sections read what earlier ones set."""

    interval: float = DEFAULT_INTERVAL
    allow_private_networks: bool = False
    notify_failing_after: float = 6 * 3600.0
    delivery_attempts: int = 8
    feeds: list[Feed] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    admins: Admins = field(default_factory=Admins)
    reminders: Reminders = field(default_factory=Reminders)
    digest: Digest = field(default_factory=Digest)


class Checker:
    """Reads YAML values into plain ones, collecting located problems on the way.

    Each reader takes ``(parent, key, path)``: the mapping or list holding the value, its key or
    index (which locates it), and the field path used in messages, e.g. ``feeds[3].url``.
    """

    def __init__(self, source: str, environ: Mapping[str, str]) -> None:
        self.source = source
        self.environ = environ
        self.problems: list[tuple[int, str]] = []

    def add(self, line: int, path: str, message: str) -> None:
        """Record a problem at 0-based ``line`` (reported 1-based, as editors count)."""
        self.problems.append((line, f"{self.source}:{line + 1}: {path}: {message}"))

    def once(
        self, seen: dict[str, Any], key: str, owner: str, at: tuple[int, str], what: str
    ) -> None:
        """Report ``what`` at ``at`` = (line, path) if another owner already holds ``key``."""
        first = seen.setdefault(key, (owner, at[0]))
        if first[0] != owner:
            self.add(*at, f"{what} (see {first[0]}, line {first[1] + 1})")

    def keys(self, node: Mapping[Any, Any], path: str, allowed: Collection[str]) -> None:
        """Report every key not in ``allowed``, with a guess at what was meant."""
        for key in node:
            if not (isinstance(key, str) and key in allowed):
                guess = difflib.get_close_matches(str(key), list(allowed), n=1)
                hint = f" (did you mean {guess[0]!r}?)" if guess else ""
                where = f"{path}.{key}" if path else str(key)
                self.add(
                    line_of(node, key), where, f"unknown key{hint}; allowed: {listing(allowed)}"
                )

    def mapping(self, parent: Any, key: Any, path: str, allowed: Collection[str]) -> Any:
        value = parent[key]
        if value is None and isinstance(parent, dict):  # `defaults:` with all of it commented out
            return {}
        if not isinstance(value, dict):
            self.add(line_of(parent, key), path, f"must be a mapping; got {kind(value)}")
            return None
        self.keys(value, path, allowed)
        return value

    def sequence(self, parent: Any, key: Any, path: str) -> list[Any]:
        """The list at ``parent[key]``; null is empty (every item commented out)."""
        value = parent[key]
        if value is None or isinstance(value, list):
            return value or []
        self.add(line_of(parent, key), path, f"must be a list; got {kind(value)}")
        return []

    def string(self, parent: Any, key: Any, path: str) -> str | None:
        """A non-empty string with ``${VAR}`` filled in, or None once the problem is recorded."""
        value, line = parent[key], line_of(parent, key)
        if not isinstance(value, str):
            self.add(line, path, f"must be a string; got {kind(value)}")
            return None
        missing = list(dict.fromkeys(n for n in ENV_VAR.findall(value) if n not in self.environ))
        for name in missing:
            self.add(line, path, f"environment variable {name} is not set")
        text = ENV_VAR.sub(lambda m: self.environ.get(m.group(1), ""), str(value)).strip()
        if not text and not missing:
            self.add(line, path, "must not be empty")
        return None if missing or not text else text

    def required(self, node: Mapping[Any, Any], key: str, path: str) -> str | None:
        if key not in node:
            self.add(line_of(node, None), f"{path}.{key}", "required key is missing")
            return None
        return self.string(node, key, f"{path}.{key}")

    def indexed(self, parent: Any, key: Any, path: str) -> list[tuple[int, str]]:
        """The valid strings of a list, each with its index (to locate later problems)."""
        items = self.sequence(parent, key, path)
        found = ((i, self.string(items, i, f"{path}[{i}]")) for i in range(len(items)))
        return [(i, s) for i, s in found if s is not None]

    def boolean(self, parent: Any, key: Any, path: str) -> bool | None:
        value = parent[key]
        if isinstance(value, bool | ScalarBoolean):
            return bool(value)
        yes_no = isinstance(value, str) and value.lower() in YAML_1_1_BOOLS
        hint = " (YAML 1.2 reads yes/no/on/off as text)" if yes_no else ""
        self.add(line_of(parent, key), path, f"must be true or false; got {kind(value)}{hint}")
        return None

    def count(self, parent: Any, key: Any, path: str) -> int | None:
        value = parent[key]
        if isinstance(value, int) and not isinstance(value, bool | ScalarBoolean) and value >= 0:
            return int(value)
        self.add(line_of(parent, key), path, f"must be a whole number ≥ 0; got {kind(value)}")
        return None

    def duration(self, parent: Any, key: Any, path: str) -> float | None:
        """Any positive duration (``24h``); polling intervals use ``interval`` (≥ 5 s)."""
        try:
            return parse_interval(parent[key])
        except (ValueError, TypeError) as exc:
            self.add(line_of(parent, key), path, str(exc))
            return None

    def interval(self, parent: Any, key: Any, path: str) -> float | None:
        value, line = parent[key], line_of(parent, key)
        if isinstance(value, str):
            value = self.string(parent, key, path)
        elif not isinstance(value, int | float) or isinstance(value, bool | ScalarBoolean):
            self.add(line, path, f"must be a duration like 10m; got {kind(value)}")
            return None
        if value is None:
            return None
        try:
            seconds = parse_interval(value)
        except ValueError as exc:
            self.add(line, path, str(exc))
            return None
        if seconds < MIN_INTERVAL:
            self.add(line, path, f"must be at least 5s (got {value})")
            return None
        return seconds


def line_of(container: Any, key: Any) -> int:
    """0-based line of ``container[key]``: the key's line in a mapping, the item's in a list."""
    lc: Any = getattr(container, "lc", None)
    try:
        return int((lc.item(key) if isinstance(container, list) else lc.key(key))[0])
    except (AttributeError, KeyError, IndexError, TypeError):  # e.g. keys merged in by `<<`
        return int(getattr(lc, "line", 0) or 0)  # so: where the container starts


def unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def kind(value: Any) -> str:
    """How a wrong value reads in a message, without echoing long text."""
    if isinstance(value, bool | ScalarBoolean):
        return "true/false"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "text" if len(value) > 40 else f"text {str(value)!r}"
    names: dict[type, str] = {dict: "a mapping", list: "a list", type(None): "nothing (null)"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)


def listing(keys: Collection[str]) -> str:
    return ", ".join(sorted(keys))
