"""The synthetic feeds, served over loopback HTTP from a process of their own.

``python -m benchmarks.feedserver --hosts H --entities K`` binds one ThreadingHTTPServer on
port 0 of each of 127.0.0.1 … 127.0.0.H (the Fetcher allows two requests in flight per host,
as it would to one real publisher), prints ``{"urls": [...]}`` on stdout and serves:

* ``GET /feeds/<i>.xml``: feed ``i`` in the current state, with a real ETag (a hash of the body)
  and Last-Modified (its lastBuildDate); a matching If-None-Match, or If-Modified-Since when
  no ETag is asked about, gets 304 with no body;
* ``POST /_state`` (JSON ``{"feeds", "first", "count", "build"}``): render every document of
  the new state *before* answering, so no measured cycle pays for rendering;
* ``GET /_stats``: requests answered so far, by status.

Documents are pre-rendered bytes, so serving one costs a dictionary lookup and a socket write.
The server still shares the machine's two cores with the poller: that is noted in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from benchmarks.data import EPOCH, feed_path, render_rss, watchlist


class _Document:
    __slots__ = ("body", "etag", "last_modified")

    def __init__(self, body: bytes, build: int) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.last_modified = format_datetime(EPOCH + timedelta(hours=build), usegmt=True)


class FeedServer:
    def __init__(self, hosts: int, entities: int) -> None:
        self.entities = watchlist(entities)
        self.documents: dict[str, _Document] = {}
        self.stats: Counter[int] = Counter()
        self.lock = threading.Lock()
        handler = self._handler()
        self.servers = []
        for n in range(1, hosts + 1):
            server = ThreadingHTTPServer((f"127.0.0.{n}", 0), handler)
            server.daemon_threads = True
            server.request_queue_size = 256
            self.servers.append(server)

    @property
    def urls(self) -> list[str]:
        return [f"http://{s.server_address[0]!s}:{s.server_address[1]}" for s in self.servers]

    def set_state(self, state: dict[str, int]) -> dict[str, int]:
        """Feeds below ``touched`` (all by default) are rebuilt as ``build``; the others keep
        the document they had (so they keep answering 304)."""
        first, count, build = state["first"], state["count"], state["build"]
        touched = state.get("touched", state["feeds"])
        documents = {
            path: document
            for path, document in self.documents.items()
            if int(path.split("/")[-1].split(".")[0]) >= touched
        }
        for i in range(min(touched, state["feeds"])):
            body = render_rss(i, first, count, self.entities, build=build)
            documents[feed_path(i)] = _Document(body, build)
        with self.lock:
            self.documents = documents
        return {"documents": len(documents), "bytes": sum(len(d.body) for d in documents.values())}

    def serve_forever(self) -> None:
        threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in self.servers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the body's last segment
            # waits for the client's delayed ACK (up to 40 ms on Linux), which real feed
            # servers do not impose.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)
                with feeds.lock:
                    feeds.stats[status] += 1

            def do_GET(self) -> None:
                if self.path == "/_stats":
                    with feeds.lock:
                        body = json.dumps({str(k): v for k, v in feeds.stats.items()}).encode()
                    self._send(200, body, {"Content-Type": "application/json"})
                    return
                document = feeds.documents.get(self.path)
                if document is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    return
                validators = {"ETag": document.etag, "Last-Modified": document.last_modified}
                etag = self.headers.get("If-None-Match")
                since = self.headers.get("If-Modified-Since")
                if etag == document.etag or (not etag and since == document.last_modified):
                    self._send(304, b"", validators)
                    return
                headers = {"Content-Type": "application/rss+xml; charset=utf-8", **validators}
                self._send(200, document.body, headers)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                state = json.loads(self.rfile.read(length))
                summary = feeds.set_state(state)
                self._send(200, json.dumps(summary).encode(), {"Content-Type": "application/json"})

        return Handler


class FeedServerProcess:
    """The harness's handle on the server process: start, change state, read stats, stop."""

    def __init__(self, *, hosts: int, entities: int) -> None:
        self.entities = entities
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.feedserver",
                "--hosts",
                str(hosts),
                "--entities",
                str(entities),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.urls: list[str] = json.loads(self._process.stdout.readline())["urls"]
        self.pid = self._process.pid

    def __enter__(self) -> FeedServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def feed_urls(self, feeds: int) -> list[str]:
        """Feed i lives on host i mod H."""
        return [self.urls[i % len(self.urls)] + feed_path(i) for i in range(feeds)]

    def set_state(
        self, *, feeds: int, first: int, count: int, build: int = 0, touched: int | None = None
    ) -> dict[str, int]:
        """Serve items ``first … first + count - 1`` in feeds ``0 … touched - 1`` (default: all
        ``feeds``); ``build`` changes only lastBuildDate, hence the ETag."""
        state = {"feeds": feeds, "first": first, "count": count, "build": build}
        if touched is not None:
            state["touched"] = touched
        return dict(_call(self.urls[0] + "/_state", json.dumps(state).encode()))

    def stats(self) -> dict[int, int]:
        return {int(k): v for k, v in _call(self.urls[0] + "/_stats").items()}


def _call(url: str, data: bytes | None = None) -> dict[str, Any]:
    with urllib.request.urlopen(url, data=data, timeout=600) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--entities", type=int, default=1000)
    args = parser.parse_args()
    server = FeedServer(args.hosts, args.entities)
    print(json.dumps({"urls": server.urls}), flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
