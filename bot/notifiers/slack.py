"""Slack: Block Kit rendering of alerts, notices and command replies, and the channel notifier.

Feed text is hostile, so every piece of it goes through ``_fit``: control characters dropped,
whitespace collapsed, cut at a word boundary, then ``&``, ``<`` and ``>`` escaped as Slack asks.
With ``<`` escaped no control sequence (``<!channel>``, ``<!here>``, ``<!subteam^…>``, ``<@U…>``,
``<url|label>``) can be formed from feed text; ``verbatim: true`` on every mrkdwn object and no
``link_names``/``parse`` mean bare ``@channel`` or ``#general`` are not auto-linked either.
Links are made only by ``_link``, from http(s) URLs with ``|``, ``<``, ``>``, quotes and
whitespace percent-encoded, so a URL cannot close the link early or swap its label.
mrkdwn emphasis (``*`` ``_`` ``~`` `````) is left alone: Slack has no escape for it, it can only
style text, and each piece of feed text sits in its own text object or link label, so it cannot
restyle the lines Redline writes around it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any
from urllib.parse import quote, urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.commands import Reply
from bot.errors import NotifyError
from bot.models import Alert, Entry, Notice
from bot.summary import shorten, summarise

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FALLBACK = 3000  # Slack truncates `text` past 4,000; escaping is counted in this budget
MAX_URL = 1500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_URL_UNSAFE = re.compile(r"[|<>\"\s\x00-\x1f\x7f]")
_MARKS = {"reminder": "⏰", "digest": "📰", "notice": "⚠️"}


# -- text ---------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's three control characters as HTML entities (``&`` first)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fit(text: str, limit: int) -> str:
    """Feed text cleaned, cut at a word boundary and escaped, at most ``limit`` characters
    *after* escaping (escaping can grow text fivefold, so the cut is made on the raw text)."""
    raw = " ".join(_CONTROL.sub("", text).split())
    size = min(len(raw), limit)
    while True:
        escaped = escape(shorten(raw, size))
        if len(escaped) <= limit or size <= 1:
            return escaped[:limit] if len(escaped) > limit else escaped
        size = min(size - 1, size * limit // len(escaped))


def safe_url(url: str | None) -> str | None:
    """``url`` made safe inside ``<url|label>``, or None when it is not an absolute http(s) URL
    (``javascript:``, ``slack://``, relative) or is too long to link."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    safe = escape(_URL_UNSAFE.sub(lambda m: quote(m.group(), safe=""), url))
    return safe if len(safe) <= MAX_URL else None


def _link(url: str | None, label: str) -> str:
    """``<url|label>`` (``label`` already escaped), or just the label when the URL is unsafe."""
    target = safe_url(url)
    return f"<{target}|{label}>" if target else label


def _url_label(url: str) -> str:
    """The visible form of a link: host and path, so a reader sees where it really goes."""
    parts = urlsplit(url)
    return _fit(f"{parts.hostname or ''}{parts.path}".rstrip("/"), 80)


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_mrkdwn(text[:MAX_SECTION]))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[_mrkdwn(text[:MAX_SECTION])])


def _join_capped(parts: Sequence[str], sep: str, limit: int = MAX_SECTION) -> str:
    """Join already-escaped parts; past ``limit``, drop the rest and say how many."""
    out: list[str] = []
    size = 0
    for index, part in enumerate(parts):
        tail = f"{sep}… and {len(parts) - index} more"
        if size + len(sep) * bool(out) + len(part) + len(tail) > limit:
            return sep.join(out) + tail if out else tail.lstrip(sep)
        out.append(part)
        size += len(sep) * (len(out) > 1) + len(part)
    return sep.join(out)


def _pack(lines: Sequence[str], limit: int = MAX_SECTION) -> list[tuple[str, int]]:
    """Lines grouped into as few section texts of at most ``limit`` characters as they fit,
    each with the number of lines it holds."""
    chunks: list[tuple[str, int]] = []
    for line in lines:
        line = line[:limit]
        if chunks and len(chunks[-1][0]) + 1 + len(line) <= limit:
            chunks[-1] = (chunks[-1][0] + "\n" + line, chunks[-1][1] + 1)
        else:
            chunks.append((line, 1))
    return chunks


def _to_dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """Block dicts; ``to_dict`` runs slack_sdk's validators (lengths, element counts)."""
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks: Slack allows {MAX_BLOCKS}")
    return [block.to_dict() for block in blocks]


# -- rendering ----------------------------------------------------------------------------------


def render_alert(alert: Alert) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks: headline link, source and time, summary, why, deadlines, link."""
    item = alert.item
    title = _fit(item.title, 500) or "(untitled)"
    feed = _fit(alert.feed, 100)
    blocks: list[Block] = [_section(f"*{_link(item.link, title)}*")]
    if item.published:
        utc = item.published.strftime("%Y-%m-%d %H:%M UTC")
        stamp = int(item.published.timestamp())
        blocks.append(_context(f"{feed} · <!date^{stamp}^{{date_short_pretty}} {{time}}|{utc}>"))
    else:
        blocks.append(_context(f"{feed} · undated"))
    summary = summarise(item, alert.matches, alert.deadlines)
    if summary:
        blocks.append(_section(_fit(summary, 2000)))
    if alert.matches:
        why = []
        for match in alert.matches:
            terms = sorted({hit.term for hit in match.hits}, key=str.casefold)
            words = ", ".join(_fit(term, 100) for term in terms)
            why.append(f"{_fit(match.entity, 100)} ({words})" if words else _fit(match.entity, 100))
        blocks.append(_section("*Why:* " + _join_capped(why, " · ", MAX_SECTION - 10)))
    if alert.deadlines:
        lines = [
            f"⏰ *Deadline {d.date:%a %d %b %Y}*: {_fit(d.text, 400)}"
            for d in sorted(alert.deadlines, key=lambda d: d.date)
        ]
        blocks.append(_section(_join_capped(lines, "\n")))
    if item.link and safe_url(item.link):
        blocks.append(_context(f"🔗 {_link(item.link, _url_label(item.link))}"))
    fallback = f"{item.title or '(untitled)'} ({alert.feed})"
    if alert.entities:
        fallback += ": " + ", ".join(alert.entities)
    return _fit(fallback, MAX_FALLBACK), _to_dicts(blocks)


def _entry_lines(entries: Sequence[Entry]) -> list[str]:
    lines = []
    for entry in entries:
        text = _fit(entry.text, 600) or "—"
        line = f"• {_link(entry.url, text)}"
        if entry.detail:
            line += f"\n      {_fit(entry.detail, 1200)}"
        lines.append(line)
    return lines


def _message(heading: str, entries: Sequence[Entry], more: int) -> list[dict[str, Any]]:
    """A heading, the entries packed into sections, and an "N more" line for what did not fit
    in 50 blocks or was never sent (``more``)."""
    chunks = _pack(_entry_lines(entries))
    if len(chunks) > MAX_BLOCKS - 1:
        kept = chunks[: MAX_BLOCKS - 2]
        more += sum(count for _, count in chunks[len(kept) :])
        chunks = kept
    blocks: list[Block] = [_section(heading), *(_section(text) for text, _ in chunks)]
    if more:
        blocks.append(_context(f"… and {more} more"))
    return _to_dicts(blocks)


def render_notice(notice: Notice) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks for a reminder, digest or admin notice."""
    mark = _MARKS.get(notice.kind, "•")
    heading = f"{mark} *{_fit(notice.title, 500) or notice.kind}*"
    return _fit(f"{mark} {notice.title}", MAX_FALLBACK), _message(heading, notice.entries, 0)


def render_reply(reply: Reply) -> dict[str, Any]:
    """A slash-command response for ``respond()``: ephemeral unless ``--share`` was given."""
    mark = "" if reply.ok else "⚠️ "
    heading = f"{mark}*{_fit(reply.title, 500) or '(no title)'}*"
    lines = [reply.title, *(entry.text for entry in reply.entries[:5])]
    return {
        "response_type": "in_channel" if reply.public else "ephemeral",
        "text": _fit(" · ".join(lines), MAX_FALLBACK) or "Redline",
        "blocks": _message(heading, reply.entries, reply.more),
        "unfurl_links": False,
        "unfurl_media": False,
    }


# -- sending ------------------------------------------------------------------------------------


def build_web_client(token: str, api_url: str | None = None, *, timeout: int = 10) -> WebClient:
    """A WebClient on ``api_url`` (GovSlack, a test fake) or Slack's, without slack_sdk's own
    retry handlers: the outbox retries with backoff, so the client must fail fast."""
    base = api_url or DEFAULT_API_URL
    if not base.endswith("/"):
        base += "/"  # slack_sdk joins method names with urljoin
    return WebClient(token=token, base_url=base, timeout=timeout, retry_handlers=[])


def channel_of(destination: str) -> str:
    """``slack:C0123`` → ``C0123``."""
    prefix, _, channel = destination.partition(":")
    if prefix != SlackNotifier.prefix or not channel:
        raise NotifyError(destination, f"not a Slack destination: {destination!r}")
    return channel


def notify_error(destination: str, error: Exception) -> NotifyError:
    """A slack_sdk or network failure as a NotifyError the outbox can schedule a retry for."""
    if isinstance(error, SlackApiError):
        response = error.response
        status = response.status_code
        data = response.data if isinstance(response.data, dict) else {}
        if status == 429:
            headers = {k.lower(): v for k, v in response.headers.items()}
            try:
                wait: float | None = float(headers.get("retry-after", ""))
            except (TypeError, ValueError):
                wait = None
            return NotifyError(destination, "slack: rate limited", status=429, retry_after=wait)
        if status >= 500:
            return NotifyError(destination, f"slack: HTTP {status}", status=status)
        code = str(data.get("error") or "unknown_error")
        needed = f" (needs {data['needed']})" if data.get("needed") else ""
        # A channel or token that is gone will not come back by retrying: report it as 404/403
        # so the outbox dead-letters it at once and tells the admins.
        status = _PERMANENT.get(code, status)
        return NotifyError(destination, f"slack: {code}{needed}", status=status)
    return NotifyError(destination, f"slack: {type(error).__name__}: {error}")


_PERMANENT = {
    "channel_not_found": 404,
    "is_archived": 404,
    "not_in_channel": 403,
    "invalid_auth": 401,
    "account_inactive": 401,
    "token_revoked": 401,
    "not_authed": 401,
}


@dataclass(slots=True)
class _Channel:
    """One channel's pacing: held while waiting and posting; when the last post ended."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    last: float = float("-inf")


class SlackNotifier:
    """Posts to Slack channels, about one message per ``min_interval`` per channel.

    Pacing sleeps in the calling thread (the delivery worker, never the poller) while holding
    that channel's lock, so concurrent callers queue per channel and other channels go on.
    """

    prefix = "slack"

    def __init__(self, client: WebClient, *, min_interval: float = 1.0) -> None:
        self.client = client
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}

    def send(self, alert: Alert, destination: str) -> str | None:
        text, blocks = render_alert(alert)
        return self._post(destination, text, blocks, None)

    def post(self, notice: Notice, destination: str) -> str | None:
        text, blocks = render_notice(notice)
        return self._post(destination, text, blocks, notice.thread)

    def _post(
        self, destination: str, text: str, blocks: list[dict[str, Any]], thread: str | None
    ) -> str | None:
        channel = channel_of(destination)
        with self._lock:
            pace = self._channels.setdefault(channel, _Channel())
        with pace.lock:
            wait = pace.last + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                response = self.client.chat_postMessage(
                    channel=channel,
                    text=text,
                    blocks=blocks,
                    thread_ts=thread,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except (SlackClientError, OSError, HTTPException) as error:
                raise notify_error(destination, error) from None
            finally:
                pace.last = time.monotonic()
        ts = response.get("ts")
        return str(ts) if ts else None
