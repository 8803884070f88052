"""Slack's side of `/redline`: a Bolt App, in Socket Mode or behind our HTTP server.

Socket Mode (``SLACK_APP_TOKEN``) is the default for self-hosting: no public URL. HTTP mode
(``SLACK_SIGNING_SECRET`` and no app token) mounts Bolt's WSGI handler at ``/slack/events`` on
bot/server.py. Either way the listener acks at once and answers through ``response_url``, so
slow work (a `feeds add` probing a URL) never risks Slack's three-second deadline.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.commands import Caller, CommandRunner, Reply, UsageError, parse
from bot.errors import ConfigError
from bot.models import Admins
from bot.notifiers.slack import SlackNotifier, build_web_client, render_reply
from bot.server import WSGIApp

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
ADMIN_CACHE_SECONDS = 600.0
_RECONNECT_DELAYS = (5.0, 15.0, 60.0, 300.0)


class AdminCheck:
    """Whether a verified Slack user may edit: listed in ``admins.slack``, or a workspace admin
    or owner according to users.info (cached, so a burst of edits costs one API call)."""

    def __init__(
        self,
        client: WebClient,
        admins: Callable[[], Admins],
        *,
        ttl: float = ADMIN_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._admins = admins
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, bool]] = {}

    def __call__(self, user_id: str) -> bool:
        if not user_id:
            return False
        if user_id in self._admins().slack:
            return True
        with self._lock:
            cached = self._cache.get(user_id)
        if cached and cached[0] > self._clock():
            return cached[1]
        try:
            user = self._client.users_info(user=user_id).get("user") or {}
        except SlackClientError as error:
            log.warning("slack users.info failed user=%s error=%s", user_id, error)
            return False  # not cached: the next attempt asks again
        allowed = bool(user.get("is_admin") or user.get("is_owner")) and not user.get("deleted")
        with self._lock:
            self._cache[user_id] = (self._clock() + self._ttl, allowed)
        return allowed


def _is_admin_command(text: str) -> bool:
    try:
        return parse(text).name.startswith(("feeds ", "watch "))
    except UsageError:
        return False


def build_slack_app(
    runner: CommandRunner,
    *,
    client: WebClient,
    signing_secret: str | None,
    admins: Callable[[], Admins],
    executor: ThreadPoolExecutor | None = None,
) -> App:
    """A Bolt App answering `/redline`: ``ack()`` runs in the request's own thread (HTTP worker
    or Socket Mode worker) before Slack gets its answer; the command itself is a lazy listener
    on ``executor``, replying through ``response_url``. So a busy executor queues commands but
    never delays an ack. Without a signing secret (Socket Mode) a random one is used, so an
    HTTP request reaching this app by mistake can never pass verification."""
    app = App(
        client=client,
        signing_secret=signing_secret or secrets.token_hex(32),
        token_verification_enabled=False,  # auth.test runs on the first request instead
        process_before_response=True,  # the ack listener below is all that runs before the reply
        listener_executor=executor,
        name="redline",
    )
    is_admin = AdminCheck(client, admins)

    def acknowledge(ack: Ack) -> None:
        ack()

    def answer(body: dict[str, Any], respond: Respond) -> None:
        text = str(body.get("text") or "")
        user_id = str(body.get("user_id") or "")  # verified by the signature; names are not
        caller = Caller(
            platform="slack",
            user_id=user_id,
            is_admin=_is_admin_command(text) and is_admin(user_id),
            request_id=str(body.get("trigger_id") or "") or None,
        )
        try:
            reply = runner.run(text, caller)
        except Exception:
            log.exception("slack command failed user=%s", user_id)
            reply = Reply("Sorry, that failed inside Redline; the error is in its log.", ok=False)
        try:
            respond(render_reply(reply))
        except (SlackClientError, OSError) as error:
            log.warning("slack respond failed user=%s error=%s", user_id, error)

    app.command("/redline")(ack=acknowledge, lazy=[answer])
    return app


class SlackIntegration:
    """The Slack pieces a running Redline needs: the App, a notifier on the same WebClient,
    and either a Socket Mode connection (``start``) or a WSGI app to mount (``wsgi``)."""

    def __init__(
        self,
        *,
        mode: str,
        app: App,
        client: WebClient,
        executor: ThreadPoolExecutor,
        app_token: str | None = None,
    ) -> None:
        self.mode = mode
        self.app = app
        self.client = client
        self.notifier = SlackNotifier(client)
        self.wsgi: WSGIApp | None = (
            SlackRequestHandler(app, path=EVENTS_PATH) if mode == "http" else None
        )
        self._executor = executor
        self._app_token = app_token
        self._handler: SocketModeHandler | None = None
        self._closed = threading.Event()
        self._retry: threading.Thread | None = None

    def start(self) -> None:
        """Socket Mode: connect (non-blocking). If Slack cannot be reached yet, keep trying in
        the background, so a Slack outage at start never stops the poller. HTTP mode: nothing."""
        if self.mode != "socket" or self._handler is not None:
            return
        self._handler = SocketModeHandler(self.app, self._app_token, web_client=self.client)
        if not self._connect():
            self._retry = threading.Thread(
                target=self._reconnect, name="slack-connect", daemon=True
            )
            self._retry.start()

    def _connect(self) -> bool:
        assert self._handler is not None
        try:
            self._handler.client.connect()  # the handler's own connect() is untyped
        except (SlackClientError, OSError) as error:
            log.error("slack socket mode connect failed error=%s", error)
            return False
        log.info("slack socket mode connected")
        return True

    def _reconnect(self) -> None:
        attempt = 0
        while not self._closed.wait(_RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)]):
            if self._connect():
                return
            attempt += 1

    def close(self) -> None:
        """Disconnect Socket Mode and finish the command replies already under way."""
        self._closed.set()
        if self._retry is not None:
            self._retry.join(timeout=5)
        if self._handler is not None:
            self._handler.client.close()
        self._executor.shutdown(wait=True, cancel_futures=True)


def build_slack(
    environ: Mapping[str, str],
    runner: CommandRunner,
    admins: Callable[[], Admins],
) -> SlackIntegration | None:
    """Slack from the environment, or None when ``SLACK_BOT_TOKEN`` is unset. Raises ConfigError
    (every problem at once) when the variables do not make a working combination."""
    token = environ.get("SLACK_BOT_TOKEN", "").strip()
    if not token:
        return None
    app_token = environ.get("SLACK_APP_TOKEN", "").strip() or None
    signing_secret = environ.get("SLACK_SIGNING_SECRET", "").strip() or None
    api_url = environ.get("REDLINE_SLACK_API_URL", "").strip() or None
    problems = []
    if not token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN: must be a bot token (xoxb-…)")
    if app_token and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN: must be an app-level token (xapp-…)")
    if not app_token and not signing_secret:
        problems.append(
            "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) "
            "nor SLACK_SIGNING_SECRET (HTTP mode) is"
        )
    if api_url and (
        urlsplit(api_url).scheme not in ("http", "https") or not urlsplit(api_url).netloc
    ):
        problems.append("REDLINE_SLACK_API_URL: must be an http(s) URL")
    if problems:
        raise ConfigError(problems)
    mode = "socket" if app_token else "http"
    client = build_web_client(token, api_url)
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack-command")
    app = build_slack_app(
        runner,
        client=client,
        signing_secret=None if app_token else signing_secret,
        admins=admins,
        executor=executor,
    )
    log.info(
        "slack enabled mode=%s api=%s%s",
        mode,
        urlsplit(client.base_url).netloc,
        " (SLACK_SIGNING_SECRET ignored: Socket Mode)" if app_token and signing_secret else "",
    )
    return SlackIntegration(
        mode=mode, app=app, client=client, executor=executor, app_token=app_token
    )
