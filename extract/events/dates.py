"""Resolve the dates articles write ("Saturday", "last December", "over the last 24 hours")
into a range of days, against the article's publication date.

A news article's relative date points backwards from the day it was written: "on
Saturday" in an article published on Sunday is the day before; a weekday equal to the
publication day's is that day. When the publication date is itself only known to lie in
a range (``published`` earliest..latest), every expression is resolved against both ends
and the result spans the two.

:func:`resolve_date` returns a :class:`~extract.events.records.DateRange`; it never
raises on text it does not understand, it returns an unresolved range that keeps the
text (bounded above by the publication date when one is known).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extract.core.errors import InputError
from extract.core.jsonfile import read_json_object
from extract.core.schema import DateInfo, DatePrecision
from extract.events.records import DateMethod, DateRange
from extract.scoring.normalize import fold

_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9

_WEEKDAY_RE = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")s?\b")
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\.?\b(?:,?\s+(\d{{4}}))?")
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?")
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\.?(?:\s+(?:of\s+)?(\d{{4}}))?\b")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_LAST_HOURS = re.compile(r"\b(?:last|past)\s+(\d+)\s+hours?\b")
_LAST_DAYS = re.compile(r"\b(?:last|past)\s+(\d+|few|several)\s+days?\b")
_DAYS_AGO = re.compile(r"\b(\d+|two|three|four|five|six|seven)\s+days?\s+ago\b")
_SMALL = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "few": 3, "several": 7}

# Publication dates are dates; a time of day after them ("late Monday") does not matter.
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


@dataclass(frozen=True)
class Published:
    """When an article was published: one day, or a range when it could only be inferred."""

    earliest: dt.date
    latest: dt.date
    stated: bool = True
    how: str | None = None

    @classmethod
    def on(cls, day: dt.date) -> Published:
        return cls(day, day)


def parse_day(value: Any) -> dt.date | None:
    """A publication date from a corpus column: a date, a datetime or an ISO string; None if empty."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = _ISO_DATE.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)")
    return dt.date(int(match[1]), int(match[2]), int(match[3]))


def load_publication_dates(path: str | Path) -> dict[str, Published]:
    """Read ``{"doc id": {"earliest": ..., "latest": ..., "stated": bool, "how": ...}}``.

    ``"date"`` may stand for earliest = latest. This is the form of ``gold/published.json``.
    """
    p = Path(path)
    data = read_json_object(p, "the publication dates", "of document id -> publication date")
    out: dict[str, Published] = {}
    for doc_id, entry in data.items():
        try:
            if not isinstance(entry, Mapping):
                raise ValueError("expected an object with date or earliest/latest")
            earliest = parse_day(entry.get("earliest", entry.get("date")))
            latest = parse_day(entry.get("latest", entry.get("date")))
            if earliest is None or latest is None or latest < earliest:
                raise ValueError("needs date, or earliest <= latest")
            out[doc_id] = Published(earliest, latest, bool(entry.get("stated", False)), entry.get("how"))
        except ValueError as exc:
            raise InputError(f"{p}: document {doc_id}: {exc}") from None
    return out


def _weekday_on_or_before(anchor: dt.date, weekday: int) -> dt.date:
    return anchor - dt.timedelta(days=(anchor.weekday() - weekday) % 7)


def _month_on_or_before(anchor: dt.date, month: int) -> int:
    """The year of the latest ``month`` that starts on or before the anchor."""
    return anchor.year if month <= anchor.month else anchor.year - 1


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _from_iso(iso: str) -> tuple[dt.date, dt.date, DatePrecision]:
    parts = [int(p) for p in iso.split("-")]
    if len(parts) == 3:
        day = dt.date(*parts)
        return day, day, DatePrecision.DAY
    if len(parts) == 2:
        start, end = _month_range(parts[0], parts[1])
        return start, end, DatePrecision.MONTH
    return dt.date(parts[0], 1, 1), dt.date(parts[0], 12, 31), DatePrecision.YEAR


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _resolve_one(text: str, anchor: dt.date) -> tuple[dt.date, dt.date, DatePrecision, DateMethod] | None:
    """Resolve written date text against one publication day; None if not understood."""
    t = " ".join(fold(text).replace(",", " , ").split())
    since = bool(re.search(r"\b(since|from)\b", t))

    # An explicit day and month ("July 8", "8 July 2016").
    for pattern, month_group, day_group in ((_MONTH_DAY, 1, 2), (_DAY_MONTH, 2, 1)):
        match = pattern.search(t)
        if match:
            month = _MONTHS[match[month_group]]
            day_num = int(match[day_group])
            year = int(match[3]) if match[3] else None
            if year is None:
                year = anchor.year
                candidate = _safe_date(year, month, day_num)
                if candidate is not None and candidate > anchor:
                    year -= 1
            day = _safe_date(year, month, day_num)
            if day is not None:
                end = anchor if since else day
                return day, max(day, end), DatePrecision.DAY, DateMethod.MONTH if not match[3] else DateMethod.ISO

    if re.search(r"\b(today|this morning|this afternoon|this evening|tonight)\b", t):
        return anchor, anchor, DatePrecision.DAY, DateMethod.RELATIVE
    if re.search(r"\b(yesterday|last night|overnight)\b", t):
        day = anchor - dt.timedelta(days=1)
        # "overnight" spans the night before publication into its morning.
        end = anchor if "overnight" in t else day
        return day, end, DatePrecision.DAY, DateMethod.RELATIVE
    match = _LAST_HOURS.search(t)
    if match:
        hours = int(match[1])
        return anchor - dt.timedelta(days=max(1, -(-hours // 24))), anchor, DatePrecision.DAY, DateMethod.RELATIVE
    match = _LAST_DAYS.search(t)
    if match:
        days = _SMALL.get(match[1]) or int(match[1])
        return anchor - dt.timedelta(days=days), anchor, DatePrecision.WEEK, DateMethod.RELATIVE
    match = _DAYS_AGO.search(t)
    if match:
        days = _SMALL.get(match[1]) or int(match[1])
        day = anchor - dt.timedelta(days=days)
        return day, day, DatePrecision.DAY, DateMethod.RELATIVE

    match = _WEEKDAY_RE.search(t)
    if match:
        day = _weekday_on_or_before(anchor, _WEEKDAYS[match[1]])
        if re.search(r"\blast\s+" + match[1], t) and day == anchor:
            day -= dt.timedelta(days=7)
        end = anchor if since else day
        return day, end, DatePrecision.DAY, DateMethod.WEEKDAY

    if re.search(r"\blast week\b", t):
        monday = anchor - dt.timedelta(days=anchor.weekday() + 7)
        return monday, monday + dt.timedelta(days=6), DatePrecision.WEEK, DateMethod.RELATIVE
    if re.search(r"\bthis week\b|\bearlier this week\b", t):
        monday = anchor - dt.timedelta(days=anchor.weekday())
        return monday, anchor, DatePrecision.WEEK, DateMethod.RELATIVE
    if re.search(r"\blast month\b", t):
        year, month = (anchor.year, anchor.month - 1) if anchor.month > 1 else (anchor.year - 1, 12)
        start, end = _month_range(year, month)
        return start, end, DatePrecision.MONTH, DateMethod.RELATIVE
    if re.search(r"\bthis month\b|\bearlier this month\b", t):
        return anchor.replace(day=1), anchor, DatePrecision.MONTH, DateMethod.RELATIVE

    match = _MONTH_YEAR.search(t)
    if (
        match
        and match[1] == "may"
        and not match[2]
        and not re.search(r"\b(in|last|early|late|mid|since|from)\s+may\b", t)
    ):
        match = None  # "may" the verb, not the month
    if match:
        month = _MONTHS[match[1]]
        if match[2]:
            year, method = int(match[2]), DateMethod.ISO
        else:
            year, method = _month_on_or_before(anchor, month), DateMethod.MONTH
            if re.search(r"\blast\s+" + match[1], t) and year == anchor.year and month == anchor.month:
                year -= 1
        start, end = _month_range(year, month)
        return start, min(end, anchor) if end >= anchor >= start else end, DatePrecision.MONTH, method

    if re.search(r"\blast year\b", t):
        return dt.date(anchor.year - 1, 1, 1), dt.date(anchor.year - 1, 12, 31), DatePrecision.YEAR, DateMethod.RELATIVE
    match = _YEAR.search(t)
    if match:
        year = int(match[1])
        return dt.date(year, 1, 1), dt.date(year, 12, 31), DatePrecision.YEAR, DateMethod.ISO
    return None


def resolve_date(date: DateInfo | None, published: Published | None) -> DateRange:
    """Resolve an incident's date against its article's publication date.

    Order: an ISO value the record already holds; then the written text against the
    publication date (both ends of it when it is a range); else, with only a publication
    date, a range open at the start and ending on the latest publication day.
    """
    text = date.text if date is not None else None
    anchor = published.latest if published is not None else None
    if date is not None and date.iso:
        start, end, precision = _from_iso(date.iso)
        return DateRange(start=start, end=end, precision=precision, method=DateMethod.ISO, text=text, anchor=anchor)
    if date is not None and published is not None:
        ends = [_resolve_one(date.text, day) for day in {published.earliest, published.latest}]
        if all(r is not None for r in ends):
            found = [r for r in ends if r is not None]
            start = min(r[0] for r in found)
            end = max(r[1] for r in found)
            precision = found[0][2]
            if len({(r[0], r[1]) for r in found}) > 1 and precision is DatePrecision.DAY:
                precision = DatePrecision.WEEK if (end - start).days < 7 else DatePrecision.MONTH
            return DateRange(start=start, end=end, precision=precision, method=found[0][3], text=text, anchor=anchor)
    if date is not None and published is None:
        absolute = _resolve_absolute(date.text)
        if absolute is not None:
            start, end, precision = absolute
            return DateRange(start=start, end=end, precision=precision, method=DateMethod.ISO, text=text)
    if published is not None:
        return DateRange(end=published.latest, method=DateMethod.PUBLICATION, text=text, anchor=anchor)
    return DateRange(text=text)


def _resolve_absolute(text: str) -> tuple[dt.date, dt.date, DatePrecision] | None:
    """Dates that need no anchor because they carry a year ("8 July 2016", "April 2016", "2016")."""
    if not _YEAR.search(text):
        return None
    found = _resolve_one(text, dt.date(9999, 12, 31))
    if found is None or found[3] is not DateMethod.ISO:
        return None
    return found[0], found[1], found[2]
