"""Pure: a compiled watchlist × an item → the entities it mentions, with spans.

``match_item`` runs on every new item, so its cost follows the item's length, not the watchlist's
size. Scanning one item:

1. Join the fields with NUL (no phrase holds one, so no hit spans two fields).
2. Gate: split the item into lowercased ASCII word tokens and test them against an index holding
   one token of every term. Most items share none and stop here, after a few C-level calls.
3. Otherwise map whitespace to ' ' and curly apostrophes to "'", collapse runs of spaces (keeping
   an offset map back), lowercase length-preservingly, and run one Aho-Corasick pass over it.
   The automaton holds terms, exclusions and context words together; a raw hit counts only when
   whole-word, and for a case-sensitive entity only when it has the configured spelling.
4. Exclusions and context words found by that pass are read only for entities that were hit.

Phrases with no ASCII letter or digit (say "国防部") cannot be gated; they make every item scan.
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
# bytes.translate table: ASCII letters and digits (lowercased) stay, every other byte separates.
_ASCII_WORD = bytes(c if chr(c).isalnum() and c < 128 else 0x20 for c in range(256)).lower()

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


@dataclass(frozen=True, slots=True)
class Watchlist:
    """Entities compiled once per configuration; read-only, so items and threads can share it."""

    entities: tuple[Entity, ...]  # sorted by name; the automaton's payloads index into this
    automaton: Any  # folded term → (len, terms, {}); None without entities
    guards: Any  # folded exclude/context phrase → (len, (), guards by entity index), or None
    gate: frozenset[bytes]  # one token of every term
    always: bool  # some term has no gate token, so the gate cannot rule an item out
    guarded: tuple[bool, ...]  # per entity: has exclude or context phrases


def compile_watchlist(entities: Sequence[Entity]) -> Watchlist:
    """Build the automaton once; raises ValueError on duplicate names or empty phrases.

    Every phrase goes into one automaton under its folded key, so one pass finds terms,
    exclusions and context words alike; case-sensitive phrases carry their exact spelling,
    which a hit must then equal.
    """
    ordered = tuple(sorted(entities, key=attrgetter("name")))
    duplicates = sorted(name for name, n in Counter(e.name for e in ordered).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate entity names: {', '.join(duplicates)}")
    phrases: dict[str, tuple[dict[tuple[int, str | None], str], dict[int, list[_Guard]]]] = {}
    for index, entity in enumerate(ordered):
        for term in entity.terms:
            key, exact = _key(term, entity)
            phrases.setdefault(key, ({}, {}))[0].setdefault((index, exact), term)
        for is_context, group in ((False, entity.exclude), (True, entity.context)):
            for phrase in group:
                key, exact = _key(phrase, entity)
                guards = phrases.setdefault(key, ({}, {}))[1]
                guards.setdefault(index, []).append((is_context, phrase, exact))
    automaton = ahocorasick.Automaton()
    guard_automaton = ahocorasick.Automaton()
    gate: set[bytes] = set()
    always = False
    # How many terms share each token: "department" in every "Department of …" says little.
    shared = Counter(t for key, (terms, _) in phrases.items() if terms for t in set(_tokens(key)))
    for key, (terms, guards) in phrases.items():
        # Terms and guard phrases go into separate automatons: exclusions and context words
        # ("AI", "defense") are common, and are only looked for once some guarded entity hit.
        if guards:
            guard_automaton.add_word(key, (len(key), (), {i: tuple(g) for i, g in guards.items()}))
        if terms:
            payload = tuple((i, term, exact) for (i, exact), term in terms.items())
            automaton.add_word(key, (len(key), payload, {}))
            # Every token of a whole-word match is a whole token of the text, so any one will
            # do: skipping short words ("of", "and"), the one fewest terms share (then the
            # longest) lets the fewest items through.
            token = min(_tokens(key), key=lambda t: (len(t) <= 3, shared[t], -len(t)), default=None)
            if token is None:
                always = True
            else:
                gate.add(token)
    has_terms = any(terms for terms, _ in phrases.values())
    has_guards = any(guards for _, guards in phrases.values())
    if has_terms:
        automaton.make_automaton()
    if has_guards:
        guard_automaton.make_automaton()
    return Watchlist(
        entities=ordered,
        automaton=automaton if has_terms else None,
        guards=guard_automaton if has_guards else None,
        gate=frozenset(gate),
        always=always,
        guarded=tuple(bool(e.exclude or e.context) for e in ordered),
    )


def match_item(watchlist: Watchlist, item: Item) -> tuple[EntityMatch, ...]:
    """The entities ``item`` mentions, sorted by name, each once with every hit that counted."""
    explained = explain(watchlist, item)
    if not explained:  # most items: skip building an empty generator
        return ()
    return tuple(EntityMatch(e.entity, e.hits) for e in explained if e.counted)


def explain(watchlist: Watchlist, item: Item) -> tuple[Explanation, ...]:
    """Every entity with a whole-word hit in ``item``, whether or not it counted, and why."""
    fields = (item.title, item.summary, item.content)
    joined = _SEP.join(fields)
    if watchlist.automaton is None or (
        not watchlist.always and watchlist.gate.isdisjoint(_tokens(joined))
    ):
        return ()
    norm, kept, removed = _collapse(_normalise(joined))
    folded = _fold(norm)
    hits: dict[int, list[_Span]] = {}
    for start, end, terms, _ in _scan(watchlist.automaton, folded):
        for index, term, exact in terms:
            if exact is None or norm[start:end] == exact:
                hits.setdefault(index, []).append((start, end, term))
    if not hits:
        return ()
    vetoes: dict[int, list[_Span]] = {}
    satisfied: set[int] = set()
    guarded = [index for index in hits if watchlist.guarded[index]]
    occurrences = (
        [(s, e, g) for s, e, _, g in _scan(watchlist.guards, folded)]
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
    second = len(fields[0]) + 1
    bounds = (0, second, second + len(fields[1]) + 1)

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


def _scan(
    automaton: Any, text: str
) -> list[tuple[int, int, tuple[_Term, ...], dict[int, tuple[_Guard, ...]]]]:
    """Whole-word occurrences: the chars either side of a span are not letters, digits or '_'.

    Checked at the span's edges whatever the phrase's own edge chars: ".NET" is not found in
    "ASP.NET", as "DoD" is not in "DoDD".
    """
    found = []
    size = len(text)
    for last, (length, terms, guards) in automaton.iter(text):
        start = last - length + 1
        if start and (text[start - 1].isalnum() or text[start - 1] == "_"):
            continue
        if last + 1 < size and (text[last + 1].isalnum() or text[last + 1] == "_"):
            continue
        found.append((start, last + 1, terms, guards))
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


def _tokens(text: str) -> list[bytes]:
    """Lowercased ASCII letter-and-digit runs: the gate's cheap view of a text."""
    if not text.isascii() and ("\u0130" in text or "\u212a" in text):
        text = _fold(text)  # the only non-ASCII chars that lowercase to ASCII letters
    return text.encode("utf-8", "surrogatepass").translate(_ASCII_WORD).split()


def _describe(hit: Hit) -> str:
    return f"{hit.field}[{hit.start}:{hit.end}] {hit.term!r}"
