"""The whole service over loopback: feeds in, Slack and Discord alerts out, /healthz, a signed
slash command over real HTTP, and logs that never show a secret."""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey
from slack_sdk.signature import SignatureVerifier

from bot.config import load_config
from bot.log import setup_logging
from bot.service import Service
from tests.factories import NOW, rss
from tests.fake_discord import FakeDiscord, Webhook
from tests.fake_slack import FakeSlack
from tests.loopback import LoopbackServer

BOT_TOKEN = "xoxb-1111-2222-SECRETBOTTOKEN"
SIGNING_SECRET = "signing-SECRET-0123456789abcdef"
HOSTILE = "<!channel> Pentagon <@U999> sets @everyone deadline <https://evil.example|click>"


@pytest.fixture
def service(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Service, FakeSlack, FakeDiscord, Webhook, io.StringIO]]:
    slack = FakeSlack(loopback)
    discord = FakeDiscord(loopback)
    hook = discord.webhook("policy")
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("REDLINE_SLACK_API_URL", slack.api_url)
    monkeypatch.setenv("DISCORD_PUBLIC_KEY", SigningKey.generate().verify_key.encode().hex())
    monkeypatch.setenv("REDLINE_DISCORD_API_URL", discord.api_url)
    monkeypatch.setenv("DISCORD_WEBHOOK_POLICY", hook.url)
    loopback.add_feed(
        "/feed.xml",
        rss(
            {"title": HOSTILE, "link": "https://n.example/1", "guid": "1", "published": NOW},
            {"title": "Weather", "link": "https://n.example/2", "guid": "2", "published": NOW},
        ),
    )
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "defaults:\n  allow_private_networks: true\n"
        f"feeds:\n  - name: News\n    url: {loopback.url}/feed.xml\n    backfill: 5\n"
        "entities:\n  - name: Department of Defense\n    aliases: [Pentagon]\n"
        "routes:\n  - name: policy\n    slack: C0123ABCD\n    discord: ${DISCORD_WEBHOOK_POLICY}\n"
        "admins:\n  slack: [U0ADMIN01]\n"
    )
    setup_logging("DEBUG")
    logs = io.StringIO()
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(logs)
    svc = Service(load_config(config), tmp_path / "r.db", config_path=config)
    svc.start(port=0, host="127.0.0.1")
    yield svc, slack, discord, hook, logs
    svc.deliverer.stop.set()
    svc.deliverer.wake.set()
    svc.close()
    logging.getLogger().handlers.clear()


def test_alerts_reach_slack_and_discord_without_pinging_anyone(
    service: tuple[Service, FakeSlack, FakeDiscord, Webhook, io.StringIO],
) -> None:
    svc, slack, discord, webhook, captured = service
    [post] = slack.wait_for("chat.postMessage", timeout=15)
    assert post.params["channel"] == "C0123ABCD"
    raw = json.dumps(post.params)
    assert "<!channel>" not in raw and "<@U999>" not in raw and "<https://evil" not in raw
    assert "&lt;!channel&gt;" in raw
    deadline = time.monotonic() + 10
    while not discord.bodies(webhook) and time.monotonic() < deadline:
        time.sleep(0.05)
    [body] = discord.bodies(webhook)
    assert body["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in json.dumps(body)
    # every alert is delivered once, and its platform message id stored for thread replies
    while svc.store.outbox_counts().get("pending") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc.store.outbox_counts() == {"sent": 2}
    # /healthz over HTTP
    assert svc.http is not None
    health = httpx.get(f"http://127.0.0.1:{svc.http.port}/healthz")
    assert health.status_code == 200
    assert health.json()["db"] == "ok"
    # /metrics in Prometheus format
    scraped = httpx.get(f"http://127.0.0.1:{svc.http.port}/metrics").text
    assert 'redline_polls_total{status="ok"}' in scraped
    assert 'redline_fetches_total{status_class="2xx"}' in scraped
    assert 'redline_alerts_total{platform="slack",result="sent"}' in scraped
    assert 'redline_matches_total{entity="Department of Defense"}' in scraped
    assert "redline_outbox_depth 0.0" in scraped
    assert 'redline_feed_failures{feed="News"} 0.0' in scraped
    assert "redline_not_modified_ratio" in scraped
    # logs never show a secret
    logs = captured.getvalue()
    assert "redline running" in logs
    for secret in (BOT_TOKEN, SIGNING_SECRET, "tok-policy-SECRETTOKEN"):
        assert secret not in logs


def test_signed_slash_command_over_http(
    service: tuple[Service, FakeSlack, FakeDiscord, Webhook, io.StringIO],
) -> None:
    svc, slack, _, _, _ = service
    assert svc.http is not None
    body = urllib.parse.urlencode(
        {
            "command": "/redline",
            "text": "status",
            "user_id": "U0USER001",
            "user_name": "admin",  # never trusted
            "channel_id": "C0123ABCD",
            "team_id": "T0001",
            "trigger_id": "1.2.3",
            "response_url": slack.response_url,
        }
    )
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    response = httpx.post(
        f"http://127.0.0.1:{svc.http.port}/slack/events",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        },
    )
    assert response.status_code == 200
    [reply] = slack.wait_for("response", timeout=10)
    assert "Redline status" in json.dumps(reply.params)
    scraped = httpx.get(f"http://127.0.0.1:{svc.http.port}/metrics").text
    assert 'redline_command_seconds_count{platform="slack"}' in scraped
    bad = httpx.post(
        f"http://127.0.0.1:{svc.http.port}/slack/events",
        content=body,
        headers={"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=bad"},
    )
    assert bad.status_code == 401
