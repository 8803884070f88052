"""Deadlines stated by an item, resolved against its publication time. Pure and fast.

An item without a deadline cue costs one regex search. In a sentence with a cue, a date expression
(explicit date, weekday, today/tomorrow, "within 45 days", "the end of the quarter", "fiscal 2026")
counts only when a cue governs it: a lead cue right before it ("due", "by", "no later than",
"until", "expires", "deadline of" …; times and "on"/"at" may intervene) or a deadline noun right
after it ("a Tuesday deadline"). Forecasts, stories and the past tense ("passed", "lapsed",
"missed" …) veto it, and no date before publication survives: teams must never learn of a
deadline after it passed. Against the publication date (UTC), a yearless month-day is its next
occurrence, a weekday the next such day after it; US federal fiscal years end on 30 September.
Dates are recognised by the regexes below, never by fuzzy parsing ("$200 million", "45 days" and
a lone "2026" are not dates); python-dateutil does the calendar arithmetic.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TypeAlias

from dateutil.relativedelta import relativedelta

from bot.models import Deadline, Item

__all__ = ["extract_deadlines", "item_deadlines", "split_sentences"]

MAX_TEXT = 400  # characters of evidence kept per deadline
_REACH = 200  # characters around a date that its cues and guards may come from

# --- Vocabulary -----------------------------------------------------------------------------------

_MONTH_NAMES = "jan january|feb february|mar march|apr april|may|jun june|jul july|aug august"
_MONTH_NAMES += "|sep sept september|oct october|nov november|dec december"
_MONTH_NUMBERS = {n: i for i, ns in enumerate(_MONTH_NAMES.split("|"), 1) for n in ns.split()}
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_MONTH_FULL = "(?:" + "|".join(n.split()[-1].title() for n in _MONTH_NAMES.split("|")) + ")"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_NAME = "(?:" + "|".join(_WEEKDAYS) + ")"
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15,
    "twenty": 20, "thirty": 30, "forty-five": 45, "forty": 40, "sixty": 60, "ninety": 90,
}  # fmt: skip
_NUMBER = r"(?:\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4,
}  # fmt: skip
# A clock time, optionally zoned: "5:01 p.m.", "11:59 p.m. ET", "noon", "1700 GMT".
_TIME = (
    r"(?:\d{1,2}(?::\d\d)?\s*(?:a\.m\.|p\.m\.|a\.m|p\.m|am|pm)|noon|midday|midnight"
    r"|\d{4}\s*(?:GMT|UTC|EDT|EST|ET|hours))"
    r"(?:\s+(?:ET|EST|EDT|CT|CST|CDT|PT|PST|PDT|UTC|GMT|CET|Eastern|Pacific|Central|local"
    r"|Washington)(?:\s+[Tt]ime)?)?"
)
# What may stand between a lead cue and its date: "by 5 p.m. ET on", "until Friday at".
_FILL = (
    rf"(?:on|at|of|(?:the\s+)?(?:close|end)\s+of\s+(?:business|day)|COB|EOD|{_TIME}|{_DAY_NAME})"
)


def _words(alternatives: str, suffix: str = "") -> re.Pattern[str]:
    """A case-blind regex for any of the space-separated word patterns, as whole words."""
    return re.compile(rf"\b(?:{'|'.join(alternatives.split())}){suffix}\b", re.IGNORECASE)


# --- Cues -----------------------------------------------------------------------------------------

# Fast path: a sentence without any of these words cannot state a deadline.
_CUE = re.compile(
    r"\b(?:due|by|no[tn]?\s+later|until|till|before|through|thru|within|must|required"
    r"|expir\w*|laps\w*|sunset\w*|runs?\s+out|deadlines?|cut-?off|last\s+day|extend\w*"
    r"|clos(?:e|es|ing)|shut\w*|end(?:s|ing)?|ultimatum|(?:days|weeks|months|hours)\s+to"
    r"|response\s+date|NLT)\b",
    re.IGNORECASE,
)
# A cue right before the date; the whole prefix must end here (times and "on"/"at" may intervene).
_LEAD = re.compile(
    rf"""(?:
      (?P<firm>
          \bdue(?:\s+(?:on|by|before|no\s+later\s+than))?        # bids are due April 2, 2027
        | \bno[tn]?\s+later\s+than|\bNLT                        # no later than 5 p.m. on Oct. 14
        | \b(?:expires?|expiring|lapses?|lapsing|sunsets|runs\s+out)(?:\s+on)?  # expires Wednesday
        | \bextend(?:s|ed|ing)?\s+(?:\S+\s+){{0,6}}?(?:to|until|through)  # extended it to Dec. 15
        | \b(?:deadline|cutoff|cut-off|(?:due|closing|response)\s+date|last\s+day)  # deadline is
          (?:\s+(?:for|to)\s+[^,;:.]{{1,80}}?)?                    # the deadline for comments is,
          \s*(?:is|will\s+be|of|on|at|to|back\s+to|falls\s+on|(?:is\s+)?set\s+for|remains|:|—|–)
      )
    | (?P<soft>                                                  # unless it is a forecast:
          \bby                                                   # comments must be filed by Nov. 12
        | \b(?:until|till)                                       # has until Thursday at noon
        | \bbefore                                               # before the end of fiscal 2026
      )
    | (?P<weak>                                                  # only with a window noun:
          \b(?:through|thru)                                     # accepting applications through
        | \b(?:closes?|closing|shuts?|shutting|ends|ending|runs\s+through)(?:\s+on)?  # closes on
      )
    )(?:[\s,:]+{_FILL})*[\s,:]*$""",
    re.VERBOSE | re.IGNORECASE,
)
# A deadline noun right after the date: "a Tuesday deadline", "Friday's 5:01 p.m. deadline",
# "the Jan. 30 funding deadline", "Nov. 12 is the deadline".
_POST = re.compile(
    rf"""(?:['’]s)?\s*(?:{_TIME}\s+)?(?:[\w-]+\s+){{0,2}}?
        (?:deadline|cutoff|cut-off|due\s+date|compliance\s+date|ultimatum)\b
    | ,?\s+(?:is|remains|will\s+be|marks)\s+(?:the\s+)?(?:\w+\s+)?(?:deadline|cutoff|last\s+day)\b
    """,
    re.VERBOSE | re.IGNORECASE,
)
_POSSESSIVE = re.compile(r"['’]s\b")  # "before Friday's vote": the date of an event, not a limit
_AFTER_THE_FACT = re.compile(
    r"\b(?:after|since|following|past|beyond)\s+(?:the\s+|a\s+|an\s+)?$", re.I
)
# Weak cues need the sentence to talk about a window that closes.
_WINDOW = _words(
    r"applications? submissions? proposals? bids? comments? responses? registration enrollment"
    r" nominations? window period portal solicitation offers? RFIs? RFPs? RFQs? BAA open accept\w*"
    r" feedback input waivers? authori[sz]ation authority funding funds stopgap"
    r" continuing\s+resolution moratorium pause licen[cs]es? exemptions? sign-?ups? calls?"
)
# Needed before a bare "in 30 days": "must respond in 30 days", "expires in 90 days".
_STRONG = _words("must deadline due required requires expires? expiring lapses ultimatum comply")
# Past tense about the deadline vetoes its clause: "the March 1 deadline passed last week" …
_VETO = re.compile(
    r"""\b(?:lapsed|expired|missed|blew|blown|elapsed|came\s+and\s+went|ran\s+out)\b
    | \b(?:deadline|date|cutoff|window|period|ultimatum|offer)s?\s+(?:\w+\s+){0,4}?passed\b
    | \bpassed\s+(?:the\s+|a\s+|its\s+|their\s+)?(?:\w+\s+)?deadline
    | \b(?:was|were|had\s+been)\s+due\b                     # bids were due Monday
    | \bhad\s+(?:already\s+|not\s+|just\s+)?(?!been\b)[a-z]+ed\b  # by Oct. 3 it had received
    | \blet\s+(?:\S+\s+){0,4}?pass\b                           # let Tuesday's deadline pass
    """,
    re.VERBOSE | re.IGNORECASE,
)
# … but not a date right after a word announcing a new one: "set a new deadline of Feb. 13".
_RENEWED = _words("new now extended revised another fresh")
# A yearless date gone this year, cued in the past tense, is that past date: "had until Jan. 31";
# so is one gone lately (months from its next occurrence) after any past verb: "set a Feb. 1 …".
_PAST_AUX = _words("had was were")
_PAST_VERB = _words(
    "had was were did set gave knew said told took made got saw began became came went met rose"
    " fell won lost sent spent sold paid led wrote spoke grew [a-z]+ed"
)
_MODAL = _words("must will shall should needs? has have is are can may")  # not a story
_ABILITY = _words("can could")  # "can be fielded within 18 months": a criterion
_NEGATED = re.compile(r"\bnot\b|\bnever\b|n['’]t\b", re.IGNORECASE)  # "won't … until April 2"
# A forecast is not a limit: "DIU expects to select vendors by the end of the year".
_FORECAST = _words(
    "expects? expected plans? planned aims? hopes? intends? anticipates? projected likely", r"\s+to"
)

# --- Date expressions -----------------------------------------------------------------------------

_YEAR = r"(?P<year>(?:19|20)\d\d)\b"
# "Oct. 14", "April 2, 2027", "Friday, Feb. 27" (the weekday is then filler).
_MONTH_DAY = re.compile(
    rf"\b(?P<month>{_MONTH})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b(?!:|\.\d)(?:,?\s+{_YEAR})?"
)
# "3 July 2026", "the 3rd of July".
_DAY_MONTH = re.compile(
    rf"(?:\bthe\s+)?\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month>{_MONTH})\b\.?"
    rf"(?:,?\s+{_YEAR})?"
)
_ISO = re.compile(
    r"\b(?P<year>20\d\d)-(?P<month>0[1-9]|1[0-2])-(?P<day>0[1-9]|[12]\d|3[01])(?:\b|(?=T\d))"
)
_NUMERIC = re.compile(
    r"\b(?P<month>1[0-2]|0?[1-9])/(?P<day>3[01]|[12]\d|0?[1-9])/(?P<year>20\d\d)\b"
)
# Today or tomorrow; a weekday not followed by its explicit date, nor a named day ("Black Friday").
_DAY = re.compile(
    rf"\b(?P<word>(?i:today|tonight|tomorrow))\b|(?<!Black )(?<!Good )(?<!Cyber )(?<!Super )"
    rf"\b(?:(?:this|next|coming)\s+)?(?P<weekday>{_DAY_NAME})\b"
    rf"(?!,?\s+(?:the\s+)?{_MONTH}\.?\s+\d|,?\s+\d{{1,2}}\s+{_MONTH})"
)
# "within 45 days", "in two weeks", "has 30 days to respond", "90 days from today".
_SPAN = re.compile(
    rf"""(?:\b(?P<lead>within|in|inside\s+of)\s+(?:the\s+next\s+)?)?
    \b(?P<n>{_NUMBER})\s+(?:(?P<business>business|working)\s+|calendar\s+)?
    (?P<unit>hour|day|week|month|year)s?\b
    (?P<tail>\s+to\s+[a-z]|\s+from\s+(?:today|now))?""",
    re.VERBOSE | re.IGNORECASE,
)
_SPAN_GIVER = re.compile(
    r"\b(?:has|have|gave|given|gives?|giving|gets?|getting|allow\w*|grant\w*)\s+(?:\S+\s+){0,6}$"
)
# "within 90 days of enactment" counts from an unknown date; "of this notice" from now.
_SPAN_ANCHOR = re.compile(
    r"\s+(?:of|after|following|from)\s+(?!today|now|this\b|(?:the\s+)?date\s+of\s+this\b)\w"
)
# "the end of the quarter", "end of fiscal 2026", "the end of March", "year-end".
_PERIOD_END = re.compile(
    rf"""\b(?:(?:the\s+)?end\s+of\s+(?:
          (?P<rel>the\s+|this\s+|next\s+)?(?:current\s+)?
          (?P<unit>week|month|quarter|calendar\s+year|year|fiscal\s+year)\b(?!\s+\d)
        | (?:fiscal(?:\s+year)?|FY)\s*(?P<fy>(?:20)?\d\d)\b
        | (?:the\s+)?(?P<q>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter(?:\s+of\s+(?:
            {_YEAR}|(?:the|this)\s+year|(?:fiscal(?:\s+year)?|FY)\s*(?P<fqy>(?:20)?\d\d)\b))?
        | Q(?P<qn>[1-4])(?:\s+(?P<qyear>20\d\d))?\b
        | (?P<month>{_MONTH_FULL})(?:\s+(?P<myear>20\d\d))?\b
        | (?P<cyear>20\d\d)\b)
      | (?P<short>year|quarter|month)(?:-end|['’]s\s+end)\b)""",
    re.VERBOSE,
)

# --- Sentences ------------------------------------------------------------------------------------

_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])|\n\s*\n")
_ABBREVIATION_WORDS = (
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun"
    " mr mrs ms dr sen sens rep reps gen lt col maj capt cmdr adm sgt gov pres prof st jr sr"
    " dept vs v approx est fig vol sec art al op rev"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]|[A-Z]")  # U.S., p.m., a.m., e.g., initials


def _is_abbreviation(word: str, following: str) -> bool:
    """Whether the period after ``word`` belongs to it rather than ending a sentence."""
    word = word.lstrip("(\"'“‘[")
    if word.lower() in ("no", "nos"):  # "No. 5" goes on; "he said no. The deal" ends
        return following[:1].isdigit()
    return word.lower() in _ABBREVIATIONS or _DOTTED.fullmatch(word) is not None


def split_sentences(text: str) -> list[str]:
    """Whitespace-collapsed sentences; "p.m.", "Oct.", "U.S.", "Sen.", initials do not end one."""
    sentences: list[str] = []
    start = 0
    for boundary in _BOUNDARY.finditer(text):
        last = text[max(start, boundary.start() - 40) : boundary.start()].split()[-1:]
        following = text[boundary.end() : boundary.end() + 1]
        if boundary.group().strip() and last and _is_abbreviation(last[0], following):
            continue  # punctuation after an abbreviation; a blank line always ends a sentence
        sentence = " ".join(text[start : boundary.end()].split())
        if sentence:
            sentences.append(sentence)
        start = boundary.end()
    tail = " ".join(text[start:].split())
    return [*sentences, tail] if tail else sentences


# --- Resolution -----------------------------------------------------------------------------------

_Resolver: TypeAlias = Callable[[re.Match[str], date], date | None]


def _calendar_date(m: re.Match[str], ref: date) -> date | None:
    """An explicit date; without a year, its next occurrence on or after ``ref``."""
    raw, day, year = m.group("month"), int(m.group("day")), m.group("year")
    month = int(raw) if raw.isdigit() else _MONTH_NUMBERS[raw.lower()]
    for candidate in [int(year)] if year else [ref.year, ref.year + 1]:
        try:
            found = date(candidate, month, day)
        except ValueError:  # "Feb. 30"
            continue
        if year or found >= ref:
            return found
    return None


def _day(m: re.Match[str], ref: date) -> date | None:
    """Today, tomorrow, or the next such weekday strictly after ``ref``."""
    if m.group("word"):
        return ref + timedelta(days=m.group("word").lower() == "tomorrow")
    return ref + timedelta(days=(_WEEKDAYS.index(m.group("weekday")) - ref.weekday() - 1) % 7 + 1)


def _span(m: re.Match[str], ref: date) -> date:
    """``ref`` plus the span: "within 45 days", "within two weeks", "within 72 hours"."""
    raw, unit = m.group("n").lower(), m.group("unit").lower()
    n = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
    if unit == "day" and m.group("business"):
        found = ref
        while n:
            found += timedelta(days=1)
            n -= found.weekday() < 5
        return found
    if unit == "hour":  # whole days only: an early date is the safe side of a limit
        return ref + timedelta(days=n // 24)
    if unit in ("day", "week"):
        return ref + timedelta(days=n * (7 if unit == "week" else 1))
    return ref + relativedelta(months=n) if unit == "month" else ref + relativedelta(years=n)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _period_end(m: re.Match[str], ref: date) -> date | None:
    """The last day of the named period."""
    step = 1 if (m.group("rel") or "").strip() == "next" else 0
    unit = (m.group("unit") or m.group("short") or "").split()[-1:]
    if unit == ["week"]:  # the working week: the coming Friday
        return ref + timedelta(days=(4 - ref.weekday()) % 7 + 7 * step)
    if unit == ["month"]:
        first = ref.replace(day=1) + relativedelta(months=step)
        return _month_end(first.year, first.month)
    if unit == ["quarter"]:
        quarter = (ref.month - 1) // 3 + 1 + step
        return _month_end(ref.year + (quarter - 1) // 4, (quarter - 1) % 4 * 3 + 3)
    if unit == ["year"] and "fiscal" in m.group(0):  # US federal: October to September
        return date(ref.year + (ref.month >= 10) + step, 9, 30)
    if unit == ["year"]:
        return date(ref.year + step, 12, 31)
    if m.group("fy"):
        return date(2000 + int(m.group("fy")) % 100, 9, 30)
    if m.group("q") or m.group("qn"):
        quarter = _ORDINALS[m.group("q").lower()] if m.group("q") else int(m.group("qn"))
        if m.group("fqy"):  # fiscal quarters start in October: Q1 of FY2026 ends 2025-12-31
            fiscal = 2000 + int(m.group("fqy")) % 100
            return _month_end(fiscal - (quarter == 1), (quarter + 2) % 4 * 3 + 3)
        year = m.group("year") or m.group("qyear")
        end = _month_end(int(year) if year else ref.year, quarter * 3)
        return end if year or end >= ref else _month_end(ref.year + 1, quarter * 3)
    if m.group("month"):
        month = _MONTH_NUMBERS[m.group("month").lower()]
        end = _month_end(int(m.group("myear") or ref.year), month)
        return end if m.group("myear") or end >= ref else _month_end(ref.year + 1, month)
    return date(int(m.group("cyear")), 12, 31)


# Explicit forms first: a later form never claims text an earlier one matched.
_EXPRESSIONS: tuple[tuple[re.Pattern[str], _Resolver], ...] = (
    (_ISO, _calendar_date),
    (_NUMERIC, _calendar_date),
    (_MONTH_DAY, _calendar_date),
    (_DAY_MONTH, _calendar_date),
    (_PERIOD_END, _period_end),
    (_DAY, _day),
)


# --- Extraction -----------------------------------------------------------------------------------


def _governed(clause: str, start: int, end: int) -> bool:
    """Whether a deadline cue governs the date expression ``clause[start:end]``."""
    before, after = clause[max(0, start - _REACH) : start], clause[end : end + _REACH]
    if _POST.match(after):
        return not _AFTER_THE_FACT.search(before)
    if _POSSESSIVE.match(after):
        return False
    lead = _LEAD.search(before, max(0, len(before) - 120))
    if lead is None:
        return False
    if lead.group("soft"):
        return _soft_limit(before, after, lead, opener=start < _REACH)
    return lead.group("firm") is not None or _WINDOW.search(before + after) is not None


def _soft_limit(before: str, after: str, lead: re.Match[str], *, opener: bool) -> bool:
    """Whether "by", "before" or "until" sets a limit rather than tell a forecast or a story."""
    if _FORECAST.search(before):  # "expects to select vendors by the end of the year"
        return False
    if lead.group("soft").lower() != "by" and _NEGATED.search(before, 0, lead.start()):
        return False  # "won't pick a vendor until April 2", "not before": a start, not a limit
    opener = opener and " " not in before.strip(" ,")  # "By Tuesday, shares were down": a story
    return not (opener and _PAST_VERB.search(after) and not _MODAL.search(after))


def _span_governed(clause: str, m: re.Match[str]) -> bool:
    """Whether a span is a time limit counted from now (not "within 90 days of enactment")."""
    if _SPAN_ANCHOR.match(clause, m.end()):
        return False
    lead = (m.group("lead") or "").lower()
    tail = (m.group("tail") or "").strip().lower()
    before = clause[max(0, m.start() - _REACH) : m.start()]
    if lead in ("within", "inside of") or tail.startswith("from"):
        return not (_FORECAST.search(before) or _ABILITY.search(before))
    if lead == "in":
        return _STRONG.search(before) is not None
    return (
        tail.startswith("to") and _SPAN_GIVER.search(before, max(0, len(before) - 80)) is not None
    )


def _told_as_past(clause: str, m: re.Match[str], found: date, ref: date) -> bool:
    """Whether a yearless date pushed into next year is cued in the past tense."""
    if m.re not in (_MONTH_DAY, _DAY_MONTH) or m.group("year") or found.year == ref.year:
        return False
    past = _PAST_VERB if (found - ref).days > 183 else _PAST_AUX
    return past.search(clause, max(0, m.start() - 60), m.start()) is not None


def _clause_dates(clause: str, ref: date) -> Iterable[date]:
    """Dates governed by a cue in one clause (a sentence part between semicolons)."""
    vetoed = _VETO.search(clause) is not None
    taken = bytearray(len(clause))  # characters an earlier, more explicit form already matched
    for pattern, resolve in _EXPRESSIONS:
        for m in pattern.finditer(clause):
            if any(taken[m.start() : m.end()]):
                continue
            taken[m.start() : m.end()] = b"\x01" * (m.end() - m.start())
            if vetoed and not _RENEWED.search(clause, max(0, m.start() - 40), m.start()):
                continue
            if _governed(clause, m.start(), m.end()):
                found = resolve(m, ref)
                if found is not None and not _told_as_past(clause, m, found, ref):
                    yield found
    if not vetoed:
        yield from (_span(m, ref) for m in _SPAN.finditer(clause) if _span_governed(clause, m))


def _sorted_unique(deadlines: Iterable[Deadline]) -> tuple[Deadline, ...]:
    return tuple(sorted(set(deadlines), key=lambda d: (d.date, d.text)))


def extract_deadlines(text: str, published: datetime) -> tuple[Deadline, ...]:
    """Deadlines stated in ``text``, resolved against ``published`` (aware UTC, "now").

    Sorted by date then sentence, without duplicates; none before the publication date.
    """
    if not _CUE.search(text):
        return ()
    aware = published if published.tzinfo is not None else published.replace(tzinfo=UTC)
    ref = aware.astimezone(UTC).date()
    found: list[Deadline] = []
    for sentence in split_sentences(text):
        if not _CUE.search(sentence):
            continue
        evidence = sentence if len(sentence) <= MAX_TEXT else sentence[: MAX_TEXT - 1] + "…"
        for clause in sentence.split(";"):
            found.extend(
                Deadline(day, evidence) for day in _clause_dates(clause, ref) if day >= ref
            )
    return _sorted_unique(found)


def item_deadlines(item: Item, published: datetime) -> tuple[Deadline, ...]:
    """Deadlines over an item's title, summary and content (each field split on its own)."""
    fields = (item.title, item.summary, item.content)
    return _sorted_unique(d for text in fields if text for d in extract_deadlines(text, published))
