"""Factories for test data: small objects with overridable fields, and RSS documents."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from bot.models import Entity, Feed, Item

NOW = datetime(2026, 2, 24, 15, 0, tzinfo=UTC)


def make_item(**overrides: Any) -> Item:
    fields: dict[str, Any] = {
        "id": "guid-1",
        "title": "Pentagon sets deadline for Anthropic",
        "link": "https://example.com/story-1",
        "summary": "The Defense Department gave the company until Friday.",
        "published": NOW,
    }
    fields.update(overrides)
    return Item(**fields)


def make_feed(**overrides: Any) -> Feed:
    fields: dict[str, Any] = {"name": "Example", "url": "https://example.com/feed", "interval": 600}
    fields.update(overrides)
    return Feed(**fields)


def make_entity(name: str = "Department of Defense", **overrides: Any) -> Entity:
    fields: dict[str, Any] = {"name": name}
    fields.update(overrides)
    return Entity(**fields)


def rss(*entries: dict[str, Any], title: str = "Example News") -> bytes:
    """An RSS 2.0 document; each entry: title, link, guid, description, published (datetime)."""
    items = []
    for entry in entries:
        parts = [f"<title>{escape(entry['title'])}</title>"]
        if entry.get("link"):
            parts.append(f"<link>{escape(entry['link'])}</link>")
        if entry.get("guid"):
            parts.append(f'<guid isPermaLink="false">{escape(entry["guid"])}</guid>')
        if entry.get("description"):
            parts.append(f"<description>{escape(entry['description'])}</description>")
        if entry.get("published"):
            parts.append(f"<pubDate>{format_datetime(entry['published'])}</pubDate>")
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.com/</link>"
        "<description>test feed</description>" + "".join(items) + "</channel></rss>"
    ).encode()
