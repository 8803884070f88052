"""Alerts printed to a terminal: what `redline run` shows when no chat platform is configured."""

from __future__ import annotations

import re
import sys
import threading
from typing import TextIO

from bot.models import Alert, Notice
from bot.summary import summarise

# Feed text is untrusted: C0/C1 control characters (ANSI escape sequences, carriage returns
# that overwrite a line, bells) must not reach the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Feed text made safe to print on one line."""
    return " ".join(_CONTROL.sub("", text).split())


def format_alert(alert: Alert) -> str:
    """A readable block: headline, source and time, entities and why, deadlines, link."""
    item = alert.item
    when = item.published.strftime("%Y-%m-%d %H:%M UTC") if item.published else "undated"
    lines = [f"● {clean(item.title) or '(untitled)'}", f"  {clean(alert.feed)} · {when}"]
    if alert.matches:
        why = []
        for match in alert.matches:
            terms = sorted({hit.term for hit in match.hits})
            why.append(f"{clean(match.entity)} ({', '.join(clean(t) for t in terms)})")
        lines.append("  entities: " + "; ".join(why))
    for deadline in alert.deadlines:
        lines.append(f"  ⏰ deadline {deadline.date.isoformat()}: {clean(deadline.text)}")
    summary = clean(summarise(item, alert.matches, alert.deadlines))
    if summary:
        lines.append("  " + summary)
    if item.link:
        lines.append(f"  {clean(item.link)}")
    return "\n".join(lines)


def format_notice(notice: Notice) -> str:
    """A reminder, digest or notice: its title, then one line per entry."""
    marks = {"reminder": "⏰", "digest": "▤", "notice": "!"}
    lines = [f"{marks.get(notice.kind, '·')} {clean(notice.title)}"]
    for entry in notice.entries:
        lines.append(f"  {clean(entry.text)}")
        if entry.detail:
            lines.append(f"    {clean(entry.detail)}")
        if entry.url:
            lines.append(f"    {clean(entry.url)}")
    return "\n".join(lines)


class TerminalNotifier:
    """Prints alerts to a stream (stdout by default), one block each, never interleaved."""

    prefix = "terminal"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, alert: Alert, destination: str) -> str | None:
        self._write(format_alert(alert))
        return None

    def post(self, notice: Notice, destination: str) -> str | None:
        self._write(format_notice(notice))
        return None

    def _write(self, block: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(block + "\n\n")
            stream.flush()
