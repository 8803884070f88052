"""The connection layer of feed fetches: the address guard and the total deadline.

Feed URLs may not reach loopback, private or otherwise non-public hosts. Two layers, so that
neither a disguised literal nor DNS rebinding gets through:

* ``check_url`` looks at the URL before any request: scheme, userinfo, ``localhost`` and IP
  literals in every spelling the C resolver accepts (``127.1``, ``2130706433``, ``0x7f.0.0.1``,
  ``017700000001``, ``[::ffff:127.0.0.1]``).
* ``GuardedBackend`` is the httpcore network backend: it resolves the host itself, refuses the
  connection if any address is disallowed, and connects to the vetted address. The request keeps
  the original host name, so the Host header, TLS SNI and certificate checks are unchanged.

The same backend clamps every socket operation's timeout to what is left of the fetch's total
deadline (``fetch_deadline``), so neither a stalled nor a dripping server can hold a fetch past
it. ``GuardedTransport`` plugs it into an httpx.Client.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from ssl import SSLContext

import httpcore
import httpx

from bot.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HINT = "set defaults.allow_private_networks: true to allow"
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_METADATA = ipaddress.ip_address("169.254.169.254")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LITERAL_CHARS = frozenset("0123456789abcdefx.")


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which addresses feeds may reach: public ones, plus everything if ``allow_private``,
    plus ``extra_allowed`` networks (an exception list, e.g. one intranet host)."""

    allow_private: bool = False
    extra_allowed: tuple[IPNetwork, ...] = ()

    def refusal(self, address: IPAddress) -> str | None:
        """Why connecting to ``address`` is refused, or None when it is allowed."""
        if self.allow_private:
            return None
        embedded = _embedded_ipv4(address)
        candidates = (address,) if embedded is None else (address, embedded)
        if any(ip in net for ip in candidates for net in self.extra_allowed):
            return None
        kind = classify(address)
        if kind is None:
            return None
        shown = str(address)
        if embedded is not None and str(embedded) not in shown:
            shown += f" ({embedded})"
        return f"refused: {shown} is {kind} address ({_HINT})"


def classify(ip: IPAddress) -> str | None:
    """``"a loopback"``, ``"a private"``, … for a non-public address; None for a public one."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return classify(embedded)
    if ip.is_loopback:
        return "a loopback"
    if ip == _METADATA:
        return "a link-local (cloud metadata)"
    if ip.is_link_local:
        return "a link-local"
    if ip.is_unspecified:
        return "an unspecified"
    if ip.is_multicast:
        return "a multicast"
    if ip in _CGNAT:
        return "a carrier-grade NAT"
    if ip.is_reserved:
        return "a reserved"
    if ip.is_private:
        return "a private"
    if not ip.is_global:
        return "a non-public"
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped (``::ffff:a.b.c.d``), 6to4 or NAT64 address."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def literal_address(host: str) -> IPAddress | None:
    """The address a host literal denotes, in any spelling ``inet_aton`` accepts; else None."""
    host = host.rstrip(".").lower()
    try:
        return ipaddress.ip_address(host.replace("%25", "%"))
    except ValueError:
        pass
    if host and set(host) <= _LITERAL_CHARS:  # 127.1, 2130706433, 0x7f.0.0.1, 017700000001
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(
    url: str, *, allow_private_networks: bool = False, policy: AddressPolicy | None = None
) -> None:
    """Raise FetchError unless ``url`` is an http(s) URL without userinfo to an allowed host.

    Host names other than ``localhost`` are not resolved here: the connection layer checks
    the address actually connected to.
    """
    parse_url(url, policy or AddressPolicy(allow_private=allow_private_networks))


def parse_url(url: str, policy: AddressPolicy) -> httpx.URL:
    """``check_url`` that returns the parsed URL."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise FetchError(url, "refused: not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme[:20] or "a relative"
        raise FetchError(url, f"refused: {scheme} URL (only http and https are supported)")
    if parsed.userinfo:
        raise FetchError(url, "refused: URLs with a user name or password are not supported")
    host = parsed.host
    if not host:
        raise FetchError(url, "refused: the URL has no host")
    if policy.allow_private:
        return parsed
    name = host.rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise FetchError(url, f"refused: {name} is a loopback address ({_HINT})")
    address = literal_address(host)
    if address is not None:
        reason = policy.refusal(address)
        if reason:
            raise FetchError(url, reason)
    return parsed


def resolve(host: str, port: int) -> list[tuple[int, str]]:
    """``(family, address)`` pairs for ``host``, in the resolver's order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[tuple[int, str], None] = {}
    for family, _type, _proto, _name, sockaddr in infos:
        seen[(family, str(sockaddr[0]))] = None
    return list(seen)


# -- the deadline: every socket operation's timeout is clamped to what is left of the fetch ----


_DEADLINE: ContextVar[float | None] = ContextVar("redline_fetch_deadline", default=None)


@contextmanager
def fetch_deadline(at: float) -> Iterator[None]:
    """Connections made and used inside this block give up at ``time.monotonic() == at``.

    A context variable, so it is per thread: threads start with a fresh context.
    """
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _clamp(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` shortened to what is left of this thread's fetch deadline."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the fetch's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        try:
            return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))
        except httpcore.ConnectError as exc:
            cause = exc.__cause__
            reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None)
            raise FetchError(
                server_hostname or "", f"TLS handshake failed: {reason or 'connection lost'}"
            ) from exc

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """An httpcore backend that connects only to addresses the policy allows, to the very
    address it vetted, and whose streams honour the current ``fetch_deadline``."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve(host, port)
        except (socket.gaierror, UnicodeError):
            raise FetchError(host, f"DNS lookup failed for {host[:100]}") from None
        for _family, address in addresses:
            reason = self.policy.refusal(ipaddress.ip_address(address.partition("%")[0]))
            if reason:
                raise FetchError(host, reason)
        cause: BaseException | None = None
        for _family, address in addresses:
            try:
                left = _clamp(timeout, httpcore.ConnectTimeout)
                stream = super().connect_tcp(address, port, left, local_address, socket_options)
                return _DeadlineStream(stream)
            except httpcore.ConnectError as exc:
                cause = exc.__cause__
        if isinstance(cause, ConnectionRefusedError):
            raise FetchError(host, "connection refused")
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else "no address"
        raise FetchError(host, f"connection failed: {reason.lower()}")


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """httpx's HTTPTransport without proxies, over httpcore's pool with ``GuardedBackend``.

    httpcore's exceptions are not mapped to httpx's (the caller handles both kinds); guard,
    DNS, connection and TLS failures are FetchErrors whose ``url`` is the host.
    """

    def __init__(self, policy: AddressPolicy, ssl_context: SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        )
        response = self._pool.handle_request(
            httpcore.Request(
                request.method,
                url,
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
