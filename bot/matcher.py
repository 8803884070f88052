"""Pure: a compiled watchlist × an item → the entities it mentions, with spans.

``match_item`` runs on every new item, so its cost follows the item's length, not the watchlist's
size. Scanning one item:

1. Join the fields with NUL, with one at each end too (no phrase holds one, so no hit spans two
   fields, and every hit has a char on either side).
2. Scan text: one char per char; a letter, digit or '_' stays a word char (lowercased if ASCII,
   else '_'), whitespace becomes ' ' and any other char a mark. The automaton's keys are the
   folded terms in that form between two boundary chars (' ' or the mark), so a raw hit is a
   whole-word candidate with no Python check per position, and the root has two children,
   which makes the pass twice as fast as over plain keys.
3. An item cp1252 can encode (ASCII, or Western text with curly quotes and dashes) gets its
   scan text from one ``bytes.translate``; most items have no hit and stop there.
4. Otherwise, and for the text a hit is read from: whitespace to ' ', curly apostrophes to "'",
   runs of spaces collapsed (with an offset map back; the automaton flags a run), lowercased
   length-preservingly. A candidate counts when that folded text holds the term itself there
   (so "AT T" is not "AT&T"), and for a case-sensitive entity the configured spelling.
5. A hit entity with exclusions or context words looks for each with ``str.find``: a few
   phrases cost less than a second automaton pass.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

import ahocorasick

from bot.models import Entity, EntityMatch, Hit, Item

_FIELDS = ("title", "summary", "content")
_SEP = "\0"
_SPACE = re.compile(
    "[" + "".join(re.escape(c) for c in map(chr, range(0x3001)) if c.isspace() and c != " ") + "]"
)
_RUN = re.compile(" {2,}")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_NON_ASCII_WORD = re.compile(r"[^\W\x00-\x7f]")  # \w is exactly str.isalnum() or "_"
_MARK = "\1"  # the scan text's stand-in for a char that is neither a word char nor a space
_BOUNDARY = " " + _MARK
_RUN_KEY = "  "  # in the terms automaton: the shortcut met a whitespace run


def _scan_char(char: str) -> str:
    """What ``char`` (folded and normalised) becomes in the scan text."""
    if char.isalnum() or char == "_":
        return char.lower() if char.isascii() else "_"
    return " " if char == " " else _MARK


# bytes.translate tables over cp1252, which holds ASCII and the letters, quotes and dashes of
# most English and Western European text: _normalise, and the scan text.
_CP1252 = [bytes([byte]).decode("cp1252", "ignore") for byte in range(256)]  # "" if undefined
_CP1252_NORM = bytes(
    0x20 if c.isspace() else 0x27 if c in "\u2018\u2019" else byte for byte, c in enumerate(_CP1252)
)
_CP1252_SCAN = "".join(_scan_char(_CP1252[byte]) for byte in _CP1252_NORM).encode()

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
_Guard = tuple[bool, str, str, str | None]  # is context (else exclusion), phrase, key, exact
# The automaton's value: (folded key, its length, its terms) for each key with that scan form.
_Entries = tuple[tuple[str, int, tuple[_Term, ...]], ...]


@dataclass(frozen=True, slots=True)
class Watchlist:
    """Entities compiled once per configuration; read-only, so items and threads can share it."""

    entities: tuple[Entity, ...]  # sorted by name; the automaton's payloads index into this
    automaton: Any  # a key's scan form between boundary chars → _Entries; None if no terms
    guards: tuple[tuple[_Guard, ...], ...]  # per entity: its exclusions, then context words


def compile_watchlist(entities: Sequence[Entity]) -> Watchlist:
    """Build the automaton once; raises ValueError on duplicate names or empty phrases.

    Case-sensitive phrases carry their exact spelling, which a hit must then equal.
    """
    ordered = tuple(sorted(entities, key=attrgetter("name")))
    duplicates = sorted(name for name, n in Counter(e.name for e in ordered).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate entity names: {', '.join(duplicates)}")
    terms: dict[str, dict[tuple[int, str | None], str]] = {}
    for index, entity in enumerate(ordered):
        for term in entity.terms:
            key, exact = _key(term, entity)
            terms.setdefault(key, {}).setdefault((index, exact), term)
    return Watchlist(
        entities=ordered,
        automaton=_automaton(
            {key: tuple((i, t, exact) for (i, exact), t in v.items()) for key, v in terms.items()}
        ),
        guards=tuple(
            tuple(
                (is_context, phrase, *_key(phrase, entity))
                for is_context, group in ((False, entity.exclude), (True, entity.context))
                for phrase in group
            )
            for entity in ordered
        ),
    )


def _automaton(terms: dict[str, tuple[_Term, ...]]) -> Any:
    """Folded keys under their scan form between two boundary chars, and the run key with value
    None; None when there are no keys.

    A boundary char is ' ' or the mark, so each key goes in four times. Folded keys differing
    only in non-space non-word chars ("at&t", "at-t") share their scan forms.
    """
    entries: dict[str, list[tuple[str, int, tuple[_Term, ...]]]] = {}
    for key, found in terms.items():
        entries.setdefault(_scan_text(key), []).append((key, len(key), found))
    if not entries:
        return None
    automaton = ahocorasick.Automaton()
    for scan_key, group in entries.items():
        for before in (" ", _MARK):
            for after in (" ", _MARK):
                automaton.add_word(before + scan_key + after, tuple(group))
    automaton.add_word(_RUN_KEY, None)
    automaton.make_automaton()
    return automaton


def match_item(watchlist: Watchlist, item: Item) -> tuple[EntityMatch, ...]:
    """The entities ``item`` mentions, sorted by name, each once with every hit that counted."""
    judged = _judge(watchlist, item)
    if judged is None:  # most items
        return ()
    verdicts, to_hit = judged
    return tuple(
        EntityMatch(watchlist.entities[index].name, tuple(map(to_hit, _longest(counted))))
        for index, counted, _, context_missing in verdicts
        if counted and not context_missing
    )


def explain(watchlist: Watchlist, item: Item) -> tuple[Explanation, ...]:
    """Every entity with a whole-word hit in ``item``, whether or not it counted, and why."""
    judged = _judge(watchlist, item)
    if judged is None:
        return ()
    verdicts, to_hit = judged
    return tuple(
        Explanation(
            entity=watchlist.entities[index].name,
            hits=tuple(map(to_hit, _longest(counted))),
            vetoed=tuple(Veto(to_hit(span), phrase) for span, phrase in vetoed),
            context_missing=context_missing,
        )
        for index, counted, vetoed, context_missing in verdicts
    )


# Per entity hit, by index: its spans that count, those vetoed with the exclusion that did it,
# and whether it lacks a context word.
_Verdict = tuple[int, list[_Span], list[tuple[_Span, str]], bool]


def _judge(
    watchlist: Watchlist, item: Item
) -> tuple[list[_Verdict], Callable[[_Span], Hit]] | None:
    """The verdicts of the entities hit in ``item``, sorted by index (so by name), and how to
    turn a span into a Hit; None when nothing was hit. Builds no Hit itself, so that
    ``match_item`` makes only the ones it returns."""
    if watchlist.automaton is None:
        return None
    fields = (item.title, item.summary, item.content)
    texts = _texts(
        watchlist.automaton, f"{_SEP}{fields[0]}{_SEP}{fields[1]}{_SEP}{fields[2]}{_SEP}"
    )
    if texts is None:
        return None
    norm, folded, scan, raw, kept, removed = texts
    hits: dict[int, list[_Span]] = {}
    for start, end, terms in _scan(raw, folded):
        for index, term, exact in terms:
            if exact is None or norm[start:end] == exact:
                hits.setdefault(index, []).append((start, end, term))
    if not hits:
        return None
    verdicts: list[_Verdict] = []
    for index in sorted(hits):
        vetoes: list[_Span] = []
        satisfied = False
        for is_context, phrase, key, exact in watchlist.guards[index]:
            if is_context and satisfied:
                continue
            for start, end in _find(key, folded, scan):
                if exact is not None and norm[start:end] != exact:
                    continue
                if is_context:
                    satisfied = True
                    break
                vetoes.append((start, end, phrase))
        vetoes.sort(key=itemgetter(1, 0))  # the first holding a hit names it: earliest-ending
        counted: list[_Span] = []
        vetoed: list[tuple[_Span, str]] = []
        for span in sorted(hits[index]):
            by = next((p for s, e, p in vetoes if s <= span[0] and span[1] <= e), None)
            if by is None:
                counted.append(span)
            else:
                vetoed.append((span, by))
        context_missing = bool(watchlist.entities[index].context) and not satisfied
        verdicts.append((index, counted, vetoed, context_missing))
    second = len(fields[0]) + 2
    bounds = (1, second, second + len(fields[1]) + 1)

    def to_hit(span: _Span) -> Hit:
        start, end = span[0], span[1]
        if kept:  # back through the collapsed whitespace runs
            start += removed[bisect_left(kept, start)]
            end += removed[bisect_left(kept, end - 1)]
        field = 2 if start >= bounds[2] else 1 if start >= bounds[1] else 0
        return Hit(_FIELDS[field], start - bounds[field], end - bounds[field], span[2])

    return verdicts, to_hit


def _texts(
    automaton: Any, joined: str
) -> tuple[str, str, str, list[tuple[int, _Entries]], list[int], list[int]] | None:
    """The joined fields normalised, then folded, their scan text, the automaton's raw hits on
    it and the collapse map back (see ``_collapse``); None if nothing was hit."""
    data = _cp1252(joined)
    if data is None:
        norm, kept, removed = _collapse(_normalise(joined))
        folded = _fold(norm)
    else:
        scan = data.translate(_CP1252_SCAN).decode()
        raw = list(automaton.iter(scan))
        if not raw:  # most items stop here
            return None
        # cp1252 chars lowercase to one char each, and none to a final sigma: no _fold needed
        norm = data.translate(_CP1252_NORM).decode("cp1252")
        if all(entries is not None for _, entries in raw):  # else a whitespace run to collapse
            return norm, norm.lower(), scan, raw, [], [0]
        norm, kept, removed = _collapse(norm)
        folded = norm.lower()
    scan = _scan_text(folded)
    raw = list(automaton.iter(scan))
    return (norm, folded, scan, raw, kept, removed) if raw else None


def _scan(raw: list[tuple[int, _Entries]], folded: str) -> list[tuple[int, int, tuple[_Term, ...]]]:
    """Whole-word occurrences from the automaton's raw hits on the scan text: (start, end,
    terms), offsets into ``folded``.

    The scan text settles the edges: ".NET" (scan form mark + "net") is not found in "ASP.NET",
    as "DoD" is not in "DoDD"; comparing the folded text settles the chars inside.
    """
    found = []
    for last, entries in raw:
        for key, length, terms in entries:
            if folded[last - length : last] == key:
                found.append((last - length, last, terms))
                break  # keys sharing a scan form have one length, so one of them at most
    return found


def _find(key: str, folded: str, scan: str) -> Iterator[tuple[int, int]]:
    """Whole-word occurrences of ``key`` in ``folded``, overlapping ones included."""
    start = folded.find(key)
    while start >= 0:  # never 0: folded starts with NUL, which no key holds
        end = start + len(key)
        if scan[start - 1] in _BOUNDARY and scan[end] in _BOUNDARY:
            yield start, end
        start = folded.find(key, start + 1)


def _longest(spans: list[_Span]) -> list[_Span]:
    """Of one entity's overlapping hits keep the longest (earliest on a tie), in text order."""
    if len(spans) < 2:
        return spans
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
    """The scan text of a folded, normalised text: ``_scan_char`` of each char."""
    data = _cp1252(folded)
    if data is None:
        data = _NON_ASCII.sub(_MARK, _NON_ASCII_WORD.sub("_", folded)).encode()
    return data.translate(_CP1252_SCAN).decode()


def _cp1252(text: str) -> bytes | None:
    """``text`` in cp1252, or None if it holds a char cp1252 lacks."""
    if text.isascii():
        return text.encode()  # the same bytes, faster
    try:
        return text.encode("cp1252")
    except UnicodeEncodeError:
        return None


def _describe(hit: Hit) -> str:
    return f"{hit.field}[{hit.start}:{hit.end}] {hit.term!r}"
