"""`/redline` through the real Bolt App: signed HTTP requests over loopback, and Socket Mode
against a loopback WebSocket server; replies arrive at the fake Slack's response_url."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from ruamel.yaml import YAML
from slack_sdk.signature import SignatureVerifier

from bot.admin import Admin
from bot.commands import CommandRunner
from bot.config import Settings, load_config
from bot.errors import ConfigError
from bot.fetcher import Fetcher
from bot.models import Admins
from bot.notifiers.slack import build_web_client
from bot.query import Queries
from bot.server import HttpServer, StartResponse, WSGIApp, build_app
from bot.slack_app import AdminCheck, SlackIntegration, build_slack
from bot.store import Store
from tests.factories import NOW, rss
from tests.fake_slack import FakeSlack, FakeSocketMode, error
from tests.loopback import LoopbackServer, Response

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
LOCAL = "127.0.0.1"
ADMIN = "U0ADMIN1"  # listed in feeds.yaml
USER = "U0USER01"
OWNER = "U0OWNER1"  # a workspace owner per users.info
CONFIG = """\
# Redline feeds (comment at the top)
defaults:
  interval: 10m
  allow_private_networks: {private}
feeds:
  # the one feed we start with
  - name: DefenseScoop
    url: https://defensescoop.com/feed/
entities:
  - name: Anthropic   # the lab
    aliases: [Claude]
admins:
  slack: [U0ADMIN1]   # may edit from chat
"""


@dataclass
class Rig:
    fake: FakeSlack
    slack: SlackIntegration
    path: Path
    url: str  # http://127.0.0.1:port/slack/events, or "" in Socket Mode
    trigger: int = 0

    def command(self, text: str, user: str = USER) -> dict[str, str]:
        self.trigger += 1
        return {
            "token": "legacy-unused",
            "team_id": "T0001",
            "channel_id": "C0123ABCD",
            "channel_name": "directmessage",
            "user_id": user,
            "user_name": "admin",  # never trusted
            "command": "/redline",
            "text": text,
            "response_url": self.fake.response_url,
            "trigger_id": f"trigger.{self.trigger}",
        }

    def post(self, body: str, *, timestamp: int | None = None, secret: str = SECRET) -> int:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        assert signature is not None
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }
        return httpx.post(self.url, content=body, headers=headers, timeout=5).status_code

    def run(self, text: str, user: str = USER) -> dict[str, Any]:
        """POST a signed slash command; return the JSON that arrived at response_url."""
        before = len(self.fake.calls_to("response"))
        started = time.monotonic()
        assert self.post(urlencode(self.command(text, user))) == 200
        assert time.monotonic() - started < 3.0  # Slack's deadline for the ack
        return self.fake.wait_for("response", before + 1)[-1].params


def build_runner(
    tmp_path: Path, *, private: bool = False
) -> tuple[CommandRunner, Store, Fetcher, list[Settings]]:
    """A real runner like tests/test_commands.py builds: store, queries, admin on feeds.yaml."""
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG.format(private=str(private).lower()))
    current = [load_config(path)]
    store = Store(tmp_path / "r.db")
    queries = Queries(store, lambda: current[0], started_at=NOW - timedelta(hours=1))
    fetcher = Fetcher(allow_private_networks=private)
    admin = Admin(
        store,
        path,
        settings=lambda: current[0],
        on_change=lambda s: current.__setitem__(0, s),
        fetcher=fetcher,
    )
    return CommandRunner(queries, admin, now=lambda: NOW), store, fetcher, current


@pytest.fixture
def fake(loopback: LoopbackServer) -> FakeSlack:
    fake = FakeSlack(loopback)
    fake.set_user(USER)
    fake.set_user(OWNER, is_owner=True)
    return fake


@pytest.fixture(scope="module")
def events_server() -> Iterator[tuple[str, list[WSGIApp]]]:
    """One waitress server for the module (closing one takes up to a second); each test puts
    its own integration's WSGI app in the slot."""
    slot: list[WSGIApp] = []

    def events(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return slot[-1](environ, start_response)

    server = HttpServer(
        build_app({"/slack/events": events}, lambda: (True, {})), port=0, host=LOCAL
    )
    server.start()
    yield f"http://{LOCAL}:{server.port}/slack/events", slot
    server.close()


def http_environ(fake: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "REDLINE_SLACK_API_URL": fake.api_url,
    }


@pytest.fixture
def http_rig(
    tmp_path: Path, fake: FakeSlack, events_server: tuple[str, list[WSGIApp]]
) -> Iterator[Rig]:
    runner, store, fetcher, current = build_runner(tmp_path)
    slack = build_slack(http_environ(fake), runner, lambda: current[0].admins)
    assert slack is not None and slack.mode == "http" and slack.wsgi is not None
    url, slot = events_server
    slot.append(slack.wsgi)
    try:
        yield Rig(fake, slack, tmp_path / "feeds.yaml", url)
    finally:
        slot.remove(slack.wsgi)
        slack.close()
        fetcher.close()
        store.close()


def reply_text(message: dict[str, Any]) -> str:
    return "\n".join(
        obj["text"]
        for block in message["blocks"]
        for obj in ([block["text"]] if "text" in block else block["elements"])
    )


# -- choosing a mode ----------------------------------------------------------------------------


def test_no_bot_token_means_no_slack(tmp_path: Path) -> None:
    runner, store, fetcher, current = build_runner(tmp_path)
    try:
        assert build_slack({}, runner, lambda: current[0].admins) is None
        with pytest.raises(ConfigError) as caught:
            build_slack(
                {"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_APP_TOKEN": "xoxb-wrong"},
                runner,
                lambda: current[0].admins,
            )
        assert len(caught.value.problems) == 2
        with pytest.raises(ConfigError, match="neither SLACK_APP_TOKEN"):
            build_slack({"SLACK_BOT_TOKEN": "xoxb-1"}, runner, lambda: current[0].admins)
    finally:
        fetcher.close()
        store.close()


def test_mode_is_logged_once_without_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner, store, fetcher, current = build_runner(tmp_path)
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-secret-bot",
        "SLACK_APP_TOKEN": "xapp-secret-app",
        "SLACK_SIGNING_SECRET": "secret-signing",
    }
    caplog.set_level(logging.INFO, logger="bot.slack_app")
    slack = build_slack(environ, runner, lambda: current[0].admins)
    try:
        assert slack is not None
        assert slack.mode == "socket" and slack.wsgi is None
        assert slack.notifier.client is slack.client
        assert slack.client.base_url == "https://slack.com/api/"
        (record,) = [r for r in caplog.records if r.name == "bot.slack_app"]
        assert "mode=socket" in record.getMessage()
        assert not any(s in caplog.text for s in ("xoxb-secret", "xapp-secret", "secret-signing"))
    finally:
        assert slack is not None
        slack.close()  # never started: closing is still clean
        fetcher.close()
        store.close()


# -- HTTP mode ------------------------------------------------------------------------------------


def test_signed_command_is_acked_and_answered_at_response_url(http_rig: Rig) -> None:
    message = http_rig.run("entities")
    assert message["response_type"] == "ephemeral"
    assert "*Watchlist: 1 entities*" in reply_text(message)
    assert "Anthropic" in reply_text(message)
    assert http_rig.run("entities --share")["response_type"] == "in_channel"
    assert http_rig.fake.calls_to("auth.test")  # Bolt's single-workspace authorization


def test_slow_command_is_acked_at_once_and_answered_later(
    tmp_path: Path, fake: FakeSlack, loopback: LoopbackServer
) -> None:
    """The whole HTTP path as `redline run` mounts it, with a `feeds add` whose probe stalls."""
    feed = rss({"title": "Item", "link": "https://example.com/1", "guid": "1"}, title="Slow")
    headers = {"Content-Type": "application/rss+xml"}
    url = loopback.route("/slow.xml", lambda request: Response(200, feed, headers, delay=1.0))
    runner, store, fetcher, current = build_runner(tmp_path, private=True)
    slack = build_slack(http_environ(fake), runner, lambda: current[0].admins)
    assert slack is not None and slack.wsgi is not None
    server = HttpServer(
        build_app({"/slack/events": slack.wsgi}, lambda: (True, {})), host=LOCAL, port=0
    )
    server.start()
    try:
        rig = Rig(
            fake, slack, tmp_path / "feeds.yaml", f"http://{LOCAL}:{server.port}/slack/events"
        )
        started = time.monotonic()
        assert rig.post(urlencode(rig.command(f"feeds add {url} Slow Feed", user=ADMIN))) == 200
        acked = time.monotonic() - started
        (response,) = fake.wait_for("response")
        assert acked < 0.8 <= response.at - started
        assert "Added feed Slow Feed" in reply_text(response.params)
        assert "Slow Feed" in rig.path.read_text()
    finally:
        server.close()
        slack.close()
        fetcher.close()
        store.close()


def test_bad_signature_and_stale_timestamp_get_401(http_rig: Rig) -> None:
    body = urlencode(http_rig.command("status"))
    assert http_rig.post(body, secret="not-the-secret") == 401
    assert http_rig.post(body, timestamp=int(time.time()) - 6 * 60) == 401
    assert http_rig.post(body + "&text=tampered") == 200  # signed as sent: fine
    unsigned = httpx.post(http_rig.url, content=body, timeout=5)
    assert unsigned.status_code == 401
    http_rig.fake.wait_for("response", 1)
    assert len(http_rig.fake.calls_to("response")) == 1  # the 401s never ran the command


def test_unknown_subcommand_gets_usage_not_a_traceback(http_rig: Rig) -> None:
    message = http_rig.run("frobnicate <!channel>")
    text = reply_text(message)
    assert text.startswith("⚠️ *unknown command '")
    assert "usage: /redline help" in text
    assert "Traceback" not in text and "<!channel>" not in text


def test_a_crash_inside_a_command_is_a_reply_not_a_traceback(
    http_rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    http_rig.path.unlink()
    http_rig.path.mkdir()  # feeds.yaml is now a directory: the edit fails unexpectedly
    text = reply_text(http_rig.run("watch add Scale AI", user=ADMIN))
    assert text == "⚠️ *Sorry, that failed inside Redline; the error is in its log.*"
    assert "slack command failed user=U0ADMIN1" in caplog.text


def test_admin_edit_keeps_comments_and_non_admin_is_refused(http_rig: Rig) -> None:
    refused = reply_text(http_rig.run("watch add Scale AI", user=USER))
    assert "Only Redline admins" in refused
    assert "Scale AI" not in http_rig.path.read_text()
    done = reply_text(http_rig.run("watch add Scale AI, Scale", user=ADMIN))
    assert "Scale AI" in done and "⚠️" not in done
    text = http_rig.path.read_text()
    assert "# Redline feeds (comment at the top)" in text
    assert "# the one feed we start with" in text
    assert "# the lab" in text and "# may edit from chat" in text
    assert "Scale AI" in text
    assert "Scale AI" in reply_text(http_rig.run("entities"))


def test_workspace_owner_is_admin_via_cached_users_info(http_rig: Rig) -> None:
    assert "Paused feed DefenseScoop" in reply_text(http_rig.run("feeds pause DefenseScoop", OWNER))
    assert "Resumed" in reply_text(http_rig.run("feeds resume DefenseScoop", OWNER))
    assert [c.params["user"] for c in http_rig.fake.calls_to("users.info")] == [OWNER]
    http_rig.run("status", USER)  # read-only commands never ask users.info
    assert len(http_rig.fake.calls_to("users.info")) == 1


def test_replayed_request_is_not_applied_twice(http_rig: Rig) -> None:
    body = urlencode(http_rig.command("watch add Palantir", user=ADMIN))
    assert http_rig.post(body) == 200
    (first,) = http_rig.fake.wait_for("response", 1)
    assert http_rig.post(body) == 200  # replayed within the five minutes: same trigger_id
    _, second = http_rig.fake.wait_for("response", 2)
    assert "Palantir" in reply_text(first.params)
    assert "Already applied" in reply_text(second.params)
    assert http_rig.path.read_text().count("Palantir") == 1


def test_feeds_add_of_a_private_address_is_refused(http_rig: Rig) -> None:
    text = reply_text(http_rig.run("feeds add http://127.0.0.1:9/feed.xml Local", ADMIN))
    assert text.startswith("⚠️ *Not added:")
    assert "Local" not in http_rig.path.read_text()


def test_admin_check_caches_and_does_not_cache_failures(fake: FakeSlack) -> None:
    now = [0.0]
    check = AdminCheck(
        build_web_client("xoxb-test", fake.api_url),
        lambda: Admins(slack=(ADMIN,)),
        ttl=600,
        clock=lambda: now[0],
    )
    fake.set_user("U0WSADM1", is_admin=True)
    assert check(ADMIN) and not check("")
    fake.fail("users.info", error("ratelimited", 429))
    assert not check("U0WSADM1")  # an API failure refuses, and is not remembered
    assert check("U0WSADM1") and check("U0WSADM1")
    assert not check(USER)
    assert len(fake.calls_to("users.info")) == 2
    now[0] = 601.0
    assert check("U0WSADM1")
    assert len(fake.calls_to("users.info")) == 3


# -- Socket Mode ----------------------------------------------------------------------------------


def test_socket_mode_acks_the_envelope_and_responds(tmp_path: Path, fake: FakeSlack) -> None:
    runner, store, fetcher, current = build_runner(tmp_path)
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "REDLINE_SLACK_API_URL": fake.api_url,
    }
    with FakeSocketMode() as socket:
        fake.socket_url = socket.url
        slack = build_slack(environ, runner, lambda: current[0].admins)
        assert slack is not None and slack.mode == "socket"
        try:
            slack.start()
            assert socket.connected.wait(5)
            (opened,) = fake.calls_to("apps.connections.open")
            assert opened.headers["authorization"] == "Bearer xapp-test"
            rig = Rig(fake, slack, tmp_path / "feeds.yaml", "")
            socket.send(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": rig.command("watch add Shield AI", user=ADMIN),
                }
            )
            assert _next_ack(socket) == {"envelope_id": "env-1"}
            (response,) = fake.wait_for("response")
            assert "Shield AI" in reply_text(response.params)
            assert response.params["response_type"] == "ephemeral"
            assert "Shield AI" in rig.path.read_text()
            assert "# the lab" in rig.path.read_text()
        finally:
            slack.close()
            fetcher.close()
            store.close()


def _next_ack(socket: FakeSocketMode) -> dict[str, Any]:
    try:
        return socket.received.get(timeout=5)
    except queue.Empty:
        raise AssertionError("no ack within 5 s") from None


def test_socket_mode_start_survives_slack_being_down(tmp_path: Path, fake: FakeSlack) -> None:
    runner, store, fetcher, current = build_runner(tmp_path)
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "REDLINE_SLACK_API_URL": fake.api_url,
    }
    slack = build_slack(environ, runner, lambda: current[0].admins)
    assert slack is not None
    try:
        slack.start()  # apps.connections.open fails: logged, retried in the background
        assert fake.calls_to("apps.connections.open")
    finally:
        slack.close()
        fetcher.close()
        store.close()


# -- the app manifest -----------------------------------------------------------------------------


def test_manifest_declares_the_command_socket_mode_and_only_needed_scopes() -> None:
    manifest = YAML(typ="safe").load(Path(__file__).parent.parent / "slack-manifest.yaml")
    assert manifest["oauth_config"]["scopes"]["bot"] == ["chat:write", "commands", "users:read"]
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "event_subscriptions" not in manifest["settings"]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/redline" and command["usage_hint"]
    assert manifest["features"]["bot_user"]["display_name"] == "Redline"
    assert len(manifest["display_information"]["description"]) <= 140
    assert 175 <= len(manifest["display_information"]["long_description"]) <= 4000
