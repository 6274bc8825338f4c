"""Documents from Wikipedia's "List of aviation shootdowns and accidents during the Syrian civil war".

The list (CC BY-SA 4.0, Wikipedia contributors) is read from a Markdown copy of the
article: one ``## <year>`` heading per year, then one bullet per entry::

     * Roundel of Syria.svg (**2**) 20 May 2015 – During the Tadmur offensive (2015), ...

Each dated entry becomes one short document made of the entry's text exactly as the
list writes it, after the date and the dash: the roundel image's name, the aircraft
count in bold and the date are list markup, not part of the report, and nothing is
added in their place. The list's date is kept beside the document (it is not in the
text, so a label dates an entry only from what the entry itself says).

Every document is run through :func:`extract.training.reserved.reserved_reason` with
the entry's year; what it names is returned separately and never written.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from extract.training.reserved import reserved_reason

#: The page the list comes from (for the attribution).
TITLE = "List of aviation shootdowns and accidents during the Syrian civil war"

#: Entries of incidents the project keeps out of training that the reserved filter does not
#: name (their spelling escapes its patterns): id -> the incident.
EXCLUDED_BY_HAND: dict[str, str] = {
    "wiki-syria-2016-07-08-1": "helicopter downed near Palmyra (Jul 2016)",
    "wiki-syria-2016-08-01-1": "seed: Mi-8 over Idlib (Aug 2016)",
    "wiki-syria-2018-02-10-1": "Israeli F-16 and Iranian drone (Feb 2018)",
    "wiki-syria-2018-09-17-1": "Il-20 lost off Latakia (Sep 2018)",
}

_MONTHS = {
    name: number
    for number, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
}
_YEAR_HEADING = re.compile(r"^##\s+(\d{4})\s*$")
_OTHER_HEADING = re.compile(r"^#{1,6}\s")
_BULLET = re.compile(r"^\s*[*-]\s+(?P<body>.*)$")
# An optional roundel image name ("Roundel of Syria.svg", "Roundel of the USAF.svg"), then
# an optional bold count "(**2**)", then "<day> <Month> <year>", then a dash.
_ENTRY = re.compile(
    r"^(?:(?:[^\s]+\s+)*?[^\s]*\.svg\s+)?"
    r"(?:\(\*\*\d+\*\*\)\s*)?"
    r"(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]+)\s+(?P<year>\d{4})"
    r"\s*[–—-]\s*(?P<text>.+)$"
)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_WIKILINK = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]")
_TAG = re.compile(r"<[^>]+>")
_REF = re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", re.DOTALL)
_FOOTNOTE = re.compile(r"\[(?:\d+|citation needed|[a-z])\]")
_EMPHASIS = re.compile(r"(\*{1,3}|_{2})(?=\S)(.+?)(?<=\S)\1")


@dataclass(frozen=True)
class Entry:
    """One dated entry of the list."""

    id: str
    date: dt.date
    text: str


@dataclass(frozen=True)
class Parsed:
    """The entries free to use, and those the reserved filter dropped (with its reason)."""

    entries: list[Entry]
    dropped: list[tuple[Entry, str]]
    undated: list[str]


def clean(text: str) -> str:
    """The entry's text without wiki, Markdown or HTML markup, whitespace runs made single."""
    text = _REF.sub("", text)
    text = _WIKILINK.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    text = _FOOTNOTE.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = html.unescape(text)
    return " ".join(text.split())


def _entries(lines: Iterable[str]) -> tuple[list[tuple[dt.date, str]], list[str]]:
    dated: list[tuple[dt.date, str]] = []
    undated: list[str] = []
    in_year = False
    for line in lines:
        if _YEAR_HEADING.match(line):
            in_year = True
            continue
        if _OTHER_HEADING.match(line):
            in_year = False
            continue
        bullet = _BULLET.match(line)
        if not in_year or not bullet:
            continue
        body = bullet.group("body").strip()
        match = _ENTRY.match(body)
        month = _MONTHS.get(match.group("month").lower()) if match else None
        if match is None or month is None:
            undated.append(clean(body))
            continue
        try:
            date = dt.date(int(match.group("year")), month, int(match.group("day")))
        except ValueError:
            undated.append(clean(body))
            continue
        text = clean(match.group("text"))
        if text:
            dated.append((date, text))
    return dated, undated


def parse(markdown: str, *, skip: dict[str, str] | None = None) -> Parsed:
    """Parse the list into documents, in list order.

    Ids are ``wiki-syria-<yyyy-mm-dd>-<n>``, ``n`` counting the entries of one date from 1
    in list order (ids stay stable whichever entries are dropped). ``skip`` names ids to
    leave out by hand, each with its reason (by default :data:`EXCLUDED_BY_HAND`).
    """
    skipped = EXCLUDED_BY_HAND if skip is None else skip
    dated, undated = _entries(markdown.splitlines())
    seen: dict[dt.date, int] = {}
    entries: list[Entry] = []
    dropped: list[tuple[Entry, str]] = []
    for date, text in dated:
        seen[date] = seen.get(date, 0) + 1
        entry = Entry(id=f"wiki-syria-{date.isoformat()}-{seen[date]}", date=date, text=text)
        reason = skipped.get(entry.id) or reserved_reason(text, years={date.year})
        if reason is None:
            entries.append(entry)
        else:
            dropped.append((entry, reason))
    return Parsed(entries=entries, dropped=dropped, undated=undated)


def write_articles(entries: Iterable[Entry], out_dir: str | Path = "out") -> list[Path]:
    """Write each entry as ``<out_dir>/articles/<id>.txt`` (the text and one newline)."""
    articles = Path(out_dir) / "articles"
    articles.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in entries:
        path = articles / f"{entry.id}.txt"
        path.write_text(entry.text + "\n", encoding="utf-8")
        paths.append(path)
    return paths
