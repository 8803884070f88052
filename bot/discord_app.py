"""Discord's interactions endpoint: Ed25519-verified requests → the shared `/redline` grammar.

Discord signs every request (``X-Signature-Ed25519`` over ``X-Signature-Timestamp`` + body) and
probes endpoints with bad signatures, dropping any that accept them: every failure is a 401.
Typed slash-command options are turned back into grammar text, values quoted so user input can't
change its meaning, and run by ``CommandRunner``: the grammar lives once, in bot/commands.py.
Discord wants an answer within 3 seconds, so a command slower than ``defer_after`` is answered
"thinking…" (type 5) and its reply PATCHed into the original response when done.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

from bot.commands import Caller, CommandRunner, Reply, UsageError
from bot.discord_commands import command_definitions, command_text
from bot.errors import ConfigError, RedlineError
from bot.models import Admins
from bot.notifiers.discord import (
    COLOR_ERROR,
    COLOR_INFO,
    DiscordNotifier,
    message,
    one_line,
    render_entries,
)
from bot.server import StartResponse, WSGIApp

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://discord.com/api/v10"
PING, APPLICATION_COMMAND = 1, 2
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE = 1, 4, 5
EPHEMERAL = 1 << 6
ADMINISTRATOR, MANAGE_GUILD = 1 << 3, 1 << 5
MAX_BODY = 256 * 1024
FUTURE_SKEW = 60.0  # seconds a signed timestamp may run ahead of our clock
_SNOWFLAKE = re.compile(r"\d{1,20}")
_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,512}")

# -- the endpoint -------------------------------------------------------------------------------


def verify_key(public_key: str) -> VerifyKey:
    """The application's public key (64 hex characters); ConfigError when it isn't one."""
    try:
        return VerifyKey(bytes.fromhex(public_key.strip()))
    except (ValueError, TypeError, CryptoError):
        message = "DISCORD_PUBLIC_KEY: must be the application's public key (64 hex characters)"
        raise ConfigError([message]) from None


def verified(
    key: VerifyKey, signature: str, timestamp: str, body: bytes, *, now: float, max_age: float
) -> bool:
    """Whether Discord signed ``timestamp + body``, recently. Never raises."""
    try:
        moment = int(timestamp)
        key.verify(timestamp.encode() + body, bytes.fromhex(signature))
    except (ValueError, TypeError, BadSignatureError, CryptoError):
        return False
    return -FUTURE_SKEW <= now - moment <= max_age


def is_admin(interaction: Mapping[str, Any], admins: Admins) -> bool:
    """A listed user or role, or signed permissions with Manage Server (or Administrator)."""
    member = interaction.get("member") or {}
    user = member.get("user") or interaction.get("user") or {}
    allowed = set(admins.discord)
    if user.get("id") and str(user["id"]) in allowed:
        return True
    if allowed & {str(role) for role in member.get("roles") or ()}:
        return True
    try:
        permissions = int(member.get("permissions") or 0)
    except (TypeError, ValueError):
        return False
    return bool(permissions & (MANAGE_GUILD | ADMINISTRATOR))


def render_reply(reply: Reply) -> dict[str, Any]:
    """A command reply as a message body: one embed, mentions and Markdown neutralised."""
    color = COLOR_INFO if reply.ok else COLOR_ERROR
    return message(render_entries(reply.title, reply.entries, more=reply.more, color=color))


class _Body:
    """A WSGI body whose ``close()``, called once the server has sent it, lets a deferred
    command's follow-up go (Discord must have the type 5 before the edit)."""

    def __init__(self, data: bytes, sent: threading.Event) -> None:
        self._data, self._sent = data, sent

    def __iter__(self) -> Iterator[bytes]:
        yield self._data

    def close(self) -> None:
        self._sent.set()


class _Job:
    """One command on a worker thread; its reply is taken at once or handed to ``then``."""

    def __init__(self, work: Callable[[], Reply]) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._reply: Reply | None = None
        self._then: Callable[[Reply], None] | None = None
        threading.Thread(
            target=self._run, args=(work,), name="discord-command", daemon=True
        ).start()

    def _run(self, work: Callable[[], Reply]) -> None:
        try:
            reply = work()
        except Exception:
            log.exception("discord command failed")
            reply = Reply("Something went wrong running that command.", ok=False)
        with self._lock:
            self._reply, then = reply, self._then
        self._done.set()
        if then is not None:
            then(reply)

    def settle(self, timeout: float, then: Callable[[Reply], None]) -> Reply | None:
        """The reply if ready within ``timeout``; else None, and ``then`` gets it later.
        ``timeout <= 0`` always defers."""
        if timeout > 0 and self._done.wait(timeout):
            return self._reply
        with self._lock:
            reply = self._reply
            if reply is None:
                self._then = then
                return None
        threading.Thread(target=then, args=(reply,), daemon=True).start()
        return None


def build_interactions_app(
    runner: CommandRunner,
    *,
    public_key: str,
    api_url: str,
    admins: Callable[[], Admins],
    client: httpx.Client | None = None,
    max_age: float = 300,
    defer_after: float = 2.0,
) -> WSGIApp:
    """The WSGI app for ``/discord/interactions``."""
    key = verify_key(public_key)
    api = api_url.rstrip("/")

    def respond(start: StartResponse, status: str, body: object, sent: threading.Event) -> _Body:
        data = json.dumps(body).encode()
        start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return _Body(data, sent)

    def follow_up(interaction: Mapping[str, Any], reply: Reply, sent: threading.Event) -> None:
        sent.wait(5.0)
        app_id, token = str(interaction.get("application_id")), str(interaction.get("token"))
        if not (_SNOWFLAKE.fullmatch(app_id) and _TOKEN.fullmatch(token)):
            log.warning("discord follow-up skipped: malformed application id or token")
            return
        url = f"{api}/webhooks/{app_id}/{token}/messages/@original"
        try:
            response = _call(client, "PATCH", url, json=render_reply(reply))
        except httpx.HTTPError as error:
            log.warning("discord follow-up failed error=%s", type(error).__name__)
            return
        if response.status_code >= 400:
            log.warning("discord follow-up refused status=%d", response.status_code)

    def command(interaction: Mapping[str, Any], start: StartResponse) -> _Body:
        sent = threading.Event()
        try:
            text, share = command_text(interaction.get("data") or {})
        except UsageError as error:
            data = {**render_reply(Reply(str(error), ok=False)), "flags": EPHEMERAL}
            return respond(start, "200 OK", {"type": CHANNEL_MESSAGE, "data": data}, sent)
        flags = 0 if share else EPHEMERAL
        member = interaction.get("member") or {}
        user = member.get("user") or interaction.get("user") or {}
        caller = Caller(
            "discord",
            str(user.get("id") or ""),
            is_admin=is_admin(interaction, admins()),
            request_id=str(interaction.get("id") or "") or None,
        )
        log.info("discord command user=%s admin=%s", caller.user_id, caller.is_admin)
        job = _Job(lambda: runner.run(text, caller))
        reply = job.settle(defer_after, lambda r: follow_up(interaction, r, sent))
        if reply is None:
            body: dict[str, Any] = {"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": flags}}
        else:
            body = {"type": CHANNEL_MESSAGE, "data": {**render_reply(reply), "flags": flags}}
        return respond(start, "200 OK", body, sent)

    def app(environ: dict[str, Any], start: StartResponse) -> _Body:
        sent = threading.Event()
        if environ.get("REQUEST_METHOD") != "POST":
            return respond(start, "405 Method Not Allowed", {"error": "POST only"}, sent)
        body = _read_body(environ)
        signature = environ.get("HTTP_X_SIGNATURE_ED25519", "")
        timestamp = environ.get("HTTP_X_SIGNATURE_TIMESTAMP", "")
        now = time.time()
        if body is None or not verified(key, signature, timestamp, body, now=now, max_age=max_age):
            return respond(start, "401 Unauthorized", {"error": "invalid request signature"}, sent)
        try:
            interaction = json.loads(body)
        except ValueError:
            interaction = None
        if not isinstance(interaction, dict):
            return respond(start, "400 Bad Request", {"error": "not a JSON object"}, sent)
        if interaction.get("type") == PING:
            return respond(start, "200 OK", {"type": PONG}, sent)
        if interaction.get("type") != APPLICATION_COMMAND:
            return respond(start, "400 Bad Request", {"error": "unsupported interaction"}, sent)
        return command(interaction, start)

    return app


def _read_body(environ: Mapping[str, Any]) -> bytes | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY:
        return None
    data: bytes = environ["wsgi.input"].read(length)
    return data


def _call(client: httpx.Client | None, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request on ``client``, or on a short-lived client of its own."""
    if client is not None:
        return client.request(method, url, **kwargs)
    with httpx.Client(timeout=15.0) as own:
        return own.request(method, url, **kwargs)


# -- registration and wiring --------------------------------------------------------------------


def register_commands(
    *,
    application_id: str,
    bot_token: str,
    api_url: str,
    guild_id: str | None = None,
    client: httpx.Client | None = None,
) -> int:
    """Bulk-overwrite the application's commands (idempotent); returns how many Discord holds."""
    if not _SNOWFLAKE.fullmatch(application_id or ""):
        raise RedlineError("DISCORD_APPLICATION_ID must be the application's numeric id")
    if guild_id is not None and not _SNOWFLAKE.fullmatch(guild_id):
        raise RedlineError("--guild must be a numeric server id")
    scope = f"/guilds/{guild_id}" if guild_id else ""
    url = f"{api_url.rstrip('/')}/applications/{application_id}{scope}/commands"
    headers = {"Authorization": f"Bot {bot_token}"}
    try:
        response = _call(client, "PUT", url, json=command_definitions(), headers=headers)
    except httpx.HTTPError as error:
        raise RedlineError(f"could not reach the Discord API: {type(error).__name__}") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        detail = str(data.get("message", "") if isinstance(data, dict) else response.reason_phrase)
        detail = one_line(detail.replace(bot_token, "[token]") if bot_token else detail)[:200]
        raise RedlineError(
            f"Discord refused the command registration: HTTP {response.status_code} {detail}"
        )
    return len(data) if isinstance(data, list) else 0


class DiscordIntegration:
    """What Discord adds to a running Redline: a notifier, maybe an endpoint, one HTTP client."""

    def __init__(
        self, notifier: DiscordNotifier, wsgi: WSGIApp | None, client: httpx.Client
    ) -> None:
        self.notifier = notifier
        self.wsgi = wsgi
        self._client = client

    def close(self) -> None:
        self._client.close()


def build_discord(
    environ: Mapping[str, str],
    runner: CommandRunner,
    admins: Callable[[], Admins],
    webhooks: Callable[[str], str | None],
) -> DiscordIntegration:
    """The notifier (always) and, with DISCORD_PUBLIC_KEY set, the interactions endpoint.
    ``webhooks(route_name)`` looks the route's webhook URL up in the current settings."""
    api_url = (environ.get("REDLINE_DISCORD_API_URL") or DEFAULT_API_URL).rstrip("/")
    if not re.match(r"https?://", api_url):
        raise ConfigError(["REDLINE_DISCORD_API_URL: must start with https:// (or http://)"])
    public_key = environ.get("DISCORD_PUBLIC_KEY", "").strip()
    key_ok = verify_key(public_key) if public_key else None  # ConfigError before any socket
    client = httpx.Client(timeout=10.0)
    wsgi = None
    if key_ok is not None:
        wsgi = build_interactions_app(
            runner, public_key=public_key, api_url=api_url, admins=admins, client=client
        )
    log.info(
        "discord enabled webhooks=on interactions=%s api=%s",
        "/discord/interactions" if wsgi else "off (DISCORD_PUBLIC_KEY unset)",
        api_url,
    )
    return DiscordIntegration(DiscordNotifier(webhooks, client=client), wsgi, client)
