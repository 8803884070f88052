"""Discord webhook alerts against a fake Discord over loopback: bodies, limits, escaping,
threads, rate limits and failures."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from bot.errors import NotifyError
from bot.models import Alert, Deadline, EntityMatch, Entry, Hit, Notice
from bot.notifiers.discord import (
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    TITLE_MAX,
    DiscordNotifier,
    embed_size,
    escape,
    fit,
    fit_embed,
    render_alert,
    render_notice,
)
from tests.factories import make_item
from tests.fake_discord import FakeDiscord, Webhook, rate_limited, server_error, unknown_webhook
from tests.loopback import LoopbackServer

MATCH = EntityMatch(
    "Anthropic", (Hit("title", 23, 32, "Anthropic"), Hit("summary", 4, 10, "Claude"))
)
DEADLINE = Deadline(date(2026, 2, 27), "The Defense Department gave the company until Friday.")
INJECTION = "@everyone @here <@123> <@&456> <@!789>"
RAW_MENTIONS = ("@everyone", "@here", "<@123>", "<@&456>", "<@!789>")


def make_alert(**item: object) -> Alert:
    return Alert("DefenseScoop", make_item(**item), (MATCH,), (DEADLINE,))


@pytest.fixture
def fake(loopback: LoopbackServer) -> FakeDiscord:
    return FakeDiscord(loopback)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def notifier_for(client: httpx.Client, **hooks: Webhook | str) -> DiscordNotifier:
    urls = {name: h.url if isinstance(h, Webhook) else h for name, h in hooks.items()}
    return DiscordNotifier(urls.get, client=client)


def test_alert_posts_one_embed_with_wait_and_returns_the_message_id(
    fake: FakeDiscord, client: httpx.Client
) -> None:
    hook = fake.webhook()
    ref = notifier_for(client, alerts=hook).send(make_alert(), "discord:alerts")
    [body] = fake.bodies(hook)
    [query] = fake.queries(hook)
    assert query == {"wait": "true"}
    assert ref is not None and ref.isdigit()
    assert body["allowed_mentions"] == {"parse": []}
    [embed] = body["embeds"]
    assert embed["title"] == "Pentagon sets deadline for Anthropic"
    assert embed["url"] == "https://example.com/story-1"
    assert embed["description"] == "The Defense Department gave the company until Friday."
    assert embed["footer"] == {"text": "DefenseScoop"}
    assert embed["timestamp"] == "2026-02-24T15:00:00+00:00"
    entity, deadline = embed["fields"]
    assert entity["name"] == "Anthropic"
    assert entity["value"] == '"Anthropic" in title, "Claude" in summary'
    assert deadline["name"] == "⏰ Deadline Fri 2026-02-27"
    assert "until Friday" in deadline["value"]
    assert embed_size(embed) <= EMBED_TOTAL_MAX


def test_only_http_links_become_the_embed_url() -> None:
    [embed] = render_alert(make_alert(link="javascript:alert(1)"))["embeds"]
    assert "url" not in embed
    [embed] = render_alert(make_alert(link=None, published=None))["embeds"]
    assert "url" not in embed and "timestamp" not in embed
    assert embed["footer"]["text"] == "DefenseScoop · undated"


@pytest.mark.parametrize(("limit", "key"), [(TITLE_MAX, "title"), (DESCRIPTION_MAX, "description")])
def test_text_limits_at_their_boundary(limit: int, key: str) -> None:
    exact = ("word " * limit)[:limit]
    assert fit_embed({key: exact})[key] == exact
    over = fit_embed({key: exact + "x"})[key]
    assert len(over) <= limit and over.endswith("…")
    assert exact.startswith(over[:-1]) and over[-2] != " "  # cut at a word boundary


def test_alert_title_at_boundary() -> None:
    title = ("Anthropic " * 30)[:TITLE_MAX]
    [embed] = render_alert(make_alert(title=title))["embeds"]
    assert embed["title"] == title
    [embed] = render_alert(make_alert(title=title + "s"))["embeds"]
    assert len(embed["title"]) <= TITLE_MAX and embed["title"].endswith("Anthropic…")


def test_total_of_6000_at_its_boundary() -> None:
    full: dict[str, Any] = {
        "title": "t" * TITLE_MAX,
        "description": "d" * DESCRIPTION_MAX,
        "footer": {"text": ""},
    }
    full["footer"]["text"] = "f" * (EMBED_TOTAL_MAX - TITLE_MAX - DESCRIPTION_MAX)
    assert embed_size(full) == EMBED_TOTAL_MAX
    assert fit_embed(full) == full
    full["footer"]["text"] += "f"
    fitted = fit_embed(full)
    assert embed_size(fitted) <= EMBED_TOTAL_MAX
    assert fitted["title"] == full["title"] and fitted["footer"] == full["footer"]
    assert fitted["description"].endswith("…")


def test_fields_footer_and_values_at_their_boundary() -> None:
    fields = [{"name": f"n{i}", "value": "v"} for i in range(FIELDS_MAX)]
    assert fit_embed({"fields": fields})["fields"] == fields
    over = fit_embed({"fields": [*fields, {"name": "x", "value": "y"}]})["fields"]
    assert len(over) == FIELDS_MAX and over[-1]["value"] == "2 more"
    value = "v" * FIELD_VALUE_MAX
    assert fit_embed({"fields": [{"name": "n", "value": value}]})["fields"][0]["value"] == value
    trimmed = fit_embed({"fields": [{"name": "n", "value": value + "v"}]})["fields"][0]["value"]
    assert len(trimmed) == FIELD_VALUE_MAX
    footer = "f" * FOOTER_MAX
    assert fit_embed({"footer": {"text": footer}})["footer"]["text"] == footer
    assert len(fit_embed({"footer": {"text": footer + "f"}})["footer"]["text"]) == FOOTER_MAX


def test_many_fields_fill_6000_by_dropping_from_the_end() -> None:
    fields = [{"name": "n" * 200, "value": "v" * 1000} for _ in range(FIELDS_MAX)]
    fitted = fit_embed({"title": "t", "fields": fields})
    assert embed_size(fitted) <= EMBED_TOTAL_MAX and len(fitted["fields"]) == 4


def test_fit_never_leaves_an_escape_dangling() -> None:
    text = escape("[" * 20)
    assert not fit(text, 9)[:-1].endswith("\\")


def test_mentions_ping_nobody_and_are_visibly_broken(
    fake: FakeDiscord, client: httpx.Client
) -> None:
    hook = fake.webhook()
    alert = Alert(
        f"Feed {INJECTION}",
        make_item(title=f"Alert {INJECTION}", summary=f"Hello {INJECTION}."),
        (EntityMatch(f"Ent {INJECTION}", (Hit("title", 0, 1, INJECTION),)),),
        (Deadline(date(2026, 3, 1), f"Reply by March 1 {INJECTION}."),),
    )
    notifier = notifier_for(client, alerts=hook)
    notifier.send(alert, "discord:alerts")
    notice = Notice("reminder", f"Due {INJECTION}", (Entry(INJECTION, detail=INJECTION),))
    notifier.post(notice, "discord:alerts")
    for body in fake.bodies(hook):
        assert body["allowed_mentions"] == {"parse": []}
        text = json.dumps(body["embeds"], ensure_ascii=False)
        for raw in RAW_MENTIONS:
            assert raw not in text
        assert "@\u200beveryone" in text


def test_markdown_from_feeds_is_escaped() -> None:
    alert = make_alert(
        title="[label](https://evil) **bold**",
        summary="See [click](https://evil.example) __u__ ~~s~~ `c` ||spoiler|| > q.",
    )
    [embed] = render_alert(alert)["embeds"]
    assert embed["title"] == r"\[label\]\(https://evil\) \*\*bold\*\*"
    assert r"\[click\]\(https://evil.example\)" in embed["description"]
    assert embed["description"].endswith(r"\_\_u\_\_ \~\~s\~\~ \`c\` \|\|spoiler\|\| \> q.")
    assert escape("# heading\n- item") == "\\# heading\n\\- item"
    assert escape("red\x1b[31m \u202eevil") == "red\\[31m evil"


def test_notice_links_entries_and_says_how_many_more() -> None:
    entries = [
        Entry(f"story {n} " + "x" * 300, "https://n.example/(a)", "d" * 400) for n in range(40)
    ]
    [embed] = render_notice(Notice("digest", "Daily digest", tuple(entries)))["embeds"]
    assert embed["title"] == "▤ Daily digest"
    assert len(embed["description"]) <= DESCRIPTION_MAX
    assert "](https://n.example/%28a%29)" in embed["description"]
    assert embed["description"].splitlines()[-1].startswith("…and ")


def test_rate_limit_429_gives_retry_after(fake: FakeDiscord, client: httpx.Client) -> None:
    hook = fake.webhook()
    fake.server.script(hook.path, rate_limited(2.5))
    with pytest.raises(NotifyError) as info:
        notifier_for(client, alerts=hook).send(make_alert(), "discord:alerts")
    assert (info.value.status, info.value.retry_after) == (429, 2.5)
    assert "SECRETTOKEN" not in str(info.value) and "alerts" in str(info.value)


def test_404_says_webhook_deleted_without_the_url(fake: FakeDiscord, client: httpx.Client) -> None:
    hook = fake.webhook()
    fake.server.script(hook.path, unknown_webhook())
    with pytest.raises(NotifyError) as info:
        notifier_for(client, alerts=hook).send(make_alert(), "discord:alerts")
    assert info.value.status == 404
    assert "webhook not found (deleted?)" in str(info.value)
    assert "SECRETTOKEN" not in str(info.value) and hook.path not in str(info.value)


def test_5xx_and_transport_errors_are_notify_errors(
    fake: FakeDiscord, client: httpx.Client
) -> None:
    hook = fake.webhook()
    fake.server.script(hook.path, server_error(502))
    with pytest.raises(NotifyError) as info:
        notifier_for(client, alerts=hook).send(make_alert(), "discord:alerts")
    assert info.value.status == 502 and "SECRETTOKEN" not in str(info.value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/api/webhooks/1/tok-SECRETTOKEN"
    with pytest.raises(NotifyError) as info:
        notifier_for(client, alerts=dead).send(make_alert(), "discord:alerts")
    assert info.value.status is None and "SECRETTOKEN" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_webhook_names_the_route(client: httpx.Client) -> None:
    with pytest.raises(NotifyError, match="route 'gone'"):
        notifier_for(client).send(make_alert(), "discord:gone")


def test_rate_limit_headers_pace_the_next_request(fake: FakeDiscord, client: httpx.Client) -> None:
    hook = fake.webhook(headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.4"})
    waits: list[float] = []
    notifier = DiscordNotifier({"alerts": hook.url}.get, client=client, sleep=waits.append)
    notifier.send(make_alert(), "discord:alerts")
    assert waits == []
    notifier.send(make_alert(), "discord:alerts")
    assert len(waits) == 1 and 0.2 < waits[0] <= 0.4
    slow = fake.webhook(
        "slow", headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "30"}
    )
    notifier = DiscordNotifier({"slow": slow.url}.get, client=client, sleep=waits.append)
    notifier.send(make_alert(), "discord:slow")
    with pytest.raises(NotifyError) as info:
        notifier.send(make_alert(), "discord:slow")
    assert info.value.status == 429 and 25 < (info.value.retry_after or 0) <= 30
    assert len(fake.bodies(slow)) == 1  # not sent: the worker retries later


def test_webhook_bound_to_a_thread_keeps_it(fake: FakeDiscord, client: httpx.Client) -> None:
    hook = fake.webhook(thread_id="777000000000000001")
    notifier = notifier_for(client, alerts=hook)
    ref = notifier.send(make_alert(), "discord:alerts")
    notifier.post(Notice("reminder", "Due Friday", thread=ref), "discord:alerts")
    assert [q.get("thread_id") for q in fake.queries(hook)] == ["777000000000000001"] * 2
    assert all(q["wait"] == "true" for q in fake.queries(hook))


def test_normal_channel_reminder_is_a_new_message(fake: FakeDiscord, client: httpx.Client) -> None:
    hook = fake.webhook()
    notifier = notifier_for(client, alerts=hook)
    ref = notifier.send(make_alert(), "discord:alerts")
    notice = Notice("reminder", "Due Friday", (Entry("Pentagon story", "https://e.x/1"),), ref)
    assert notifier.post(notice, "discord:alerts") != ref
    assert [q.get("thread_id") for q in fake.queries(hook)] == [None, None]


def test_forum_alert_opens_a_post_and_reminders_follow_it(
    fake: FakeDiscord, client: httpx.Client
) -> None:
    hook = fake.webhook(forum=True)
    notifier = notifier_for(client, alerts=hook)
    post_id = notifier.send(make_alert(), "discord:alerts")
    assert post_id in hook.threads
    assert fake.bodies(hook)[-1]["thread_name"] == "Pentagon sets deadline for Anthropic"
    notifier.post(Notice("reminder", "Due Friday", thread=post_id), "discord:alerts")
    assert fake.queries(hook)[-1]["thread_id"] == post_id
    assert "thread_name" not in fake.bodies(hook)[-1]
    # the post was deleted: the reminder opens a new one instead of failing
    new = notifier.post(Notice("reminder", "Due Friday", thread="1234"), "discord:alerts")
    assert new in hook.threads and new != post_id
    assert fake.bodies(hook)[-1]["thread_name"] == "Due Friday"
