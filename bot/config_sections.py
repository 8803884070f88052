"""The sections of feeds.yaml: one validator per top-level key, in ``SECTIONS``.

Each validator reads its part of the document through a Checker (collecting located problems)
and fills the Draft that becomes Settings. Later sections may read what earlier ones set.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config_checker import Checker, Draft, line_of, unique
from bot.models import Admins, Digest, Entity, Feed, Reminders, Route

#: Every key a section accepts, by its path in the file (``feeds[]`` = each feed). The README's
#: configuration reference must name each one (tests/test_docs.py checks).
KEYS: dict[str, tuple[str, ...]] = {
    "defaults": (
        "interval",
        "allow_private_networks",
        "notify_failing_after",
        "delivery_attempts",
    ),
    "feeds[]": ("name", "url", "interval", "enabled", "tags", "backfill"),
    "entities[]": ("name", "aliases", "exclude", "context", "case_sensitive"),
    "routes[]": ("name", "slack", "discord", "entities", "feeds", "deadlines_only"),
    "admins": ("slack", "discord", "notify"),
    "admins.notify": ("slack", "discord"),
    "reminders": ("before", "at", "timezone"),
    "digest": ("enabled", "at", "timezone", "days_ahead"),
}


def _check_defaults(check: Checker, doc: Any, key: str, draft: Draft) -> None:
    node = check.mapping(doc, key, "defaults", KEYS["defaults"])
    if node and "interval" in node:
        interval = check.interval(node, "interval", "defaults.interval")
        draft.interval = draft.interval if interval is None else interval
    if node and "allow_private_networks" in node:
        path = "defaults.allow_private_networks"
        draft.allow_private_networks = bool(check.boolean(node, "allow_private_networks", path))
    if node and "notify_failing_after" in node:
        after = check.duration(node, "notify_failing_after", "defaults.notify_failing_after")
        draft.notify_failing_after = after or draft.notify_failing_after
    if node and "delivery_attempts" in node:
        attempts = check.count(node, "delivery_attempts", "defaults.delivery_attempts")
        if attempts == 0:
            check.add(
                line_of(node, "delivery_attempts"), "defaults.delivery_attempts", "must be ≥ 1"
            )
        draft.delivery_attempts = attempts or draft.delivery_attempts


def _check_feeds(check: Checker, doc: Any, key: str, draft: Draft) -> None:
    items = check.sequence(doc, key, "feeds")
    names: dict[str, Any] = {}
    urls: dict[str, Any] = {}
    for i in range(len(items)):
        path = f"feeds[{i}]"
        node = check.mapping(items, i, path, KEYS["feeds[]"])
        if node is None:
            continue
        name = _unique_name(check, node, path, names, "feed")
        url = check.required(node, "url", path)
        if url is not None and (problem := _url_problem(url, draft.allow_private_networks)):
            check.add(line_of(node, "url"), f"{path}.url", problem)
            url = None
        if url is not None:
            at = (line_of(node, "url"), f"{path}.url")
            check.once(urls, _url_key(url), path, at, "duplicate feed URL")
        opt = {
            k: read(check, node, k, f"{path}.{k}") for k, read in _FEED_OPTIONS.items() if k in node
        }
        if name is not None and url is not None and None not in opt.values():
            draft.feeds.append(Feed(name=name, url=url, **{"interval": draft.interval, **opt}))


def _tags(check: Checker, node: Any, key: str, path: str) -> tuple[str, ...]:
    return unique(tag for _, tag in check.indexed(node, key, path))


_FEED_OPTIONS: dict[str, Callable[[Checker, Any, str, str], Any]] = {
    "interval": Checker.interval,
    "enabled": Checker.boolean,
    "tags": _tags,
    "backfill": Checker.count,
}
_ENTITY_LISTS = ("aliases", "exclude", "context")


def _check_entities(check: Checker, doc: Any, key: str, draft: Draft) -> None:
    """Entities, no phrase claimed twice: the matcher maps each phrase to one entity."""
    items = check.sequence(doc, key, "entities")
    claimed: dict[str, Any] = {}  # casefolded phrase → (owner's path, line)
    for i in range(len(items)):
        path = f"entities[{i}]"
        node = check.mapping(items, i, path, KEYS["entities[]"])
        if node is None:
            continue
        name = check.required(node, "name", path)
        lists = {k: check.indexed(node, k, f"{path}.{k}") for k in _ENTITY_LISTS if k in node}
        flag = f"{path}.case_sensitive"
        sensitive = "case_sensitive" in node and bool(check.boolean(node, "case_sensitive", flag))
        if name is None:
            continue
        at = (line_of(node, "name"), f"{path}.name")
        check.once(claimed, name.casefold(), path, at, f"duplicate entity name {name!r}")
        aliases = [(j, alias) for j, alias in lists.get("aliases", []) if alias != name]
        for j, alias in aliases:
            at = (line_of(node["aliases"], j), f"{path}.aliases[{j}]")
            what = f"{alias!r} is already a name or alias of another entity"
            check.once(claimed, alias.casefold(), path, at, what)
        fold: Callable[[str], str] = str if sensitive else str.casefold
        terms = [fold(term) for term in (name, *(alias for _, alias in aliases))]
        for j, phrase in lists.get("exclude", []):
            if not any(term in fold(phrase) for term in terms):
                what = f"{phrase!r} contains none of the entity's names, so it can never apply"
                check.add(line_of(node["exclude"], j), f"{path}.exclude[{j}]", what)
        words = {k: unique(s for _, s in lists.get(k, [])) for k in ("exclude", "context")}
        aka = unique(alias for _, alias in aliases)
        draft.entities.append(Entity(name, aka, case_sensitive=sensitive, **words))


_SLACK_CHANNEL = re.compile(r"[CGD][A-Z0-9]{6,}")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{6,}")
_SNOWFLAKE = re.compile(r"\d{15,22}")
_EXAMPLE_IDS = {"channel": "C0123ABCD", "user": "U012ABCDEF"}


def _check_routes(check: Checker, doc: Any, key: str, draft: Draft) -> None:
    """Routes name channels by ID and filter by entity and feed names that must exist."""
    items = check.sequence(doc, key, "routes")
    names: dict[str, Any] = {}
    entities = {e.name.casefold() for e in draft.entities}
    feeds = {f.name.casefold() for f in draft.feeds}
    for i in range(len(items)):
        path = f"routes[{i}]"
        node = check.mapping(items, i, path, KEYS["routes[]"])
        if node is None:
            continue
        name = _unique_name(check, node, path, names, "route")
        slack = _slack_id(check, node, "slack", f"{path}.slack", _SLACK_CHANNEL, "channel")
        discord = _webhook(check, node, "discord", f"{path}.discord")
        if "slack" not in node and "discord" not in node:
            check.add(line_of(items, i), path, "needs a slack channel or a discord webhook")
        filters = {}
        for field_name, known in (("entities", entities), ("feeds", feeds)):
            values = (
                check.indexed(node, field_name, f"{path}.{field_name}")
                if field_name in node
                else []
            )
            for j, value in values:
                if value.casefold() not in known:
                    what = "entity" if field_name == "entities" else "feed"
                    check.add(
                        line_of(node[field_name], j),
                        f"{path}.{field_name}[{j}]",
                        f"no {what} called {value!r} is configured",
                    )
            filters[field_name] = unique(v for _, v in values)
        only = "deadlines_only" in node and check.boolean(
            node, "deadlines_only", f"{path}.deadlines_only"
        )
        if name is not None:
            draft.routes.append(
                Route(name, slack, discord, filters["entities"], filters["feeds"], bool(only))
            )


def _check_admins(check: Checker, doc: Any, key: str, draft: Draft) -> None:
    node = check.mapping(doc, key, "admins", KEYS["admins"])
    if not node:
        return
    slack = tuple(
        user
        for j in range(len(check.sequence(node, "slack", "admins.slack")) if "slack" in node else 0)
        if (user := _slack_id(check, node["slack"], j, f"admins.slack[{j}]", _SLACK_USER, "user"))
    )
    discord = tuple(
        snowflake
        for j in range(
            len(check.sequence(node, "discord", "admins.discord")) if "discord" in node else 0
        )
        if (snowflake := _snowflake(check, node["discord"], j, f"admins.discord[{j}]"))
    )
    notify = (
        check.mapping(node, "notify", "admins.notify", KEYS["admins.notify"])
        if "notify" in node
        else None
    )
    draft.admins = Admins(
        slack=slack,
        discord=discord,
        notify_slack=_slack_id(
            check, notify, "slack", "admins.notify.slack", _SLACK_CHANNEL, "channel"
        )
        if notify
        else None,
        notify_discord=_webhook(check, notify, "discord", "admins.notify.discord")
        if notify
        else None,
    )


def _check_reminders(check: Checker, doc: Any, key: str, draft: Draft) -> None:
    node = check.mapping(doc, key, "reminders", KEYS["reminders"])
    if not node:
        return
    before = draft.reminders.before
    if "before" in node:
        offsets = []
        for j, value in enumerate(check.sequence(node, "before", "reminders.before")):
            if str(value).strip() in ("0", "0h", "0m", "0s"):
                offsets.append(0.0)
            elif (
                seconds := check.duration(node["before"], j, f"reminders.before[{j}]")
            ) is not None:
                offsets.append(seconds)
        before = tuple(sorted(set(offsets), reverse=True))
    at = _clock(check, node, "at", "reminders.at") if "at" in node else draft.reminders.at
    zone = (
        _zone(check, node, "timezone", "reminders.timezone")
        if "timezone" in node
        else draft.reminders.timezone
    )
    draft.reminders = Reminders(before, at or draft.reminders.at, zone or draft.reminders.timezone)


def _check_digest(check: Checker, doc: Any, key: str, draft: Draft) -> None:
    node = check.mapping(doc, key, "digest", KEYS["digest"])
    if not node:
        return
    default = draft.digest
    enabled = check.boolean(node, "enabled", "digest.enabled") if "enabled" in node else True
    at = _clock(check, node, "at", "digest.at") if "at" in node else default.at
    zone = (
        _zone(check, node, "timezone", "digest.timezone")
        if "timezone" in node
        else default.timezone
    )
    days = (
        check.count(node, "days_ahead", "digest.days_ahead")
        if "days_ahead" in node
        else default.days_ahead
    )
    draft.digest = Digest(
        enabled is not False, at or default.at, zone or default.timezone, days or default.days_ahead
    )


def _unique_name(
    check: Checker, node: Any, path: str, seen: dict[str, Any], what: str
) -> str | None:
    """The required ``name`` of a list entry, reported if another entry already has it."""
    name = check.required(node, "name", path)
    if name is not None:
        at = (line_of(node, "name"), f"{path}.name")
        check.once(seen, name.casefold(), path, at, f"duplicate {what} name {name!r}")
    return name


def _slack_id(
    check: Checker, parent: Any, key: Any, path: str, shape: re.Pattern[str], what: str
) -> str | None:
    if parent is None or (isinstance(parent, dict) and key not in parent):
        return None
    value = check.string(parent, key, path)
    if value is not None and not shape.fullmatch(value):
        check.add(
            line_of(parent, key),
            path,
            f"must be a Slack {what} ID like {_EXAMPLE_IDS[what]} (not a name)",
        )
        return None
    return value


def _snowflake(check: Checker, parent: Any, key: Any, path: str) -> str | None:
    value = parent[key]
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _SNOWFLAKE.fullmatch(text.strip()):
        check.add(
            line_of(parent, key), path, "must be a Discord user or role ID (digits); quote it"
        )
        return None
    return text.strip()


def _webhook(check: Checker, parent: Any, key: str, path: str) -> str | None:
    """A Discord webhook URL, which must come from the environment: it carries a token."""
    if parent is None or key not in parent:
        return None
    raw = parent[key]
    if isinstance(raw, str) and "${" not in raw:
        check.add(
            line_of(parent, key),
            path,
            "a webhook URL carries a token: write ${DISCORD_WEBHOOK_NAME} and set that "
            "environment variable",
        )
        return None
    value = check.string(parent, key, path)
    if value is not None and urlsplit(value).scheme not in ("http", "https"):
        check.add(
            line_of(parent, key), path, "the environment variable must hold an https:// webhook URL"
        )
        return None
    return value


def _clock(check: Checker, parent: Any, key: str, path: str) -> time | None:
    value = parent[key]
    match = (
        re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
        if isinstance(value, str)
        else None
    )
    if match is None:
        check.add(line_of(parent, key), path, 'must be a time of day like "08:00" (quoted)')
        return None
    return time(int(match.group(1)), int(match.group(2)))


def _zone(check: Checker, parent: Any, key: str, path: str) -> str | None:
    value = check.string(parent, key, path)
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        check.add(
            line_of(parent, key),
            path,
            f"unknown time zone {value!r} (use e.g. America/New_York or UTC)",
        )
        return None
    return value


#: Top-level key → its validator, run in this order (later ones read what earlier ones set on
#: the draft: routes check entity and feed names). Any other top-level key is unknown.
SECTIONS: dict[str, Callable[[Checker, Any, str, Draft], None]] = {
    "defaults": _check_defaults,
    "feeds": _check_feeds,
    "entities": _check_entities,
    "routes": _check_routes,
    "admins": _check_admins,
    "reminders": _check_reminders,
    "digest": _check_digest,
}


def _url_problem(url: str, allow_private: bool) -> str | None:
    """Why ``url`` cannot be polled, or None. Never echoes the URL: it may carry a token."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://"
    if "@" in parts.netloc:
        return "must not contain a user name or password (userinfo); drop the part before '@'"
    if not host:
        return "has no host"
    if not allow_private and _is_private(host):
        return (
            "points at a loopback or private address; allow it with defaults.allow_private_networks"
        )
    return None


def _is_private(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False  # a name: the fetcher checks what it resolves to


def _url_key(url: str) -> str:
    """Two spellings of one feed URL compare equal: scheme and host are case-insensitive."""
    parts = urlsplit(url)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()
