"""Fetch a feed: conditional GET over one shared httpx client, with limits and the address guard.

``Fetcher.fetch`` returns a FetchResult (200 with a body, or 304 keeping the validators) or
raises FetchError with a one-line reason that never quotes the response body. Limits:

* total deadline for the whole fetch, redirects and body included (every socket operation's
  timeout is clamped to what is left of it), plus a separate connect timeout;
* body cap counted on the decompressed bytes, decompressed at most 64 KiB per step, so a
  gzip bomb is abandoned after ``max_bytes`` whatever its ratio;
* redirects followed by hand, each hop checked like the first URL;
* the address guard and the deadline sit in the connection layer (``bot.netguard``);
* at most ``per_host`` requests in flight to one host, so a slow site cannot hold every worker.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from ssl import SSLContext
from types import TracebackType

import httpcore
import httpx

from bot import __version__
from bot.errors import FetchError
from bot.models import FetchResult
from bot.netguard import AddressPolicy, GuardedTransport, check_url, fetch_deadline, parse_url

__all__ = ["USER_AGENT", "AddressPolicy", "Fetcher", "check_url", "parse_retry_after"]

USER_AGENT = f"Redline/{__version__} (+https://github.com/redline-bot/redline)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
# No "br": brotli's streaming API cannot bound the output of one step, so a brotli bomb
# would be fully inflated in memory before the cap is checked.
ACCEPT_ENCODING = "gzip, deflate"
MAX_RETRY_AFTER = 24 * 3600.0

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_STEP = 64 * 1024  # largest decompressed piece produced at once
_PHRASES = {s.value: s.phrase for s in HTTPStatus}
_MAX_VALIDATOR = 1024  # longer ETag / Last-Modified values are not kept


class Fetcher:
    """One per process; ``fetch`` may be called from several threads at once."""

    def __init__(
        self,
        *,
        allow_private_networks: bool = False,
        policy: AddressPolicy | None = None,
        max_bytes: int = 10 * 1024 * 1024,
        connect_timeout: float = 10,
        total_timeout: float = 30,
        per_host: int = 2,
        max_redirects: int = 5,
        user_agent: str = USER_AGENT,
        ssl_context: SSLContext | None = None,
    ) -> None:
        """``policy`` (which addresses may be reached) overrides ``allow_private_networks``."""
        if max_bytes < 1 or per_host < 1 or max_redirects < 0:
            raise ValueError("max_bytes and per_host must be positive, max_redirects >= 0")
        if connect_timeout <= 0 or total_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.policy = policy or AddressPolicy(allow_private=allow_private_networks)
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.per_host = per_host
        self.max_redirects = max_redirects
        self._client = httpx.Client(
            transport=GuardedTransport(self.policy, ssl_context or _default_ssl_context()),
            trust_env=False,  # no proxies or netrc from the environment
            follow_redirects=False,
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            headers={
                "User-Agent": user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # feeds share no state
        )
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET ``url``, conditionally when validators are given. Raises FetchError."""
        start = time.monotonic()
        with fetch_deadline(start + self.total_timeout):
            return self._fetch(url, etag, last_modified, start)

    def _fetch(
        self, url: str, etag: str | None, last_modified: str | None, start: float
    ) -> FetchResult:
        deadline = start + self.total_timeout
        headers = {}  # validators that cannot be sent are dropped: the GET is unconditional
        if sendable := _validator(etag):
            headers["If-None-Match"] = sendable
        if sendable := _validator(last_modified):
            headers["If-Modified-Since"] = sendable
        current, permanent = url, True
        for hop in range(self.max_redirects + 1):
            with self._errors(url, hop, deadline):
                target = parse_url(current, self.policy)
                with (
                    self._slot(target.host, deadline),
                    self._client.stream("GET", target, headers=headers) as response,
                ):
                    status = response.status_code
                    if status not in _REDIRECTS:
                        moved_to = current if hop and permanent else None
                        result = self._result(url, current, response, moved_to, deadline)
                        if result.not_modified:  # a 304 without validators keeps ours
                            result = replace(
                                result,
                                etag=result.etag or etag,
                                last_modified=result.last_modified or last_modified,
                            )
                        return replace(result, elapsed=time.monotonic() - start)
                location = response.headers.get("Location")
                if not location:
                    raise FetchError(
                        url, f"HTTP {status} redirect without a Location", status=status
                    )
                try:
                    current = str(target.join(location))
                except httpx.InvalidURL:
                    raise FetchError(url, "redirect to an invalid URL", status=status) from None
                permanent = permanent and status in _PERMANENT
        raise FetchError(url, f"too many redirects (more than {self.max_redirects})")

    def _result(
        self,
        url: str,
        current: str,
        response: httpx.Response,
        moved_to: str | None,
        deadline: float,
    ) -> FetchResult:
        """The FetchResult for a non-redirect response, or the FetchError its status means."""
        status = response.status_code
        etag = _validator(response.headers.get("ETag"))
        last_modified = _validator(response.headers.get("Last-Modified"))
        wait = requested_wait(response.headers, datetime.now(UTC))
        if status == 304:
            return FetchResult(current, 304, None, etag, last_modified, moved_to, wait)
        if 200 <= status < 300:
            body = self._read_body(url, response, deadline)
            return FetchResult(
                current,
                status,
                body,
                etag,
                last_modified,
                moved_to,
                wait,
                content_type=response.headers.get("Content-Type"),
            )
        if status == 410:
            raise FetchError(url, "gone (410): the feed was removed", status=410)
        message = f"HTTP {status}"
        if status in _PHRASES:  # the standard phrase, not the server's
            message += f" {_PHRASES[status]}"
        retry_after = None
        if status in (429, 503):
            header = response.headers.get("Retry-After")
            retry_after = parse_retry_after(header, datetime.now(UTC))
            if retry_after is not None:
                message += f" (retry after {retry_after:.0f} s)"
        raise FetchError(url, message, status=status, retry_after=retry_after)

    def _read_body(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        """The decompressed body; FetchError as soon as it passes ``max_bytes`` or the deadline."""
        too_large = FetchError(
            url, f"feed larger than {_size(self.max_bytes)}", status=response.status_code
        )
        encoding = response.headers.get("Content-Encoding", "")
        length = response.headers.get("Content-Length", "")
        if not encoding and length.isdigit() and int(length) > self.max_bytes:
            raise too_large
        body = bytearray()
        for piece in _decoded(url, response.iter_raw(), encoding):
            body += piece
            if len(body) > self.max_bytes:
                raise too_large
            if time.monotonic() >= deadline:
                raise FetchError(url, f"timed out after {self.total_timeout:g} s")
        return bytes(body)

    @contextmanager
    def _slot(self, host: str, deadline: float) -> Iterator[None]:
        """Hold one of the ``per_host`` slots for ``host``, waiting at most until the deadline."""
        with self._slots_lock:
            slot = self._slots.setdefault(host, threading.BoundedSemaphore(self.per_host))
        if not slot.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise FetchError(
                host,
                f"timed out after {self.total_timeout:g} s waiting for other fetches from {host}",
            )
        try:
            yield
        finally:
            slot.release()

    @contextmanager
    def _errors(self, url: str, hop: int, deadline: float) -> Iterator[None]:
        """Turn whatever one hop raises into a one-line FetchError about ``url``."""
        prefix = f"after {hop} redirect{'s' if hop > 1 else ''}: " if hop else ""
        try:
            yield
        except FetchError as exc:
            message = prefix + str(exc)
            raise FetchError(url, message, status=exc.status, retry_after=exc.retry_after) from None
        except (httpcore.TimeoutException, httpx.TimeoutException) as exc:
            connect = isinstance(exc, httpcore.ConnectTimeout | httpx.ConnectTimeout)
            if connect and time.monotonic() < deadline:
                message = f"timed out connecting after {self.connect_timeout:g} s"
            else:
                message = f"timed out after {self.total_timeout:g} s"
            raise FetchError(url, prefix + message) from exc
        except (httpcore.RemoteProtocolError, httpx.RemoteProtocolError) as exc:
            raise FetchError(url, prefix + "invalid or truncated HTTP response") from exc
        except (httpcore.ConnectError, httpx.ConnectError) as exc:
            raise FetchError(url, prefix + "connection failed") from exc
        except (httpcore.NetworkError, httpx.NetworkError) as exc:
            raise FetchError(url, prefix + "connection lost") from exc
        except (httpcore.LocalProtocolError, httpx.LocalProtocolError) as exc:
            raise FetchError(url, prefix + "invalid request (bad header value?)") from exc
        except (httpcore.ProtocolError, httpx.HTTPError) as exc:
            raise FetchError(url, prefix + f"request failed ({type(exc).__name__})") from exc
        except zlib.error as exc:
            raise FetchError(url, prefix + "could not decompress the body") from exc


def requested_wait(headers: httpx.Headers, now: datetime) -> float | None:
    """The longest wait a successful response asks for before the next poll, if any:
    Retry-After, Cache-Control ``max-age`` (``s-maxage``), or Expires. Capped at 24 h."""
    waits = [parse_retry_after(headers.get("Retry-After"), now)]
    cache_control = headers.get("Cache-Control", "")
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() in ("max-age", "s-maxage") and value.strip('"').isdigit():
            waits.append(min(float(value.strip('"')), MAX_RETRY_AFTER))
    if "max-age" not in cache_control.lower() and headers.get("Expires"):
        waits.append(parse_retry_after(headers.get("Expires"), now))
    found = [w for w in waits if w]
    return max(found) if found else None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP-date), within 0 … 24 h."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _decoded(url: str, chunks: Iterable[bytes], content_encoding: str) -> Iterator[bytes]:
    """Undo ``Content-Encoding`` (applied left to right, so undone right to left)."""
    stream = chunks
    for coding in reversed([c.strip().lower() for c in content_encoding.split(",")]):
        if coding in ("gzip", "x-gzip"):
            stream = _inflate(stream, zlib.MAX_WBITS | 32)  # gzip, or zlib mislabelled as gzip
        elif coding == "deflate":
            stream = _inflate(stream, None)
        elif coding not in ("", "identity"):
            raise FetchError(url, f"unsupported Content-Encoding {coding[:20]!r}")
    return iter(stream)


def _inflate(chunks: Iterable[bytes], wbits: int | None) -> Iterator[bytes]:
    """Decompress at most ``_STEP`` bytes at a time. ``wbits=None`` is HTTP "deflate":
    zlib-wrapped as the RFC says, or raw deflate as some servers send it."""
    decompressor = None
    for chunk in chunks:
        if decompressor is None:
            if not chunk:
                continue
            if wbits is None:
                wbits = zlib.MAX_WBITS if _zlib_header(chunk) else -zlib.MAX_WBITS
            decompressor = zlib.decompressobj(wbits)
        data = chunk
        while True:
            piece = decompressor.decompress(data, _STEP)
            if piece:
                yield piece
            if decompressor.eof:
                return  # anything after the end of the stream is ignored
            data = decompressor.unconsumed_tail
            if not data and len(piece) < _STEP:
                break


def _zlib_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _validator(value: str | None) -> str | None:
    """``value`` if it is a sane ETag or Last-Modified: printable ASCII and not too long."""
    if value and len(value) <= _MAX_VALIDATOR and value.isascii() and value.isprintable():
        return value
    return None


@cache
def _default_ssl_context() -> SSLContext:
    """certifi's CAs; loaded once (~50 ms), shared by every Fetcher in the process."""
    return httpx.create_ssl_context()


def _size(n: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"
