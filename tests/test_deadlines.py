"""Deadline extraction: one row per rule, published on Tuesday 24 February 2026 at 15:00 UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.deadlines import MAX_TEXT, extract_deadlines, item_deadlines, split_sentences
from bot.models import Deadline, Item

PUBLISHED = datetime(2026, 2, 24, 15, 0, tzinfo=UTC)  # a Tuesday


def dates(text: str, published: datetime = PUBLISHED) -> list[str]:
    return [d.date.isoformat() for d in extract_deadlines(text, published)]


EXPLICIT = [
    ("Bids are due April 2, 2027.", ["2027-04-02"]),
    ("Offers must arrive no later than 5 p.m. ET on Oct. 14.", ["2026-10-14"]),
    ("Submissions close 2026-08-01.", ["2026-08-01"]),
    ("Registration closes on 3 July 2026.", ["2026-07-03"]),
    ("Comments must be filed by Nov. 12.", ["2026-11-12"]),  # no year: next occurrence
    ("The authorization lapses on Jan. 30.", ["2027-01-30"]),  # Jan. 30 2026 is past: next year
    ("The window shuts Dec. 15, 2026.", ["2026-12-15"]),
    ("The office is accepting applications through June 30.", ["2026-06-30"]),
    ("Responses are due 4/2/2027 at noon.", ["2027-04-02"]),
    ("The deadline for comments is Sept. 3.", ["2026-09-03"]),
    ("Proposals are due Friday, March 6, at 5 p.m. Eastern.", ["2026-03-06"]),
    ("Nov. 12 is the deadline for industry feedback.", ["2026-11-12"]),
    ("The agency extended the deadline to March 20.", ["2026-03-20"]),
    ("Comments are due today, Feb. 24.", ["2026-02-24"]),  # the published day itself counts
    ("Response Date: 04/06/2026 12:00 PM EDT.", ["2026-04-06"]),
    ("Closing Date: March 14, 2026.", ["2026-03-14"]),
    ("Respond NLT 14 Nov 2026.", ["2026-11-14"]),
    ("Responses are requested by COB 15 October 2026.", ["2026-10-15"]),
    ("Quotes are due on or before 3:00 PM EST, 12/05/2026, via email.", ["2026-12-05"]),
    ("The NATO call closes at midday on 30 June 2026.", ["2026-06-30"]),
    ("Congress is racing against the Jan. 30 funding deadline.", ["2027-01-30"]),
    ("Nvidia lobbied before the rule's May 15 compliance date.", ["2026-05-15"]),
    ("The cutoff for questions about the Navy's shipyard solicitation is Nov. 21.", ["2026-11-21"]),
    ("The Section 702 authority sunsets on April 20.", ["2026-04-20"]),
]

RELATIVE = [
    ("Anthropic has until Thursday at noon to respond.", ["2026-02-26"]),
    ("The lab faces a Tuesday deadline.", ["2026-03-03"]),  # strictly after the published day
    ("The offer expires Wednesday.", ["2026-02-25"]),
    ("The department must decide within 45 days.", ["2026-04-10"]),
    ("Vendors must reply within two weeks.", ["2026-03-10"]),
    ("The review is due by the end of the quarter.", ["2026-03-31"]),
    ("The system must be fielded before the end of fiscal 2026.", ["2026-09-30"]),
    ("Anthropic must agree by Friday.", ["2026-02-27"]),
    ("The company has until 5:01 p.m. Friday to accept the terms.", ["2026-02-27"]),
    ("Hegseth set a deadline of Friday.", ["2026-02-27"]),
    ("A report is due by the end of the month.", ["2026-02-28"]),
    ("Congress wants the plan by the end of the year.", ["2026-12-31"]),
    ("Contractors must respond in 30 days.", ["2026-03-26"]),
    ("Contractors must respond within 30 days.", ["2026-03-26"]),
    ("The deadline is tomorrow.", ["2026-02-25"]),
    ("Waivers are due today.", ["2026-02-24"]),
    ("The firm was given 10 days to comply.", ["2026-03-06"]),
    ("Answers are due within 72 hours.", ["2026-02-27"]),
    ("Vendors must respond within 10 business days.", ["2026-03-10"]),
    ("Funding runs out at the end of the fiscal year.", ["2026-09-30"]),
    ("The rule must be final by the end of FY27.", ["2027-09-30"]),
    ("The plan is due by the end of the third quarter.", ["2026-09-30"]),
    ("Teams must deliver before the end of March.", ["2026-03-31"]),
    ("Lawmakers want the report by year-end.", ["2026-12-31"]),
    ("The Pentagon wants an answer by the end of the week.", ["2026-02-27"]),
    ("The ultimatum gives Anthropic until the close of business Friday.", ["2026-02-27"]),
    ("Funding runs out at 12:01 a.m. Wednesday.", ["2026-02-25"]),
    ("Solution briefs are due two weeks from today.", ["2026-03-10"]),
    ("Applicants have until the end of next month.", ["2026-03-31"]),
    ("Prototypes are due before the end of the first quarter of fiscal 2027.", ["2026-12-31"]),
    ("Comments must be received within 30 days of the date of this notice.", ["2026-03-26"]),
    ("It gives his science adviser and other officials 180 days to submit a plan.", ["2026-08-23"]),
    ("After the Jan. 30 deadline passed, Congress set a new deadline of March 13.", ["2026-03-13"]),
    ("By Friday, contractors must submit a detailed plan.", ["2026-02-27"]),
    ("They have until the end of business on Feb. 26.", ["2026-02-26"]),
    ("Offers are due 2026-10-31T17:00:00Z.", ["2026-10-31"]),
    ("Offers are due by the 31st of October.", ["2026-10-31"]),
]

NOT_DEADLINES = [
    "The contract was awarded on May 5.",
    "The briefing is set for Nov. 3.",
    "The conference runs in September.",
    "Deadline pressure in newsrooms is a fact of life.",
    "The lab blew through a deadline.",
    "The company missed the deadline.",
    "The March 1 deadline passed last week.",
    "The deadline lapsed on Monday without a deal.",
    "The authorization expired on Jan. 30.",
    "Bids were due Monday.",
    "The Pentagon awarded a $200 million contract in 2026 covering 45 days of testing.",
    "Hegseth spoke Friday at the Pentagon.",
    "The exercise runs through Sept. 30.",  # "through" with no window closing
    "The Senate votes before Friday's recess.",  # an event's date, not a limit
    "The company responded after Friday's deadline.",
    "The report is due within 90 days of enactment.",  # counted from an unknown date
    "Lockheed will deliver jets by 2030.",  # a lone year is not a date
    "Prices rose by 5 percent on May 6.",
    "Revenue is due to rise in the next two quarters.",
    "The rules take effect in 30 days.",  # no deadline cue before the span
    "The bill was signed on Jan. 5, 2026, and funds the agency through Jan. 30, 2026.",  # past
    "Black Friday sales are due to start soon.",
    "The deadline is Feb. 20, 2026.",  # before the published date
    "By Monday, more than 200 employees had signed the letter.",  # a story, not a limit
    "By Tuesday, shares of Palantir were down 6 percent.",
    "OpenAI had until Jan. 31 to respond, and it did so on Jan. 29.",  # yearless, past tense
    "The Army won't choose a vendor until April 2.",  # the earliest date, not a limit
    "Not Before: Aug 29 2026.",
    "Anthropic let Tuesday's deadline pass without responding.",
    "DIU expects to select vendors by the end of the year.",  # a forecast
    "Work is expected to be completed by Sept. 30, 2030.",
    "The unit funds products that can be fielded within 18 months.",
    "The exercise runs from March 2 through March 13.",
    "The Army fielded the tool within 90 days of the request.",
    "Engineers describe a culture of 2 a.m. deadlines.",
    "The fiscal year ends Sept. 30.",
    "Trump said he would decide in two weeks.",
    "The bill authorizes $900 billion; 9/11 and 24/7 and 10/10 are not dates.",
    "Until Friday, few outside the company knew about the talks.",
    "In December, the department set a Feb. 1 deadline for vendors.",  # lately past, past tense
    "The Feb. 20 deadline for applications has passed.",
    "Since the Feb. 20 deadline, Anthropic has been in talks.",
]


@pytest.mark.parametrize(("text", "expected"), EXPLICIT + RELATIVE)
def test_deadline_rules(text: str, expected: list[str]) -> None:
    assert dates(text) == expected


@pytest.mark.parametrize("text", NOT_DEADLINES)
def test_not_deadlines(text: str) -> None:
    assert dates(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The offer expires Tuesday.", ["2026-03-03"]),  # same weekday as published: a week on
        ("Bids are due Feb. 24.", ["2026-02-24"]),  # the published date is not past
        ("Bids are due Feb. 23.", ["2027-02-23"]),  # yearless and a day past: next year
        ("Bids are due Feb. 23, 2026.", []),  # explicit and past: dropped
    ],
)
def test_resolution_around_the_published_date(text: str, expected: list[str]) -> None:
    assert dates(text) == expected


def test_published_is_read_in_utc() -> None:
    late_monday_in_new_york = datetime(2026, 2, 23, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert dates("The deadline is tomorrow.", late_monday_in_new_york) == ["2026-02-25"]


def test_yearless_dates_roll_into_next_year_unless_told_as_past() -> None:
    december = datetime(2025, 12, 10, tzinfo=UTC)
    assert dates("The agency extended the deadline to Jan. 15.", december) == ["2026-01-15"]
    assert dates("Congress set a Jan. 30 deadline to fund the government.", december) == [
        "2026-01-30"
    ]
    assert dates("Comments were originally due Dec. 1.", december) == []


def test_quarter_and_fiscal_year_roll_over() -> None:
    november = datetime(2026, 11, 5, tzinfo=UTC)
    assert dates("Due by the end of the quarter.", november) == ["2026-12-31"]
    assert dates("Due by the end of the fiscal year.", november) == ["2027-09-30"]
    assert dates("Due by the end of next quarter.", november) == ["2027-03-31"]
    assert dates("Due by the end of the first quarter.", november) == ["2027-03-31"]


def test_past_tense_veto_is_per_clause() -> None:
    text = "The first deadline passed on Feb. 20; bids are now due March 6."
    assert dates(text) == ["2026-03-06"]


def test_evidence_is_the_whitespace_collapsed_sentence() -> None:
    text = "Hegseth met Amodei.  Anthropic has\n until 5:01 p.m.   Friday to agree. Talks go on."
    assert extract_deadlines(text, PUBLISHED) == (
        Deadline(date(2026, 2, 27), "Anthropic has until 5:01 p.m. Friday to agree."),
    )


def test_evidence_is_capped() -> None:
    text = "Bids are due April 2, 2027, " + "and more " * 100 + "."
    (deadline,) = extract_deadlines(text, PUBLISHED)
    assert len(deadline.text) == MAX_TEXT
    assert deadline.text.endswith("…")


def test_sorted_by_date_then_text_and_deduplicated() -> None:
    text = (
        "Final offers are due April 2, 2027. Questions are due by Friday. "
        "Registration closes March 1; questions are due by Friday. Questions are due by Friday."
    )
    assert [(d.date.isoformat(), d.text) for d in extract_deadlines(text, PUBLISHED)] == [
        ("2026-02-27", "Questions are due by Friday."),
        ("2026-02-27", "Registration closes March 1; questions are due by Friday."),
        ("2026-03-01", "Registration closes March 1; questions are due by Friday."),
        ("2027-04-02", "Final offers are due April 2, 2027."),
    ]


def test_item_deadlines_merge_fields() -> None:
    item = Item(
        id="1",
        title="Pentagon gives Anthropic a Friday deadline",
        summary="Anthropic has until 5:01 p.m. Friday. Comments are due March 9.",
        content="Anthropic has until 5:01 p.m. Friday. The contract is worth $200 million.",
    )
    assert [(d.date.isoformat(), d.text) for d in item_deadlines(item, PUBLISHED)] == [
        ("2026-02-27", "Anthropic has until 5:01 p.m. Friday."),
        ("2026-02-27", "Pentagon gives Anthropic a Friday deadline"),
        ("2026-03-09", "Comments are due March 9."),
    ]


def test_no_cue_no_deadlines() -> None:
    assert extract_deadlines("Palantir shares rose 4% on Friday, Feb. 27.", PUBLISHED) == ()
    assert item_deadlines(Item(id="1", title=""), PUBLISHED) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Bids are due at 5 p.m. Friday. The U.S. Army agreed.",
            ["Bids are due at 5 p.m. Friday.", "The U.S. Army agreed."],
        ),
        (
            "Sen. Warren wrote to Gen. Caine on Oct. 14. He replied.",
            ["Sen. Warren wrote to Gen. Caine on Oct. 14.", "He replied."],
        ),
        (
            "The Dept. of War and the U.S. Air Force met at 9 a.m. Monday.",
            ["The Dept. of War and the U.S. Air Force met at 9 a.m. Monday."],
        ),
        ("Jan. 5 is the date. Item No. 7 is open.", ["Jan. 5 is the date.", "Item No. 7 is open."]),
        ("Asked, he said no. The deal stands.", ["Asked, he said no.", "The deal stands."]),
        ("John F. Kennedy said so. Yes!", ["John F. Kennedy said so.", "Yes!"]),
        ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
        ("It works, e.g. for bids. It ends.", ["It works, e.g. for bids.", "It ends."]),
        ("First paragraph\n\nsecond paragraph", ["First paragraph", "second paragraph"]),
        ("Ends with no period", ["Ends with no period"]),
        ("  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected
