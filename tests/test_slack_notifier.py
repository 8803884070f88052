"""The Slack notifier: Block Kit within Slack's limits, hostile feed text, pacing and errors,
with the real WebClient talking to a loopback fake Slack."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from bot.commands import Reply
from bot.errors import NotifyError
from bot.models import Alert, Deadline, EntityMatch, Entry, Hit, Notice
from bot.notifiers.slack import (
    MAX_BLOCKS,
    SlackNotifier,
    build_web_client,
    render_alert,
    render_notice,
    render_reply,
    safe_url,
)
from tests.factories import make_item
from tests.fake_slack import FakeSlack, error
from tests.loopback import LoopbackServer, Response

CHANNEL = "slack:C0123ABCD"
ANTHROPIC = EntityMatch(
    "Anthropic", (Hit("title", 25, 34, "Anthropic"), Hit("summary", 0, 6, "Claude"))
)
DOD = EntityMatch("Department of Defense", (Hit("title", 0, 8, "Pentagon"),))
HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S1|@team>",
    "<@U123>",
    "<#C999|general>",
    "<https://evil.example|Click>",
    "<!date^1^{date}|x>",
]


def make_alert(**item: Any) -> Alert:
    deadlines = item.pop("deadlines", (Deadline(date(2026, 2, 27), "Anthropic has until Friday."),))
    matches = item.pop("matches", (ANTHROPIC, DOD))
    return Alert("DefenseScoop", make_item(**item), matches, deadlines)


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text object's text, checking each mrkdwn object is verbatim."""
    found = []
    for block in blocks:
        objects = [block["text"]] if "text" in block else block.get("elements", [])
        for obj in objects:
            if obj["type"] == "mrkdwn":
                assert obj.get("verbatim") is True, obj
            found.append(obj["text"])
    return found


def check_limits(text: str, blocks: list[dict[str, Any]]) -> None:
    """Slack's documented limits, and slack_sdk's own validators on every block."""
    assert 0 < len(text) < 4000
    assert 0 < len(blocks) <= MAX_BLOCKS
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()  # raises SlackObjectFormationError on a violated limit
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150


def control_sequences(text: str) -> list[str]:
    """The ``<…>`` sequences Slack would act on."""
    return re.findall(r"<[^<>]*>", text)


@pytest.fixture
def fake(loopback: LoopbackServer) -> FakeSlack:
    return FakeSlack(loopback)


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return build_web_client("xoxb-test", fake.api_url)


@pytest.fixture
def notifier(client: WebClient) -> SlackNotifier:
    return SlackNotifier(client, min_interval=0.0)


# -- rendering ----------------------------------------------------------------------------------


def test_alert_has_headline_source_summary_why_deadline_and_link() -> None:
    text, blocks = render_alert(make_alert())
    check_limits(text, blocks)
    lines = texts(blocks)
    assert lines[0] == "*<https://example.com/story-1|Pentagon sets deadline for Anthropic>*"
    assert lines[1].startswith("DefenseScoop · <!date^1771945200^")
    assert lines[1].endswith("|2026-02-24 15:00 UTC>")
    assert lines[2] == "The Defense Department gave the company until Friday."
    assert lines[3] == "*Why:* Anthropic (Anthropic, Claude) · Department of Defense (Pentagon)"
    assert lines[4] == "⏰ *Deadline Fri 27 Feb 2026*: Anthropic has until Friday."
    assert lines[5] == "🔗 <https://example.com/story-1|example.com/story-1>"
    assert text == (
        "Pentagon sets deadline for Anthropic (DefenseScoop): Anthropic, Department of Defense"
    )


def test_alert_without_link_date_or_deadline() -> None:
    text, blocks = render_alert(make_alert(link=None, published=None, deadlines=(), summary=""))
    check_limits(text, blocks)
    assert texts(blocks) == [
        "*Pentagon sets deadline for Anthropic*",
        "DefenseScoop · undated",
        "*Why:* Anthropic (Anthropic, Claude) · Department of Defense (Pentagon)",
    ]


@pytest.mark.parametrize("payload", HOSTILE)
def test_mentions_and_links_in_feed_text_ping_nobody(payload: str) -> None:
    alert = Alert(
        f"Feed {payload}",
        make_item(title=f"Title {payload}", summary=f"Summary {payload}.", link=None),
        (EntityMatch(f"Entity {payload}", (Hit("title", 0, 1, f"term {payload}"),)),),
        (Deadline(date(2026, 3, 1), f"Due {payload}"),),
    )
    text, blocks = render_alert(alert)
    check_limits(text, blocks)
    for piece in [text, *texts(blocks)]:
        assert payload not in piece
        # the only control sequence Redline writes itself is the published date
        assert all(seq.startswith("<!date^1771945200^") for seq in control_sequences(piece))
    assert "&lt;" in texts(blocks)[0] and "&gt;" in texts(blocks)[0]


def test_ampersand_literal_is_escaped_not_decoded() -> None:
    text, blocks = render_alert(make_alert(title="AT&amp;T & <b>Partners</b>"))
    assert texts(blocks)[0].endswith("|AT&amp;amp;T &amp; &lt;b&gt;Partners&lt;/b&gt;>*")
    assert text.startswith("AT&amp;amp;T &amp; &lt;b&gt;")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a?b=1&c=2", "https://example.com/a?b=1&amp;c=2"),
        ("https://evil.example/x|Click here", "https://evil.example/x%7CClick%20here"),
        ("https://evil.example/x>|<!channel>", "https://evil.example/x%3E%7C%3C!channel%3E"),
        ('https://e.example/"q"', "https://e.example/%22q%22"),
        ("javascript:alert(1)", None),
        ("slack://open", None),
        ("/relative/path", None),
        ("https://", None),
        ("https://example.com/" + "a" * 2000, None),
    ],
)
def test_links_are_http_and_cannot_break_out(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_link_with_pipe_or_angle_bracket_keeps_our_label() -> None:
    alert = make_alert(link="https://evil.example/a|Fake label>tail", title="Real title")
    _, blocks = render_alert(alert)
    headline = texts(blocks)[0]
    assert headline == "*<https://evil.example/a%7CFake%20label%3Etail|Real title>*"
    assert control_sequences(headline) == [headline[1:-1]]


def test_unsafe_link_is_shown_as_plain_text() -> None:
    _, blocks = render_alert(make_alert(link="javascript:alert(1)"))
    assert texts(blocks)[0] == "*Pentagon sets deadline for Anthropic*"
    assert not any("javascript" in t for t in texts(blocks))


def test_huge_title_summary_and_lists_are_trimmed_at_words() -> None:
    words = "word " * 2000  # 10,000 characters
    many_entities = tuple(
        EntityMatch(f"Entity {n} &", (Hit("title", 0, 1, f"alias {n} <x>"),)) for n in range(300)
    )
    many_deadlines = tuple(Deadline(date(2026, 3, 1), "& " * 500) for _ in range(200))
    alert = make_alert(
        title="<" * 10_000,
        summary=words,
        content=words,
        matches=many_entities,
        deadlines=many_deadlines,
        link="https://example.com/" + "p" * 1400,
    )
    text, blocks = render_alert(alert)
    check_limits(text, blocks)
    summary = texts(blocks)[2]
    assert summary.endswith("word…")
    assert len(summary) <= 300
    assert "… and " in texts(blocks)[3] and texts(blocks)[3].endswith(" more")
    assert texts(blocks)[4].endswith(" more")
    assert len(text) <= 3000
    assert all(not t.endswith("&am…") for t in texts(blocks))


def test_notice_renders_entries_with_links_and_details() -> None:
    notice = Notice(
        "reminder",
        "Deadline in 3 days: <!here>",
        (Entry("Anthropic & DoD", "https://example.com/1", "Fri 2026-02-27"), Entry("plain")),
    )
    text, blocks = render_notice(notice)
    check_limits(text, blocks)
    assert texts(blocks) == [
        "⏰ *Deadline in 3 days: &lt;!here&gt;*",
        "• <https://example.com/1|Anthropic &amp; DoD>\n      Fri 2026-02-27\n• plain",
    ]
    assert text == "⏰ Deadline in 3 days: &lt;!here&gt;"


def test_many_entries_are_capped_at_fifty_blocks_with_a_count() -> None:
    entries = tuple(Entry("x " * 500, detail="y " * 500) for _ in range(300))
    reply = Reply("Feeds: 300", entries, more=7)
    message = render_reply(reply)
    check_limits(message["text"], message["blocks"])
    assert len(message["blocks"]) == MAX_BLOCKS
    shown = sum(t.count("• ") for t in texts(message["blocks"]))
    assert texts(message["blocks"])[-1] == f"… and {300 - shown + 7} more"


def test_reply_is_ephemeral_unless_shared() -> None:
    reply = Reply("Latest", (Entry("#1 Story", "https://example.com/1", "DefenseScoop"),), more=4)
    private = render_reply(reply)
    assert private["response_type"] == "ephemeral"
    assert private["unfurl_links"] is False
    assert texts(private["blocks"]) == [
        "*Latest*",
        "• <https://example.com/1|#1 Story>\n      DefenseScoop",
        "… and 4 more",
    ]
    shared = render_reply(Reply("Latest", public=True))
    assert shared["response_type"] == "in_channel"
    failed = render_reply(Reply("unknown command 'x'", (Entry("usage: /redline help"),), ok=False))
    assert texts(failed["blocks"])[0] == "⚠️ *unknown command 'x'*"


# -- sending ------------------------------------------------------------------------------------


def test_send_posts_blocks_without_unfurls_or_mention_parsing(
    fake: FakeSlack, notifier: SlackNotifier
) -> None:
    ts = notifier.send(make_alert(title="<!channel> urgent"), CHANNEL)
    (call,) = fake.calls_to("chat.postMessage")
    assert ts == "1700000000.000001"
    assert call.params["channel"] == "C0123ABCD"
    assert call.params["unfurl_links"] is False
    assert call.params["unfurl_media"] is False
    assert "link_names" not in call.params
    assert "parse" not in call.params
    assert "thread_ts" not in call.params
    assert "<!channel>" not in json.dumps(call.params)
    assert call.params["text"].startswith("&lt;!channel&gt; urgent")
    check_limits(call.params["text"], call.params["blocks"])


def test_post_replies_in_the_alert_thread(fake: FakeSlack, notifier: SlackNotifier) -> None:
    ts = notifier.send(make_alert(), CHANNEL)
    notifier.post(Notice("reminder", "Deadline tomorrow", thread=ts), CHANNEL)
    notifier.post(Notice("notice", "Feed failing"), CHANNEL)
    _, reply, top = fake.calls_to("chat.postMessage")
    assert reply.params["thread_ts"] == ts
    assert "thread_ts" not in top.params


def test_rate_limit_becomes_notify_error_with_retry_after(
    fake: FakeSlack, notifier: SlackNotifier
) -> None:
    fake.fail(
        "chat.postMessage",
        Response(429, b'{"ok": false, "error": "ratelimited"}', {"Retry-After": "17"}),
    )
    with pytest.raises(NotifyError) as caught:
        notifier.send(make_alert(), CHANNEL)
    assert caught.value.status == 429
    assert caught.value.retry_after == 17.0
    assert caught.value.target == CHANNEL
    # no hidden retry inside slack_sdk: one request, then the next send goes through
    assert notifier.send(make_alert(), CHANNEL) == "1700000000.000001"
    assert len(fake.server.requests_to("/api/chat.postMessage")) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_become_notify_errors(
    fake: FakeSlack, notifier: SlackNotifier, status: int
) -> None:
    fake.fail("chat.postMessage", Response(status, b"<html>down</html>", {}))
    with pytest.raises(NotifyError) as caught:
        notifier.send(make_alert(), CHANNEL)
    assert caught.value.status == status
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("channel_not_found", 404),  # permanent: the outbox dead-letters and tells the admins
        ("not_in_channel", 403),
        ("invalid_auth", 401),
        ("msg_too_long", 200),  # anything else keeps Slack's HTTP status and is retried
    ],
)
def test_slack_errors_name_the_code(
    fake: FakeSlack, notifier: SlackNotifier, code: str, status: int
) -> None:
    fake.fail("chat.postMessage", error(code))
    with pytest.raises(NotifyError, match=code) as caught:
        notifier.send(make_alert(), CHANNEL)
    assert caught.value.status == status


def test_unreachable_slack_is_a_notify_error(fake: FakeSlack) -> None:
    with LoopbackServer() as gone:
        url = gone.url + "/api/"
    notifier = SlackNotifier(build_web_client("xoxb-test", url), min_interval=0)
    with pytest.raises(NotifyError, match="slack: URLError") as caught:
        notifier.send(make_alert(), CHANNEL)
    assert caught.value.status is None


def test_timeout_is_a_notify_error(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", Response(200, b'{"ok": true}', _json(), delay=1.5))
    notifier = SlackNotifier(build_web_client("xoxb-test", fake.api_url, timeout=1))
    with pytest.raises(NotifyError, match="imeout"):
        notifier.send(make_alert(), CHANNEL)


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def test_bad_destination_is_refused(notifier: SlackNotifier) -> None:
    with pytest.raises(NotifyError, match="not a Slack destination"):
        notifier.send(make_alert(), "slack:")


def test_posts_to_one_channel_are_paced_others_are_not(fake: FakeSlack, client: WebClient) -> None:
    notifier = SlackNotifier(client, min_interval=0.3)  # 1.0 in production
    notifier.send(make_alert(), CHANNEL)
    notifier.send(make_alert(), "slack:COTHER")
    notifier.send(make_alert(), CHANNEL)
    first, other, second = fake.calls_to("chat.postMessage")
    assert second.at - first.at >= 0.3
    assert other.at - first.at < 0.3


def test_api_url_keeps_its_trailing_slash() -> None:
    assert build_web_client("xoxb-x", "https://slack-gov.com/api").base_url == (
        "https://slack-gov.com/api/"
    )
    assert build_web_client("xoxb-x", None).base_url == "https://slack.com/api/"
    assert build_web_client("xoxb-x").retry_handlers == []
