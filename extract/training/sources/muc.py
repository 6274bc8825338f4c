"""MUC-3/4 (1991-92, Latin American terrorism reports) into the project's gold format.

The raw corpus holds message texts (``DEV-MUC3-0001 (NOSC)`` then the message) and answer
keys of 25-slot templates. :func:`convert_muc` turns every message into
``articles/<id>.txt`` and ``labels/<id>.json`` (a :class:`GoldDocument`); every value it
keeps is located in the text and quoted from it. The mapping and what it loses are written
up in ``training/muc/SOURCE.md``.

Key notation (TASKDOC, template-doc-part1 section 4): ``*`` not applicable, ``-`` empty,
``?`` before a fill marks it optional, ``/`` separates alternative fills, and ``A: "B"``
cross-references fill A to the string fill B of another slot. A template number followed
by ``(OPTIONAL)`` marks an incident of doubtful relevance to the MUC database.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from extract.core.schema import (
    SCHEMA_VERSION,
    AttributionStatus,
    Casualty,
    CasualtyKind,
    CountQualifier,
    DateInfo,
    DatePrecision,
    IncidentType,
    Location,
    Perpetrator,
    Weapon,
    WeaponCategory,
)
from extract.core.sentences import split_sentences
from extract.scoring.gold import GoldDocument, GoldIncident
from extract.training.reserved import reserved_reason

# --- the mapping (documented in training/muc/SOURCE.md) ----------------------------------

#: MUC incident types that are attacks under gold/GUIDELINES.md section 1. ROBBERY and
#: FORCED WORK STOPPAGE are not, and their templates are dropped.
INCIDENT_TYPES: dict[str, IncidentType] = {
    "ATTACK": IncidentType.OTHER_ATTACK,
    "BOMBING": IncidentType.OTHER_ATTACK,
    "ARSON": IncidentType.OTHER_ATTACK,
    "KIDNAPPING": IncidentType.OTHER_ATTACK,
    "HIJACKING": IncidentType.OTHER_ATTACK,
}
KEPT_STAGES = frozenset({"ACCOMPLISHED", "ATTEMPTED"})

STATUSES: dict[str, AttributionStatus] = {
    "REPORTED AS FACT": AttributionStatus.CONFIRMED,
    "CLAIMED OR ADMITTED": AttributionStatus.CLAIMED,
    "SUSPECTED OR ACCUSED": AttributionStatus.ACCUSED,
    "SUSPECTED OR ACCUSED BY AUTHORITIES": AttributionStatus.ACCUSED,
    "POSSIBLE": AttributionStatus.SUSPECTED,
}

WEAPONS: dict[str, WeaponCategory] = {
    "AERIAL BOMB": WeaponCategory.AERIAL_BOMB,
    "MORTAR": WeaponCategory.ARTILLERY_OR_ROCKETS,
    "ROCKET": WeaponCategory.ARTILLERY_OR_ROCKETS,
    "GUN": WeaponCategory.SMALL_ARMS,
    "HANDGUN": WeaponCategory.SMALL_ARMS,
    "MACHINE GUN": WeaponCategory.SMALL_ARMS,
    "RIFLE": WeaponCategory.SMALL_ARMS,
    "BOMB": WeaponCategory.OTHER,
    "VEHICLE BOMB": WeaponCategory.OTHER,
    "DYNAMITE": WeaponCategory.OTHER,
    "EXPLOSIVE": WeaponCategory.OTHER,
    "GRENADE": WeaponCategory.OTHER,
    "MINE": WeaponCategory.OTHER,
    "MOLOTOV COCKTAIL": WeaponCategory.OTHER,
    "CUTTING DEVICE": WeaponCategory.OTHER,
    "STONE": WeaponCategory.OTHER,
    "TORTURE": WeaponCategory.OTHER,
}

EFFECTS: dict[str, CasualtyKind] = {"DEATH": CasualtyKind.KILLED, "INJURY": CasualtyKind.INJURED}

#: Location types that are a first administrative level in the nine countries of interest.
ADMIN1_TYPES = frozenset({"DEPARTMENT", "PROVINCE", "STATE"})

_CLASH = re.compile(r"\b(?:clash(?:es|ed)?|fighting|skirmish(?:es)?|combat|firefight)\b", re.IGNORECASE)
_EFFECT_WORDS: dict[CasualtyKind, re.Pattern[str]] = {
    CasualtyKind.KILLED: re.compile(r"\b(?:kill|dead|death|die|murder|assassinat|massacre|execut|bod(?:y|ies))", re.I),
    CasualtyKind.INJURED: re.compile(r"\b(?:wound|injur|hurt)", re.I),
    CasualtyKind.CAPTURED: re.compile(r"\b(?:kidnap|abduct|hostage|seiz|captur|held)", re.I),
}
_TYPE_WORDS = {"ATTACK": "attack", "BOMBING": "bombing", "ARSON": "arson attack", "KIDNAPPING": "kidnapping"}

MAX_SUMMARY = 300

SLOTS = (
    "MESSAGE: ID",
    "MESSAGE: TEMPLATE",
    "INCIDENT: DATE",
    "INCIDENT: LOCATION",
    "INCIDENT: TYPE",
    "INCIDENT: STAGE OF EXECUTION",
    "INCIDENT: INSTRUMENT ID",
    "INCIDENT: INSTRUMENT TYPE",
    "PERP: INCIDENT CATEGORY",
    "PERP: INDIVIDUAL ID",
    "PERP: ORGANIZATION ID",
    "PERP: ORGANIZATION CONFIDENCE",
    "PHYS TGT: ID",
    "PHYS TGT: TYPE",
    "PHYS TGT: NUMBER",
    "PHYS TGT: FOREIGN NATION",
    "PHYS TGT: EFFECT OF INCIDENT",
    "PHYS TGT: TOTAL NUMBER",
    "HUM TGT: NAME",
    "HUM TGT: DESCRIPTION",
    "HUM TGT: TYPE",
    "HUM TGT: NUMBER",
    "HUM TGT: FOREIGN NATION",
    "HUM TGT: EFFECT OF INCIDENT",
    "HUM TGT: TOTAL NUMBER",
)
(_ID, _TEMPLATE, _DATE, _LOCATION, _TYPE, _STAGE, _INSTR_ID, _INSTR_TYPE) = range(8)
_ORG, _ORG_CONF, _PHYS_ID = 10, 11, 12
_HUM_NAME, _HUM_DESC, _HUM_NUMBER, _HUM_EFFECT = 18, 19, 21, 23

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH_NAMES = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)
_KEY_DATE = re.compile(r"^(\d{1,2})\s+([A-Z]{3})\s+(\d{2})$")
_DATELINE = re.compile(r"^[^\n]*?,\s*(\d{1,2})\s+([A-Za-z]{3})\s+(\d{2})\b[^\n]*?--")
_MESSAGE_LINE = re.compile(r"^\s*((?:DEV|TST\d+)-MUC\d-\d{4})\b[^\n]*$", re.MULTILINE | re.IGNORECASE)
_HAS_WORD = re.compile(r"\w")
_SLOT_LINE = re.compile(r"^(\d{1,2})\.\s+(.*)$")
_TODAY = re.compile(r"\b(?:today|this (?:morning|afternoon|evening)|tonight)\b", re.IGNORECASE)
_YESTERDAY = re.compile(r"\b(?:yesterday|last night)\b", re.IGNORECASE)


# --- parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """One fill of a slot: ``? HEAD / HEAD2: "STRING" / "STRING2"``."""

    optional: bool
    heads: tuple[str, ...]  # set fills or numbers, alternatives in order ("DEATH", "SOME DAMAGE", "50")
    strings: tuple[str, ...]  # quoted string fills or the strings a head refers to, alternatives in order


@dataclass
class Template:
    """One answer-key template: the raw fill lines of each slot, by slot number."""

    message_id: str
    number: int | None
    optional: bool
    slots: dict[int, list[str]] = field(default_factory=dict)

    def fills(self, slot: int) -> list[Fill]:
        return [f for f in (parse_fill(line) for line in self.slots.get(slot, [])) if f is not None]

    def first(self, slot: int) -> str:
        lines = self.slots.get(slot, [])
        return lines[0] if lines else "*"


def message_doc_id(message_id: str) -> str:
    """``DEV-MUC3-0001`` -> ``muc-dev-muc3-0001``."""
    return "muc-" + message_id.strip().lower()


def parse_texts(raw: str) -> dict[str, str]:
    """Message id -> message text (the header line with the id removed, the rest verbatim)."""
    out: dict[str, str] = {}
    matches = list(_MESSAGE_LINE.finditer(raw))
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(raw)
        out[m.group(1).upper()] = raw[m.end() : end].strip()
    return out


def parse_keys(raw: str) -> list[Template]:
    """The templates of a key file, in order. Comment lines (``;``) are skipped."""
    templates: list[Template] = []
    current: Template | None = None
    slot: int | None = None
    for line in raw.splitlines():
        if not line.strip() or line.lstrip().startswith(";"):
            if not line.strip():
                slot = None
            continue
        m = _SLOT_LINE.match(line)
        if m and int(m.group(1)) < len(SLOTS):
            slot = int(m.group(1))
            rest = m.group(2).strip()
            label = SLOTS[slot]
            value = rest[len(label) :].strip() if rest.upper().startswith(label) else _after_label(rest)
            if slot == _ID:
                current = Template(message_id=value.split("(")[0].strip().upper(), number=None, optional=False)
                templates.append(current)
                continue
            if current is None:
                continue
            if slot == _TEMPLATE:
                current.optional = "OPTIONAL" in value.upper()
                number = re.match(r"\s*(\d+)", value)
                current.number = int(number.group(1)) if number else None
            current.slots.setdefault(slot, []).append(value)
        elif current is not None and slot is not None and line[:1].isspace():
            current.slots.setdefault(slot, []).append(line.strip())
    return templates


def _after_label(rest: str) -> str:
    # A label spelt a little differently: the value starts after the run of spaces that ends it.
    parts = re.split(r"\s{2,}", rest, maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else ""


def parse_fill(line: str) -> Fill | None:
    """One fill line; None for ``*`` (not applicable) and ``-`` (empty)."""
    text = line.strip()
    optional = text.startswith("?")
    if optional:
        text = text[1:].strip()
    if text in ("", "*", "-"):
        return None
    strings_at = _top_level_colon(text)
    if strings_at is not None:
        head, tail = text[:strings_at], text[strings_at + 1 :]
        heads = tuple(h for h in (_unquote(x) for x in _split_alternatives(head)) if _HAS_WORD.search(h))
        strings = tuple(s for s in (_unquote(x) for x in _split_alternatives(tail)) if _HAS_WORD.search(s))
        return Fill(optional, heads, strings)
    pieces = _split_alternatives(text)
    if all(p.startswith('"') for p in pieces):
        return Fill(optional, (), tuple(s for s in (_unquote(p) for p in pieces) if _HAS_WORD.search(s)))
    return Fill(optional, tuple(p for p in pieces if p), ())


def _top_level_colon(text: str) -> int | None:
    """The colon that separates a head from the strings it refers to (outside quotes)."""
    inside = False
    for k, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        elif ch == ":" and not inside and '"' in text[k:]:
            return k
    return None


def _split_alternatives(text: str) -> list[str]:
    out: list[str] = []
    depth, inside, start = 0, False, 0
    for k, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        elif not inside and ch == "(":
            depth += 1
        elif not inside and ch == ")":
            depth -= 1
        elif not inside and depth <= 0 and ch == "/":
            out.append(text[start:k].strip())
            start = k + 1
    out.append(text[start:].strip())
    return out


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return " ".join(text.split())


@dataclass(frozen=True)
class LocationParts:
    """A MUC location, most general first: ``[(name, type or None), ...]``."""

    parts: tuple[tuple[str, str | None], ...]


def parse_location(value: str) -> list[LocationParts]:
    """``EL SALVADOR: SAN MIGUEL (DEPARTMENT): X (TOWN)``, alternatives ``(A) / (B)`` in order."""
    text = value.strip().lstrip("?").strip()
    if text in ("", "*", "-"):
        return []
    out = []
    for alternative in _split_alternatives(text):
        alt = alternative.strip()
        while alt.startswith("(") and alt.endswith(")") and _balanced(alt[1:-1]):
            alt = alt[1:-1].strip()
        parts: list[tuple[str, str | None]] = []
        for piece in alt.split(":"):
            piece = piece.split(" - ")[0].strip()  # "between A and B": keep A
            m = re.match(r"^(.*?)\s*\(([^()]*)\)\s*$", piece)
            name, kind = (m.group(1), m.group(2).strip().upper()) if m else (piece, None)
            name = " ".join(name.split())
            if name:
                parts.append((name, kind))
        if parts:
            out.append(LocationParts(tuple(parts)))
    return out


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


# --- locating values in the text ---------------------------------------------------------


class _Text:
    """An article with its sentences, and case- and whitespace-tolerant search."""

    def __init__(self, text: str):
        self.text = text
        spans = split_sentences(_sentence_proxy(text))
        self.starts = [s.start for s in spans]
        self.ends = [s.end for s in spans]

    def find(self, value: str) -> list[tuple[int, int]]:
        tokens = value.split()
        if not tokens:
            return []
        pattern = r"\s+".join(re.escape(t) for t in tokens)
        if re.match(r"\w", tokens[0]):
            pattern = r"(?<!\w)" + pattern
        if re.search(r"\w$", tokens[-1]):
            pattern += r"(?!\w)"
        return [(m.start(), m.end()) for m in re.finditer(pattern, self.text, re.IGNORECASE)]

    def sentence(self, start: int, end: int) -> tuple[int, int]:
        """The sentence (or run of sentences) that holds ``text[start:end]``."""
        first = max(bisect.bisect_right(self.starts, start) - 1, 0)
        last = max(bisect.bisect_left(self.starts, end) - 1, first)
        return self.starts[first], self.ends[last]

    def quote(self, start: int, end: int) -> str:
        s, e = self.sentence(start, end)
        return self.text[s:e].strip()

    def surface(self, span: tuple[int, int]) -> str:
        return " ".join(self.text[span[0] : span[1]].split())


def _sentence_proxy(text: str) -> str:
    """A copy of the same length that the sentence splitter reads well.

    MUC texts are hard-wrapped and mostly upper case, so the splitter would end a unit at
    every line. Line breaks inside a paragraph become spaces (a paragraph starts with an
    indented or a blank line), and an all-caps text is title-cased so that abbreviations
    (``GEN.``) are recognised. Offsets into the copy are offsets into the text.
    """
    chars = list(text)
    for k, ch in enumerate(text):
        if ch == "\n" and k + 1 < len(text) and not text[k + 1].isspace() and k > 0 and text[k - 1] != "\n":
            chars[k] = " "
    proxy = "".join(chars)
    if not any(c.islower() for c in text):
        titled = proxy.title()
        if len(titled) == len(proxy):
            proxy = titled
    return proxy


def _nearest(spans: list[tuple[int, int]], anchor: int) -> tuple[int, int]:
    return min(spans, key=lambda s: (abs(s[0] - anchor), s[0]))


# --- converting one document -------------------------------------------------------------


@dataclass
class Counts:
    """What a conversion kept and dropped."""

    documents: int = 0
    incidents: int = 0
    documents_without_incidents: int = 0
    reserved_excluded: int = 0
    incidents_by_type: Counter[str] = field(default_factory=Counter)
    dropped_incidents: Counter[str] = field(default_factory=Counter)
    dropped_values: Counter[str] = field(default_factory=Counter)
    reserved: Counter[str] = field(default_factory=Counter)
    keys_without_text: int = 0
    texts_without_key: int = 0
    invalid: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "incidents": self.incidents,
            "incidents_by_type": dict(sorted(self.incidents_by_type.items())),
            "documents_without_incidents": self.documents_without_incidents,
            "dropped_incidents": dict(sorted(self.dropped_incidents.items())),
            "dropped_values": dict(sorted(self.dropped_values.items())),
            "reserved_excluded": self.reserved_excluded,
            "reserved": dict(sorted(self.reserved.items())),
            "keys_without_text": self.keys_without_text,
            "texts_without_key": self.texts_without_key,
            "invalid": list(self.invalid),
        }


def convert_document(
    message_id: str, text: str, templates: list[Template], counts: Counts, *, include_optional: bool = True
) -> GoldDocument:
    """The gold document of one message from its key templates (values not located are dropped)."""
    doc = _Text(text)
    dateline = _dateline_date(text)
    incidents: list[GoldIncident] = []
    for template in templates:
        if template.number is None:  # the "no relevant incident" template (all slots *)
            continue
        try:
            incident = _convert_template(doc, dateline, template, counts, include_optional)
        except ValidationError as exc:  # counted and reported, so that one odd template does not stop a run
            counts.dropped_incidents["invalid"] += 1
            counts.invalid.append(f"{template.message_id} template {template.number}: {exc.errors()[0]['msg']}")
            continue
        if incident is not None:
            incidents.append(incident)
    if incidents:
        incidents[0] = incidents[0].model_copy(update={"primary": True})
    return GoldDocument(
        id=message_doc_id(message_id),
        schema_version=SCHEMA_VERSION,
        incidents=incidents,
        note=f"Converted from the MUC-3/4 answer key for {message_id} by extract.training.sources.muc; "
        "summaries are generated from the key, not written by an annotator (training/muc/SOURCE.md).",
    )


def _convert_template(
    doc: _Text, dateline: dt.date | None, template: Template, counts: Counts, include_optional: bool
) -> GoldIncident | None:
    types = [t.upper() for t in _split_alternatives(template.first(_TYPE).lstrip("?").strip())]
    stages = [s.upper() for s in _split_alternatives(template.first(_STAGE).lstrip("?").strip())]
    if template.optional and not include_optional:
        counts.dropped_incidents["optional_template"] += 1
        return None
    if not stages or stages[0] not in KEPT_STAGES:
        counts.dropped_incidents[f"stage_{(stages[0] if stages else 'missing').lower().replace(' ', '_')}"] += 1
        return None
    if not types or types[0] not in INCIDENT_TYPES:
        counts.dropped_incidents[f"type_{(types[0] if types else 'missing').lower().replace(' ', '_')}"] += 1
        return None

    anchor = _anchor(doc, template)
    if anchor is None:
        counts.dropped_incidents["not_located"] += 1
        return None
    alternatives: dict[str, list[str]] = {}
    dropped = counts.dropped_values

    instrument_types = {h.upper() for f in template.fills(_INSTR_TYPE) for h in f.heads}
    quote = doc.quote(*anchor)
    incident_type, type_alts = _incident_type(types, instrument_types, quote)
    if type_alts:
        alternatives["type"] = type_alts

    date = _date(doc, dateline, template, anchor, dropped, alternatives)
    location = _location(doc, template, anchor, dropped, alternatives)
    perpetrators = _perpetrators(doc, template, anchor, dropped, alternatives)
    weapon = _weapon(doc, template, anchor, dropped, alternatives)
    casualties = _casualties(doc, template, types[0], anchor, dropped, alternatives)

    summary = _summary(types[0], stages[0], location, date, perpetrators, casualties)
    number = template.number or 0
    counts.incidents_by_type[incident_type.value] += 1
    return GoldIncident(
        key=f"{template.message_id.lower()}-{number}",
        type=incident_type,
        quote=quote,
        summary=summary,
        date=date,
        location=location,
        perpetrators=perpetrators,
        weapon=weapon,
        casualties=casualties,
        alternatives={k: v for k, v in alternatives.items() if v},
        note=f"MUC template {number}: {types[0]}, {stages[0]}"
        + (" (optional in the key)" if template.optional else ""),
    )


def _strings(template: Template, slot: int, *, optional: bool = False) -> Iterator[str]:
    for fill in template.fills(slot):
        if fill.optional and not optional:
            continue
        yield from fill.strings
        if slot in (_HUM_DESC,) and not fill.strings:
            yield from fill.heads


def _anchor(doc: _Text, template: Template) -> tuple[int, int] | None:
    """The first mention of the incident's target, else its perpetrator, else its instrument."""
    groups: list[Iterable[str]] = [
        [*_strings(template, _HUM_NAME), *_hum_descriptions(template), *_strings(template, _PHYS_ID)],
        [*_strings(template, _ORG), *_strings(template, 9)],
        [*_strings(template, _INSTR_ID)],
        [
            *_strings(template, _HUM_NAME, optional=True),
            *_strings(template, _PHYS_ID, optional=True),
            *_strings(template, _ORG, optional=True),
        ],
    ]
    for group in groups:
        spans = [span for value in group for span in doc.find(value)]
        if spans:
            return min(spans)
    return None


def _hum_descriptions(template: Template) -> list[str]:
    out: list[str] = []
    for fill in template.fills(_HUM_DESC):
        if not fill.optional:
            out.extend(fill.heads if fill.strings else ())
            out.extend(fill.strings if not fill.heads else ())
    return out


def _incident_type(types: list[str], instruments: set[str], quote: str) -> tuple[IncidentType, list[str]]:
    base = INCIDENT_TYPES[types[0]]
    chosen = base
    if "AERIAL BOMB" in instruments:
        chosen = IncidentType.AIR_STRIKE
    elif types[0] == "ATTACK" and instruments & {"MORTAR", "ROCKET"}:
        chosen = IncidentType.SHELLING
    elif types[0] == "ATTACK" and _CLASH.search(quote):
        chosen = IncidentType.ARMED_CLASH
    others = [base] + [INCIDENT_TYPES[t] for t in types[1:] if t in INCIDENT_TYPES]
    alts: list[str] = []
    for t in others:
        if t is not chosen and t.value not in alts:
            alts.append(t.value)
    return chosen, alts


def _dateline_date(text: str) -> dt.date | None:
    m = _DATELINE.match(text)
    return _to_date(m.group(1), m.group(2), m.group(3)) if m else None


def _to_date(day: str, month: str, year: str) -> dt.date | None:
    try:
        return dt.date(1900 + int(year), _MONTHS.index(month.upper()) + 1, int(day))
    except ValueError:
        return None


def _date(
    doc: _Text,
    dateline: dt.date | None,
    template: Template,
    anchor: tuple[int, int],
    dropped: Counter[str],
    alternatives: dict[str, list[str]],
) -> DateInfo | None:
    raw = template.first(_DATE).strip()
    if raw in ("*", "-", ""):
        return None
    optional = raw.startswith("?")
    m = _KEY_DATE.match(raw.lstrip("?").strip())
    when = _to_date(*m.groups()) if m else None
    if when is None:
        dropped["date_range_or_before"] += 1  # "- 08 JAN 90" (on or before) and "D1 - D2"
        return None
    found = _date_phrase(doc, when, anchor, dateline)
    if found is None:
        dropped["date_not_found"] += 1
        return None
    span, with_year = found
    written = doc.surface(span)
    if optional:
        alternatives["date.text"] = [written]
        return None
    # The article makes the date absolute when the phrase has its year or the message has
    # a dated dateline (gold/GUIDELINES.md section 5: a weekday with a dated dateline).
    iso = when.isoformat() if with_year or dateline is not None else None
    return DateInfo(text=written, iso=iso, precision=DatePrecision.DAY, quote=doc.quote(*span))


def _date_phrase(
    doc: _Text, when: dt.date, anchor: tuple[int, int], dateline: dt.date | None
) -> tuple[tuple[int, int], bool] | None:
    month = rf"(?:{_MONTH_NAMES[when.month - 1]}|{_MONTHS[when.month - 1]}\.?)"
    day = rf"0?{when.day}"
    year = rf"(?P<year>,?\s+(?:of\s+)?(?:19)?{when.year % 100:02d})"
    patterns = [
        rf"(?<!\w){day}\s+(?:of\s+)?{month}{year}?(?!\w)",
        rf"(?<!\w){month}\s+{day}(?:st|nd|rd|th)?{year}?(?!\w)",
    ]
    header = _DATELINE.match(doc.text)
    header_end = header.end() if header else 0
    found: list[tuple[tuple[int, int], bool]] = []
    for pattern in patterns:
        for m in re.finditer(pattern, doc.text, re.IGNORECASE):
            if m.start() >= header_end:  # not the dateline itself
                found.append(((m.start(), m.end()), m.group("year") is not None))
    if found:
        return min(found, key=lambda f: (abs(f[0][0] - anchor[0]), f[0][0]))
    if dateline is not None:
        s, e = doc.sentence(*anchor)
        sentence = doc.text[s:e]
        for relative, offset in ((_TODAY, 0), (_YESTERDAY, 1)):
            if when == dateline - dt.timedelta(days=offset):
                hit = relative.search(sentence)
                if hit:
                    return (s + hit.start(), s + hit.end()), False
    return None


def _location(
    doc: _Text, template: Template, anchor: tuple[int, int], dropped: Counter[str], alternatives: dict[str, list[str]]
) -> Location | None:
    options = parse_location(template.first(_LOCATION))
    if not options:
        return None
    parts = options[0].parts
    country = parts[0][0] if parts[0][1] is None else None
    admin1 = [name for name, kind in parts[1:] if kind in ADMIN1_TYPES]
    places = [name for name, kind in parts if kind is not None and kind not in ADMIN1_TYPES]

    def locate(name: str) -> tuple[int, int] | None:
        spans = doc.find(name)
        return _nearest(spans, anchor[0]) if spans else None

    values: dict[str, str] = {}
    quote_span: tuple[int, int] | None = None
    place_span = None
    for k, name in enumerate(reversed(places)):  # most specific first
        place_span = locate(name)
        if place_span:
            values["place"] = doc.surface(place_span)
            quote_span = place_span
            broader = places[: len(places) - 1 - k]
            alternatives["location.place"] = _distinct(broader, values["place"])
            break
        dropped["location_part_not_found"] += 1
    if admin1:
        span = locate(admin1[0])
        if span:
            values["admin1"] = doc.surface(span)
            quote_span = quote_span or span
        else:
            dropped["location_part_not_found"] += 1
    if country:
        span = locate(country)
        if span:
            values["country"] = doc.surface(span)
            quote_span = quote_span or span
        else:
            # Not in the text: accepted if given, not required (GUIDELINES section 14).
            alternatives["location.country"] = [country]
    for other in options[1:]:
        for name, kind in other.parts:
            if kind is not None and kind not in ADMIN1_TYPES:
                alternatives.setdefault("location.place", [])
                alternatives["location.place"] = _distinct(
                    [*alternatives["location.place"], name], values.get("place", "")
                )
    if quote_span is None:
        dropped["location_not_found"] += 1
        for key in ("location.place", "location.country"):
            alternatives.pop(key, None)
        return None
    return Location(quote=doc.quote(*quote_span), **values)


def _distinct(values: Iterable[str], coded: str) -> list[str]:
    out: list[str] = []
    seen = {coded.casefold()}
    for v in values:
        if v.casefold() not in seen:
            seen.add(v.casefold())
            out.append(v)
    return out


def _perpetrators(
    doc: _Text, template: Template, anchor: tuple[int, int], dropped: Counter[str], alternatives: dict[str, list[str]]
) -> list[Perpetrator]:
    confidences = template.fills(_ORG_CONF)
    out: list[Perpetrator] = []
    for fill in template.fills(_ORG):
        if fill.optional:
            dropped["optional_fill"] += 1
            continue
        names = {s.casefold() for s in fill.strings}
        conf = next((c for c in confidences if names & {s.casefold() for s in c.strings}), None)
        statuses = [STATUSES[h.upper()] for h in (conf.heads if conf else ()) if h.upper() in STATUSES]
        if not statuses:
            dropped["perpetrator_without_confidence"] += 1
            continue
        located = [(name, doc.find(name)) for name in fill.strings]
        located = [(name, spans) for name, spans in located if spans]
        if not located:
            dropped["perpetrator_not_found"] += 1
            continue
        span = _nearest(located[0][1], anchor[0])
        name = doc.surface(span)
        if any(p.name.casefold() == name.casefold() for p in out):
            continue
        index = len(out)
        out.append(Perpetrator(name=name, status=statuses[0], quote=doc.quote(*span)))
        name_alts = _distinct([n for n in fill.strings if len(n) <= 300], name)
        if name_alts:
            alternatives[f"perpetrators[{index}].name"] = name_alts
        status_alts = [
            s.value
            for s in dict.fromkeys(statuses[1:])
            if s is not statuses[0]
            # A claim is never accepted as confirmed (GUIDELINES section 8).
            and not (statuses[0] is AttributionStatus.CLAIMED and s is AttributionStatus.CONFIRMED)
        ]
        if status_alts:
            alternatives[f"perpetrators[{index}].status"] = status_alts
    return out


def _weapon(
    doc: _Text, template: Template, anchor: tuple[int, int], dropped: Counter[str], alternatives: dict[str, list[str]]
) -> Weapon | None:
    weapon: Weapon | None = None
    for fill in template.fills(_INSTR_TYPE):
        if weapon is not None:
            dropped["weapon_beyond_first"] += 1
            continue
        if fill.optional:
            dropped["optional_fill"] += 1
            continue
        if not fill.strings:
            dropped["weapon_without_text"] += 1
            continue
        located = [(text, doc.find(text)) for text in fill.strings]
        located = [(text, spans) for text, spans in located if spans]
        if not located:
            dropped["weapon_not_found"] += 1
            continue
        span = _nearest(located[0][1], anchor[0])
        categories = [WEAPONS.get(h.upper(), WeaponCategory.UNKNOWN) for h in fill.heads] or [WeaponCategory.UNKNOWN]
        text = doc.surface(span)
        weapon = Weapon(text=text, category=categories[0], quote=doc.quote(*span))
        alternatives["weapon.text"] = _distinct([t for t in fill.strings if len(t) <= 300], text)
        alternatives["weapon.category"] = [c.value for c in dict.fromkeys(categories[1:]) if c is not categories[0]]
    return weapon


@dataclass(frozen=True)
class _Count:
    count: int
    qualifier: CountQualifier
    count_max: int | None
    alternatives: tuple[str, ...]


def parse_count(heads: tuple[str, ...]) -> _Count | None:
    """``("50",)`` -> 50 exact; ``("2 - 3",)`` -> range; further alternatives as digits; PLURAL -> None."""
    numbers: list[tuple[int, int | None]] = []
    for head in heads:
        m = re.match(r"^(\d+)(?:\s*-\s*(\d+))?$", head.strip())
        if m:
            numbers.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None))
    if not numbers:
        return None
    low, high = numbers[0]
    if high is not None and high > low:
        return _Count(low, CountQualifier.RANGE, high, ())
    alts = tuple(dict.fromkeys(str(n) for n, _ in numbers[1:] if n != low))
    return _Count(low, CountQualifier.EXACT, None, alts)


def _casualties(
    doc: _Text,
    template: Template,
    incident_type: str,
    anchor: tuple[int, int],
    dropped: Counter[str],
    alternatives: dict[str, list[str]],
) -> list[Casualty]:
    names = {s.casefold() for s in _strings(template, _HUM_NAME, optional=True)}
    described: dict[str, str] = {}  # name -> its description ("ARNULFO ROMERO" -> "MONSIGNOR")
    for fill in template.fills(_HUM_DESC):
        for s in fill.strings if fill.heads else ():
            described.setdefault(s.casefold(), fill.heads[0])
    numbers = template.fills(_HUM_NUMBER)

    targets: list[tuple[tuple[str, ...], Fill | None]] = []  # (alternative strings, effect fill)
    seen: set[str] = set()
    for fill in template.fills(_HUM_EFFECT):
        targets.append((fill.strings, fill))
        seen.update(s.casefold() for s in fill.strings)
    if incident_type == "KIDNAPPING":  # the kidnapped need no effect fill: the incident is the effect
        for fill in [*template.fills(_HUM_DESC), *template.fills(_HUM_NAME)]:
            strings = fill.strings if fill.strings else fill.heads
            if fill.heads and fill.strings:  # "DESCRIPTION": "NAME" is described under the name
                continue
            if strings and not {s.casefold() for s in strings} & seen:
                targets.append((strings, None))
                seen.update(s.casefold() for s in strings)

    out: list[Casualty] = []
    for strings, effect in targets:
        if effect is not None and effect.optional:
            dropped["optional_fill"] += 1
            continue
        kinds = [EFFECTS[h.upper()] for h in (effect.heads if effect else ()) if h.upper() in EFFECTS]
        if not kinds:
            if incident_type == "KIDNAPPING" and (effect is None or not effect.heads or "DEATH" not in effect.heads):
                kinds = [CasualtyKind.CAPTURED]
            else:
                dropped["effect_not_a_casualty"] += 1  # NO INJURY, REGAINED FREEDOM, RESIGNATION, ...
                continue
        folded = {s.casefold() for s in strings}
        count_fill = next((n for n in numbers if folded & {s.casefold() for s in n.strings}), None)
        count = parse_count(count_fill.heads) if count_fill else None
        if count is None and folded & names:
            count = _Count(1, CountQualifier.EXACT, None, ())
        if count is None:
            dropped["casualty_count_plural_or_missing"] += 1
            continue
        # who: the description of a named person, else the shortest string the text holds.
        whos = [described.get(s.casefold(), s) for s in strings]
        candidates = [(w, doc.find(w)) for w in [*whos, *strings]]
        candidates = [(w, spans) for w, spans in candidates if spans]
        if not candidates:
            dropped["casualty_not_found"] += 1
            continue
        effect_words = _EFFECT_WORDS[kinds[0]]
        best_who = min(candidates, key=lambda c: len(c[0]))[0]
        spans = [sp for w, sps in candidates for sp in sps]

        def score(span: tuple[int, int], pattern: re.Pattern[str] = effect_words) -> tuple[int, int]:
            s, e = doc.sentence(*span)
            return (0 if pattern.search(doc.text[s:e]) else 1, abs(span[0] - anchor[0]))

        span = min(spans, key=score)
        who_spans = doc.find(best_who)
        who = doc.surface(_nearest(who_spans, span[0])) if len(best_who) <= 300 else None
        if any(c.kind is kinds[0] and c.who == who and c.count == count.count for c in out):
            continue
        index = len(out)
        out.append(
            Casualty(
                kind=kinds[0],
                count=count.count,
                count_max=count.count_max,
                qualifier=count.qualifier,
                who=who,
                quote=doc.quote(*span),
            )
        )
        if count.alternatives:
            alternatives[f"casualties[{index}].count"] = list(count.alternatives)
        kind_alts = [k.value for k in dict.fromkeys(kinds[1:]) if k is not kinds[0]]
        if kind_alts:
            alternatives[f"casualties[{index}].kind"] = kind_alts
        who_alts = _distinct([w for w in [*whos, *strings] if len(w) <= 300], who or "")
        if who and who_alts:
            alternatives[f"casualties[{index}].who"] = who_alts
    return out


def _show(value: str) -> str:
    return value.title() if value.isupper() else value


def _summary(
    muc_type: str,
    stage: str,
    location: Location | None,
    date: DateInfo | None,
    perpetrators: list[Perpetrator],
    casualties: list[Casualty],
) -> str:
    word = _TYPE_WORDS.get(muc_type, muc_type.lower())
    text = "An attempted " + word if stage == "ATTEMPTED" else ("An " if word[0] in "aeiou" else "A ") + word
    if location is not None:
        text += " in " + ", ".join(_show(p) for p in (location.place, location.admin1, location.country) if p)
    if date is not None:
        text += f" on {date.iso}" if date.iso else f" ({_show(date.text).lower()})"
    if perpetrators:
        text += " attributed to " + " and ".join(f"{_show(p.name)} ({p.status.value})" for p in perpetrators)
    groups = [
        f"{c.count}{'-' + str(c.count_max) if c.count_max else ''} {_show(c.who).lower() if c.who else 'people'} "
        f"{c.kind.value}"
        for c in casualties
    ]
    # A summary is a name-length field (at most 300 characters): keep the casualty groups that fit.
    while groups and len(text) + len("; " + ", ".join(groups)) + 1 > MAX_SUMMARY:
        groups.pop()
    if groups:
        text += "; " + ", ".join(groups)
    return text[: MAX_SUMMARY - 1] + "."


# --- the corpus --------------------------------------------------------------------------


def _corpus_files(corpora_dir: Path) -> tuple[list[Path], list[Path]]:
    """(text files, key files) under ``TASK/CORPORA``; the mixed-case copy of a text wins."""
    texts: list[Path] = []
    keys: list[Path] = []
    for folder in sorted(p for p in corpora_dir.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.name.startswith("key-"):
                keys.append(path)
            elif path.name.lower().startswith(folder.name.lower() + "-"):
                if path.name.endswith(".mixed-case"):
                    continue
                mixed = path.with_name(path.name + ".mixed-case")
                texts.append(mixed if mixed.is_file() else path)
    return texts, keys


def read_corpus(corpora_dir: Path) -> tuple[dict[str, str], dict[str, list[Template]]]:
    """All message texts and all key templates, by message id."""
    text_files, key_files = _corpus_files(Path(corpora_dir))
    texts: dict[str, str] = {}
    for path in text_files:
        texts.update(parse_texts(path.read_text(encoding="latin-1")))
    keys: dict[str, list[Template]] = {}
    for path in key_files:
        for template in parse_keys(path.read_text(encoding="latin-1")):
            keys.setdefault(template.message_id, []).append(template)
    return texts, keys


def _years(text: str) -> set[int]:
    when = _dateline_date(text)
    return {when.year} if when else set()


def convert_muc(corpora_dir: Path, out: Path, *, include_optional: bool = True) -> dict[str, Any]:
    """Convert the MUC-3/4 corpus under ``corpora_dir`` (``TASK/CORPORA``) into ``out``.

    Writes ``out/articles/<id>.txt`` and ``out/labels/<id>.json`` for every message that has
    a key and is not reserved, and returns what was kept and dropped.
    """
    texts, keys = read_corpus(Path(corpora_dir))
    counts = Counts()
    counts.keys_without_text = len(set(keys) - set(texts))
    counts.texts_without_key = len(set(texts) - set(keys))
    out = Path(out)
    (out / "articles").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for message_id in sorted(set(texts) & set(keys)):
        text = texts[message_id]
        reason = reserved_reason(text, years=_years(text))
        if reason is not None:
            counts.reserved_excluded += 1
            counts.reserved[reason] += 1
            continue
        doc = convert_document(message_id, text, keys[message_id], counts, include_optional=include_optional)
        (out / "articles" / f"{doc.id}.txt").write_text(text, encoding="utf-8")
        payload = doc.model_dump(mode="json")
        (out / "labels" / f"{doc.id}.json").write_text(
            json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        counts.documents += 1
        counts.incidents += len(doc.incidents)
        counts.documents_without_incidents += not doc.incidents
    return counts.as_dict()


def rebuild_articles(corpora_dir: Path, out: Path) -> int:
    """Write ``out/articles/<id>.txt`` for every label in ``out/labels`` from the raw corpus.

    The texts are not committed (their terms do not say they may be redistributed); this
    restores them from a copy of the corpus. Returns how many were written.
    """
    texts, _ = read_corpus(Path(corpora_dir))
    by_id = {message_doc_id(m): t for m, t in texts.items()}
    out = Path(out)
    (out / "articles").mkdir(parents=True, exist_ok=True)
    written = 0
    for label in sorted((out / "labels").glob("*.json")):
        text = by_id.get(label.stem)
        if text is not None:
            (out / "articles" / f"{label.stem}.txt").write_text(text, encoding="utf-8")
            written += 1
    return written
