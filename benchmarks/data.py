"""Synthetic, deterministic benchmark data: item text, RSS documents, watchlists, feeds.yaml.

Everything is a pure function of a seed, so the feed server (another process) and the harness
render the very same bytes. Text is Zipf-distributed English plus a long tail of rare synthetic
words; a fixed fraction of items mentions watched entities (some through an exclusion, some with
a context word), and some of those state a deadline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cache
from itertools import accumulate
from pathlib import Path
from xml.sax.saxutils import escape

from bot.config import load_config
from bot.models import Entity, Feed

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CONFIG = REPO / "feeds.yaml"
EPOCH = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
MATCH_RATE = 0.10  # items that mention a watched entity
TEXT_CHARS = 600  # plain-text length of a description, roughly


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# The head of the distribution: function words and the beat's own vocabulary, most common first.
_COMMON = _words(
    "the of and to a in for is on that by with as at from it be was are this an said has "
    "have its will or not but which new more after also were been their than would about "
    "can who one year two into over other they all up out some under first could last "
    "defense military department army navy air force contract program system "
    "systems artificial intelligence ai data cloud cyber security officials agency "
    "technology office acquisition budget congress senate house committee secretary "
    "model models autonomous drone drones missile space command war national policy "
    "industry companies company industrial base software development research testing "
    "capabilities capability operations mission strategy funding fiscal request billion "
    "million award awarded contracts deputy chief director general officer service "
    "services joint forces combat training weapons platform platforms network networks "
    "information digital engineering production supply chain risk procurement "
    "innovation startup startups venture vendors vendor prototype prototypes fielding "
    "deployment deployed analysis report reports reported according statement week "
    "month months years today tuesday wednesday thursday friday monday spokesperson "
    "told reporters interview hearing lawmakers bill authorization appropriations "
    "language provision provisions amendment classified unclassified networks enterprise "
    "commercial solutions opportunity offices teams team marine corps guard reserve "
    "pacific europe china russia ukraine allies partners nato exercise exercises "
    "unmanned sensor sensors targeting decision decisions speed scale integration "
    "generative large language compute chips semiconductor export controls rule rules "
    "executive order framework guidance memo memorandum directive review reviews "
    "oversight inspector audit accountability transparency ethics responsible use "
    "tested evaluation evaluations benchmark pilot pilots efforts effort initiative "
    "initiatives plans plan planning proposal proposals solicitation solicitations "
    "vehicle vehicles aircraft ship ships submarine satellites satellite launch "
    "hypersonic shipbuilding munitions ammunition stockpile stockpiles readiness "
    "workforce talent hiring recruiting personnel civilian civilians leadership leaders"
)
_SYLLABLES_TEXT = _words("ba ce di fo gu ha je ki lo mu na pe ri so tu va we xi yo zu")
_SYLLABLES_NAME = _words(
    "Vel dra nox Kor vath Zen tri Qua lix Mor dex Tal pyr Ser ion Bal tor Cy ren Dav "
    "gen Fal cor Hel ios Ix ar Jun op Lum ax Nev orn Obr yx Pax tel Rhy mos Sol vek"
)
_SUFFIXES = _words(
    "Systems Dynamics Labs Robotics Aerospace Analytics Technologies Defense Networks "
    "Industries Intelligence Sciences Microsystems Photonics Autonomy Space Cyber"
)
_CATEGORIES = _words(
    "Defense Pentagon AI Acquisition Congress Cyber Space Army Navy Air Force Industry "
    "Policy Budget Contracts Technology Artificial Intelligence Drones Europe Pacific"
)
_MENTIONS = (
    "{alias} won a contract to supply the Army with autonomous systems.",
    "Officials at {alias} said the program would expand next year.",
    "The agreement with {alias} covers data, cloud and model evaluation work.",
    "Lawmakers asked {alias} to explain its plans for the classified network.",
    "{alias} declined to comment on the report, a spokesperson said.",
)
_CONTEXT_SENTENCE = "The Pentagon said the military production effort was on schedule."
_DEADLINE = " Proposals are due by {when:%B} {when.day}, {when.year}."


@dataclass(frozen=True, slots=True)
class Story:
    """One synthetic item before rendering: what both the RSS renderer and the prefill use."""

    guid: str
    title: str
    link: str
    html: str  # description as HTML (escaped again when put in RSS)
    text: str  # the same description as plain text
    published: datetime
    categories: tuple[str, ...]
    mentions: tuple[str, ...]  # canonical names of the entities mentioned


# -- vocabulary and sentences --------------------------------------------------------------------


@cache
def _vocabulary() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Common words, then ~20,000 rare synthetic ones, with Zipf cumulative weights."""
    rng = random.Random(7)
    rare: dict[str, None] = {}
    while len(rare) < 20_000:
        rare["".join(rng.choices(_SYLLABLES_TEXT, k=rng.randint(2, 4)))] = None
    words = tuple(dict.fromkeys((*_COMMON, *rare)))
    weights = [1.0 / (rank + 2) for rank in range(len(words))]
    return words, tuple(accumulate(weights))


@cache
def sentences(count: int = 40_000) -> tuple[str, ...]:
    """A pool of plain sentences, 8 to 22 words each, drawn from the Zipf vocabulary."""
    rng = random.Random(11)
    words, cumulative = _vocabulary()
    pool = []
    for _ in range(count):
        picked = rng.choices(words, cum_weights=cumulative, k=rng.randint(8, 22))
        if rng.random() < 0.3:
            picked.insert(rng.randrange(len(picked)), str(rng.randint(2, 900)))
        sentence = " ".join(picked)
        pool.append(sentence[0].upper() + sentence[1:] + ".")
    return tuple(pool)


# -- watchlists ----------------------------------------------------------------------------------


@cache
def bundled_entities() -> tuple[Entity, ...]:
    """The real watchlist shipped in feeds.yaml."""
    return load_config(BUNDLED_CONFIG).entities


@cache
def watchlist(count: int) -> tuple[Entity, ...]:
    """``count`` entities: the bundled ones, then synthetic ones with three aliases each.

    Every fifth synthetic entity has an exclusion and every seventh needs a context word.
    The first ``n`` entities of ``watchlist(m)`` are ``watchlist(n)`` for any ``m >= n``.
    """
    real = bundled_entities()[:count]
    rng = random.Random(13)
    entities = list(real)
    used: set[str] = {t.casefold() for e in real for t in (*e.terms, *e.exclude)}
    n = 0
    while len(entities) < count:
        n += 1
        stem = "".join(rng.choices(_SYLLABLES_NAME, k=3)).capitalize()
        suffix = rng.choice(_SUFFIXES)
        acronym = f"{stem[:2].upper()}{suffix[0]}{n % 100:02d}"
        terms = (f"{stem} {suffix}", stem, f"{stem} {rng.choice(_SUFFIXES)} Group", acronym)
        if len({t.casefold() for t in terms}) < 4 or any(t.casefold() in used for t in terms):
            continue
        used.update(t.casefold() for t in terms)
        exclude = (f"{stem} Street", f"{stem} Avenue") if n % 5 == 0 else ()
        context = ("Pentagon", "military", "production") if n % 7 == 0 else ()
        entities.append(Entity(terms[0], terms[1:], exclude, context))
    return tuple(entities)


# -- stories -------------------------------------------------------------------------------------


def story(key: str, rng: random.Random, entities: tuple[Entity, ...], when: datetime) -> Story:
    """One item: ~600 characters of text, a few of them HTML-marked, maybe a mention."""
    pool = sentences()
    parts: list[str] = []
    size = 0
    while size < TEXT_CHARS:
        sentence = pool[rng.randrange(len(pool))]
        parts.append(sentence)
        size += len(sentence) + 1
    mentions: tuple[str, ...] = ()
    if entities and rng.random() < MATCH_RATE:
        # Mentions follow a Zipf-like law too: the head of the watchlist is in the news most.
        # Half of the mentions follow a Zipf-like law (the head of the watchlist is in the news
        # most), half are spread evenly over the whole watchlist.
        if rng.random() < 0.5:
            entity = entities[min(int(rng.paretovariate(1.0)) - 1, len(entities) - 1)]
        else:
            entity = entities[rng.randrange(len(entities))]
        alias = rng.choice(entity.terms)
        if entity.exclude and rng.random() < 0.3:
            alias = entity.exclude[0]  # a vetoed hit: excluded phrases contain the alias
        parts[1] = rng.choice(_MENTIONS).format(alias=alias)
        if entity.context and rng.random() < 0.7:
            parts.append(_CONTEXT_SENTENCE)
        if rng.random() < 0.3:
            parts.append(_DEADLINE.format(when=when + timedelta(days=rng.randint(3, 60))).strip())
        mentions = (entity.name,)
    text = " ".join(parts)
    html = (
        f"<p>{parts[0]} <strong>{parts[1]}</strong></p><p>"
        + " ".join(parts[2:-1])
        + f' <a href="https://news.example/{key}?utm_source=rss">{parts[-1]}</a></p>'
    )
    title = pool[rng.randrange(len(pool))][:-1][:90]
    if mentions and rng.random() < 0.5:
        title = f"{title[:60]} — {parts[1][:40]}"
    return Story(
        guid=f"tag:news.example,2026:{key}",
        title=title,
        link=f"https://news.example/{key}.html?utm_source=rss&id={key}",
        html=html,
        text=text,
        published=when,
        categories=tuple(rng.sample(_CATEGORIES, rng.randint(2, 4))),
        mentions=mentions,
    )


def feed_story(feed: int, number: int, entities: tuple[Entity, ...]) -> Story:
    """Item ``number`` of feed ``feed``: the same story every time it is asked for."""
    rng = random.Random(feed * 1_000_003 + number)
    when = EPOCH + timedelta(minutes=37 * number + feed % 37)
    return story(f"f{feed}/{number}", rng, entities, when)


def render_rss(
    feed: int, first: int, count: int, entities: tuple[Entity, ...], *, build: int = 0
) -> bytes:
    """An RSS 2.0 document of items ``first … first + count - 1`` of feed ``feed``, newest first.

    ``build`` changes only ``lastBuildDate`` (so the ETag changes but every item is the same).
    """
    built = EPOCH + timedelta(hours=build)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">\n<channel>\n'
        f"<title>Synthetic Defense Wire {feed}</title>\n"
        f"<link>https://news.example/{feed}/</link>\n"
        f'<atom:link href="https://news.example/{feed}/feed" rel="self" '
        'type="application/rss+xml"/>\n'
        "<description>Defense and AI news, synthetic</description>\n"
        "<language>en-US</language>\n"
        f"<lastBuildDate>{format_datetime(built)}</lastBuildDate>\n"
    ]
    for number in range(first + count - 1, first - 1, -1):
        s = feed_story(feed, number, entities)
        categories = "".join(f"<category><![CDATA[{c}]]></category>" for c in s.categories)
        out.append(
            "<item>\n"
            f"<title>{escape(s.title)}</title>\n"
            f"<link>{escape(s.link)}</link>\n"
            f"<dc:creator><![CDATA[Reporter {number % 17}]]></dc:creator>\n"
            f"<pubDate>{format_datetime(s.published)}</pubDate>\n"
            f"{categories}\n"
            f'<guid isPermaLink="false">{escape(s.guid)}</guid>\n'
            f"<description>{escape(s.html)}</description>\n"
            "</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode()


# -- configuration -------------------------------------------------------------------------------


def feed_name(index: int) -> str:
    return f"feed-{index:05d}"


def feed_path(index: int) -> str:
    return f"/feeds/{index}.xml"


def make_feeds(urls: list[str]) -> tuple[Feed, ...]:
    """One Feed per URL; the names match those of the prefilled store."""
    return tuple(Feed(feed_name(i), url, 600.0) for i, url in enumerate(urls))


def feeds_yaml(feeds: tuple[Feed, ...], entities: tuple[Entity, ...]) -> str:
    """A feeds.yaml for ``redline run``: the same feeds and watchlist as the in-process runs."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def listed(values: tuple[str, ...]) -> str:
        return "[" + ", ".join(quoted(v) for v in values) + "]"

    lines = ["defaults:", "  interval: 10m", "  allow_private_networks: true", "feeds:"]
    for feed in feeds:
        lines += [f"  - name: {quoted(feed.name)}", f"    url: {quoted(feed.url)}"]
    lines.append("entities:")
    for entity in entities:
        lines.append(f"  - name: {quoted(entity.name)}")
        for key in ("aliases", "exclude", "context"):
            values: tuple[str, ...] = getattr(entity, key)
            if values:
                lines.append(f"    {key}: {listed(values)}")
        if entity.case_sensitive:
            lines.append("    case_sensitive: true")
    return "\n".join(lines) + "\n"
