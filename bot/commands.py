"""The `/redline` grammar, once, for Slack, Discord and the CLI.

Text after the command (``search "supply chain" entity:Anthropic since:7d``) is parsed into a
``Command``, run against read-only queries or admin edits, and answered with a ``Reply``: a
platform-neutral model that each adapter renders (and escapes) in its own way. Bad input gets
usage text, never a traceback.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from bot import metrics
from bot.admin import Admin, AdminError
from bot.config import parse_interval
from bot.models import Entry, StoredItem
from bot.query import Queries
from bot.store import DeadlineGroup

MAX_ENTRIES = 10  # results shown before "N more"
_OPTION = re.compile(r'\b(entity|since|limit):("(?:[^"]*)"|\S+)', re.IGNORECASE)

USAGE = {
    "help": "help: this text",
    "search": "search QUERY [entity:NAME] [since:7d] [limit:N]: full-text search, newest first",
    "latest": "latest [ENTITY] [N]: the newest matched items",
    "deadlines": "deadlines [DAYS]: upcoming deadlines (default 14 days)",
    "entities": "entities: the watchlist with aliases",
    "why": "why ITEM: why an item matched or did not (ITEM is the # number in results)",
    "feeds": "feeds: every feed with its health",
    "status": "status: version, uptime, feed health, pending deliveries",
    "feeds add": "feeds add URL [NAME]: (admin) add a feed after checking it works",
    "feeds remove": "feeds remove NAME: (admin)",
    "feeds pause": "feeds pause NAME: (admin) stop polling, keep the feed",
    "feeds resume": "feeds resume NAME: (admin)",
    "watch add": "watch add NAME[, alias, alias…]: (admin) watch a new entity",
    "watch remove": "watch remove NAME: (admin)",
    "watch alias": "watch alias NAME, ALIAS: (admin) add an alias",
}
SUBCOMMANDS = tuple(USAGE)


class UsageError(ValueError):
    """Bad arguments: the message says what was wrong, the reply adds the usage line."""

    def __init__(self, message: str, usage: str = "help") -> None:
        self.usage = usage
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who runs a command. ``is_admin`` is decided by the platform adapter from verified data."""

    platform: str  # "slack", "discord", "cli"
    user_id: str
    is_admin: bool = False
    request_id: str | None = None  # the platform's id of this request, to refuse replays


@dataclass(frozen=True, slots=True)
class Reply:
    """What a command answers. Text here is untrusted (feed text): adapters escape it."""

    title: str
    entries: tuple[Entry, ...] = ()
    more: int = 0  # results not shown
    public: bool = False  # the user asked for --share
    ok: bool = True


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # one of SUBCOMMANDS
    args: dict[str, str] = field(default_factory=dict)
    public: bool = False


def parse(text: str) -> Command:
    """Parse the text after ``/redline``; raises UsageError."""
    words = text.split()
    public = "--share" in words
    words = [w for w in words if w != "--share"]
    if not words:
        return Command("help", public=public)
    head = words[0].lower()
    rest = " ".join(words[1:])
    if head in ("feeds", "watch") and len(words) > 1 and f"{head} {words[1].lower()}" in USAGE:
        name = f"{head} {words[1].lower()}"
        return Command(name, _admin_args(name, rest.split(None, 1)[1:]), public)
    if head == "watch":
        raise UsageError("watch needs add, remove or alias", "watch add")
    if head not in USAGE:
        raise UsageError(f"unknown command {words[0]!r}")
    return Command(head, _read_args(head, rest), public)


def _read_args(name: str, rest: str) -> dict[str, str]:
    if name == "search":
        options = {k.lower(): v.strip('"') for k, v in _OPTION.findall(rest)}
        query = _OPTION.sub(" ", rest).strip()
        if not query:
            raise UsageError("search needs words to look for", name)
        return {"query": query, **options}
    if name == "latest":
        words = rest.split()
        args = {}
        if words and words[-1].isdigit():
            args["count"] = words.pop()
        if words:
            args["entity"] = " ".join(words)
        return args
    if name == "deadlines":
        return {"days": rest.strip()} if rest.strip() else {}
    if name == "why":
        if not rest.strip():
            raise UsageError("why needs an item number", name)
        return {"item": rest.strip()}
    return {}


def _admin_args(name: str, rest: list[str]) -> dict[str, str]:
    text = rest[0].strip() if rest else ""
    if not text:
        raise UsageError(f"{name} needs arguments", name)
    if name == "feeds add":
        url, _, feed_name = text.partition(" ")
        return {"url": url, "name": feed_name.strip().strip('"')}
    if name in ("feeds remove", "feeds pause", "feeds resume", "watch remove"):
        return {"name": text.strip('"')}
    parts = _names(text)
    if not parts:
        raise UsageError(f"{name} needs a name", name)
    if name == "watch alias" and len(parts) == 1 and len(text.split()) == 2:
        parts = text.split()  # "watch alias Anthropic Claude"
    if name == "watch alias" and len(parts) != 2:
        raise UsageError("watch alias needs a name and one alias", name)
    return {"name": parts[0], "aliases": "\x1f".join(parts[1:])}


def _names(text: str) -> list[str]:
    """``"Scale AI" Scale``, ``Scale AI, Scale`` or ``Scale AI``: quoted words, else
    comma-separated, else the whole text is one name."""
    if '"' in text:
        try:
            parts = [p.strip(",").strip() for p in shlex.split(text)]
        except ValueError:
            raise UsageError("unbalanced quotes", "watch add") from None
    elif "," in text:
        parts = [p.strip() for p in text.split(",")]
    else:
        parts = [text.strip()]
    return [p for p in parts if p]


def _int(value: str | None, default: int, *, what: str, low: int, high: int, usage: str) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"{what} must be a whole number", usage) from None
    if not low <= number <= high:
        raise UsageError(f"{what} must be between {low} and {high}", usage)
    return number


class CommandRunner:
    """Runs parsed commands; the one entry point for every platform."""

    def __init__(
        self, queries: Queries, admin: Admin, *, now: Callable[[], datetime] | None = None
    ) -> None:
        self.queries = queries
        self.admin = admin
        self._now = now or (lambda: datetime.now(UTC))

    def run(self, text: str, caller: Caller) -> Reply:
        """Parse and run ``text``; every failure becomes a reply."""
        with metrics.COMMAND_SECONDS.labels(caller.platform).time():
            return self._run(text, caller)

    def _run(self, text: str, caller: Caller) -> Reply:
        try:
            command = parse(text)
        except UsageError as error:
            return _usage_reply(str(error), error.usage)
        try:
            if command.name.startswith(("feeds ", "watch ")):
                reply = self._admin(command, caller)
            else:
                reply = getattr(self, "_" + command.name)(command.args)
        except UsageError as error:
            return _usage_reply(str(error), error.usage)
        except AdminError as error:
            return Reply(str(error), ok=False)
        return Reply(reply.title, reply.entries, reply.more, command.public, reply.ok)

    # -- read-only -------------------------------------------------------------------------

    def _help(self, args: dict[str, str]) -> Reply:
        return Reply("/redline commands", tuple(Entry(line) for line in USAGE.values()))

    def _search(self, args: dict[str, str]) -> Reply:
        limit = _int(args.get("limit"), 10, what="limit", low=1, high=50, usage="search")
        since = None
        if args.get("since"):
            try:
                since = self._now() - timedelta(seconds=parse_interval(args["since"]))
            except ValueError:
                raise UsageError("since must look like 7d, 12h or 30m", "search") from None
        found = self.queries.search(
            args["query"], entity=args.get("entity"), since=since, limit=limit + 1
        )
        return _items_reply(f"Search: {args['query']}", found, limit)

    def _latest(self, args: dict[str, str]) -> Reply:
        count = _int(args.get("count"), 5, what="N", low=1, high=50, usage="latest")
        entity = args.get("entity")
        found = self.queries.latest(entity=entity, limit=count + 1)
        return _items_reply(f"Latest{' on ' + entity if entity else ''}", found, count)

    def _deadlines(self, args: dict[str, str]) -> Reply:
        days = _int(args.get("days"), 14, what="DAYS", low=1, high=366, usage="deadlines")
        groups = self.queries.deadlines(days=days, today=self._now().date())
        if not groups:
            return Reply(f"No deadlines in the next {days} days")
        return _limit(f"Deadlines in the next {days} days", [_deadline_entry(g) for g in groups])

    def _entities(self, args: dict[str, str]) -> Reply:
        entries = [
            Entry(e.name, detail=", ".join(e.aliases) or "(no aliases)")
            for e in self.queries.settings.entities
        ]
        return Reply(f"Watchlist: {len(entries)} entities", tuple(entries))

    def _why(self, args: dict[str, str]) -> Reply:
        key = _int(args["item"].lstrip("#"), 0, what="ITEM", low=1, high=2**62, usage="why")
        why = self.queries.why(key)
        if why is None:
            return Reply(f"No item #{key}", ok=False)
        entries = [Entry(str(e)) for e in why.explanations] or [
            Entry("No watched entity or alias appears in this item.")
        ]
        entries += [Entry(f"deadline {d.date.isoformat()}", detail=d.text) for d in why.deadlines]
        return Reply(f"Why #{key}: {why.item.title}", tuple(entries))

    def _feeds(self, args: dict[str, str]) -> Reply:
        entries = []
        for feed in self.queries.feeds():
            state = feed.state
            facts = [feed.health]
            if state and state.last_success_at:
                facts.append(f"last success {state.last_success_at:%Y-%m-%d %H:%M} UTC")
            if state and state.last_error:
                facts.append(f"last error: {state.last_error}")
            if feed.next_poll:
                facts.append(f"next poll {feed.next_poll:%H:%M} UTC")
            entries.append(Entry(feed.name, _shown_url(feed.url), " · ".join(facts)))
        return _limit(f"Feeds: {len(entries)}", entries, cap=40)

    def _status(self, args: dict[str, str]) -> Reply:
        status = self.queries.status(now=self._now())
        health = ", ".join(f"{n} {h}" for h, n in sorted(status.feeds_by_health.items())) or "none"
        last = f"{status.last_poll:%Y-%m-%d %H:%M} UTC" if status.last_poll else "never"
        pending = status.outbox.get("pending", 0)
        dead = status.outbox.get("dead", 0)
        entries = [
            Entry(f"version {status.version}, up {_duration(status.uptime)}"),
            Entry(f"feeds: {health}"),
            Entry(f"last successful poll: {last}"),
            Entry(f"items stored: {status.items}"),
            Entry(f"deliveries pending: {pending}, dead-lettered: {dead}"),
        ]
        audit = self.admin.audit_summary()
        if audit:
            entries.append(Entry(f"admin edits: {audit}"))
        return Reply("Redline status", tuple(entries))

    # -- admin -----------------------------------------------------------------------------

    def _admin(self, command: Command, caller: Caller) -> Reply:
        message = self.admin.apply(command.name, command.args, caller)
        return Reply(message)


def _shown_url(url: str) -> str:
    """A feed URL fit to show anyone: no query string or user info (they may carry a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


def _usage_reply(message: str, usage: str) -> Reply:
    return Reply(message, (Entry("usage: /redline " + USAGE.get(usage, USAGE["help"])),), ok=False)


def _items_reply(title: str, items: list[StoredItem], limit: int) -> Reply:
    if not items:
        return Reply(f"{title}: nothing found")
    entries = [Entry(f"#{i.key} {i.title}", i.link, _item_detail(i)) for i in items[:limit]]
    return Reply(title, tuple(entries), more=max(len(items) - limit, 0))


def _item_detail(item: StoredItem) -> str:
    entities = f" · {', '.join(item.entities)}" if item.entities else ""
    return f"{item.feed} · {item.published:%Y-%m-%d}{entities}"


def _deadline_entry(group: DeadlineGroup) -> Entry:
    who = ", ".join(group.entities) or "—"
    sources = len(group.sources)
    detail = f"{who} · {sources} source{'s' if sources != 1 else ''}: {group.text}"
    first = group.sources[0]
    return Entry(f"{group.date:%a %Y-%m-%d}: {first.title}", first.link, detail)


def _limit(title: str, entries: list[Entry], cap: int = MAX_ENTRIES) -> Reply:
    return Reply(title, tuple(entries[:cap]), more=max(len(entries) - cap, 0))


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    return f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m"
