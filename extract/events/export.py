"""Export events as ACLED-style and UCDP GED-style tables, Parquet and a Hugging Face dataset.

The mapping from this project's types and statuses to ACLED's and UCDP's fields is
declared here once (:data:`ACLED_TYPES`, :func:`acled_row`, :func:`ucdp_row`) and
documented in the README. A column whose value cannot be derived from the records is
left empty; nothing is filled in by default.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from extract.core.errors import ConfigError
from extract.core.schema import AttributionStatus, CasualtyKind, DatePrecision, IncidentType, WeaponCategory
from extract.events.actors import ActorTable, interaction
from extract.events.records import CasualtyEstimate, Claim, Event

ACLED_COLUMNS: tuple[str, ...] = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type", "sub_event_type",
    "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2", "interaction", "civilian_targeting",
    "iso", "region", "country", "admin1", "admin2", "admin3", "location", "latitude", "longitude", "geo_precision",
    "source", "source_scale", "notes", "fatalities", "tags", "timestamp",
)  # fmt: skip

UCDP_COLUMNS: tuple[str, ...] = (
    "id", "year", "side_a", "side_b", "number_of_sources", "source_article", "source_headline", "where_prec",
    "where_description", "adm_1", "latitude", "longitude", "country", "event_clarity", "date_prec", "date_start",
    "date_end", "deaths_civilians", "deaths_unknown", "best", "high", "low",
)  # fmt: skip

_REMOTE = "Explosions/Remote violence"
_SHELLING = "Shelling/artillery/missile attack"
#: Incident type -> (disorder_type, event_type, sub_event_type); empty strings where ACLED has no match.
ACLED_TYPES: Mapping[IncidentType, tuple[str, str, str]] = {
    IncidentType.AIRCRAFT_DOWNING: ("Political violence", _REMOTE, _SHELLING),
    IncidentType.AIRCRAFT_LOSS: ("Strategic developments", "Strategic developments", "Other"),
    IncidentType.AIR_STRIKE: ("Political violence", _REMOTE, "Air/drone strike"),
    IncidentType.MISSILE_STRIKE: ("Political violence", _REMOTE, _SHELLING),
    IncidentType.SHELLING: ("Political violence", _REMOTE, _SHELLING),
    IncidentType.ARMED_CLASH: ("Political violence", "Battles", "Armed clash"),
    IncidentType.OTHER_ATTACK: ("Political violence", "", ""),
}
#: A downing by direct fire (guns, small arms) is an exchange between armed groups: ACLED's armed clash.
_DIRECT_FIRE = frozenset({WeaponCategory.SMALL_ARMS.value, WeaponCategory.ANTI_AIRCRAFT_GUN.value})

#: ACLED time_precision: 1 the day is known, 2 the week, 3 the month or less precisely.
ACLED_TIME_PRECISION: Mapping[DatePrecision, int] = {
    DatePrecision.DAY: 1,
    DatePrecision.WEEK: 2,
    DatePrecision.MONTH: 3,
    DatePrecision.YEAR: 3,
}
#: How strongly a status attributes an act, for choosing actor1 (denials never make an actor).
STATUS_RANK: Mapping[AttributionStatus, int] = {
    AttributionStatus.CONFIRMED: 0,
    AttributionStatus.CLAIMED: 1,
    AttributionStatus.ACCUSED: 2,
    AttributionStatus.SUSPECTED: 3,
}
_CIVILIAN_WORDS = ("civilian", "child", "children", "women", "woman", "resident", "people")


def _empty(value: Any) -> Any:
    return "" if value is None else value


def ranked_actors(event: Event) -> list[Claim]:
    """Perpetrator claims that attribute the act, strongest first (status, then number of mentions)."""
    claims = [c for c in event.perpetrators if c.status in STATUS_RANK]
    order: dict[str, tuple[int, int, int]] = {}
    for k, claim in enumerate(claims):
        rank = (STATUS_RANK[claim.status], -len(claim.mentions), k)  # type: ignore[index]
        order[claim.value] = min(order.get(claim.value, rank), rank)
    return sorted({c.value: c for c in reversed(claims)}.values(), key=lambda c: order[c.value])


def _killed(event: Event) -> CasualtyEstimate | None:
    return next((c for c in event.casualties if c.kind is CasualtyKind.KILLED), None)


def _all_civilian(estimate: CasualtyEstimate | None) -> bool:
    if estimate is None or not estimate.reports:
        return False
    return all(r.who and any(w in r.who.lower() for w in _CIVILIAN_WORDS) for r in estimate.reports)


def _notes(event: Event) -> str:
    parts = [event.summary or ""]
    actors = [f"{c.value} ({c.status.value if c.status else '?'}; {', '.join(c.mentions)})" for c in event.perpetrators]
    if actors:
        parts.append("Attribution: " + "; ".join(actors) + ".")
    if event.weapons:
        parts.append("Weapon: " + "; ".join(f"{c.value} ({', '.join(c.mentions)})" for c in event.weapons) + ".")
    killed = _killed(event)
    if killed is not None:
        reports = "; ".join(f"{r.low}{'' if r.high == r.low else '+' if r.high is None else f'-{r.high}'} ({r.mention})"
                            for r in killed.reports)  # fmt: skip
        parts.append(f"Killed: low {killed.low}, best {killed.best}, high {killed.high} [{reports}].")
    return " ".join(p for p in parts if p)


def _time_precision(event: Event) -> int | None:
    date = event.date
    if date is None or date.start is None:
        return None
    return ACLED_TIME_PRECISION.get(date.precision)


def acled_row(event: Event, timestamp: int | None = None, table: ActorTable | None = None) -> dict[str, Any]:
    """One event as an ACLED row (see the README for each column's rule).

    ``inter1``, ``inter2`` and ``interaction`` are filled only from ``table`` (an actor table
    and the gazetteer's countries, :mod:`extract.events.actors`); without it they stay empty.
    """
    disorder, event_type, sub_event = ACLED_TYPES[event.type]
    if event.type is IncidentType.AIRCRAFT_DOWNING and any(c.category in _DIRECT_FIRE for c in event.weapons):
        event_type, sub_event = "Battles", "Armed clash"
    actors = ranked_actors(event)
    place = event.location
    date = event.date if event.date is not None and event.date.start is not None else None
    killed = _killed(event)
    operator = _operator(event)
    tags = [f"conflicting reports: {', '.join(event.conflicts)}"] if event.conflicts else []
    if place is not None and place.flags:
        tags.append("place " + ", ".join(f.value for f in place.flags) + f": {place.written}")
    country = place.country_code if place else None
    inter1 = table.type_of(actors[0].value if actors else None, country) if table else None
    inter2 = table.type_of(operator, country) if table else None
    civilian = _all_civilian(killed) or _all_civilian(
        next((c for c in event.casualties if c.kind is CasualtyKind.INJURED), None)
    )
    row = {
        "event_id_cnty": f"{(place.iso3 if place and place.iso3 else 'XXX')}-{event.id}",
        "event_date": date.start.isoformat() if date and date.start else "",
        "year": date.start.year if date and date.start else "",
        "time_precision": _empty(_time_precision(event)),
        "disorder_type": disorder,
        "event_type": event_type,
        "sub_event_type": sub_event,
        "actor1": actors[0].value if actors else "",
        "assoc_actor_1": "; ".join(c.value for c in actors[1:]),
        "inter1": _empty(inter1.value if inter1 else None),
        "actor2": operator or "",
        "assoc_actor_2": "",
        "inter2": _empty(inter2.value if inter2 else None),
        "interaction": interaction(inter1, inter2, bool(operator)) if table else "",
        "civilian_targeting": "Civilian targeting" if civilian else "",
        "iso": _empty(place.iso_numeric if place else None),
        "region": "",
        "country": _empty(place.country if place else None),
        "admin1": _empty(place.admin1 if place else None),
        "admin2": _empty(place.admin2 if place else None),
        "admin3": "",
        "location": _empty((place.name or place.written) if place else None),
        "latitude": _empty(place.latitude if place else None),
        "longitude": _empty(place.longitude if place else None),
        "geo_precision": _empty(place.geo_precision if place else None),
        "source": "; ".join(c.value for c in event.sources),
        "source_scale": "",
        "notes": _notes(event),
        "fatalities": _empty(event.fatalities),
        "tags": "; ".join(tags),
        "timestamp": _empty(timestamp),
    }
    return row


def _operator(event: Event) -> str | None:
    """ACLED actor2 of a downing or loss: who flew the aircraft, as most reports name it."""
    if event.type not in (IncidentType.AIRCRAFT_DOWNING, IncidentType.AIRCRAFT_LOSS) or not event.operators:
        return None
    return max(event.operators, key=lambda c: len(c.mentions)).value


#: UCDP where_prec from ACLED geo_precision (1 the place, 2 near it, 3 the province -> UCDP 4).
_WHERE_PREC = {1: 1, 2: 2, 3: 4}


def _date_prec(days: int | None) -> int | None:
    if days is None:
        return None
    return 1 if days == 1 else 2 if days <= 6 else 3 if days == 7 else 4 if days <= 31 else 5


def ucdp_row(event: Event) -> dict[str, Any]:
    """One event as a UCDP GED row (the fields the records can fill; see the README)."""
    actors = ranked_actors(event)
    place = event.location
    date = event.date if event.date is not None and event.date.start is not None else None
    killed = _killed(event)
    where_prec: int | None = None
    if place is not None:
        where_prec = _WHERE_PREC.get(place.geo_precision or 0)
        if where_prec is None and place.country_code and place.role == "country":
            where_prec = 6
    description = place.written if place else ""
    if place is not None and place.name and place.name != place.written:
        description = f"{place.written} (coded to {place.name})"
    civilian = _all_civilian(killed)
    return {
        "id": event.id,
        "year": date.start.year if date and date.start else "",
        "side_a": actors[0].value if actors else "",
        "side_b": _operator(event) or "",
        "number_of_sources": len(event.documents),
        "source_article": "; ".join(event.documents),
        "source_headline": "",
        "where_prec": _empty(where_prec),
        "where_description": description,
        "adm_1": _empty(place.admin1 if place else None),
        "latitude": _empty(place.latitude if place else None),
        "longitude": _empty(place.longitude if place else None),
        "country": _empty(place.country if place else None),
        "event_clarity": (1 if date and date.days == 1 else 2) if date else "",
        "date_prec": _empty(_date_prec(date.days if date else None)),
        "date_start": date.start.isoformat() if date and date.start else "",
        "date_end": date.end.isoformat() if date and date.end else "",
        "deaths_civilians": killed.best if killed and civilian else "",
        "deaths_unknown": killed.best if killed and not civilian else "",
        "best": killed.best if killed else "",
        "high": killed.high if killed else "",
        "low": killed.low if killed else "",
    }


def _write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


def _is_text_column(annotation: Any) -> bool:
    """Whether an Event field is written as JSON text: it holds models (claims, places, dates...)."""
    return _holds_model(annotation)


def _holds_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_model(arg) for arg in get_args(annotation))


#: Event fields kept as JSON text in tables, so that every row has one schema whatever its claims hold.
TEXT_COLUMNS: tuple[str, ...] = tuple(n for n, f in Event.model_fields.items() if _is_text_column(f.annotation))


def event_rows(events: Iterable[Event]) -> Iterator[dict[str, Any]]:
    """Events as flat dicts (nested values as JSON text), for Parquet and datasets."""
    for event in events:
        row = event.model_dump(mode="json")
        for name in TEXT_COLUMNS:
            if row[name] is not None:
                row[name] = json.dumps(row[name], ensure_ascii=False)
        yield row


def arrow_schema() -> Any:
    """The Arrow schema of :func:`event_rows`, derived from the Event model (fixed, so batches agree)."""
    import pyarrow as pa

    columns = []
    for name, info in Event.model_fields.items():
        args = set(get_args(info.annotation)) - {type(None)} or {info.annotation}
        if get_origin(info.annotation) is list and name not in TEXT_COLUMNS:
            kind = pa.list_(pa.string())
        elif name in TEXT_COLUMNS or str in args or any(isinstance(a, type) and issubclass(a, StrEnum) for a in args):
            kind = pa.string()
        elif int in args:
            kind = pa.int64()
        else:  # a new field of another kind must say how it is stored
            raise TypeError(f"Event.{name}: no Arrow type for {info.annotation}")
        columns.append(pa.field(name, kind))
    return pa.schema(columns)


def _batches(events: Iterable[Event], size: int = 2048) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in event_rows(events):
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


FORMATS = ("jsonl", "acled", "ucdp", "parquet", "hf")


def export_events(
    events: Iterable[Event],
    path: str | Path,
    fmt: str = "jsonl",
    timestamp: int | None = None,
    actors: ActorTable | None = None,
) -> int:
    """Write events in one of :data:`FORMATS`, as they come; returns the number of rows written.

    Every format streams: rows are written as events arrive (Parquet and the dataset in
    batches), so a corpus of any size is exported in bounded memory.
    """
    out = Path(path)
    if fmt == "jsonl":
        n = 0
        with out.open("w", encoding="utf-8") as fh:
            for event in events:
                fh.write(event.to_json() + "\n")
                n += 1
        return n
    if fmt == "acled":
        return _write_csv((acled_row(e, timestamp, actors) for e in events), ACLED_COLUMNS, out)
    if fmt == "ucdp":
        return _write_csv((ucdp_row(e) for e in events), UCDP_COLUMNS, out)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = arrow_schema()
        n = 0
        with pq.ParquetWriter(out, schema) as writer:
            for batch in _batches(events):
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                n += len(batch)
        return n
    if fmt == "hf":
        return _write_dataset(events, out)
    raise ConfigError(f"unknown events format {fmt!r}", hint="use one of " + ", ".join(FORMATS))


def _write_dataset(events: Iterable[Event], out: Path) -> int:
    """A Hugging Face dataset folder, built from an Arrow file written in batches and memory-mapped."""
    import tempfile

    import pyarrow as pa
    from datasets import Dataset
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    schema = arrow_schema()
    n = 0
    # Beside the dataset, not in the system's temporary folder: a write staged in a work folder keeps it there.
    with tempfile.TemporaryDirectory(prefix="extract-events-hf-", dir=out.parent) as folder:
        arrow = Path(folder) / "events.arrow"
        with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for batch in _batches(events):
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                n += len(batch)
        was_disabled = are_progress_bars_disabled()
        disable_progress_bars()  # the command line draws its own; restored below
        try:
            with pa.memory_map(str(arrow)) as source:
                Dataset(pa.ipc.open_stream(source).read_all()).save_to_disk(str(out))
        finally:
            if not was_disabled:
                enable_progress_bars()
    return n
