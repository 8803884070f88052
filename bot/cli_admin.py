"""The `redline` commands for admins and analysts at a shell: status, feeds (list, add, remove,
pause, resume, import, export), watch, export, discord register. Edits go through the same code
and audit as the chat commands.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.cli_commands import UsageError, config_path, db_path, parse_since
from bot.config import load_config

if TYPE_CHECKING:
    from bot.commands import CommandRunner
    from bot.store import Store


def _runner(args: argparse.Namespace) -> tuple[CommandRunner, Store]:
    """The chat commands' runner, over this shell's config and store (same code, same audit)."""
    from bot.admin import Admin
    from bot.commands import CommandRunner
    from bot.query import Queries
    from bot.store import Store

    path = config_path(args)
    current = [load_config(path)]
    store = Store(db_path(args))
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

    since = parse_since(args.since) or datetime.now(UTC) - timedelta(days=30)
    store = Store(db_path(args))
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
        raise UsageError(f"set {' and '.join(missing)} first")
    count = register_commands(
        application_id=os.environ["DISCORD_APPLICATION_ID"],
        bot_token=os.environ["DISCORD_BOT_TOKEN"],
        api_url=os.environ.get("REDLINE_DISCORD_API_URL") or DEFAULT_API_URL,
        guild_id=args.guild,
    )
    where = f"guild {args.guild}" if args.guild else "every server (global; may take an hour)"
    print(f"registered {count} command(s) for {where}")
    return 0


class _Progress:
    """A progress bar on stderr: ``\\r[#####     ] 12/40 url`` on a terminal, else one line
    per 10% (logs and pipes get no carriage returns)."""

    def __init__(self, stream: TextIO | None = None, width: int = 20) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self._decile = 0

    def __call__(self, done: int, total: int, label: str) -> None:
        if total <= 0:
            return
        if self.tty:
            filled = self.width * done // total
            line = f"[{'#' * filled}{' ' * (self.width - filled)}] {done}/{total} {label}"
            columns = shutil.get_terminal_size().columns - 1  # a wrapped line defeats \\r
            self.stream.write("\r" + line[:columns].ljust(columns))
            if done >= total:
                self.stream.write("\n")
        elif (decile := 10 * done // total) > self._decile:
            self._decile = decile
            self.stream.write(f"{done}/{total} ({10 * decile}%) {label}\n")
        self.stream.flush()


def cmd_feeds_import(args: argparse.Namespace) -> int:
    """`redline feeds import FILE.opml`: each new feed through `feeds add` (same checks, audit)."""
    from bot.commands import Caller
    from bot.opml import import_opml

    runner, store = _runner(args)
    try:
        summary = import_opml(
            Path(args.file),
            runner.admin,
            Caller("cli", getpass.getuser(), is_admin=True),
            lambda: runner.queries.settings,
            _Progress(),
        )
    finally:
        store.close()
    added, skipped, failed = summary.added, summary.skipped, summary.failed
    print(f"added {len(added)}, skipped {len(skipped)}, failed {len(failed)}")
    for url, reason in failed:
        print(f"  failed: {url}: {reason}")
    return 1 if failed else 0


def cmd_feeds_export(args: argparse.Namespace) -> int:
    """`redline feeds export`: the configured feeds as OPML 2.0 on stdout."""
    from bot.opml import export_opml

    sys.stdout.write(export_opml(load_config(config_path(args))))
    return 0
