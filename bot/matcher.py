"""Pure: a compiled watchlist × an item → the entities it mentions, with spans.

``match_item`` runs on every new item, so its cost follows the item's length, not the watchlist's
size. Scanning one item:

1. Join the fields with NUL, and put one at each end (no phrase holds one, so no hit spans two
   fields, and every hit has a char on either side).
2. Fold: map whitespace to ' ' and curly apostrophes to "'", collapse runs of spaces (keeping an
   offset map back) and lowercase length-preservingly. An ASCII item without whitespace runs
   takes a shortcut: one ``bytes.translate``.
3. Scan text: the folded text with every char that is not a letter, digit or '_' made a space.
   The automaton's keys are the folded terms likewise mapped and padded with a space each side,
   so a raw hit is already whole-word: no Python check per hit, and no per-item pre-filter. A
   hit counts when the folded text holds the term itself there (so "AT T" is not "AT&T"), and
   for a case-sensitive entity only when it has the configured spelling.
4. Exclusions and context words live in a second automaton, scanned only when a guarded entity
   was hit.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import ahocorasick

from bot.models import Entity, EntityMatch, Hit, Item

_FIELDS = ("title", "summary", "content")
_SEP = "\0"
_SPACE = re.compile(
    "[" + "".join(re.escape(c) for c in map(chr, range(0x3001)) if c.isspace() and c != " ") + "]"
)
_RUN = re.compile(" {2,}")
_NON_WORD = re.compile(r"[^\w ]")  # \w is exactly str.isalnum() or "_", as the rules want
_NON_ASCII_NON_WORD = re.compile(r"[^\w\x00-\x7f]")
_MARK = "\1"  # the scan text's stand-in for a char that is neither a word char nor a space
_RUN_KEY = "  "  # in the terms automaton: the ASCII shortcut met a whitespace run
# bytes.translate tables over ASCII or UTF-8 bytes (multi-byte sequences never hold an ASCII
# byte, so those pass through): whitespace to ' ', and the scan text (that, lowercased, then
# every char but a letter, digit, '_' or ' ' to the mark).
_ASCII_SPACE = bytes(0x20 if c < 128 and chr(c).isspace() else c for c in range(256))
_ASCII_SCAN = bytes(
    c if c >= 128 or chr(c).isalnum() or chr(c) in "_ " else ord(_MARK)
    for c in _ASCII_SPACE.lower()
)

_Span = tuple[int, int, str]  # start, end (in the collapsed joined text), term or phrase


@dataclass(frozen=True, slots=True)
class Veto:
    """A hit overruled because it lies inside an occurrence of one of the entity's exclusions."""

    hit: Hit
    phrase: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an entity did or did not count for an item: what ``why`` shows."""

    entity: str
    hits: tuple[Hit, ...]  # the hits that count, longest of any overlap
    vetoed: tuple[Veto, ...] = ()
    context_missing: bool = False  # the entity needs a context word and the item has none

    @property
    def counted(self) -> bool:
        return bool(self.hits) and not self.context_missing

    def __str__(self) -> str:
        parts = [f"{self.entity}: {'counted' if self.counted else 'not counted'}"]
        parts += [f"hit {_describe(hit)}" for hit in self.hits]
        parts += [f"vetoed {_describe(v.hit)} by exclude {v.phrase!r}" for v in self.vetoed]
        if self.context_missing:
            parts.append("no context word")
        return "; ".join(parts)


_Term = tuple[int, str, str | None]  # entity index, term as configured, exact spelling if cased
_Guard = tuple[bool, str, str | None]  # is a context word (else an exclusion), phrase, exact
# An automaton's value: (folded key, its length, payload) for each key with that scan form.
_Entries = tuple[tuple[str, int, Any], ...]


@dataclass(frozen=True, slots=True)
class Watchlist:
    """Entities compiled once per configuration; read-only, so items and threads can share it."""

    entities: tuple[Entity, ...]  # sorted by name; the automaton's payloads index into this
    automaton: Any  # padded scan form → entries whose payload is the term tuple; None if empty
    guards: Any  # the same for exclude/context phrases: guards by entity index; None if none
    guarded: tuple[bool, ...]  # per entity: has exclude or context phrases


def compile_watchlist(entities: Sequence[Entity]) -> Watchlist:
    """Build the automatons once; raises ValueError on duplicate names or empty phrases.

    Case-sensitive phrases carry their exact spelling, which a hit must then equal.
    """
    ordered = tuple(sorted(entities, key=attrgetter("name")))
    duplicates = sorted(name for name, n in Counter(e.name for e in ordered).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate entity names: {', '.join(duplicates)}")
    terms: dict[str, dict[tuple[int, str | None], str]] = {}
    guards: dict[str, dict[int, list[_Guard]]] = {}
    for index, entity in enumerate(ordered):
        for term in entity.terms:
            key, exact = _key(term, entity)
            terms.setdefault(key, {}).setdefault((index, exact), term)
        for is_context, group in ((False, entity.exclude), (True, entity.context)):
            for phrase in group:
                key, exact = _key(phrase, entity)
                guards.setdefault(key, {}).setdefault(index, []).append((is_context, phrase, exact))
    # Terms and guard phrases go into separate automatons: exclusions and context words ("AI",
    # "defense") are common, and are only looked for once some guarded entity hit.
    return Watchlist(
        entities=ordered,
        automaton=_automaton(
            {
                k: tuple((i, term, exact) for (i, exact), term in v.items())
                for k, v in terms.items()
            },
            _RUN_KEY,
        ),
        guards=_automaton({k: {i: tuple(g) for i, g in v.items()} for k, v in guards.items()}),
        guarded=tuple(bool(e.exclude or e.context) for e in ordered),
    )


def _automaton(payloads: dict[str, Any], *extra: str) -> Any:
    """Folded keys under their scan form between two boundary chars, ``extra`` keys with value
    None; None when there are no keys.

    A boundary char is ' ' or the mark, so each key goes in four times. Folded keys differing
    only in non-space non-word chars ("at&t", "at-t") share their scan forms.
    """
    entries: dict[str, list[tuple[str, int, Any]]] = {}
    for key, payload in payloads.items():
        entries.setdefault(_NON_WORD.sub(_MARK, key), []).append((key, len(key), payload))
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for scan_key, group in entries.items():
        for before in (" ", _MARK):
            for after in (" ", _MARK):
                automaton.add_word(before + scan_key + after, tuple(group))
    for key in extra:
        automaton.add_word(key, None)
    automaton.make_automaton()
    return automaton


def match_item(watchlist: Watchlist, item: Item) -> tuple[EntityMatch, ...]:
    """The entities ``item`` mentions, sorted by name, each once with every hit that counted."""
    explained = explain(watchlist, item)
    if not explained:  # most items: skip building an empty generator
        return ()
    return tuple(EntityMatch(e.entity, e.hits) for e in explained if e.counted)


def explain(watchlist: Watchlist, item: Item) -> tuple[Explanation, ...]:
    """Every entity with a whole-word hit in ``item``, whether or not it counted, and why."""
    if watchlist.automaton is None:
        return ()
    fields = (item.title, item.summary, item.content)
    texts = _texts(
        watchlist.automaton, f"{_SEP}{fields[0]}{_SEP}{fields[1]}{_SEP}{fields[2]}{_SEP}"
    )
    if texts is None:
        return ()
    norm, folded, scan, raw, kept, removed = texts
    hits: dict[int, list[_Span]] = {}
    for start, end, terms in _scan(raw, folded):
        for index, term, exact in terms:
            if exact is None or norm[start:end] == exact:
                hits.setdefault(index, []).append((start, end, term))
    if not hits:
        return ()
    vetoes: dict[int, list[_Span]] = {}
    satisfied: set[int] = set()
    guarded = [index for index in hits if watchlist.guarded[index]]
    occurrences = (
        _scan(list(watchlist.guards.iter(scan)), folded)
        if guarded and watchlist.guards is not None
        else []
    )
    for start, end, guards in occurrences:
        for index in guarded:  # not over guards: a context word may serve thousands of entities
            for is_context, phrase, exact in guards.get(index, ()):
                if exact is not None and norm[start:end] != exact:
                    continue
                if is_context:
                    satisfied.add(index)
                else:
                    vetoes.setdefault(index, []).append((start, end, phrase))
    second = len(fields[0]) + 2
    bounds = (1, second, second + len(fields[1]) + 1)

    def to_hit(span: _Span) -> Hit:
        start = span[0] + removed[bisect_left(kept, span[0])]
        end = span[1] - 1 + removed[bisect_left(kept, span[1] - 1)] + 1
        field = 2 if start >= bounds[2] else 1 if start >= bounds[1] else 0
        return Hit(_FIELDS[field], start - bounds[field], end - bounds[field], span[2])

    explained = []
    for index in sorted(hits):
        entity = watchlist.entities[index]
        counted: list[_Span] = []
        vetoed: list[Veto] = []
        for span in sorted(hits[index]):
            by = next(
                (p for s, e, p in vetoes.get(index, ()) if s <= span[0] and span[1] <= e), None
            )
            if by is None:
                counted.append(span)
            else:
                vetoed.append(Veto(to_hit(span), by))
        explained.append(
            Explanation(
                entity=entity.name,
                hits=tuple(map(to_hit, _longest(counted))),
                vetoed=tuple(vetoed),
                context_missing=bool(entity.context) and index not in satisfied,
            )
        )
    return tuple(explained)


def _texts(
    automaton: Any, joined: str
) -> tuple[str, str, str, list[tuple[int, _Entries]], list[int], list[int]] | None:
    """The joined fields normalised, then folded, their scan text, the automaton's raw hits on
    it and the collapse map back (see ``_collapse``); None if nothing was hit.

    An ASCII item needs no regex: one ``bytes.translate`` makes its scan text, and when the
    automaton meets no whitespace run (most items) nothing needs collapsing.
    """
    if joined.isascii():
        scan = joined.encode().translate(_ASCII_SCAN).decode()
        raw = list(automaton.iter(scan))
        if not raw:
            return None
        if all(entries is not None for _, entries in raw):
            norm = joined.encode().translate(_ASCII_SPACE).decode()
            return norm, norm.lower(), scan, raw, [], [0]
    norm, kept, removed = _collapse(_normalise(joined))
    folded = _fold(norm)
    scan = _scan_text(folded)
    raw = list(automaton.iter(scan))
    return (norm, folded, scan, raw, kept, removed) if raw else None


def _scan(raw: list[tuple[int, _Entries]], folded: str) -> list[tuple[int, int, Any]]:
    """Whole-word occurrences, from an automaton's raw hits on the scan text: (start, end,
    payload), offsets into ``folded``.

    The scan text settles the edges: ".NET" (scan form "  net ") is not found in "ASP.NET", as
    "DoD" is not in "DoDD"; comparing the folded text settles the chars inside.
    """
    found = []
    for last, entries in raw:
        for key, length, payload in entries:
            if folded[last - length : last] == key:
                found.append((last - length, last, payload))
                break  # keys sharing a scan form have one length, so one of them at most
    return found


def _longest(spans: list[_Span]) -> list[_Span]:
    """Of one entity's overlapping hits keep the longest (earliest on a tie), in text order."""
    chosen: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
        at = bisect_left(chosen, span)
        if (at and chosen[at - 1][1] > span[0]) or (at < len(chosen) and chosen[at][0] < span[1]):
            continue
        chosen.insert(at, span)
    return chosen


def _key(phrase: str, entity: Entity) -> tuple[str, str | None]:
    """A phrase's automaton key, and the spelling a hit must have if the entity is cased."""
    exact = " ".join(_normalise(phrase).split())
    if not exact or _SEP in exact:
        raise ValueError(f"entity {entity.name!r}: phrase {phrase!r} is empty or holds NUL")
    return _fold(exact), exact if entity.case_sensitive else None


def _normalise(text: str) -> str:
    """Whitespace to ' ', curly apostrophes to "'": length-preserving and word-boundary-neutral."""
    return _SPACE.sub(" ", text).replace("\u2019", "'").replace("\u2018", "'")


def _collapse(text: str) -> tuple[str, list[int], list[int]]:
    """Runs of spaces to one, so "Department  of Defense" matches; plus the map back.

    ``kept[k]`` is where the k-th run's remaining space sits in the result and ``removed[k]`` the
    chars dropped before it, so position p maps back to ``p + removed[bisect_left(kept, p)]``.
    """
    kept: list[int] = []
    removed = [0]
    if "  " not in text:
        return text, kept, removed
    for run in _RUN.finditer(text):
        kept.append(run.start() - removed[-1])
        removed.append(removed[-1] + run.end() - run.start() - 1)
    return _RUN.sub(" ", text), kept, removed


def _fold(text: str) -> str:
    """Lowercase keeping every offset: str.lower() grows 'İ' into 'i̇', so fall back per char.

    Final sigma is folded to σ, since str.lower() picks ς or σ from the neighbouring chars.
    """
    folded = text.lower()
    if len(folded) != len(text):
        folded = "".join(c.lower()[0] for c in text)
    return folded.replace("ς", "σ")


def _scan_text(folded: str) -> str:
    """Every char but a letter, digit, '_' or ' ' to the mark, keeping offsets."""
    scan = folded.encode("utf-8", "surrogatepass").translate(_ASCII_SCAN)
    return _NON_ASCII_NON_WORD.sub(_MARK, scan.decode("utf-8", "surrogatepass"))


def _describe(hit: Hit) -> str:
    return f"{hit.field}[{hit.start}:{hit.end}] {hit.term!r}"
