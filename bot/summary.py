"""The alert summary: the one or two sentences that best explain why an item matched.

Sentences naming a watched entity or stating a deadline come first (in their original
order); plain text, at most 300 characters, never cut mid-word.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.deadlines import split_sentences
from bot.models import Deadline, EntityMatch, Item

MAX_CHARS = 300
_ELLIPSIS = "…"


def summarise(
    item: Item,
    matches: Sequence[EntityMatch] = (),
    deadlines: Sequence[Deadline] = (),
    *,
    limit: int = MAX_CHARS,
) -> str:
    """Pick up to two sentences of the item's text, the telling ones first."""
    text = item.summary or item.content
    sentences = split_sentences(text)
    if not sentences:
        return ""
    terms = {hit.term.casefold() for match in matches for hit in match.hits}
    evidence = {" ".join(d.text.split()) for d in deadlines}

    def telling(sentence: str) -> bool:
        folded = sentence.casefold()
        return sentence in evidence or any(term in folded for term in terms)

    chosen = [s for s in sentences if telling(s)][:2] or sentences[:2]
    picked: list[str] = []
    for sentence in chosen:
        candidate = " ".join([*picked, sentence])
        if len(candidate) <= limit:
            picked.append(sentence)
        elif not picked:
            return shorten(sentence, limit)
    return " ".join(picked)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - len(_ELLIPSIS) + 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut else cut[: limit - len(_ELLIPSIS)]
    return head.rstrip(" ,;:-") + _ELLIPSIS
