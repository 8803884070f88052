"""The `/redline` application command for Discord: its definition (typed options) and the
translation of an invoked command back into the shared grammar text of bot/commands.py.

Values are quoted so user input can't change the grammar's meaning (a query that says
``entity:`` stays query text). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.commands import UsageError
from bot.notifiers.discord import one_line

SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN = 1, 2, 3, 4, 5
LATEST_COUNT = 5  # commands.py's default for `latest`, said aloud only after a numeric name
_OPTION_WORD = re.compile(r"\b(entity|since|limit):", re.IGNORECASE)


def _opt(name: str, kind: int, text: str, required: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "description": text, "required": required, **extra}


def _sub(name: str, text: str, *options: dict[str, Any], share: bool = True) -> dict[str, Any]:
    shared = [_opt("share", BOOLEAN, "Show the answer to the whole channel")] if share else []
    return {"type": SUB_COMMAND, "name": name, "description": text, "options": [*options, *shared]}


def command_definitions() -> list[dict[str, Any]]:
    """The `/redline` application command, mirroring bot/commands.py's grammar."""
    entity = _opt("entity", STRING, "Only items matching this watched entity", max_length=200)
    name = _opt("name", STRING, "Feed name", True, max_length=200)
    watched = _opt("name", STRING, "Entity name", True, max_length=200)
    options = [
        _sub(
            "search",
            "Full-text search of stored items, newest first",
            _opt("query", STRING, 'Words, "a phrase" or prefix*', True, max_length=300),
            entity,
            _opt("since", STRING, "Only items newer than this: 7d, 12h, 30m", max_length=20),
            _opt("limit", INTEGER, "How many results (1-50)", min_value=1, max_value=50),
        ),
        _sub(
            "latest",
            "The newest matched items",
            entity,
            _opt("count", INTEGER, "How many (1-50)", min_value=1, max_value=50),
        ),
        _sub(
            "deadlines",
            "Upcoming deadlines (default 14 days)",
            _opt("days", INTEGER, "How many days ahead (1-366)", min_value=1, max_value=366),
        ),
        _sub(
            "why",
            "Why an item matched or did not",
            _opt("item", INTEGER, "The # number shown in results", True, min_value=1),
        ),
        _sub("entities", "The watchlist with aliases"),
        _sub("status", "Version, uptime, feed health, pending deliveries"),
        _sub("help", "What /redline can do"),
        {
            "type": SUB_COMMAND_GROUP,
            "name": "feeds",
            "description": "Feeds: list them; admins add, remove, pause, resume",
            "options": [
                _sub("list", "Every feed with its health"),
                _sub(
                    "add",
                    "(admin) Add a feed after checking it works",
                    _opt("url", STRING, "The feed's http(s) URL", True, max_length=2000),
                    _opt("name", STRING, "A name (default: the feed's title)", max_length=200),
                    share=False,
                ),
                _sub("remove", "(admin) Remove a feed", name, share=False),
                _sub("pause", "(admin) Stop polling a feed, keep it", name, share=False),
                _sub("resume", "(admin) Resume polling a paused feed", name, share=False),
            ],
        },
        {
            "type": SUB_COMMAND_GROUP,
            "name": "watch",
            "description": "(admin) Edit the watchlist",
            "options": [
                _sub(
                    "add",
                    "(admin) Watch a new entity",
                    watched,
                    _opt("aliases", STRING, "Other names, comma-separated", max_length=1000),
                    share=False,
                ),
                _sub("remove", "(admin) Stop watching an entity", watched, share=False),
                _sub(
                    "alias",
                    "(admin) Add an alias to an entity",
                    watched,
                    _opt("alias", STRING, "The new alias", True, max_length=200),
                    share=False,
                ),
            ],
        },
    ]
    return [
        {"name": "redline", "type": 1, "description": "Defense-AI news alerts", "options": options}
    ]


# -- options → grammar text ---------------------------------------------------------------------


def command_text(data: Mapping[str, Any]) -> tuple[str, bool]:
    """The grammar text for one `/redline` invocation, and whether to share the answer.
    Raises UsageError for input the grammar could not carry faithfully."""
    path: list[str] = []
    options: list[Mapping[str, Any]] = list(data.get("options") or ())
    while options and options[0].get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
        path.append(str(options[0].get("name")))
        options = list(options[0].get("options") or ())
    values = {str(o.get("name")): o.get("value") for o in options}
    share = values.pop("share", False) is True
    words = {k: one_line(v) for k, v in values.items() if isinstance(v, str) and v.strip()}
    if any("--share" in v.split() for v in words.values()):
        raise UsageError("--share can't be part of an option; use the share option")
    numbers = {
        k: str(v) for k, v in values.items() if isinstance(v, int) and not isinstance(v, bool)
    }
    name = " ".join(path)
    text = _TEXT[name](words, numbers) if name in _TEXT else name or "help"
    return (f"{text} --share" if share else text), share


def _quoted(value: str) -> str:
    """An option value for the ``key:"value"`` form, which allows no inner double quote."""
    return '"' + value.replace('"', "'") + '"'


def _shell(value: str) -> str:
    """A name for the shlex-quoted list form (``"Scale AI" "Scale"``)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _search(words: dict[str, str], numbers: dict[str, str]) -> str:
    query = _OPTION_WORD.sub(r"\1 :", words.get("query", ""))  # stays query text
    parts = ["search", query]
    parts += [f"{key}:{_quoted(words[key])}" for key in ("entity", "since") if key in words]
    if "limit" in numbers:
        parts.append(f"limit:{numbers['limit']}")
    return " ".join(parts)


def _latest(words: dict[str, str], numbers: dict[str, str]) -> str:
    entity = words.get("entity", "")
    count = numbers.get("count")
    if count is None and entity and entity.split()[-1].isdigit():
        count = str(LATEST_COUNT)  # else "Task Force 59" would read as a count of 59
    return " ".join(p for p in ("latest", entity, count) if p)


def _watch_add(words: dict[str, str], numbers: dict[str, str]) -> str:
    aliases = [a.strip() for a in words.get("aliases", "").split(",") if a.strip()]
    return "watch add " + " ".join(_shell(n) for n in [words.get("name", ""), *aliases])


_Builder = Callable[[dict[str, str], dict[str, str]], str]


def _named(command: str) -> _Builder:
    return lambda words, numbers: f"{command} {words.get('name', '')}"


_TEXT: dict[str, _Builder] = {
    "search": _search,
    "latest": _latest,
    "deadlines": lambda w, n: " ".join(["deadlines", n.get("days", "")]).strip(),
    "why": lambda w, n: f"why {n.get('item', '')}".strip(),
    "feeds list": lambda w, n: "feeds",
    "feeds add": lambda w, n: (
        f"feeds add {w.get('url', '').replace(' ', '%20')} {w.get('name', '')}"
    ),
    "watch add": _watch_add,
    "watch alias": lambda w, n: (
        f"watch alias {_shell(w.get('name', ''))} " + _shell(w.get("alias", ""))
    ),
    **{n: _named(n) for n in ("feeds remove", "feeds pause", "feeds resume", "watch remove")},
}
