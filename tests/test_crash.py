"""Fault injection on the real process: SIGKILL at random moments loses no alert and doubles at
most the one in flight; SIGTERM finishes the delivery in flight and exits within 10 seconds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.factories import NOW, rss
from tests.loopback import LoopbackServer, Request, Response

FEEDS = 6
KILLS = 8
PER_REQUEST = 3  # new items each request adds, up to MAX_ITEMS
MAX_ITEMS = 45


class GrowingFeeds:
    """Each feed gains items on every request until frozen; every item mentions the Pentagon."""

    def __init__(self, server: LoopbackServer) -> None:
        self.lock = threading.Lock()
        self.counts = Counter[str]()
        self.frozen = False
        for n in range(FEEDS):
            server.route(f"/feed{n}.xml", self.handler)

    def handler(self, request: Request) -> Response:
        path = request.path
        with self.lock:
            if not self.frozen:
                self.counts[path] = min(self.counts[path] + PER_REQUEST, MAX_ITEMS)
            count = self.counts[path]
        name = path.strip("/").removesuffix(".xml")
        entries = [
            {
                "title": f"Pentagon story {name}-{i}",
                "link": f"https://news.example/{name}/{i}",
                "guid": f"{name}-{i}",
                "published": NOW,
            }
            for i in range(count)
        ]
        return Response(200, rss(*entries), {"Content-Type": "application/rss+xml"})

    def served(self) -> set[str]:
        return {
            f"Pentagon story {p.strip('/').removesuffix('.xml')}-{i}"
            for p, c in self.counts.items()
            for i in range(c)
        }


def write_config(path: Path, server: LoopbackServer) -> None:
    feeds = "".join(
        f"  - name: Feed {n}\n    url: {server.url}/feed{n}.xml\n    interval: 5s\n"
        "    backfill: 1000\n"
        for n in range(FEEDS)
    )
    path.write_text(
        "defaults:\n  allow_private_networks: true\nfeeds:\n"
        + feeds
        + "entities:\n  - name: Department of Defense\n    aliases: [Pentagon]\n"
    )


def start(config: Path, db: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    env["REDLINE_PORT"] = "0"
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args, "--config", str(config), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def alerts(stdout: str) -> list[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("● ")]


@pytest.mark.timeout(180)
def test_sigkill_at_random_moments_loses_nothing(loopback: LoopbackServer, tmp_path: Path) -> None:
    feeds = GrowingFeeds(loopback)
    config, db = tmp_path / "feeds.yaml", tmp_path / "redline.db"
    write_config(config, loopback)
    rng = random.Random(20260226)
    seen: list[str] = []
    for _ in range(KILLS):
        process = start(config, db, "run")
        time.sleep(rng.uniform(0.8, 3.0))
        process.send_signal(signal.SIGKILL)
        out, _ = process.communicate(timeout=30)
        seen += alerts(out)
    feeds.frozen = True
    final = start(config, db, "poll", "--once")
    out, err = final.communicate(timeout=60)
    assert final.returncode == 0, err
    seen += alerts(out)
    expected = feeds.served()
    counts = Counter(seen)
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"\nserved {len(expected)} items over {KILLS} SIGKILLs; delivered {len(counts)}, "
        f"duplicates {duplicates}"
    )
    assert len(expected) > 60
    assert set(counts) == expected  # nothing lost, nothing invented
    assert duplicates <= KILLS  # at most the delivery in flight at each kill


@pytest.mark.timeout(60)
def test_sigterm_stops_within_ten_seconds(loopback: LoopbackServer, tmp_path: Path) -> None:
    GrowingFeeds(loopback)
    config, db = tmp_path / "feeds.yaml", tmp_path / "redline.db"
    write_config(config, loopback)
    process = start(config, db, "run")
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "redline running" in line:
            break
    else:
        pytest.fail("redline run did not start")
    time.sleep(1.0)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=15)
    assert time.monotonic() - sent < 10
    assert process.returncode == 0
    assert alerts(out)  # it was delivering


@pytest.mark.timeout(60)
def test_parse_workers_exit_when_redline_is_killed(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    GrowingFeeds(loopback)
    config, db = tmp_path / "feeds.yaml", tmp_path / "redline.db"
    write_config(config, loopback)
    process = start(config, db, "run")
    time.sleep(3.0)  # long enough for polls to have started the parse workers
    children = _children(process.pid)
    assert children  # the parse workers (and multiprocessing's resource tracker)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)  # returns only once no worker holds stdout open
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.timeout(60)
def test_sigterm_during_slow_polls_exits_cleanly_within_ten_seconds(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    slow = rss({"title": "Pentagon slow", "guid": "s", "link": "https://n.example/s"})
    loopback.route("/slow.xml", lambda r: Response(200, slow, delay=25.0))
    feeds = "".join(
        f"  - name: Slow {n}\n    url: {loopback.url}/slow.xml?n={n}\n" for n in range(20)
    )
    config, db = tmp_path / "feeds.yaml", tmp_path / "redline.db"
    config.write_text(
        "defaults:\n  allow_private_networks: true\nfeeds:\n" + feeds + "entities: []\n"
    )
    process = start(config, db, "run")
    time.sleep(2.0)  # every poll is now waiting on the slow server
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert time.monotonic() - sent < 10
    assert process.returncode == 0, err  # not a crash (e.g. SIGSEGV closing SQLite under a poll)
    assert "polls still in flight" in err
