"""Dates in a search query: "2024", "june 2023" (or "jun 2023"), "2023-06", "2023-06-14".

A small grammar, written out rather than a date-parsing library's guesses (dateparser takes any text for
a date it can, "a dog may march" included, and brings its tables for 200 locales): one date per query, the
first that matches, tried from the most precise form to the least. A year is 1900-2099, so "1080p" or
"500 px" stay words. The rest of the query is searched as words (docs/architecture.md §11).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}
_YEAR = r"(?P<year>19\d\d|20\d\d)"
_FORMS = (  # most precise first
    re.compile(rf"(?<![\w-]){_YEAR}-(?P<month>\d\d)-(?P<day>\d\d)(?![\w-])"),
    re.compile(rf"(?<![\w-]){_YEAR}-(?P<month>\d\d?)(?![\w-])"),
    re.compile(rf"(?<!\w)(?P<month_name>{'|'.join(sorted(MONTHS, key=len, reverse=True))})\.?,?\s+{_YEAR}(?!\w)",
               re.IGNORECASE),
    re.compile(rf"(?<![\w-]){_YEAR}(?![\w-])"),
)


@dataclass(frozen=True)
class DateRange:
    """Capture dates from ``start`` (inclusive) to ``end`` (exclusive), as the ISO text the index stores
    ("YYYY-MM-DDTHH:MM:SS" sorts and compares by time); ``text`` is how the query said it."""

    start: str
    end: str
    text: str


@dataclass(frozen=True)
class DatedQuery:
    query: str  # as typed
    words: str  # the query without its date
    dates: DateRange | None


def _range(year: int, month: int | None, day: int | None) -> tuple[date, date] | None:
    try:
        if day is not None and month is not None:
            first = date(year, month, day)
            return first, date.fromordinal(first.toordinal() + 1)
        if month is not None:
            first = date(year, month, 1)
            return first, date(year + month // 12, month % 12 + 1, 1)
        return date(year, 1, 1), date(year + 1, 1, 1)
    except ValueError:  # "2023-13", "2023-02-30": not a date, so they stay words
        return None


def parse_dated_query(query: str) -> DatedQuery:
    """Split the first date out of ``query``; a query without one has ``dates`` None and its words intact."""
    for form in _FORMS:
        for match in form.finditer(query):
            parts = match.groupdict()
            month = MONTHS[parts["month_name"].lower()] if parts.get("month_name") else parts.get("month")
            day = parts.get("day")
            span = _range(int(parts["year"]), int(month) if month else None, int(day) if day else None)
            if span is None:
                continue
            words = " ".join((query[:match.start()] + " " + query[match.end():]).split())
            return DatedQuery(query, words, DateRange(span[0].isoformat(), span[1].isoformat(), match.group(0)))
    return DatedQuery(query, query, None)


def capture_date_filters(taken: DateRange | None, params: dict[str, object]) -> list[str]:
    """The SQL condition (on files ``f``) for photos taken in ``taken``, and its parameters; none for None."""
    if taken is None:
        return []
    params["taken_from"], params["taken_to"] = taken.start, taken.end
    return ["f.taken_at >= :taken_from AND f.taken_at < :taken_to"]
