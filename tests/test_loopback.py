"""The loopback server itself: validators and 304s work as real servers do."""

from __future__ import annotations

import httpx

from tests.loopback import LoopbackServer, Response


def test_serves_document_with_validators_and_304(loopback: LoopbackServer) -> None:
    url = loopback.add_feed("/feed.xml", b"<rss/>")
    first = httpx.get(url)
    assert first.status_code == 200
    assert first.content == b"<rss/>"
    etag = first.headers["etag"]
    second = httpx.get(url, headers={"If-None-Match": etag})
    assert second.status_code == 304
    third = httpx.get(url, headers={"If-Modified-Since": first.headers["last-modified"]})
    assert third.status_code == 304
    assert len(loopback.requests_to("/feed.xml")) == 3


def test_scripted_responses_come_first(loopback: LoopbackServer) -> None:
    url = loopback.add_feed("/f", b"ok")
    loopback.script("/f", Response(429, b"", {"Retry-After": "7"}))
    assert httpx.get(url).status_code == 429
    assert httpx.get(url).status_code == 200


def test_unknown_path_is_404(loopback: LoopbackServer) -> None:
    assert httpx.get(loopback.url + "/nope").status_code == 404
