"""Fetcher and address guard, against real servers on 127.0.0.1 (and 127.0.0.2)."""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot import netguard
from bot.errors import FetchError
from bot.fetcher import USER_AGENT, AddressPolicy, Fetcher, check_url, parse_retry_after
from tests.loopback import LoopbackServer, Request, Response

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LOCAL_ONLY = AddressPolicy(extra_allowed=(ipaddress.ip_network("127.0.0.1/32"),))


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(allow_private_networks=True, connect_timeout=2, total_timeout=5) as f:
        yield f


@pytest.fixture
def guarded() -> Iterator[Fetcher]:
    with Fetcher(connect_timeout=2, total_timeout=5) as f:
        yield f


def fetch_error(fetcher: Fetcher, url: str, **kwargs: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url, **kwargs)
    assert "\n" not in str(info.value)
    return info.value


class RawServer:
    """Answers each connection with ``respond(conn)``: bodies LoopbackServer cannot send."""

    def __init__(self, respond: Callable[[socket.socket], None]) -> None:
        self._respond = respond
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                buffer = b""
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(4096)
                    if not data:
                        break
                    buffer += data
                with contextlib.suppress(OSError):  # the client hung up, as it should
                    self._respond(conn)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- conditional GET -----------------------------------------------------------------------


def test_200_returns_body_and_validators(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    url = loopback.add_feed("/a.xml", FEED)
    result = fetcher.fetch(url)
    assert (result.url, result.status, result.body) == (url, 200, FEED)
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified and result.last_modified.endswith("GMT")
    assert result.moved_to is None
    assert result.elapsed > 0


def test_304_with_if_none_match(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    url = loopback.add_feed("/a.xml", FEED, last_modified=False)
    first = fetcher.fetch(url)
    result = fetcher.fetch(url, etag=first.etag)
    assert (result.status, result.body, result.not_modified) == (304, None, True)
    assert result.etag == first.etag
    assert loopback.requests[-1].headers["if-none-match"] == first.etag


def test_304_with_if_modified_since(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    url = loopback.add_feed("/a.xml", FEED, etag=False)
    first = fetcher.fetch(url)
    assert first.etag is None
    result = fetcher.fetch(url, last_modified=first.last_modified)
    assert (result.status, result.body, result.last_modified) == (304, None, first.last_modified)
    assert loopback.requests[-1].headers["if-modified-since"] == first.last_modified


def test_304_without_validators_keeps_ours(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    loopback.script("/a.xml", Response(304))
    result = fetcher.fetch(loopback.url + "/a.xml", etag='"v1"', last_modified="Mon, 01 Jan 2024")
    assert (result.etag, result.last_modified) == ('"v1"', "Mon, 01 Jan 2024")


@pytest.mark.parametrize("etag", ['"a"\r\nX-Evil: 1', '"café"', "x" * 2000])
def test_unsendable_validators_are_dropped(
    fetcher: Fetcher, loopback: LoopbackServer, etag: str
) -> None:
    assert fetcher.fetch(loopback.add_feed("/a.xml", FEED), etag=etag).status == 200
    assert "if-none-match" not in loopback.requests[0].headers


def test_unkeepable_validators_are_dropped(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    loopback.script("/a", Response(200, FEED, {"ETag": "x" * 2000, "Last-Modified": "\x7f"}))
    result = fetcher.fetch(loopback.url + "/a")
    assert (result.etag, result.last_modified) == (None, None)


def test_headers_name_the_bot_and_accept_feeds(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    fetcher.fetch(loopback.add_feed("/a.xml", FEED))
    headers = loopback.requests[0].headers
    assert headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("Redline/0.")
    assert headers["accept"].startswith("application/rss+xml, application/atom+xml")
    assert headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in headers


def test_proxy_environment_is_ignored(
    fetcher: Fetcher, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")
    with Fetcher(allow_private_networks=True) as f:
        assert f.fetch(loopback.add_feed("/a.xml", FEED)).body == FEED


# -- body size and content encodings ---------------------------------------------------------


def test_body_cap_by_content_length(loopback: LoopbackServer) -> None:
    url = loopback.route("/big", lambda r: Response(200, b"x" * 5000))
    with Fetcher(allow_private_networks=True, max_bytes=1000) as f:
        error = fetch_error(f, url)
    assert (str(error), error.status, error.url) == ("feed larger than 1000 bytes", 200, url)


def test_body_cap_on_an_endless_chunked_body() -> None:
    sent = []

    def endless(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        for _ in range(10_000):  # 640 MB if nobody stops reading
            conn.sendall(chunk)
            sent.append(len(chunk))

    with RawServer(endless) as srv, Fetcher(allow_private_networks=True, max_bytes=100 << 10) as f:
        error = fetch_error(f, srv.url + "/feed")
    assert (str(error), error.status) == ("feed larger than 100 KB", 200)
    assert sum(sent) < 20_000_000  # what the socket buffers absorbed before the hang-up


def test_gzip_bomb_is_abandoned_at_the_cap(loopback: LoopbackServer) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    bomb = b"".join(compressor.compress(block) for _ in range(50)) + compressor.flush()
    assert len(bomb) < 60_000  # 50 MB once inflated, in one or two reads from the socket
    url = loopback.route("/bomb", lambda r: Response(200, bomb, {"Content-Encoding": "gzip"}))
    with Fetcher(allow_private_networks=True, max_bytes=1 << 20) as f:
        tracemalloc.start()
        try:
            error = fetch_error(f, url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (str(error), error.status) == ("feed larger than 1 MB", 200)
    assert peak < 6_000_000


def test_default_cap_is_10_mb(loopback: LoopbackServer) -> None:
    big = gzip.compress(bytes(11 << 20))
    url = loopback.route("/big", lambda r: Response(200, big, {"Content-Encoding": "gzip"}))
    with Fetcher(allow_private_networks=True) as f:
        assert str(fetch_error(f, url)) == "feed larger than 10 MB"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
        ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
        ("identity", lambda b: b),
    ],
)
def test_content_encodings(
    fetcher: Fetcher, loopback: LoopbackServer, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    body = FEED * 5000
    url = loopback.route(
        "/f", lambda r: Response(200, encode(body), {"Content-Encoding": encoding})
    )
    assert fetcher.fetch(url).body == body


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("br", b"xx", "unsupported Content-Encoding 'br'"),
        ("gzip", b"not gzip at all", "could not decompress the body"),
    ],
)
def test_bad_content_encoding(
    fetcher: Fetcher, loopback: LoopbackServer, encoding: str, body: bytes, message: str
) -> None:
    url = loopback.route("/f", lambda r: Response(200, body, {"Content-Encoding": encoding}))
    assert str(fetch_error(fetcher, url)) == message


# -- timeouts ------------------------------------------------------------------------------


def test_total_deadline_on_a_stalled_body() -> None:
    release = threading.Event()

    def stall(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<rss>")
        release.wait(10)

    with RawServer(stall) as srv, Fetcher(allow_private_networks=True, total_timeout=0.4) as f:
        start = time.monotonic()
        try:
            error = fetch_error(f, srv.url + "/feed")
        finally:
            release.set()
        assert str(error) == "timed out after 0.4 s"
        assert time.monotonic() - start < 1.5


def test_total_deadline_on_a_dripping_body() -> None:
    """Each read succeeds quickly, so only a deadline over the whole fetch stops it."""
    release = threading.Event()

    def drip(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            conn.sendall(b"x")
            if release.wait(0.02):
                return

    with RawServer(drip) as srv, Fetcher(allow_private_networks=True, total_timeout=0.4) as f:
        start = time.monotonic()
        try:
            error = fetch_error(f, srv.url + "/feed")
        finally:
            release.set()
        assert str(error) == "timed out after 0.4 s"
        assert time.monotonic() - start < 1.5


def test_total_deadline_on_stalled_headers(loopback: LoopbackServer) -> None:
    loopback.script("/slow", Response(200, FEED, delay=2))
    with Fetcher(allow_private_networks=True, total_timeout=0.3) as f:
        assert str(fetch_error(f, loopback.url + "/slow")) == "timed out after 0.3 s"


def test_connect_timeout() -> None:
    """A listener with a full accept queue drops SYNs, so connecting hangs."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/feed"
        with Fetcher(allow_private_networks=True, connect_timeout=0.2, total_timeout=5) as f:
            assert str(fetch_error(f, url)) == "timed out connecting after 0.2 s"


def test_connection_refused(fetcher: Fetcher) -> None:
    url = f"http://127.0.0.1:{closed_port()}/feed"
    error = fetch_error(fetcher, url)
    assert (str(error), error.url, error.status) == ("connection refused", url, None)


def test_dns_failure(fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(host: str, port: int) -> list[tuple[int, str]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(netguard, "resolve", no_such_host)
    error = fetch_error(fetcher, "http://feeds.invalid/rss")
    assert str(error) == "DNS lookup failed for feeds.invalid"


# -- redirects -----------------------------------------------------------------------------


def redirect(status: int, location: str) -> Callable[[Request], Response]:
    return lambda request: Response(status, b"moved", {"Location": location})


def test_permanent_redirects_set_moved_to(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    loopback.route("/a", redirect(301, "/b"))
    loopback.route("/b", redirect(308, loopback.url + "/c"))
    final = loopback.add_feed("/c", FEED)
    result = fetcher.fetch(loopback.url + "/a")
    assert (result.status, result.body, result.url, result.moved_to) == (200, FEED, final, final)


@pytest.mark.parametrize("statuses", [(302,), (301, 302), (307, 308), (303,)])
def test_temporary_redirect_leaves_the_url(
    fetcher: Fetcher, loopback: LoopbackServer, statuses: tuple[int, ...]
) -> None:
    for n, status in enumerate(statuses):
        loopback.route(f"/{n}", redirect(status, f"/{n + 1}"))
    final = loopback.add_feed(f"/{len(statuses)}", FEED)
    result = fetcher.fetch(loopback.url + "/0")
    assert (result.url, result.moved_to, result.body) == (final, None, FEED)


def test_redirects_keep_the_conditional_headers(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    loopback.route("/old", redirect(301, "/new"))
    loopback.add_feed("/new", FEED)
    etag = fetcher.fetch(loopback.url + "/new").etag
    assert etag
    result = fetcher.fetch(loopback.url + "/old", etag=etag)
    assert (result.status, result.moved_to) == (304, loopback.url + "/new")


def test_five_redirects_are_followed_the_sixth_is_not(
    fetcher: Fetcher, loopback: LoopbackServer
) -> None:
    for n in range(5):
        loopback.route(f"/{n}", redirect(302, f"/{n + 1}"))
    loopback.add_feed("/5", FEED)
    assert fetcher.fetch(loopback.url + "/0").body == FEED
    loopback.requests.clear()
    loopback.route("/5", redirect(302, "/6"))
    loopback.add_feed("/6", FEED)
    error = fetch_error(fetcher, loopback.url + "/0")
    assert (str(error), error.url) == ("too many redirects (more than 5)", loopback.url + "/0")
    assert len(loopback.requests) == 6  # the 7th URL is never requested


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("ftp://example.com/feed", "after 1 redirect: refused: ftp URL"),
        ("file:///etc/passwd", "after 1 redirect: refused: file URL"),
        ("http://user:pw@127.0.0.1/", "after 1 redirect: refused: URLs with a user name"),
        ("", "HTTP 302 redirect without a Location"),
    ],
)
def test_bad_redirect_targets(
    fetcher: Fetcher, loopback: LoopbackServer, location: str, message: str
) -> None:
    url = loopback.route("/a", redirect(302, location))
    error = fetch_error(fetcher, url)
    assert str(error).startswith(message)
    assert error.url == url


def test_every_redirect_hop_is_guarded(loopback: LoopbackServer) -> None:
    """127.0.0.1 is allowed, 127.0.0.2 is not: the hop to it is refused before connecting."""
    with LoopbackServer("127.0.0.2") as other, Fetcher(policy=LOCAL_ONLY) as f:
        target = other.add_feed("/feed", FEED)
        url = loopback.route("/hop", redirect(301, target))
        error = fetch_error(f, url)
        assert str(error) == (
            "after 1 redirect: refused: 127.0.0.2 is a loopback address"
            " (set defaults.allow_private_networks: true to allow)"
        )
        assert other.requests == []
        assert len(loopback.requests) == 1
        # the control: with 127.0.0.2 allowed too, the same chain works
        both = AddressPolicy(extra_allowed=(ipaddress.ip_network("127.0.0.0/30"),))
        with Fetcher(policy=both) as allowed:
            assert allowed.fetch(url).moved_to == target
        assert len(other.requests) == 1


# -- statuses ------------------------------------------------------------------------------


def test_410_gone(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    loopback.script("/a", Response(410, b"SECRET-BODY"))
    error = fetch_error(fetcher, loopback.url + "/a")
    assert (str(error), error.status) == ("gone (410): the feed was removed", 410)


def test_429_retry_after_seconds(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    loopback.script("/a", Response(429, headers={"Retry-After": "120"}))
    error = fetch_error(fetcher, loopback.url + "/a")
    assert (error.status, error.retry_after) == (429, 120.0)
    assert str(error) == "HTTP 429 Too Many Requests (retry after 120 s)"


def test_503_retry_after_http_date(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    when = datetime.now(UTC) + timedelta(minutes=10)
    loopback.script("/a", Response(503, headers={"Retry-After": format_datetime(when, True)}))
    error = fetch_error(fetcher, loopback.url + "/a")
    assert error.status == 503
    assert error.retry_after is not None
    assert 590 <= error.retry_after <= 600


@pytest.mark.parametrize("status", [400, 403, 404, 410, 429, 500, 502, 503, 599])
def test_errors_never_quote_the_body(
    fetcher: Fetcher, loopback: LoopbackServer, status: int
) -> None:
    loopback.script("/a", Response(status, b"SECRET-BODY\n<!channel>", {"X-Detail": "SECRET"}))
    error = fetch_error(fetcher, loopback.url + "/a")
    assert "SECRET" not in str(error)
    assert error.status == status
    assert str(error).startswith("gone" if status == 410 else f"HTTP {status}")


def test_500(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    loopback.script("/a", Response(500, b"SECRET-BODY"))
    error = fetch_error(fetcher, loopback.url + "/a")
    assert (str(error), error.status, error.retry_after) == (
        "HTTP 500 Internal Server Error",
        500,
        None,
    )


NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("999999999", 86400.0),
        ("Sat, 01 Mar 2025 12:02:00 GMT", 120.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # in the past
        ("Sat, 01 Mar 2031 11:00:00 GMT", 86400.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW) == expected


# -- the address guard ---------------------------------------------------------------------

HINT = "(set defaults.allow_private_networks: true to allow)"
REFUSED = [  # host in the URL, the address named in the refusal, what kind of address it is
    ("127.0.0.1", "127.0.0.1", "a loopback"),
    ("127.1", "127.0.0.1", "a loopback"),
    ("2130706433", "127.0.0.1", "a loopback"),
    ("0x7f.0.0.1", "127.0.0.1", "a loopback"),
    ("017700000001", "127.0.0.1", "a loopback"),
    ("[::ffff:127.0.0.1]", "127.0.0.1", "a loopback"),
    ("[::1]", "::1", "a loopback"),
    ("localhost", "localhost", "a loopback"),
    ("LocalHost.", "localhost", "a loopback"),
    ("feeds.localhost", "feeds.localhost", "a loopback"),
    ("0.0.0.0", "0.0.0.0", "an unspecified"),
    ("0", "0.0.0.0", "an unspecified"),
    ("[::]", "::", "an unspecified"),
    ("169.254.169.254", "169.254.169.254", "a link-local (cloud metadata)"),
    ("[fe80::1]", "fe80::1", "a link-local"),
    ("10.1.2.3", "10.1.2.3", "a private"),
    ("172.16.0.1", "172.16.0.1", "a private"),
    ("192.168.0.1", "192.168.0.1", "a private"),
    ("[fd00::1]", "fd00::1", "a private"),
    ("100.64.0.1", "100.64.0.1", "a carrier-grade NAT"),
    ("224.0.0.1", "224.0.0.1", "a multicast"),
    ("[ff02::1]", "ff02::1", "a multicast"),
    ("240.0.0.1", "240.0.0.1", "a reserved"),
    ("192.0.2.1", "192.0.2.1", "a private"),  # documentation range
    ("[::ffff:10.0.0.1]", "10.0.0.1", "a private"),
    ("[64:ff9b::7f00:1]", "127.0.0.1", "a loopback"),  # NAT64
    ("[2002:7f00:1::]", "127.0.0.1", "a loopback"),  # 6to4
]


@pytest.mark.parametrize(("host", "address", "kind"), REFUSED)
def test_check_url_refuses_non_public_hosts(host: str, address: str, kind: str) -> None:
    with pytest.raises(FetchError) as info:
        check_url(f"http://{host}/feed", allow_private_networks=False)
    message = str(info.value)
    assert message.startswith("refused: ")
    assert message.endswith(f"is {kind} address {HINT}")
    assert address in message
    check_url(f"http://{host}/feed", allow_private_networks=True)


@pytest.mark.parametrize(("host", "address", "kind"), REFUSED)
def test_fetch_refuses_without_any_request(
    guarded: Fetcher, loopback: LoopbackServer, host: str, address: str, kind: str
) -> None:
    port = loopback.url.rsplit(":", 1)[1]
    loopback.add_feed("/feed", FEED)
    message = str(fetch_error(guarded, f"http://{host}:{port}/feed"))
    assert message.startswith("refused: ")
    assert message.endswith(f"is {kind} address {HINT}")
    assert address in message
    assert loopback.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/feed.xml",
        "http://93.184.215.14:8080/rss",
        "http://[2606:4700::1111]/atom",
        "https://1e100.net/",
        "http://@example.com/",
    ],
)
def test_check_url_allows_public_hosts(url: str) -> None:
    check_url(url, allow_private_networks=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/feed", "refused: ftp URL (only http and https are supported)"),
        ("file:///etc/passwd", "refused: file URL (only http and https are supported)"),
        ("feed.example.com/rss", "refused: a relative URL (only http and https are supported)"),
        ("http://user:pass@example.com/", "refused: URLs with a user name or password"),
        ("http://user@example.com/", "refused: URLs with a user name or password"),
        ("http:///feed", "refused: the URL has no host"),
        ("http://[::1", "refused: not a valid URL"),
        ("javascript:alert(1)", "refused: javascript URL"),
    ],
)
def test_check_url_refuses_bad_urls(url: str, message: str) -> None:
    with pytest.raises(FetchError) as info:
        check_url(url, allow_private_networks=True)
    assert str(info.value).startswith(message)


def test_userinfo_refused_before_any_request(fetcher: Fetcher, loopback: LoopbackServer) -> None:
    url = loopback.add_feed("/a.xml", FEED).replace("http://", "http://user:pass@")
    assert "URLs with a user name or password" in str(fetch_error(fetcher, url))
    assert loopback.requests == []


def fake_dns(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    """Resolve every name to ``addresses`` (what a rebinding DNS server would do)."""

    def resolve(host: str, port: int) -> list[tuple[int, str]]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in addresses]

    monkeypatch.setattr(netguard, "resolve", resolve)


def test_resolved_address_is_checked_at_connect(
    guarded: Fetcher, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public-looking name that resolves to loopback passes check_url but not the connect."""
    port = loopback.url.rsplit(":", 1)[1]
    url = f"http://feeds.example.com:{port}/feed"
    check_url(url, allow_private_networks=False)
    fake_dns(monkeypatch, "127.0.0.1")
    error = fetch_error(guarded, url)
    assert str(error).startswith("refused: 127.0.0.1 is a loopback address")
    fake_dns(monkeypatch, "93.184.215.14", "10.0.0.7")  # one bad address is enough
    assert str(fetch_error(guarded, url)).startswith("refused: 10.0.0.7 is a private address")
    assert loopback.requests == []


def test_connects_to_the_vetted_address_keeping_the_host_name(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopback.add_feed("/feed", FEED)
    port = loopback.url.rsplit(":", 1)[1]
    fake_dns(monkeypatch, "127.0.0.1")
    with Fetcher(policy=LOCAL_ONLY) as f:
        assert f.fetch(f"http://feeds.example.com:{port}/feed").body == FEED
    assert loopback.requests[0].headers["host"] == f"feeds.example.com:{port}"


# -- TLS: connecting to the vetted IP keeps SNI and certificate hostname checks ------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LoopbackServer, ssl.SSLContext]]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
         "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    server = LoopbackServer()
    server._httpd.socket = server_context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        yield server, client_context


def test_https_verifies_the_certificate_for_the_host_name(
    tls_server: tuple[LoopbackServer, ssl.SSLContext],
) -> None:
    server, context = tls_server
    server.add_feed("/feed", FEED)
    port = server.url.rsplit(":", 1)[1]
    with Fetcher(allow_private_networks=True, ssl_context=context) as f:
        assert f.fetch(f"https://localhost:{port}/feed").body == FEED
        error = fetch_error(f, f"https://127.0.0.1:{port}/feed")
    assert str(error) == (
        "TLS handshake failed: IP address mismatch, certificate is not valid for '127.0.0.1'."
    )
    assert len(server.requests) == 1


# -- concurrency ---------------------------------------------------------------------------


def test_per_host_limit(loopback: LoopbackServer) -> None:
    lock = threading.Lock()
    in_flight, peak = [0], [0]
    pause = threading.Event()  # never set: each request just lingers for 50 ms

    def slow(request: Request) -> Response:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        pause.wait(0.05)
        with lock:
            in_flight[0] -= 1
        return Response(200, FEED)

    url = loopback.route("/slow", slow)
    results: list[bytes | None] = []
    with Fetcher(allow_private_networks=True, per_host=2) as f:
        threads = [
            threading.Thread(target=lambda: results.append(f.fetch(url).body)) for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert results == [FEED] * 6
    assert peak[0] == 2


def test_per_host_limit_is_per_host(loopback: LoopbackServer) -> None:
    fast = loopback.add_feed("/fast", FEED)
    port = loopback.url.rsplit(":", 1)[1]
    with Fetcher(allow_private_networks=True, per_host=1, total_timeout=0.3) as f:
        with f._slot("localhost", time.monotonic() + 5):  # another fetch from localhost
            assert f.fetch(fast).body == FEED  # 127.0.0.1: another host name, another slot
            error = fetch_error(f, f"http://localhost:{port}/fast")
        assert f.fetch(f"http://localhost:{port}/fast").body == FEED
    assert str(error) == "timed out after 0.3 s waiting for other fetches from localhost"
    assert len(loopback.requests) == 2
