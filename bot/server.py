"""The HTTP server on REDLINE_PORT: /healthz always, plus whatever the chat adapters mount
(/slack/events in Slack's HTTP mode, /discord/interactions when Discord is configured).

A production WSGI server (waitress, threaded) in a background thread; never a development
server. Routes are plain WSGI applications keyed by exact path.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from waitress.server import create_server

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]

DEFAULT_PORT = 8080


def json_response(
    start_response: StartResponse, status: str, body: Mapping[str, Any]
) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def build_app(routes: Mapping[str, WSGIApp], health: HealthCheck) -> WSGIApp:
    """One WSGI app: /healthz answers from ``health``; other paths go to their route."""

    def healthz(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        ok, facts = health()
        return json_response(
            start_response, "200 OK" if ok else "503 Service Unavailable", {"ok": ok, **facts}
        )

    table: dict[str, WSGIApp] = {"/healthz": healthz, **routes}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = table.get(environ.get("PATH_INFO", ""))
        if route is None:
            return json_response(start_response, "404 Not Found", {"error": "not found"})
        return route(environ, start_response)

    return app


class HttpServer:
    """waitress in a daemon thread; ``port=0`` picks a free port (tests)."""

    def __init__(self, app: WSGIApp, *, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> None:  # noqa: S104 - a server for Slack/Discord to reach
        # A 0.2 s loop timeout (waitress's default is 1 s) lets close() return promptly.
        self._server = create_server(
            app, host=host, port=port, threads=8, ident="redline", asyncore_loop_timeout=0.2
        )
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def start(self) -> None:
        self._thread.start()
        log.info("http server listening port=%d", self.port)

    def close(self) -> None:
        """Stop serving. The sockets are closed from inside waitress's own loop (through its
        trigger), so the loop thread never polls a closed file descriptor."""
        server: Any = self._server

        def stop() -> None:
            for dispatcher in list(server._map.values()):
                dispatcher.close()

        if self._thread.is_alive():
            server.trigger.pull_trigger(stop)
            self._thread.join(timeout=5)
        else:
            server.close()
        server.task_dispatcher.shutdown(timeout=5)
