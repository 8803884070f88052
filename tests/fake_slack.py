"""A fake Slack on loopback: the Web API methods Redline calls, response_url, and Socket Mode.

``FakeSlack`` answers ``auth.test``, ``chat.postMessage`` (increasing ``ts``), ``users.info``
(admin/owner flags per user), ``apps.connections.open`` (the URL of a ``FakeSocketMode``) and
POSTs to ``/response/<id>`` (slash-command replies). Every call is recorded with its decoded
parameters and arrival time; failures are scripted with ``fail(method, Response(...))``.
``FakeSocketMode`` is a WebSocket server speaking Slack's envelope protocol.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.loopback import LoopbackServer, Request, Response

BOT_USER = "UBOT"
TEAM = "T0001"


@dataclass(frozen=True)
class Call:
    method: str  # "chat.postMessage", or "response" for a response_url POST
    params: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


def decode(request: Request) -> dict[str, Any]:
    """Query string plus a form or JSON body, as one dict."""
    params: dict[str, Any] = dict(parse_qsl(urlsplit(request.path).query))
    if request.body:
        if request.headers.get("content-type", "").startswith("application/json"):
            params.update(json.loads(request.body))
        else:
            params.update(parse_qsl(request.body.decode()))
    return params


def ok(**fields: Any) -> Response:
    return Response(200, json.dumps({"ok": True, **fields}).encode(), _JSON)


def error(code: str, status: int = 200) -> Response:
    return Response(status, json.dumps({"ok": False, "error": code}).encode(), _JSON)


_JSON = {"Content-Type": "application/json; charset=utf-8"}


class FakeSlack:
    """Routes on a LoopbackServer; point ``WebClient(base_url=fake.api_url)`` at it."""

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.socket_url: str | None = None
        self._changed = threading.Condition()
        self._ts = itertools.count(1)
        for method in ("auth.test", "chat.postMessage", "users.info", "apps.connections.open"):
            server.route(f"/api/{method}", self._api(method))
        server.route("/response/1", self._response)

    @property
    def api_url(self) -> str:
        return self.server.url + "/api/"

    @property
    def response_url(self) -> str:
        return self.server.url + "/response/1"

    def set_user(self, user_id: str, *, is_admin: bool = False, is_owner: bool = False) -> None:
        self.users[user_id] = {"id": user_id, "is_admin": is_admin, "is_owner": is_owner}

    def fail(self, method: str, *responses: Response) -> None:
        """Answer the next calls to ``method`` with these responses (not recorded as calls)."""
        self.server.script(f"/api/{method}", *responses)

    def calls_to(self, method: str) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """The first ``count`` calls to ``method``, waiting for them (never sleeping)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := [c for c in self.calls if c.method == method]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{method}: {len(found)} calls, expected {count}")
                self._changed.wait(left)
            return found[:count]

    def _record(self, method: str, request: Request) -> dict[str, Any]:
        params = decode(request)
        with self._changed:
            self.calls.append(Call(method, params, request.headers, time.monotonic()))
            self._changed.notify_all()
        return params

    def _api(self, method: str) -> Any:
        def handle(request: Request) -> Response:
            params = self._record(method, request)
            if not request.headers.get("authorization", "").startswith("Bearer x"):
                return error("not_authed")
            if method == "auth.test":
                return ok(user_id=BOT_USER, team_id=TEAM, bot_id="B0001", user="redline")
            if method == "chat.postMessage":
                return ok(channel=params.get("channel"), ts=f"1700000000.{next(self._ts):06d}")
            if method == "users.info":
                user = self.users.get(str(params.get("user")))
                return ok(user=user) if user else error("user_not_found")
            if self.socket_url is None:
                return error("socket_mode_not_enabled")
            return ok(url=self.socket_url)

        return handle

    def _response(self, request: Request) -> Response:
        self._record("response", request)
        return Response(200, b"ok", {"Content-Type": "text/plain"})


class FakeSocketMode:
    """A WebSocket server on 127.0.0.1:0 that greets with ``hello``, sends envelopes on demand
    and queues whatever the client sends back (acks)."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        self._connection: ServerConnection | None = None
        self._server: Server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=t-1"

    def __enter__(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def _handle(self, connection: ServerConnection) -> None:
        self._connection = connection
        connection.send(json.dumps({"type": "hello", "num_connections": 1}))
        self.connected.set()
        try:
            for message in connection:
                self.received.put(json.loads(message))
        except ConnectionClosed:
            pass

    def send(self, envelope: dict[str, Any]) -> None:
        assert self._connection is not None, "no client connected"
        self._connection.send(json.dumps(envelope))
