"""The `redline` command: parse argv, call one use case, return an exit code.

Exit codes: 0 success, 1 the work ran but failed (e.g. every feed failed), 2 bad input
(usage, configuration, a file that is not a feed). Errors are one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.config import Settings, load_config, parse_interval
from bot.errors import ConfigError, RedlineError
from bot.log import setup_logging

if TYPE_CHECKING:
    from bot.commands import CommandRunner
    from bot.pipeline import Checked
    from bot.store import Store

DEFAULT_DB = Path("storage") / "redline.db"

EXAMPLES = """\
examples:
  redline run                                   poll feeds.yaml's feeds and alert
  redline poll --once                           one cycle, alerts printed, then exit
  redline check https://defensescoop.com/feed/ --json
  redline search '"supply chain risk"' --entity Anthropic --since 7d
  redline config check feeds.yaml
"""


class _UsageError(RedlineError):
    """Bad command-line input: exit 2 with the message."""


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("REDLINE_CONFIG") or "feeds.yaml")


def _db_path(args: argparse.Namespace) -> Path:
    return Path(args.db or os.environ.get("REDLINE_DB") or DEFAULT_DB)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_interval(text))
    except ValueError as error:
        raise _UsageError(f"--since: {error}") from None


# -- commands ----------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from bot.service import Service

    settings = load_config(_config_path(args))
    with Service(settings, _db_path(args), config_path=_config_path(args)) as service:
        service.run_until_stopped()
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from bot.service import Service

    if not args.once:
        raise _UsageError("poll needs --once (use `redline run` to keep polling)")
    settings = load_config(_config_path(args))
    with Service(settings, _db_path(args), config_path=None) as service:
        outcomes = service.poll_once()
    failed = [o for o in outcomes if o.status == "failed"]
    for outcome in failed:
        print(f"redline: {outcome.feed}: {outcome.error}", file=sys.stderr)
    if outcomes and len(failed) == len(outcomes):
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bot.models import Alert
    from bot.notifiers.terminal import format_alert
    from bot.pipeline import check_feed

    settings = load_config(_config_path(args))
    checked = check_feed(_read_feed(args.feed, settings), settings, now=datetime.now(UTC))
    if args.json:
        print(json.dumps([_check_json(c) for c in checked], indent=2, ensure_ascii=False))
        return 0
    for result in checked:
        if result.alert:
            alert = Alert("check", result.item, result.matches, result.deadlines)
            print(format_alert(alert) + "\n")
        else:
            print(f"○ {result.item.title} (no watched entity)\n")
    alerts = sum(1 for result in checked if result.alert)
    print(f"{len(checked)} items, {alerts} would alert")
    return 0


def _read_feed(feed: str, settings: Settings) -> bytes:
    """A feed URL is fetched with the poller's guards; anything else is a local file."""
    if feed.startswith(("http://", "https://")):
        from bot.fetcher import Fetcher

        with Fetcher(allow_private_networks=settings.allow_private_networks) as fetcher:
            body = fetcher.fetch(feed).body
        return body or b""
    try:
        return Path(feed).read_bytes()
    except OSError as error:
        raise _UsageError(f"{feed}: {error.strerror or error}") from None


def _check_json(checked: Checked) -> dict[str, Any]:
    item = checked.item
    return {
        "title": item.title,
        "link": item.link,
        "published": item.published.isoformat().replace("+00:00", "Z") if item.published else None,
        "entities": sorted(match.entity for match in checked.matches),
        "deadlines": [
            {"date": deadline.date.isoformat(), "text": deadline.text}
            for deadline in sorted(checked.deadlines, key=lambda d: (d.date, d.text))
        ],
        "alert": checked.alert,
    }


def cmd_search(args: argparse.Namespace) -> int:
    from bot.store import Store

    if args.limit < 1:
        raise _UsageError("--limit must be at least 1")
    store = Store(_db_path(args))
    try:
        results = store.search(
            args.query, entity=args.entity, since=_since(args.since), limit=args.limit
        )
    finally:
        store.close()
    for found in results:
        entities = f"  [{', '.join(found.entities)}]" if found.entities else ""
        print(f"{found.published:%Y-%m-%d}  {found.feed}  {found.title}{entities}")
        if found.link:
            print(f"            {found.link}")
    if not results:
        print("no matching items")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.digest import build_digest
    from bot.notifiers.terminal import format_notice
    from bot.store import Store

    settings = load_config(_config_path(args))
    try:
        since = timedelta(seconds=parse_interval(args.since))
    except ValueError as error:
        raise _UsageError(f"--since: {error}") from None
    store = Store(_db_path(args))
    try:
        notice = build_digest(
            store, now=datetime.now(UTC), since=since, days_ahead=settings.digest.days_ahead
        )
    finally:
        store.close()
    print(format_notice(notice) if notice else "nothing matched in that time, no deadlines ahead")
    return 0


def _runner(args: argparse.Namespace) -> tuple[CommandRunner, Store]:
    """The chat commands' runner, over this shell's config and store (same code, same audit)."""
    from bot.admin import Admin
    from bot.commands import CommandRunner
    from bot.query import Queries
    from bot.store import Store

    path = _config_path(args)
    current = [load_config(path)]
    store = Store(_db_path(args))
    queries = Queries(store, lambda: current[0])
    admin = Admin(
        store, path, settings=lambda: current[0], on_change=lambda s: current.__setitem__(0, s)
    )
    return CommandRunner(queries, admin), store


def cmd_chat(args: argparse.Namespace) -> int:
    """`redline status`, `redline feeds …`, `redline watch …`: the slash commands at a shell."""
    from bot.commands import Caller

    sub = getattr(args, "subcommand", None)
    if args.command == "feeds" and sub == "list":
        sub = None  # `/redline feeds` lists them
    words = [args.command, *([sub] if sub else []), *(getattr(args, "words", None) or [])]
    text = " ".join(_quote(w) for w in words)
    runner, store = _runner(args)
    try:
        reply = runner.run(text, Caller("cli", getpass.getuser(), is_admin=True))
    finally:
        store.close()
    print(reply.title)
    for entry in reply.entries:
        print(f"  {entry.text}")
        if entry.detail:
            print(f"      {entry.detail}")
        if entry.url:
            print(f"      {entry.url}")
    if reply.more:
        print(f"  … {reply.more} more")
    return 0 if reply.ok else 1


def _quote(word: str) -> str:
    return f'"{word}"' if " " in word and not set(word) & set('",') else word


def cmd_export(args: argparse.Namespace) -> int:
    """Matched items since AGE as CSV or JSON, for analysts."""
    from bot.store import Store

    since = _since(args.since) or datetime.now(UTC) - timedelta(days=30)
    store = Store(_db_path(args))
    try:
        rows = store.export_matched(since)
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                **row,
                "entities": "; ".join(row["entities"]),
                "deadlines": "; ".join(row["deadlines"]),
            }
        )
    return 0


EXPORT_FIELDS = ["id", "feed", "published", "title", "link", "entities", "deadlines", "summary"]


def cmd_discord_register(args: argparse.Namespace) -> int:
    """Register /redline with Discord (a bulk overwrite: running it again changes nothing)."""
    from bot.discord_app import DEFAULT_API_URL, register_commands

    missing = [n for n in ("DISCORD_APPLICATION_ID", "DISCORD_BOT_TOKEN") if not os.environ.get(n)]
    if missing:
        raise _UsageError(f"set {' and '.join(missing)} first")
    count = register_commands(
        application_id=os.environ["DISCORD_APPLICATION_ID"],
        bot_token=os.environ["DISCORD_BOT_TOKEN"],
        api_url=os.environ.get("REDLINE_DISCORD_API_URL") or DEFAULT_API_URL,
        guild_id=args.guild,
    )
    where = f"guild {args.guild}" if args.guild else "every server (global; may take an hour)"
    print(f"registered {count} command(s) for {where}")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else _config_path(args)
    settings = load_config(path)
    print(summarise(path, settings))
    return 0


def summarise(path: Path, settings: Settings) -> str:
    enabled = sum(1 for feed in settings.feeds if feed.enabled)
    aliases = sum(len(entity.aliases) for entity in settings.entities)
    return (
        f"{path}: OK: {len(settings.feeds)} feeds ({enabled} enabled), "
        f"{len(settings.entities)} entities ({aliases} aliases)"
    )


# -- argument parsing --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="FILE", help="feeds.yaml to use (default ./feeds.yaml, REDLINE_CONFIG)"
    )
    common.add_argument(
        "--db", metavar="FILE", help=f"SQLite store (default {DEFAULT_DB}, REDLINE_DB)"
    )
    parser = argparse.ArgumentParser(
        prog="redline",
        description="Defense-AI news alerts: watched entities and deadlines, to chat.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"redline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    add("run", "poll feeds on schedule and send alerts until stopped", "redline run").set_defaults(
        handler=cmd_run
    )
    poll = add("poll", "poll every feed once, print alerts, exit", "redline poll --once")
    poll.add_argument("--once", action="store_true", help="one cycle, then exit (required)")
    poll.set_defaults(handler=cmd_poll)
    check = add(
        "check",
        "dry run: parse and match a feed URL or file against the watchlist (store untouched)",
        "redline check tests/feeds/rss2_basic.xml --json",
    )
    check.add_argument("feed", metavar="FEED", help="a feed URL or a local file")
    check.add_argument("--json", action="store_true", help="print a JSON array, one per item")
    check.set_defaults(handler=cmd_check)
    search = add(
        "search",
        "full-text search over stored items, newest first",
        "redline search 'Defense Production Act' --since 30d --limit 5",
    )
    search.add_argument("query", metavar="QUERY", help='words, "a phrase", or prefix*')
    search.add_argument("--entity", metavar="NAME", help="only items matching this entity")
    search.add_argument("--since", metavar="AGE", help="only items published within AGE (7d, 12h)")
    search.add_argument("--limit", metavar="N", type=int, default=10, help="at most N (10)")
    search.set_defaults(handler=cmd_search)
    digest = add(
        "digest",
        "print the digest: matched items by entity, then upcoming deadlines",
        "redline digest --since 48h",
    )
    digest.add_argument("--since", metavar="AGE", default="24h", help="items from the last AGE")
    digest.set_defaults(handler=cmd_digest)
    add("status", "version, feeds by health, last poll, deliveries", "redline status").set_defaults(
        handler=cmd_chat
    )
    feeds = add(
        "feeds", "list or edit feeds (audited like the chat commands)", "redline feeds list"
    )
    feeds_commands = feeds.add_subparsers(dest="feeds_command", metavar="SUBCOMMAND")
    for name, help_text, example in (
        ("list", "every feed with its health", "redline feeds list"),
        ("add", "add a feed after checking it works: URL [NAME]", "redline feeds add URL Name"),
        ("remove", "remove a feed: NAME", "redline feeds remove DefenseScoop"),
        ("pause", "stop polling a feed: NAME", "redline feeds pause DefenseScoop"),
        ("resume", "poll a paused feed again: NAME", "redline feeds resume DefenseScoop"),
    ):
        sub = feeds_commands.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("words", nargs="*", metavar="ARG")
        sub.set_defaults(handler=cmd_chat, subcommand=name)
    watch = add("watch", "edit the watchlist (audited)", "redline watch add 'Scale AI, Scale'")
    watch_commands = watch.add_subparsers(dest="watch_command", metavar="SUBCOMMAND")
    for name, help_text, example in (
        ("add", "watch an entity: NAME[, alias, …]", "redline watch add 'Scale AI, Scale'"),
        ("remove", "stop watching: NAME", "redline watch remove 'Scale AI'"),
        ("alias", "add an alias: NAME, ALIAS", "redline watch alias 'Anthropic, Claude'"),
    ):
        sub = watch_commands.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("words", nargs="*", metavar="ARG")
        sub.set_defaults(handler=cmd_chat, subcommand=name)
    export = add(
        "export",
        "matched items for analysts, as CSV or JSON",
        "redline export --since 30d --format csv",
    )
    export.add_argument("--since", metavar="AGE", default="30d", help="items published within AGE")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.set_defaults(handler=cmd_export)
    discord = add("discord", "Discord setup", "redline discord register --guild 123456789012345678")
    discord_commands = discord.add_subparsers(dest="discord_command", metavar="SUBCOMMAND")
    register = discord_commands.add_parser(
        "register",
        parents=[common],
        help="register /redline (DISCORD_APPLICATION_ID, DISCORD_BOT_TOKEN)",
        epilog="example:\n  redline discord register --guild 123456789012345678",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    register.add_argument("--guild", metavar="ID", help="one server only (instant), else global")
    register.set_defaults(handler=cmd_discord_register)
    config = add("config", "configuration commands", "redline config check feeds.yaml")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    config_check = config_commands.add_parser(
        "check", parents=[common], help="validate feeds.yaml and summarise it"
    )
    config_check.add_argument("file", metavar="FILE", nargs="?", help="file to check")
    config_check.set_defaults(handler=cmd_config_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Any = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    setup_logging()
    try:
        return int(handler(args))
    except ConfigError as error:
        for problem in error.problems:
            print(f"redline: {problem}", file=sys.stderr)
        return 2
    except (_UsageError, RedlineError) as error:
        print(f"redline: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
