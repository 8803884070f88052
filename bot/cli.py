"""The `redline` command: parse argv, call one use case, return an exit code.

Exit codes: 0 success, 1 the work ran but failed (e.g. every feed failed), 2 bad input
(usage, configuration, a file that is not a feed). Errors are one line on stderr, never a
traceback. The handlers live in bot/cli_commands.py and bot/cli_admin.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from bot import __version__
from bot.cli_admin import (
    cmd_chat,
    cmd_discord_register,
    cmd_export,
    cmd_feeds_export,
    cmd_feeds_import,
)
from bot.cli_commands import (
    DEFAULT_DB,
    UsageError,
    cmd_check,
    cmd_config_check,
    cmd_digest,
    cmd_poll,
    cmd_run,
    cmd_search,
)
from bot.errors import ConfigError, RedlineError
from bot.log import setup_logging

EXAMPLES = """\
examples:
  redline run                                   poll feeds.yaml's feeds and alert
  redline poll --once                           one cycle, alerts printed, then exit
  redline check https://defensescoop.com/feed/ --json
  redline search '"supply chain risk"' --entity Anthropic --since 7d
  redline config check feeds.yaml
"""


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
    feeds_import = feeds_commands.add_parser(
        "import",
        parents=[common],
        help="add the feeds of an OPML file (Feedly, Inoreader, Miniflux …): FILE.opml",
        description="add every new feed of an OPML file, checked and audited like `feeds add`",
        epilog="example:\n  redline feeds import feedly-subscriptions.opml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    feeds_import.add_argument("file", metavar="FILE.opml", help="an OPML export of a feed reader")
    feeds_import.set_defaults(handler=cmd_feeds_import)
    feeds_export = feeds_commands.add_parser(
        "export",
        parents=[common],
        help="print the feeds as OPML 2.0, for other feed readers",
        description="print the feeds as OPML 2.0, for other feed readers",
        epilog="example:\n  redline feeds export > redline.opml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    feeds_export.set_defaults(handler=cmd_feeds_export)
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
    except (UsageError, RedlineError) as error:
        print(f"redline: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
