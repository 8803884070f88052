"""A real HTTP server on 127.0.0.1:0 for tests: feeds with ETag/Last-Modified, fakes of web APIs.

Routes are either static documents (served with real validators and 304s) or handler
functions. Each route can be scripted to fail first (429 with Retry-After, 500, a stall, an
oversize body, a redirect). Every request is recorded, thread-safely.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # path with query string
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Request], Response]


class _QuietServer(ThreadingHTTPServer):
    """No traceback when a client hangs up mid-response (size caps and timeouts do so)."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class _Document:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None


class LoopbackServer:
    """``with LoopbackServer() as srv: srv.add_feed("/a.xml", data)``; fetch ``srv.url + path``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._documents: dict[str, _Document] = {}
        self._handlers: dict[str, Handler] = {}
        self._scripts: dict[str, list[Response]] = {}
        self.requests: list[Request] = []
        server = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                response = server._respond(request)
                if response.delay:
                    time.sleep(response.delay)
                try:
                    self.send_response(response.status)
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    if "content-length" not in headers:
                        self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    if self.command != "HEAD" and response.status not in (204, 304):
                        self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _handle

        self._httpd = _QuietServer((host, 0), _RequestHandler)
        self._httpd.daemon_threads = True
        # A 10 ms poll (not the default 0.5 s) so that each test's server stops at once.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- configuring routes ------------------------------------------------------------------

    def add_feed(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: bool = True,
        last_modified: bool = True,
    ) -> str:
        """Serve (or replace) a document with real validators; returns its full URL."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._documents[path] = _Document(
                data,
                content_type,
                '"' + hashlib.sha256(data).hexdigest()[:16] + '"' if etag else None,
                formatdate(time.time(), usegmt=True) if last_modified else None,
            )
        return self.url + path

    def route(self, path: str, handler: Handler) -> str:
        """Answer ``path`` (without query string) with ``handler(request)``."""
        with self._lock:
            self._handlers[path] = handler
        return self.url + path

    def script(self, path: str, *responses: Response) -> None:
        """Answer the next requests to ``path`` with these responses, in order, then as usual."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(responses)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]

    # -- answering ---------------------------------------------------------------------------

    def _respond(self, request: Request) -> Response:
        path = urlsplit(request.path).path
        with self._lock:
            self.requests.append(request)
            scripted = self._scripts.get(path)
            if scripted:
                return scripted.pop(0)
            handler = self._handlers.get(path)
            document = self._documents.get(path)
        if handler is not None:
            return handler(request)
        if document is None:
            return Response(404, b"not found", {"Content-Type": "text/plain"})
        return _serve_document(document, request)


def _serve_document(document: _Document, request: Request) -> Response:
    validators = {}
    if document.etag:
        validators["ETag"] = document.etag
    if document.last_modified:
        validators["Last-Modified"] = document.last_modified
    if_none_match = request.headers.get("if-none-match")
    if_modified_since = request.headers.get("if-modified-since")
    if (document.etag and if_none_match == document.etag) or (
        not if_none_match and document.last_modified and if_modified_since == document.last_modified
    ):
        return Response(304, b"", validators)
    return Response(200, document.body, {"Content-Type": document.content_type, **validators})
