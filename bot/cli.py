"""The `redline` command: parse argv, call one use case, return an exit code.

Exit codes: 0 success, 1 the work ran but failed (e.g. every feed failed), 2 bad input
(usage, configuration, a file that is not a feed). Errors are one line on stderr, never a
traceback. The handlers live in bot/cli_commands.py and bot/cli_admin.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
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

Subcommand = Callable[[str, str, str], argparse.ArgumentParser]

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

    def command_in(
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    ) -> Subcommand:
        """A function adding one command, with its help and an example, to ``subparsers``."""

        def add_one(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
            return subparsers.add_parser(
                name,
                parents=[common],
                help=help_text,
                description=help_text,
                epilog=f"example:\n  {example}",
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )

        return add_one

    add = command_in(commands)

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

    def group(name: str, help_text: str, example: str) -> Subcommand:
        """A command with subcommands; returns a function adding one subcommand to it."""
        return command_in(
            add(name, help_text, example).add_subparsers(
                dest=f"{name}_command", metavar="SUBCOMMAND"
            )
        )

    feeds = group("feeds", "list or edit feeds (audited like chat)", "redline feeds list")
    watch = group("watch", "edit the watchlist (audited)", "redline watch add 'Scale AI, Scale'")
    for command, name, help_text, example in (
        (feeds, "list", "every feed with its health", "redline feeds list"),
        (feeds, "add", "add a feed after checking it works: URL [NAME]", "redline feeds add URL"),
        (feeds, "remove", "remove a feed: NAME", "redline feeds remove DefenseScoop"),
        (feeds, "pause", "stop polling a feed: NAME", "redline feeds pause DefenseScoop"),
        (feeds, "resume", "poll a paused feed again: NAME", "redline feeds resume DefenseScoop"),
        (watch, "add", "watch an entity: NAME[, alias, …]", "redline watch add 'Scale AI, Scale'"),
        (watch, "remove", "stop watching: NAME", "redline watch remove 'Scale AI'"),
        (watch, "alias", "add an alias: NAME, ALIAS", "redline watch alias 'Anthropic, Claude'"),
    ):
        edit = command(name, help_text, example)
        edit.add_argument("words", nargs="*", metavar="ARG")
        edit.set_defaults(handler=cmd_chat, subcommand=name)
    feeds_import = feeds(
        "import",
        "add every new feed of an OPML file (Feedly, Inoreader, Miniflux …), checked and "
        "audited like `feeds add`",
        "redline feeds import feedly-subscriptions.opml",
    )
    feeds_import.add_argument("file", metavar="FILE.opml", help="an OPML export of a feed reader")
    feeds_import.set_defaults(handler=cmd_feeds_import)
    feeds(
        "export",
        "print the feeds as OPML 2.0, for other feed readers",
        "redline feeds export > redline.opml",
    ).set_defaults(handler=cmd_feeds_export)
    export = add(
        "export",
        "matched items for analysts, as CSV or JSON",
        "redline export --since 30d --format csv",
    )
    export.add_argument("--since", metavar="AGE", default="30d", help="items published within AGE")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.set_defaults(handler=cmd_export)
    discord = group(
        "discord", "Discord setup", "redline discord register --guild 123456789012345678"
    )
    register = discord(
        "register",
        "register /redline (DISCORD_APPLICATION_ID, DISCORD_BOT_TOKEN)",
        "redline discord register --guild 123456789012345678",
    )
    register.add_argument("--guild", metavar="ID", help="one server only (instant), else global")
    register.set_defaults(handler=cmd_discord_register)
    config = group("config", "configuration commands", "redline config check feeds.yaml")
    config_check = config(
        "check", "validate feeds.yaml and summarise it", "redline config check feeds.yaml"
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
