"""Discord alerts through channel webhooks: one embed per message, within Discord's limits.

Feed text is untrusted. Every body sends ``allowed_mentions: {"parse": []}`` so nothing pings;
mentions are also broken visibly (a zero-width space after ``@``) and Markdown is escaped, so a
feed can neither forge a masked link nor format text. A webhook URL carries a token: errors and
logs name the route, never the URL.

Threads. ``?wait=true`` makes Discord return the message, whose id is stored. A webhook URL that
carries ``?thread_id=`` posts everything (alerts and reminders) into that thread. A webhook in a
forum channel must name a thread: Discord answers 400 (code 220001), and the notifier retries,
creating a post named after the headline (an alert) or posting into the alert's post (a reminder
whose ``thread`` is the post id returned by ``send``). In a normal channel a webhook can neither
reply (execute-webhook has no ``message_reference``) nor open a thread on a message (that needs a
bot token), so a reminder is a new message; its entries link the item it follows up.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from bot.errors import NotifyError
from bot.models import Alert, EntityMatch, Entry, Notice
from bot.summary import summarise

log = logging.getLogger(__name__)

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000  # per message, all embeds together
CONTENT_MAX = 2000
THREAD_NAME_MAX = 100
NO_MENTIONS: dict[str, list[str]] = {"parse": []}

COLOR_ALERT = 0xC0392B
COLOR_DEADLINE = 0xE67E22
COLOR_INFO = 0x5865F2
COLOR_ERROR = 0x992D22
_NOTICE_COLORS = {"reminder": COLOR_DEADLINE, "digest": COLOR_INFO, "notice": COLOR_ERROR}
_NOTICE_MARKS = {"reminder": "⏰", "digest": "▤", "notice": "⚠"}

MAX_PACING_WAIT = 5.0  # longer waits are handed back to the delivery worker as retry_after
_FORUM_NEEDS_THREAD = 220001  # "Webhooks posted to forum channels must have a thread_name…"
_UNKNOWN_WEBHOOK = 10015
_UNKNOWN_CHANNEL = 10003

_MARKDOWN = re.compile(r"([\\*_~`|>\[\]()<])")
_LINE_START = re.compile(r"(?m)^(\s*)([#-])")  # headings, subtext, list items
# C0/C1 controls and bidi overrides (which can make text read backwards) never reach Discord.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ZWSP = "\u200b"
_ELLIPSIS = "…"


# -- text -----------------------------------------------------------------------------------


def one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return " ".join(text.split())


def plain(text: str) -> str:
    """Text for places Discord shows verbatim (footer, thread name): mentions broken only."""
    return _CONTROL.sub("", text).replace("@", "@" + _ZWSP)


def escape(text: str) -> str:
    """Untrusted text safe in Discord Markdown: no formatting, masked links or mentions."""
    return plain(_LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", text)))


def fit(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary and marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - len(_ELLIPSIS), 0)]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > limit // 2:
        cut = cut[:space]
    cut = cut.rstrip()
    if (len(cut) - len(cut.rstrip("\\"))) % 2:  # never leave an escape dangling
        cut = cut[:-1]
    return cut + _ELLIPSIS


def safe_url(url: str | None) -> str | None:
    """``url`` when it is a plain http(s) link Discord accepts, else None."""
    if not url or len(url) > 2000 or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    if not re.match(r"(?i)https?://[^/?#\s]+", url):
        return None
    return url


def _link_target(url: str) -> str:
    """A URL that cannot end a Markdown link early."""
    return url.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


# -- embeds ---------------------------------------------------------------------------------


def embed_size(embed: Mapping[str, Any]) -> int:
    """Characters that count towards Discord's 6,000 per message."""
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += len(embed.get("footer", {}).get("text", "")) + len(
        embed.get("author", {}).get("name", "")
    )
    return size + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", ()))


def fit_embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``embed`` trimmed to every Discord limit: parts first, then the total
    (the description gives way first, then fields from the end)."""
    out = dict(embed)
    for key, limit in (("title", TITLE_MAX), ("description", DESCRIPTION_MAX)):
        if key in out:
            out[key] = fit(out[key], limit)
    if "footer" in out:
        out["footer"] = {**out["footer"], "text": fit(out["footer"]["text"], FOOTER_MAX)}
    if "author" in out:
        out["author"] = {**out["author"], "name": fit(out["author"]["name"], AUTHOR_MAX)}
    if "fields" in out:
        fields = [
            {
                **f,
                "name": fit(f["name"], FIELD_NAME_MAX) or _ZWSP,
                "value": fit(f["value"], FIELD_VALUE_MAX) or _ZWSP,
            }
            for f in out["fields"]
        ]
        if len(fields) > FIELDS_MAX:
            hidden = len(fields) - FIELDS_MAX + 1
            fields = [*fields[: FIELDS_MAX - 1], {"name": _ELLIPSIS, "value": f"{hidden} more"}]
        out["fields"] = fields
    over = embed_size(out) - EMBED_TOTAL_MAX
    if over > 0 and out.get("description"):
        keep = len(out["description"]) - over
        if keep > 0:
            out["description"] = fit(out["description"], keep)
        else:
            del out["description"]
    while embed_size(out) > EMBED_TOTAL_MAX and out.get("fields"):
        out["fields"] = out["fields"][:-1]
    return out


def message(embed: Mapping[str, Any], content: str = "") -> dict[str, Any]:
    """A webhook/interaction body: one fitted embed, optional content, mentions disabled."""
    body: dict[str, Any] = {"embeds": [fit_embed(embed)], "allowed_mentions": NO_MENTIONS}
    if content:
        body["content"] = fit(content, CONTENT_MAX)
    return body


def render_alert(alert: Alert) -> dict[str, Any]:
    """An item alert: linked headline, summary, entities with why, deadlines, source and time."""
    item = alert.item
    embed: dict[str, Any] = {
        "title": escape(one_line(item.title)) or "(untitled)",
        "color": COLOR_DEADLINE if alert.deadlines else COLOR_ALERT,
    }
    url = safe_url(item.link)
    if url:
        embed["url"] = url
    summary = summarise(item, alert.matches, alert.deadlines)
    if summary:
        embed["description"] = escape(summary)
    fields = [{"name": escape(m.entity), "value": _why(m), "inline": True} for m in alert.matches]
    fields += [
        {
            "name": f"⏰ Deadline {d.date:%a %Y-%m-%d}",
            "value": escape(one_line(d.text)) or _ZWSP,
            "inline": False,
        }
        for d in alert.deadlines
    ]
    if fields:
        embed["fields"] = fields
    source = plain(one_line(alert.feed))
    embed["footer"] = {"text": source if item.published else f"{source} · undated"}
    if item.published:
        embed["timestamp"] = item.published.isoformat()
    return message(embed)


def _why(match: EntityMatch) -> str:
    seen: dict[tuple[str, str], None] = {}
    for hit in match.hits:
        seen[(hit.term, hit.field)] = None
    return ", ".join(f'"{escape(term)}" in {field}' for term, field in seen) or "matched"


def render_entries(
    title: str, entries: Iterable[Entry], *, more: int = 0, color: int = COLOR_INFO
) -> dict[str, Any]:
    """An embed listing entries (linked where they have a URL) and "N more"; a title too
    long for the title slot is repeated in full at the top of the description."""
    heading = escape(one_line(title))
    lines = [fit(heading, 1000)] if len(heading) > TITLE_MAX else []
    budget = DESCRIPTION_MAX - 40  # room for the "more" line
    used = sum(len(line) + 1 for line in lines)
    entries = list(entries)
    for index, entry in enumerate(entries):
        line = _entry_line(entry)
        if used + len(line) + 1 > budget:
            more += len(entries) - index
            break
        lines.append(line)
        used += len(line) + 1
    if more:
        lines.append(f"{_ELLIPSIS}and {more} more")
    embed: dict[str, Any] = {"title": fit(heading, TITLE_MAX) or _ZWSP, "color": color}
    if lines:
        embed["description"] = "\n".join(lines)
    return embed


def _entry_line(entry: Entry) -> str:
    text = fit(escape(one_line(entry.text)), 300) or _ZWSP
    url = safe_url(entry.url)
    line = f"• [{text}]({_link_target(url)})" if url else f"• {text}"
    if entry.detail:
        line += "\n" + fit(escape(one_line(entry.detail)), 500)
    return line


def render_notice(notice: Notice) -> dict[str, Any]:
    """A reminder, digest or admin notice: its title, then one line per entry."""
    mark = _NOTICE_MARKS.get(notice.kind, "•")
    color = _NOTICE_COLORS.get(notice.kind, COLOR_INFO)
    return message(render_entries(f"{mark} {notice.title}", notice.entries, color=color))


# -- sending --------------------------------------------------------------------------------


class _ForumNeedsThread(Exception):
    """The webhook is in a forum channel and the message named no thread."""


class _ThreadRefused(Exception):
    """Discord refused the thread_id we chose (deleted post, or not a thread)."""


class DiscordNotifier:
    """Posts alerts and notices to the webhook of the route named in ``discord:<route>``.

    ``webhooks(route)`` returns the route's webhook URL from the current settings. Rate
    limits are honoured per webhook: when a response says no requests remain, the next one
    waits (up to ``max_wait`` seconds; longer waits raise NotifyError with ``retry_after``).
    """

    prefix = "discord"

    def __init__(
        self,
        webhooks: Callable[[str], str | None],
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_wait: float = MAX_PACING_WAIT,
    ) -> None:
        self._webhooks = webhooks
        self._client = client or httpx.Client(timeout=10.0)
        self._owns_client = client is None
        self._sleep = sleep
        self._clock = clock
        self._max_wait = max_wait
        self._lock = threading.Lock()
        self._not_before: dict[str, float] = {}  # webhook path (or "*" for global) → clock()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def send(self, alert: Alert, destination: str) -> str | None:
        """Post an alert; returns the message id (for a new forum post, the post's id)."""
        body = render_alert(alert)
        try:
            return self._execute(destination, body)
        except _ForumNeedsThread:
            return self._execute(destination, {**body, "thread_name": _thread_name(alert)})

    def post(self, notice: Notice, destination: str) -> str | None:
        """Post a notice: in the URL's thread, in the alert's forum post, else in the channel."""
        body = render_notice(notice)
        try:
            return self._execute(destination, body)
        except _ForumNeedsThread:
            pass
        if notice.thread:
            try:
                return self._execute(destination, body, thread_id=notice.thread)
            except _ThreadRefused:
                log.info("discord forum post gone; opening a new one destination=%s", destination)
        name = fit(plain(one_line(notice.title)), THREAD_NAME_MAX) or "Redline"
        return self._execute(destination, {**body, "thread_name": name})

    def _execute(
        self, destination: str, body: dict[str, Any], *, thread_id: str | None = None
    ) -> str | None:
        route = destination.split(":", 1)[1] if ":" in destination else destination
        webhook = self._webhooks(route)
        if not webhook:
            raise NotifyError(destination, f"no Discord webhook configured for route {route!r}")
        try:
            url = httpx.URL(webhook)
        except (httpx.InvalidURL, TypeError):
            raise NotifyError(destination, f"bad Discord webhook URL for route {route!r}") from None
        if url.scheme not in ("http", "https"):
            raise NotifyError(destination, f"Discord webhook of route {route!r} is not http(s)")
        params = {"wait": "true"}
        if thread_id and "thread_id" not in url.params:
            params["thread_id"] = thread_id
        bucket = url.path
        self._pace(bucket, destination, route)
        try:
            response = self._client.post(url.copy_merge_params(params), json=body)
        except httpx.HTTPError as error:
            raise NotifyError(
                destination,
                f"Discord webhook of route {route!r} unreachable: {type(error).__name__}",
            ) from None
        self._note_limits(bucket, response)
        return self._result(destination, route, bucket, response, body, thread_id is not None)

    def _result(
        self,
        destination: str,
        route: str,
        bucket: str,
        response: httpx.Response,
        body: Mapping[str, Any],
        chose_thread: bool,
    ) -> str | None:
        status = response.status_code
        data = _json(response)
        code = data.get("code")
        if status == 429:
            retry_after = _seconds(data.get("retry_after"), response.headers.get("Retry-After"))
            self._hold("*" if data.get("global") else bucket, retry_after)
            scope = "global " if data.get("global") else ""
            raise NotifyError(
                destination,
                f"Discord {scope}rate limit on route {route!r}; retry after {retry_after:.1f}s",
                status=429,
                retry_after=retry_after,
            )
        if status == 400 and code == _FORUM_NEEDS_THREAD and "thread_name" not in body:
            raise _ForumNeedsThread
        if chose_thread and status in (400, 404) and code != _UNKNOWN_WEBHOOK:
            raise _ThreadRefused
        if status == 404:
            what = "thread" if code == _UNKNOWN_CHANNEL else "webhook"
            raise NotifyError(
                destination, f"{what} not found (deleted?) for Discord route {route!r}", status=404
            )
        if status >= 400:
            detail = one_line(str(data.get("message") or response.reason_phrase))[:200]
            raise NotifyError(
                destination,
                f"Discord answered HTTP {status} for route {route!r}: {detail}",
                status=status,
            )
        if "thread_name" in body and data.get("channel_id"):
            return str(data["channel_id"])  # the new forum post: where reminders must go
        return str(data["id"]) if data.get("id") else None

    def _pace(self, bucket: str, destination: str, route: str) -> None:
        with self._lock:
            until = max(self._not_before.get(bucket, 0.0), self._not_before.get("*", 0.0))
        wait = until - self._clock()
        if wait <= 0:
            return
        if wait > self._max_wait:
            raise NotifyError(
                destination,
                f"Discord rate limit on route {route!r}; retry after {wait:.1f}s",
                status=429,
                retry_after=wait,
            )
        self._sleep(wait)

    def _note_limits(self, bucket: str, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset_after = response.headers.get("X-RateLimit-Reset-After")
        if remaining == "0" and reset_after:
            self._hold(bucket, _seconds(reset_after, None))

    def _hold(self, bucket: str, seconds: float) -> None:
        with self._lock:
            self._not_before[bucket] = self._clock() + seconds


def _thread_name(alert: Alert) -> str:
    return fit(plain(one_line(alert.item.title)), THREAD_NAME_MAX) or "Redline alert"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _seconds(value: object, fallback: str | None) -> float:
    for candidate in (value, fallback):
        try:
            seconds = float(candidate)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return min(seconds, 86400.0)
    return 1.0
