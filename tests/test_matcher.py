"""Matcher rules as tables: each row is one behaviour, named by its id."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.matcher import Veto, Watchlist, compile_watchlist, explain, match_item
from bot.models import Entity, Hit, Item


def make_item(**overrides: Any) -> Item:
    fields: dict[str, Any] = {"id": "item-1", "title": "", "summary": "", "content": ""}
    fields.update(overrides)
    return Item(**fields)


Found = tuple[tuple[str, str, str], ...]  # (entity, field, matched text) per hit


def found(watchlist: Watchlist, item: Item) -> Found:
    """Every counted hit, read back through its span."""
    return tuple(
        (m.entity, h.field, getattr(item, h.field)[h.start : h.end])
        for m in match_item(watchlist, item)
        for h in m.hits
    )


def case(name: str, entities: list[Entity], fields: str | dict[str, str], *hits: Any) -> Any:
    """One table row; ``fields`` is the title alone, or a dict of fields."""
    return pytest.param(
        entities, {"title": fields} if isinstance(fields, str) else fields, hits, id=name
    )


PENTAGON = Entity("Pentagon", exclude=("Pentagon City",))
META = Entity("Meta", exclude=("Meta Quest",), case_sensitive=True)
DOD = Entity("DoD", aliases=("Department of Defense", "Defense Department"))
CDAO = Entity("CDAO", context=("AI",), case_sensitive=True)
PALANTIR = Entity("Palantir", context=("army", "navy"))
T = "title"

CASES = [
    # whole words only, but possessives and hyphenated compounds count
    case("plain", [Entity("Anduril")], "Anduril wins", ("Anduril", T, "Anduril")),
    case(
        "not-inside-a-word", [Entity("Claude")], "Claudette xClaude Claude", ("Claude", T, "Claude")
    ),
    case("acronym-not-inside-acronym", [DOD], "DoDD 3000.09, DoD_x, DoD", ("DoD", T, "DoD")),
    case(
        "digits-underscore-are-word-chars",
        [Entity("Army")],
        "army2 2army _army Army",
        ("Army", T, "Army"),
    ),
    case(
        "possessive-straight", [Entity("Lockheed")], "Lockheed's bid", ("Lockheed", T, "Lockheed")
    ),
    case("possessive-curly", [Entity("Anduril")], "Anduril’s bid", ("Anduril", T, "Anduril")),
    case("hyphen-compound", [Entity("DARPA")], "a DARPA-funded lab", ("DARPA", T, "DARPA")),
    # phrases with spaces and punctuation
    case(
        "multiword-across-newline",
        [DOD],
        {"summary": "the Department of\nDefense said"},
        ("DoD", "summary", "Department of\nDefense"),
    ),
    case(
        "multiword-whitespace-run",
        [DOD],
        "Department  of \t Defense",
        ("DoD", T, "Department  of \t Defense"),
    ),
    case(
        "offsets-after-collapsed-run",
        [DOD],
        "x  y\n\nthe Defense\u00a0Department",
        ("DoD", T, "Defense\u00a0Department"),
    ),
    case("no-phrase-across-fields", [DOD], {"title": "Department of", "summary": "Defense"}),
    case(
        "alias-with-hyphen",
        [Entity("OpenAI", aliases=("GPT-4o",))],
        "GPT-4o-mini, GPT-4",
        ("OpenAI", T, "GPT-4o"),
    ),
    case("alias-with-ampersand", [Entity("AT&T")], "at&t and AT&Tx", ("AT&T", T, "at&t")),
    case(
        "alias-punctuation-is-exact",
        [Entity("F-35")],
        "F 35, F.35, F-35B, F–35, F-35",
        ("F-35", T, "F-35"),
    ),
    case(
        "alias-space-needs-whitespace",
        [Entity("Pete Hegseth")],
        "Pete-Hegseth, Pete_Hegseth, Pete\tHegseth",
        ("Pete Hegseth", T, "Pete\tHegseth"),
    ),
    case("alias-with-dots", [Entity("U.S.")], "U.S.-led, U.S", ("U.S.", T, "U.S.")),
    case("alias-leading-dot", [Entity(".NET")], "ASP.NET and .NET", (".NET", T, ".NET")),
    case("alias-trailing-plus", [Entity("C++")], "C++x, C+, C++", ("C++", T, "C++")),
    case(
        "non-ascii-punctuation-separates",
        [Entity("Anduril")],
        "“Anduril”—Anduril…",
        ("Anduril", T, "Anduril"),
        ("Anduril", T, "Anduril"),
    ),
    case("non-ascii-letters-join", [Entity("Anduril")], "éAnduril Andurilé Anduril²"),
    case(
        "curly-alias-straight-text",
        [Entity("Lattice", aliases=("Anduril’s Lattice",))],
        "Anduril's Lattice",
        ("Lattice", T, "Anduril's Lattice"),
    ),
    case(
        "straight-alias-curly-text",
        [Entity("Lattice", aliases=("Anduril's Lattice",))],
        "Anduril’s Lattice",
        ("Lattice", T, "Anduril’s Lattice"),
    ),
    # case
    case(
        "case-insensitive-default",
        [Entity("Anduril")],
        "ANDURIL, anduril",
        ("Anduril", T, "ANDURIL"),
        ("Anduril", T, "anduril"),
    ),
    case("case-sensitive-positive", [META], "Meta unveils", ("Meta", T, "Meta")),
    case("case-sensitive-negative", [META], "a meta-analysis; META"),
    case("case-sensitive-after-run", [META], "a  meta, Meta", ("Meta", T, "Meta")),
    case("case-sensitive-acronym-negative", [Entity("CDAO", case_sensitive=True)], "cdao Cdao"),
    case(
        "case-sensitive-acronym-positive",
        [Entity("CDAO", case_sensitive=True)],
        "the CDAO",
        ("CDAO", T, "CDAO"),
    ),
    case(
        "lowercasing-that-grows-keeps-offsets",
        [Entity("Istanbul")],
        "İİ in İSTANBUL",
        ("Istanbul", T, "İSTANBUL"),
    ),
    case(
        "kelvin-sign-lowercases-to-ascii",
        [Entity("Kelvin")],
        "\u212aELVIN",
        ("Kelvin", T, "\u212aELVIN"),
    ),
    case("non-ascii-term-final-sigma", [Entity("Άρης")], "ο ΆΡΗΣ'Α είπε", ("Άρης", T, "ΆΡΗΣ")),
    # exclusions veto only the hits inside them
    case(
        "exclude-vetoes-only-its-own-hit",
        [PENTAGON],
        {"title": "Pentagon City mall", "summary": "the Pentagon said"},
        ("Pentagon", "summary", "Pentagon"),
    ),
    case("exclude-case-insensitive", [PENTAGON], "PENTAGON CITY mall"),
    case("exclude-is-whole-word", [PENTAGON], "Pentagon Cityscape", ("Pentagon", T, "Pentagon")),
    case("exclude-case-sensitive-vetoes", [META], "Meta Quest 3"),
    case("exclude-case-sensitive-other-case", [META], "Meta quest", ("Meta", T, "Meta")),
    case(
        "exclude-vetoes-only-its-entity",
        [PENTAGON, Entity("Pentagon City", context=("mall",))],
        "Pentagon City mall",
        ("Pentagon City", T, "Pentagon City"),
    ),
    # context words, anywhere in the item
    case(
        "context-in-another-field",
        [PALANTIR],
        {"title": "Palantir", "content": "the ARMY"},
        ("Palantir", T, "Palantir"),
    ),
    case("context-absent", [PALANTIR], "Palantir shares"),
    case("context-is-whole-word", [PALANTIR], "Palantir armyworm"),
    case("context-case-sensitive-absent", [CDAO], "CDAO ai"),
    case("context-case-sensitive-present", [CDAO], "CDAO AI", ("CDAO", T, "CDAO")),
    # grouping, overlap and order
    case(
        "shared-term-two-entities",
        [Entity("Pentagon", aliases=("DoD",)), DOD],
        "DoD",
        ("DoD", T, "DoD"),
        ("Pentagon", T, "DoD"),
    ),
    case(
        "sorted-by-entity-name",
        [Entity("Shield AI"), Entity("Anduril")],
        "Shield AI, Anduril",
        ("Anduril", T, "Anduril"),
        ("Shield AI", T, "Shield AI"),
    ),
    case(
        "one-match-hits-in-field-order",
        [DOD],
        {"content": "DoD", "summary": "DoD", "title": "the Defense Department"},
        ("DoD", T, "Defense Department"),
        ("DoD", "summary", "DoD"),
        ("DoD", "content", "DoD"),
    ),
    case(
        "overlap-keeps-longest",
        [Entity("Defense", aliases=("Department of Defense", "Defense Dept"))],
        "Department of Defense Dept",
        ("Defense", T, "Department of Defense"),
    ),
    case(
        "duplicate-aliases-one-hit",
        [Entity("DoD", aliases=("dod", "DOD"))],
        "DoD",
        ("DoD", T, "DoD"),
    ),
]


@pytest.mark.parametrize(("entities", "fields", "expected"), CASES)
def test_match_item(entities: list[Entity], fields: dict[str, str], expected: Found) -> None:
    assert found(compile_watchlist(entities), make_item(**fields)) == expected


def test_one_entity_match_per_entity() -> None:
    matches = match_item(compile_watchlist([DOD]), make_item(title="DoD", summary="DoD"))
    assert [(m.entity, len(m.hits)) for m in matches] == [("DoD", 2)]


def test_matches_sorted_by_entity_name_and_terms_reported() -> None:
    watchlist = compile_watchlist([Entity("Shield AI"), Entity("Anduril", aliases=("Lattice",))])
    matches = match_item(watchlist, make_item(title="Shield AI and Lattice"))
    assert [m.entity for m in matches] == ["Anduril", "Shield AI"]
    assert matches[0].hits == (Hit("title", 14, 21, "Lattice"),)


def test_empty_watchlist_and_empty_item() -> None:
    assert match_item(compile_watchlist([]), make_item(title="Anduril")) == ()
    assert match_item(compile_watchlist([Entity("Anduril")]), make_item()) == ()


@pytest.mark.parametrize(
    "entities",
    [
        pytest.param([Entity("DoD"), Entity("DoD")], id="duplicate-name"),
        pytest.param([Entity("DoD", aliases=(" \n",))], id="blank-alias"),
        pytest.param([Entity("DoD", exclude=("",))], id="empty-exclude"),
    ],
)
def test_compile_rejects(entities: list[Entity]) -> None:
    with pytest.raises(ValueError, match="DoD"):
        compile_watchlist(entities)


def test_explain_shows_vetoes_and_missing_context() -> None:
    watchlist = compile_watchlist(
        [PENTAGON, Entity("Palantir", context=("army",)), Entity("Anduril")]
    )
    item = make_item(title="Pentagon City mall", summary="Palantir, Anduril and the Pentagon")
    palantir, pentagon = explain(watchlist, item)[1:]
    assert pentagon.counted
    assert pentagon.hits == (Hit("summary", 26, 34, "Pentagon"),)
    assert pentagon.vetoed == (Veto(Hit("title", 0, 8, "Pentagon"), "Pentagon City"),)
    assert "vetoed title[0:8] 'Pentagon' by exclude 'Pentagon City'" in str(pentagon)
    assert not palantir.counted
    assert palantir.context_missing
    assert str(palantir) == "Palantir: not counted; hit summary[0:8] 'Palantir'; no context word"
    assert [m.entity for m in match_item(watchlist, item)] == ["Anduril", "Pentagon"]


def test_explain_lists_an_entity_whose_every_hit_was_vetoed() -> None:
    (pentagon,) = explain(compile_watchlist([PENTAGON]), make_item(title="Pentagon City"))
    assert not pentagon.counted
    assert pentagon.hits == ()
    assert [v.phrase for v in pentagon.vetoed] == ["Pentagon City"]


def test_explain_names_the_first_ending_then_longest_exclusion() -> None:
    entity = Entity("Pentagon", exclude=("Pentagon City", "the Pentagon", "at the Pentagon"))
    (pentagon,) = explain(compile_watchlist([entity]), make_item(title="at the Pentagon City"))
    assert pentagon.vetoed == (Veto(Hit("title", 7, 15, "Pentagon"), "at the Pentagon"),)


TERMS = ("Anduril", "DoD", "Department of Defense", "GPT-4o", "AT&T", "Anduril's Lattice", "ai")
WATCHLIST = compile_watchlist(
    [
        Entity("Anduril", aliases=("Anduril’s Lattice",)),
        Entity("Department of Defense", aliases=("DoD",)),
        Entity("OpenAI", aliases=("GPT-4o", "ai")),
        Entity("AT&T", case_sensitive=True),
    ]
)


def _fold(text: str) -> str:
    """Comparison form: whitespace runs as one space, straight apostrophes, per-char lowercase."""
    text = " ".join(text.split()).replace("’", "'").replace("‘", "'")
    return "".join(c.lower()[0] for c in text)


def _mangle(term: str, upper: bool, curly: bool, spacing: str) -> str:
    term = term.upper() if upper else term
    return term.replace("'", "’" if curly else "'").replace(" ", spacing)


_pieces = st.one_of(
    st.builds(
        _mangle,
        st.sampled_from(TERMS),
        st.booleans(),
        st.booleans(),
        st.sampled_from([" ", "  ", "\n", " \t\n "]),
    ),
    st.sampled_from([" ", "-", "’s", "'s", "x", "_", "İ", "\u212a", "\n\n"]),
    st.text(max_size=5),
)
_fields = st.lists(_pieces, max_size=12).map("".join)


@given(title=_fields, summary=_fields, content=_fields)
def test_spans_slice_back_to_a_configured_term(title: str, summary: str, content: str) -> None:
    item = make_item(title=title, summary=summary, content=content)
    entities = {e.name: e for e in WATCHLIST.entities}
    for match in match_item(WATCHLIST, item):
        terms = entities[match.entity].terms
        previous: Hit | None = None
        for hit in match.hits:
            text = getattr(item, hit.field)
            assert hit.term in terms
            assert _fold(text[hit.start : hit.end]) == _fold(hit.term)
            for outside in (text[hit.start - 1 : hit.start], text[hit.end : hit.end + 1]):
                assert not (outside.isalnum() or outside == "_")
            if previous is not None and previous.field == hit.field:
                assert previous.end <= hit.start
            previous = hit


@given(
    before=_fields,
    term=st.builds(
        _mangle, st.sampled_from(TERMS), st.booleans(), st.booleans(), st.sampled_from([" ", "\n"])
    ),
    after=_fields,
)
def test_a_term_standing_alone_is_always_found(before: str, term: str, after: str) -> None:
    title = f"{before} {term} {after}"
    start = len(before) + 1
    spans = [
        (h.start, h.end, _fold(h.term))
        for m in match_item(WATCHLIST, make_item(title=title))
        for h in m.hits
    ]
    assert (start, start + len(term), _fold(term)) in spans
