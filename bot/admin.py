"""Admin edits of feeds.yaml from chat or the shell: feeds add/remove/pause/resume, watch ….

Every edit goes through config_edit (atomic, comments kept, validated), takes effect at once
through ``on_change``, and is audited with who, when, what, before and after. A refusal is
audited too. A request id seen before is not applied again (replayed chat requests).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.config import Settings
from bot.config_edit import append_entry, edit_config, find_entry, remove_entry
from bot.errors import ConfigError, FetchError, ParseError, RedlineError
from bot.fetcher import Fetcher
from bot.parser import parse_feed
from bot.store import Store

if TYPE_CHECKING:
    from bot.commands import Caller

# A prepared edit: the change to apply to the document, the confirmation, the name it concerns.
Edit = tuple[Callable[[CommentedMap], None], str, str]


class AdminError(RedlineError):
    """An admin command refused or failed; the message is shown to the user."""


class Admin:
    """Applies admin commands to the configuration file."""

    def __init__(
        self,
        store: Store,
        config_path: Path | None,
        *,
        settings: Callable[[], Settings],
        on_change: Callable[[Settings], None],
        fetcher: Fetcher | None = None,
    ) -> None:
        self.store = store
        self.config_path = config_path
        self._settings = settings
        self._on_change = on_change
        self.fetcher = fetcher

    def apply(self, name: str, args: dict[str, str], caller: Caller) -> str:
        """Run one admin command for ``caller``; returns the confirmation, raises AdminError."""
        if caller.request_id and self.store.audit_has(caller.request_id):
            return "Already applied (this request was received before)."
        if not caller.is_admin:
            self._audit(caller, name, args, allowed=False, outcome="refused: not an admin")
            raise AdminError(f"Only Redline admins can run `{name}`.")
        if self.config_path is None:
            raise AdminError("This Redline has no configuration file to edit.")
        handler: Callable[[dict[str, str]], Edit] = getattr(self, "_" + name.replace(" ", "_"))
        previous = self._settings()
        try:
            change, message, target = handler(args)
            settings = edit_config(self.config_path, change)
        except (AdminError, ConfigError) as error:
            reason = _reason(error)
            self._audit(caller, name, args, allowed=True, outcome=f"failed: {reason}")
            raise AdminError(reason) from None
        self._on_change(settings)
        if name == "feeds resume":
            resumed = settings.feed(args["name"])
            if resumed is not None:
                self.store.enable_feed(resumed.name)
        self._audit(
            caller,
            name,
            args,
            allowed=True,
            outcome="applied",
            before=_entry(previous, name, target),
            after=_entry(settings, name, target),
        )
        return message

    def audit_summary(self) -> str:
        return self.store.audit_summary()

    # -- feeds ---------------------------------------------------------------------------------

    def _feeds_add(self, args: dict[str, str]) -> Edit:
        url = args["url"].strip("<>")  # Slack wraps links in angle brackets
        title = self._probe(url)
        name = args.get("name") or title or urlsplit(url).hostname or url
        tags = [tag for tag in args.get("tags", "").split("\x1f") if tag]

        def change(doc: CommentedMap) -> None:
            append_entry(
                doc, "feeds", {"name": name, "url": url, **({"tags": tags} if tags else {})}
            )

        return change, f"Added feed {name} ({url}).", name

    def _probe(self, url: str) -> str:
        """Fetch and parse ``url`` with the poller's guards; returns the feed's title."""
        settings = self._settings()
        fetcher = self.fetcher or Fetcher(allow_private_networks=settings.allow_private_networks)
        try:
            body = fetcher.fetch(url).body or b""
            parsed = parse_feed(body)
        except (FetchError, ParseError) as error:
            raise AdminError(f"Not added: {error}") from None
        finally:
            if self.fetcher is None:
                fetcher.close()
        return " ".join(parsed.title.split())[:80]

    def _feeds_remove(self, args: dict[str, str]) -> Edit:
        return _removal("feeds", args["name"]), f"Removed feed {args['name']}.", args["name"]

    def _feeds_pause(self, args: dict[str, str]) -> Edit:
        return self._set_enabled(args["name"], False), f"Paused feed {args['name']}.", args["name"]

    def _feeds_resume(self, args: dict[str, str]) -> Edit:
        return self._set_enabled(args["name"], True), f"Resumed feed {args['name']}.", args["name"]

    def _set_enabled(self, name: str, enabled: bool) -> Callable[[CommentedMap], None]:
        def change(doc: CommentedMap) -> None:
            _found(doc, "feeds", name)["enabled"] = enabled

        return change

    # -- watchlist -----------------------------------------------------------------------------

    def _watch_add(self, args: dict[str, str]) -> Edit:
        name, aliases = args["name"], _aliases(args)

        def change(doc: CommentedMap) -> None:
            append_entry(
                doc, "entities", {"name": name, **({"aliases": aliases} if aliases else {})}
            )

        listed = f" ({', '.join(aliases)})" if aliases else ""
        return change, f"Now watching {name}{listed}.", name

    def _watch_remove(self, args: dict[str, str]) -> Edit:
        change = _removal("entities", args["name"])
        return change, f"Stopped watching {args['name']}.", args["name"]

    def _watch_alias(self, args: dict[str, str]) -> Edit:
        [alias] = _aliases(args)

        def change(doc: CommentedMap) -> None:
            entry = _found(doc, "entities", args["name"])
            if entry.get("aliases") is None:
                entry["aliases"] = CommentedSeq()
                entry["aliases"].fa.set_flow_style()
            entry["aliases"].append(alias)

        return change, f"{args['name']} now also matches {alias!r}.", args["name"]

    # -- audit ---------------------------------------------------------------------------------

    def _audit(
        self,
        caller: Caller,
        command: str,
        args: dict[str, str],
        *,
        allowed: bool,
        outcome: str,
        before: Any = None,
        after: Any = None,
    ) -> None:
        self.store.record_audit(
            at=datetime.now(UTC),
            platform=caller.platform,
            user_id=caller.user_id,
            command=command,
            args=json.dumps(args, ensure_ascii=False),
            allowed=allowed,
            outcome=outcome,
            before=json.dumps(before, ensure_ascii=False) if before is not None else None,
            after=json.dumps(after, ensure_ascii=False) if after is not None else None,
            request_id=caller.request_id,
        )


_MISSING = {
    "feeds": "No feed called {!r}; `/redline feeds` lists them.",
    "entities": "No watched entity called {!r}; `/redline entities` lists them.",
}


def _found(doc: CommentedMap, section: str, name: str) -> CommentedMap:
    """The named entry, looked up inside the edit (under the file lock), or AdminError."""
    entry = find_entry(doc, section, name)
    if entry is None:
        raise AdminError(_MISSING[section].format(name))
    return entry


def _removal(section: str, name: str) -> Callable[[CommentedMap], None]:
    def change(doc: CommentedMap) -> None:
        if not remove_entry(doc, section, name):
            raise AdminError(_MISSING[section].format(name))

    return change


def _aliases(args: dict[str, str]) -> list[str]:
    return [a for a in args.get("aliases", "").split("\x1f") if a]


def _entry(settings: Settings, command: str, name: str) -> Any:
    """The feed or entity a command changed, as JSON-ready data for the audit (None if absent)."""
    wanted = name.casefold()
    if command.startswith("feeds"):
        for feed in settings.feeds:
            if feed.name.casefold() == wanted:
                return {
                    "name": feed.name,
                    "url": feed.url,
                    "enabled": feed.enabled,
                    "tags": list(feed.tags),
                }
        return None
    for entity in settings.entities:
        if entity.name.casefold() == wanted:
            return {"name": entity.name, "aliases": list(entity.aliases)}
    return None


def _reason(error: AdminError | ConfigError) -> str:
    if isinstance(error, ConfigError):
        # "feeds.yaml:30: feeds[16].name: duplicate ..." → keep the field and the message.
        return "Refused: " + "; ".join(p.split(": ", 1)[-1] for p in error.problems)
    return str(error)
