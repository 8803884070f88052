"""A fake Discord on a LoopbackServer: channel webhooks (normal, thread, forum), the
interaction follow-up endpoint and command registration, recording every request.

Webhooks answer like Discord: ``?wait=true`` returns the message (with an id) and 204 without
it; a forum webhook refuses messages that name no thread (400, code 220001) and unknown threads
(404, code 10003). Failures are scripted per webhook with the ``Response`` helpers below.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback import LoopbackServer, Request, Response

API = "/api/v10"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def rate_limited(retry_after: float, *, is_global: bool = False) -> Response:
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
    }
    return json_response(429, body, {"Retry-After": str(int(retry_after) + 1)})


def unknown_webhook() -> Response:
    return json_response(404, {"message": "Unknown Webhook", "code": 10015})


def server_error(status: int = 502) -> Response:
    return Response(status, b"<html>bad gateway</html>", {"Content-Type": "text/html"})


@dataclass
class Webhook:
    """One fake webhook; ``url`` carries its (fake) token, as Discord's do."""

    path: str
    url: str
    forum: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # added to every success
    threads: set[str] = field(default_factory=set)


@dataclass
class FollowUp:
    """The PATCH of an interaction's original response, once it arrives."""

    arrived: threading.Event = field(default_factory=threading.Event)
    requests: list[Request] = field(default_factory=list)

    def body(self) -> Any:
        return json.loads(self.requests[-1].body)


class FakeDiscord:
    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self._ids = itertools.count(900_000_000_000_000_001)
        self._lock = threading.Lock()
        self.registered: dict[str, Any] = {}

    @property
    def api_url(self) -> str:
        return self.server.url + API

    def _next_id(self) -> str:
        with self._lock:
            return str(next(self._ids))

    # -- webhooks ----------------------------------------------------------------------------

    def webhook(
        self,
        name: str = "alerts",
        *,
        forum: bool = False,
        thread_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Webhook:
        webhook_id = self._next_id()
        path = f"/api/webhooks/{webhook_id}/tok-{name}-SECRETTOKEN"
        url = self.server.url + path + (f"?thread_id={thread_id}" if thread_id else "")
        hook = Webhook(path, url, forum, dict(headers or {}))
        self.server.route(path, lambda request: self._execute(hook, request))
        return hook

    def _execute(self, hook: Webhook, request: Request) -> Response:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.path).query).items()}
        body = json.loads(request.body)
        thread_id, thread_name = query.get("thread_id"), body.get("thread_name")
        message_id = self._next_id()
        channel_id = "555000000000000001"
        if hook.forum:
            if thread_name:
                channel_id = message_id  # a new post: its thread id is its first message's
                hook.threads.add(channel_id)
            elif thread_id in hook.threads:
                channel_id = thread_id
            elif thread_id:
                return json_response(404, {"message": "Unknown Channel", "code": 10003})
            else:
                message = "Webhooks posted to forum channels must have a thread_name or thread_id"
                return json_response(400, {"message": message, "code": 220001})
        elif thread_name:
            message = "Webhooks can only create threads in forum channels"
            return json_response(400, {"message": message, "code": 220003})
        elif thread_id:
            channel_id = thread_id
        if query.get("wait") != "true":
            return Response(204, b"", dict(hook.headers))
        created = {"id": message_id, "channel_id": channel_id, "embeds": body.get("embeds", [])}
        return json_response(200, created, hook.headers)

    def bodies(self, hook: Webhook) -> list[Any]:
        return [json.loads(r.body) for r in self.server.requests_to(hook.path)]

    def queries(self, hook: Webhook) -> list[dict[str, str]]:
        return [
            {k: v[-1] for k, v in parse_qs(urlsplit(r.path).query).items()}
            for r in self.server.requests_to(hook.path)
        ]

    # -- interactions and registration -------------------------------------------------------

    def follow_up(self, application_id: str, token: str) -> FollowUp:
        """Expect the PATCH of ``@original`` for this interaction."""
        found = FollowUp()

        def handler(request: Request) -> Response:
            found.requests.append(request)
            found.arrived.set()
            return json_response(200, {"id": self._next_id(), **json.loads(request.body)})

        self.server.route(f"{API}/webhooks/{application_id}/{token}/messages/@original", handler)
        return found

    def commands_path(self, application_id: str, guild_id: str | None = None) -> str:
        scope = f"/guilds/{guild_id}" if guild_id else ""
        path = f"{API}/applications/{application_id}{scope}/commands"

        def handler(request: Request) -> Response:
            if request.headers.get("authorization") != "Bot bot-token-SECRET":
                return json_response(401, {"message": "401: Unauthorized", "code": 0})
            commands = json.loads(request.body)
            self.registered[path] = commands
            return json_response(200, [{"id": self._next_id(), **c} for c in commands])

        self.server.route(path, handler)
        return path
