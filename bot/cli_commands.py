"""The `redline` commands that run the pipeline or read the store: run, poll, check, search,
digest, config check. Each takes parsed arguments and returns an exit code; bot/cli.py parses.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings, load_config, parse_interval
from bot.errors import RedlineError

if TYPE_CHECKING:
    from bot.pipeline import Checked

DEFAULT_DB = Path("storage") / "redline.db"


class UsageError(RedlineError):
    """Bad command-line input: exit 2 with the message."""


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config or os.environ.get("REDLINE_CONFIG") or "feeds.yaml")


def db_path(args: argparse.Namespace) -> Path:
    return Path(args.db or os.environ.get("REDLINE_DB") or DEFAULT_DB)


def parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_interval(text))
    except ValueError as error:
        raise UsageError(f"--since: {error}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from bot.service import Service

    settings = load_config(config_path(args))
    with Service(settings, db_path(args), config_path=config_path(args)) as service:
        drained = service.run_until_stopped()
    if not drained:
        # Poll threads are still waiting on the network; don't let interpreter shutdown
        # wait for them: everything committed is safe in the store.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from bot.service import Service

    if not args.once:
        raise UsageError("poll needs --once (use `redline run` to keep polling)")
    settings = load_config(config_path(args))
    with Service(settings, db_path(args), config_path=None) as service:
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

    settings = load_config(config_path(args))
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
        raise UsageError(f"{feed}: {error.strerror or error}") from None


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
        raise UsageError("--limit must be at least 1")
    store = Store(db_path(args))
    try:
        results = store.search(
            args.query, entity=args.entity, since=parse_since(args.since), limit=args.limit
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

    settings = load_config(config_path(args))
    try:
        since = timedelta(seconds=parse_interval(args.since))
    except ValueError as error:
        raise UsageError(f"--since: {error}") from None
    store = Store(db_path(args))
    try:
        notice = build_digest(
            store, now=datetime.now(UTC), since=since, days_ahead=settings.digest.days_ahead
        )
    finally:
        store.close()
    print(format_notice(notice) if notice else "nothing matched in that time, no deadlines ahead")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else config_path(args)
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
