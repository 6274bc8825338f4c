"""Build the static review site: an index of documents, one page per document, gold diff, events.

Everything the model returned or the article says reaches the page through Jinja2
with autoescaping on, or as JSON in a script file that the page turns into text
nodes; nothing untrusted is ever parsed as HTML.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from extract.core.errors import ConfigError
from extract.core.fields import scored_fields
from extract.core.records import Alignment, DocumentResult, EvidenceSpan, Status
from extract.core.schema import Incident
from extract.review.families import FAMILY_LABELS, family, family_of_field
from extract.review.verdicts import DocumentVerdicts, FieldVerdict, IncidentVerdict, RunVerdicts, score_run
from extract.scoring.gold import GoldSet

if TYPE_CHECKING:
    from extract.scoring.matrix import MatrixResult

#: Written into the output folder; a folder holding it may be rebuilt in place.
MARKER = ".review-site"
STATIC_FILES = ("review.css", "document.js", "index.js")

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

VERDICT_LABEL = {
    "correct": "correct",
    "partial": "partial",
    "incorrect": "wrong",
    "missing": "missing",
    "spurious": "spurious",
}

# The scored fields of an incident, in card order, from the field declarations (type first, primary last).
_FIELDS = scored_fields(Incident)
_VALUE_FIELDS = tuple(f for f in _FIELDS if f.name not in ("type", "primary"))
_LABELS = {f.name: (f.spec.family.value if f.spec.family and f.composite else f.name) for f in _FIELDS}
_LABELS |= {"location": "place", "perpetrators": "actor", "sources": "source"}


@dataclass(frozen=True)
class SiteSummary:
    """What :func:`build_site` wrote."""

    out: Path
    index: Path
    documents: int
    events: int
    files: int
    bytes: int
    seconds: float
    with_gold: bool
    warnings: tuple[str, ...] = ()


# --- view models --------------------------------------------------------------------------------------------------


@dataclass
class SpanView:
    index: int
    path: str
    family: str
    quote: str
    alignment: str
    score: float
    start: int | None
    end: int | None
    placed: bool = False
    problem: str | None = None


@dataclass
class Segment:
    text: str
    spans: str = ""  # space-separated span indices covering this stretch of text
    family: str = ""
    fuzzy: bool = False


@dataclass
class Row:
    field: str
    family: str
    label: str
    text: str | None
    evidence: list[SpanView] = dataclasses.field(default_factory=list)
    verdict: str | None = None
    gold: str | None = None
    subs: list[tuple[str, str, str | None, str | None]] = dataclasses.field(default_factory=list)

    @property
    def ungrounded(self) -> bool:
        return self.text is not None and (not self.evidence or not any(s.placed for s in self.evidence))


@dataclass
class Card:
    anchor: str
    index: int | None
    kind: str  # predicted or missing (a gold incident nothing matched)
    type: str
    summary: str | None
    primary: bool
    quote: str
    quote_evidence: list[SpanView]
    rows: list[Row]
    verdict: str | None = None  # matched, spurious, missing (with gold)
    gold_index: int | None = None
    events: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (event id, anchor)


# --- values as text -------------------------------------------------------------------------------------------------


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value))


def _count(item: Any) -> str:
    qualifier = _enum(item.qualifier)
    if qualifier == "range" and item.count_max is not None:
        return f"{item.count}–{item.count_max}"
    prefix = {"at_least": "at least ", "more_than": "more than ", "about": "about "}.get(qualifier, "")
    return f"{prefix}{item.count}"


def describe(field_name: str, value: Any) -> str | None:
    """A value as one line of text, the same way for predictions and gold."""
    if value is None:
        return None
    if isinstance(value, str):  # the scorer gives some sub-values as text already
        return value
    if field_name in ("type", "primary") or isinstance(value, bool):
        return _enum(value) if not isinstance(value, bool) else ("yes" if value else "no")
    if field_name == "date":
        parts = [value.text]
        if value.iso:
            parts.append(f"= {value.iso}")
        return " ".join(parts) + f" ({_enum(value.precision)})"
    if field_name == "location":
        bits = [value.place, f"near {value.near}" if value.near else None, value.admin1, value.country]
        return ", ".join(b for b in bits if b)
    if field_name == "aircraft":
        text = value.model or "model not given"
        text += f" ({_enum(value.category)})"
        return text + (f", flown by {value.operator}" if value.operator else "")
    if field_name == "perpetrators":
        return f"{value.name} ({_enum(value.status)})"
    if field_name == "weapon":
        return f"{value.text} ({_enum(value.category)})"
    if field_name == "casualties":
        return f"{_count(value)} {_enum(value.kind)}" + (f": {value.who}" if value.who else "")
    if field_name == "sources":
        return f"{value.name} ({_enum(value.kind)})"
    return str(value)


# --- evidence and text segments ---------------------------------------------------------------------------------------


def span_views(evidence: Sequence[EvidenceSpan], text: str | None) -> list[SpanView]:
    """Every evidence span of a record, placed in the text when it can be, with the reason when it cannot."""
    views = []
    for k, span in enumerate(evidence):
        view = SpanView(
            k, span.path, family(span.path), span.quote, span.alignment.value, span.score, span.start, span.end
        )
        if span.alignment is Alignment.NOT_FOUND or span.start is None or span.end is None:
            view.problem = "quote not found in the article"
        elif text is None:
            view.problem = "article text not available"
        elif not (0 <= span.start < span.end <= len(text)):
            view.problem = f"offsets {span.start}-{span.end} lie outside the article ({len(text)} characters)"
        elif span.alignment is Alignment.EXACT and text[span.start : span.end] != span.quote:
            view.problem = "the article text differs from the one extracted (exact quote not at its offsets)"
        else:
            view.placed = True
        views.append(view)
    return views


def segments(text: str, spans: Sequence[SpanView]) -> list[Segment]:
    """Cut the text at every span boundary; each piece lists the spans covering it.

    Overlapping and nested spans are both kept: a piece covered by several spans
    names them all and takes the colour of the shortest (innermost) one.
    """
    placed = [(s.start, s.end, s) for s in spans if s.placed and s.start is not None and s.end is not None]
    if not placed:
        return [Segment(text)]
    cuts = sorted({0, len(text), *(start for start, _, _ in placed), *(end for _, end, _ in placed)})
    out: list[Segment] = []
    for a, b in itertools.pairwise(cuts):
        covering = [(end - start, s) for start, end, s in placed if start <= a and end >= b]
        if not covering:
            out.append(Segment(text[a:b]))
            continue
        inner = min(covering, key=lambda c: (c[0], c[1].index))[1]
        indices = sorted(s.index for _, s in covering)
        out.append(
            Segment(
                text[a:b],
                " ".join(map(str, indices)),
                inner.family,
                inner.alignment == Alignment.FUZZY.value,
            )
        )
    return out


# --- cards ------------------------------------------------------------------------------------------------------------


def _slot_lookup(
    verdict: IncidentVerdict | None,
) -> tuple[dict[tuple[str, int | None], list[FieldVerdict]], list[FieldVerdict]]:
    """Slots keyed by (field, predicted item index), and the slots with no predicted value (missing).

    One predicted value can have two slots: its verdict, and a spurious slot for the parts it fills
    that the gold leaves empty; both are shown.
    """
    by_key: dict[tuple[str, int | None], list[FieldVerdict]] = {}
    missing: list[FieldVerdict] = []
    if verdict is None:
        return by_key, missing
    for slot in verdict.fields:
        if slot.pred is None:
            missing.append(slot)
        else:
            by_key.setdefault((slot.field, slot.pred_index), []).append(slot)
    return by_key, missing


def _text(value: Any) -> str | None:
    return None if value is None else _enum(value)


def _apply_verdict(row: Row, slot: FieldVerdict | None) -> Row:
    if slot is None:
        return row
    row.verdict = slot.verdict
    row.gold = describe(slot.field, slot.gold)
    if slot.verdict in ("partial", "incorrect"):
        row.subs = [
            (
                s.name,
                s.verdict,
                None if s.gold is None else str(_enum(s.gold)),
                None if s.pred is None else str(_enum(s.pred)),
            )
            for s in slot.subs
        ]
    return row


def _card_rows(
    j: int, incident: Incident, by_path: Mapping[str, list[SpanView]], verdict: IncidentVerdict | None
) -> list[Row]:
    slots, missing_slots = _slot_lookup(verdict)
    rows: list[Row] = []

    def add(name: str, value: Any, item: int | None, family: str) -> None:
        path = f"incidents[{j}].{name}" + (f"[{item}]" if item is not None else "")
        found = slots.get((name, item), [])
        row = Row(name, family, _LABELS.get(name, name), describe(name, value), by_path.get(path, []))
        rows.append(_apply_verdict(row, found[0] if found else None))
        for extra in found[1:]:  # the parts it fills that the gold leaves empty
            rows.append(_apply_verdict(Row(name, family, _LABELS.get(name, name), str(extra.pred)), extra))

    add("type", incident.type, None, "incident")
    for info in _VALUE_FIELDS:
        value = getattr(incident, info.name)
        family = family_of_field(info.name)
        if info.is_list:
            for k, item in enumerate(value):
                add(info.name, item, k, family)
        elif value is not None:
            add(info.name, value, None, family)
    primary = slots.get(("primary", None), [])
    if incident.primary or primary:
        add("primary", incident.primary, None, "incident")
    for slot in missing_slots:
        row = Row(slot.field, family_of_field(slot.field), _LABELS.get(slot.field, slot.field), None)
        rows.append(_apply_verdict(row, slot))
    # A gold value the prediction lacks goes where that field's values are (the sort is stable).
    order = {name: k for k, name in enumerate(_LABELS)}
    return sorted(rows, key=lambda row: order.get(row.field, len(order)))


def _gold_card(index: int, incident: Incident, verdict: IncidentVerdict) -> Card:
    rows = []
    for slot in verdict.fields:
        row = Row(slot.field, family_of_field(slot.field), _LABELS.get(slot.field, slot.field), None)
        rows.append(_apply_verdict(row, slot))
    return Card(
        anchor=f"gold-{index}",
        index=None,
        kind="missing",
        type=_enum(incident.type),
        summary=incident.summary,
        primary=incident.primary,
        quote=incident.quote,
        quote_evidence=[],
        rows=rows,
        verdict="missing",
        gold_index=index,
    )


def build_cards(
    result: DocumentResult,
    spans: Sequence[SpanView],
    verdicts: DocumentVerdicts | None,
    events: Mapping[tuple[str, int], list[tuple[str, str]]] | None = None,
) -> list[Card]:
    """One card per predicted incident (with its verdicts), then one per gold incident nothing matched."""
    by_path: dict[str, list[SpanView]] = {}
    for span in spans:
        by_path.setdefault(span.path, []).append(span)
    by_pred: dict[int, IncidentVerdict] = {}
    if verdicts is not None:
        by_pred = {v.pred_index: v for v in verdicts.incidents if v.pred_index is not None}
    cards = []
    for j, incident in enumerate(result.incidents):
        verdict = by_pred.get(j)
        cards.append(
            Card(
                anchor=f"inc-{j}",
                index=j,
                kind="predicted",
                type=_enum(incident.type),
                summary=incident.summary,
                primary=incident.primary,
                quote=incident.quote,
                quote_evidence=by_path.get(f"incidents[{j}]", []),
                rows=_card_rows(j, incident, by_path, verdict),
                verdict=None if verdict is None else verdict.kind,
                gold_index=None if verdict is None else verdict.gold_index,
                events=list((events or {}).get((result.id, j), [])),
            )
        )
    if verdicts is not None:
        for v in verdicts.incidents:
            if v.kind == "missing" and v.gold_index is not None:
                cards.append(_gold_card(v.gold_index, verdicts.gold[v.gold_index], v))
    return cards


# --- the site ---------------------------------------------------------------------------------------------------------


def page_name(doc_id: str, used: set[str]) -> str:
    """A file name for a document's page: the id when it is safe, else a slug plus a hash; never reused."""
    if _SAFE_NAME.match(doc_id) and doc_id.lower() not in used:
        name = doc_id
    else:
        slug = _UNSAFE.sub("_", doc_id).strip("._")[:60] or "doc"
        name = f"{slug}-{hashlib.sha1(doc_id.encode('utf-8')).hexdigest()[:10]}"
    while name.lower() in used:  # ids equal up to case would collide on case-insensitive file systems
        name = f"{name}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:6]}"
    used.add(name.lower())
    return name + ".html"


def _environment(matrix_page: str = "") -> Environment:
    """The templates' environment; ``matrix_page``: the eval matrix page every page links to (none when empty)."""
    env = Environment(
        loader=PackageLoader("extract.review", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["FAMILY_LABELS"] = FAMILY_LABELS
    env.globals["VERDICT_LABEL"] = VERDICT_LABEL
    env.filters["pct"] = lambda x: "–" if x is None else f"{x:.0%}"
    env.filters["num"] = lambda x: "–" if x is None else f"{x:.2f}"
    env.filters["pretty"] = lambda x: json.dumps(x, indent=2, ensure_ascii=False, default=str)
    env.globals["matrix_page"] = matrix_page
    return env


def _check_out(out: Path) -> None:
    """Refuse to replace a file, or a folder that holds files and is not a review site."""
    from extract.io.output import prepare_output

    prepare_output(out, "--out", folder=True)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(
            f"{out}: folder is not empty and was not written by extract review; choose an empty or new --out"
        )


def _start_site(out_dir: Path, folders: tuple[str, ...]) -> None:
    """Make a new site's folders, and the marker that lets the next build replace it."""
    for sub in folders:
        (out_dir / sub).mkdir(parents=True)
    (out_dir / MARKER).write_text("written by extract review; the whole folder is replaced on the next build\n")


def _copy_static(out: Path) -> None:
    static = resources.files("extract.review").joinpath("static")
    for name in STATIC_FILES:
        (out / "static" / name).write_bytes(static.joinpath(name).read_bytes())


def _load_articles(
    source: str | os.PathLike[str] | None, wanted: set[str], id_field: str, text_field: str
) -> dict[str, str]:
    if source is None:
        return {}
    from extract.io.corpus import open_corpus

    texts: dict[str, str] = {}
    for document in open_corpus(source, id_field=id_field, text_field=text_field).documents():
        if document.id in wanted:
            texts[document.id] = document.text
    return texts


def _json_js(name: str, data: Any) -> str:
    """A script that assigns JSON to a global; '<' is escaped so no text can close a script element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"window.{name}={text};\n"


def _event_links(events: Sequence[Any]) -> dict[tuple[str, int], list[tuple[str, str]]]:
    links: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for n, event in enumerate(events):
        for mention in event.mentions:
            links.setdefault((mention.document_id, mention.incident_index), []).append((event.id, f"ev-{n}"))
    return links


def build_site(
    run: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    gold: str | os.PathLike[str] | GoldSet | None = None,
    events: str | os.PathLike[str] | None = None,
    articles: str | os.PathLike[str] | None = None,
    id_field: str = "id",
    text_field: str = "text",
    page_size: int = 100,
    matrix_page: str = "",
) -> SiteSummary:
    """Write the review site for a run file into ``out`` and say what was written.

    ``gold``: a gold directory (or a loaded :class:`GoldSet`): its articles supply the
    text, and its labels the per-field verdicts. ``articles``: the corpus the run was
    extracted from (any format ``extract run`` reads), for the text of documents not
    in the gold set. ``events``: an events JSON Lines file. ``matrix_page``: the page of
    the eval matrix this run is a cell of, relative to ``out`` (a link on every page).
    Prints nothing.

    The site is built beside ``out`` and swapped in when complete
    (:func:`extract.io.output.staged_output`): an earlier site stays whole until then, and a
    failed or interrupted build leaves it as it was.
    """
    from extract.io.output import results_by_id, staged_output

    started = time.perf_counter()
    run_path, final = Path(run), Path(out)
    _check_out(final)
    results = results_by_id(run_path)
    warnings: list[str] = []

    gold_set: GoldSet | None = None
    if isinstance(gold, GoldSet):
        gold_set = gold
    elif gold is not None:
        from extract.scoring.gold import load_gold

        gold_set = load_gold(Path(gold))
    texts = dict(gold_set.articles) if gold_set is not None else {}
    texts.update(_load_articles(articles, set(results), id_field, text_field))
    verdicts: RunVerdicts | None = score_run(gold_set, results) if gold_set is not None else None

    event_list: list[Any] = []
    if events is not None:
        from extract.events.records import read_events

        event_list = list(read_events(Path(events)))
    event_links = _event_links(event_list)

    with staged_output(final) as out_dir:
        _start_site(out_dir, ("docs", "static"))
        env = _environment(matrix_page)
        _copy_static(out_dir)

        used: set[str] = set()
        pages = {doc_id: page_name(doc_id, used) for doc_id in results}
        doc_template = env.get_template("document.html")
        rows: list[list[Any]] = []
        no_text = 0
        ids = list(results)
        for position, doc_id in enumerate(ids):
            result = results[doc_id]
            text = texts.get(doc_id)
            if text is None and (result.evidence or result.status is not Status.FAILED):
                no_text += 1
            spans = span_views(result.evidence, text)
            doc_verdicts = verdicts.documents.get(doc_id) if verdicts is not None else None
            cards = build_cards(result, spans, doc_verdicts, event_links)
            placed = sum(s.placed for s in spans)
            not_found = sum(s.alignment == Alignment.NOT_FOUND.value for s in spans)
            unplaced = [s for s in spans if not s.placed]
            html = doc_template.render(
                title=doc_id,
                root="../",
                result=result,
                text=text,
                segments=segments(text, spans) if text is not None else [],
                spans=spans,
                unplaced=unplaced,
                cards=cards,
                verdicts=doc_verdicts,
                with_gold=verdicts is not None,
                in_gold=doc_verdicts is not None,
                prev_page=pages[ids[position - 1]] if position > 0 else None,
                next_page=pages[ids[position + 1]] if position + 1 < len(ids) else None,
                has_events=bool(event_list),
            )
            (out_dir / "docs" / pages[doc_id]).write_text(html, encoding="utf-8")
            grounded = sum(s.alignment != Alignment.NOT_FOUND.value for s in spans)
            rows.append(
                [
                    pages[doc_id],
                    doc_id,
                    result.status.value,
                    len(result.incidents),
                    grounded,
                    len(spans),
                    not_found,
                    len(result.rejected),
                    result.failure.reason if result.failure else "",
                    None if doc_verdicts is None or doc_verdicts.f1 is None else round(doc_verdicts.f1, 4),
                    None
                    if doc_verdicts is None
                    else [doc_verdicts.matched, doc_verdicts.spurious, doc_verdicts.missing],
                    placed,
                ]
            )
        if no_text:
            hint = "pass --articles with the corpus given to extract run" if articles is None else "check --articles"
            warnings.append(
                f"{no_text} document(s) have no article text, so their evidence is listed but not highlighted; {hint}"
            )
        if verdicts is not None and verdicts.missing_documents:
            warnings.append(
                f"{len(verdicts.missing_documents)} gold document(s) have no record in the run; scored as empty"
            )

        worst = _worst_order(rows, with_gold=verdicts is not None)
        index_data = {
            "columns": [
                "page",
                "id",
                "status",
                "incidents",
                "grounded",
                "evidence",
                "ungrounded",
                "rejected",
                "failure",
                "f1",
                "detection",
                "placed",
            ],
            "rows": rows,
            "worst": worst,
            "gold": verdicts is not None,
            "pageSize": page_size,
        }
        (out_dir / "index-data.js").write_text(_json_js("REVIEW_INDEX", index_data), encoding="utf-8")
        totals = _totals(results.values(), verdicts)
        (out_dir / "index.html").write_text(
            env.get_template("index.html").render(
                title=f"Review: {run_path.name}",
                root="",
                run=run_path.name,
                totals=totals,
                verdicts=verdicts,
                has_events=bool(event_list),
                warnings=warnings,
                first_rows=rows[:page_size],
            ),
            encoding="utf-8",
        )
        if event_list:
            (out_dir / "events.html").write_text(
                env.get_template("events.html").render(
                    title=f"Events: {Path(events).name if events else ''}",
                    root="",
                    events=event_list,
                    pages=pages,
                    has_events=True,
                ),
                encoding="utf-8",
            )
        files, size = _measure(out_dir)
    return SiteSummary(
        out=final,
        index=final / "index.html",
        documents=len(results),
        events=len(event_list),
        files=files,
        bytes=size,
        seconds=round(time.perf_counter() - started, 3),
        with_gold=verdicts is not None,
        warnings=tuple(warnings),
    )


def build_matrix_site(
    result: MatrixResult,
    out: str | os.PathLike[str],
    *,
    gold: str | os.PathLike[str] | GoldSet,
    articles: str | os.PathLike[str] | None = None,
    id_field: str = "id",
    text_field: str = "text",
) -> SiteSummary:
    """Write the review site of an eval matrix: a page comparing the cells, and each cell's own site.

    The page (``index.html``) shows the matrix table every rendering shows
    (:func:`~extract.scoring.matrix.matrix_rows`), each row linked to the cell's review site
    in ``cells/NAME/``, whose pages link back. Prints nothing.
    """
    from extract.io.output import staged_output
    from extract.scoring.gold import load_gold
    from extract.scoring.matrix import matrix_rows, method_note

    started = time.perf_counter()
    final = Path(out)
    gold_set = gold if isinstance(gold, GoldSet) else load_gold(Path(gold))
    _check_out(final)
    with staged_output(final) as out_dir:
        _start_site(out_dir, ("static", "cells"))
        _copy_static(out_dir)
        warnings: list[str] = []
        documents = 0
        header, rows = matrix_rows(result)
        views = []
        for cell, row in zip(result.cells, rows, strict=True):
            site = None
            if Path(cell.run).is_file():
                summary = build_site(
                    cell.run, out_dir / "cells" / cell.name, gold=gold_set, articles=articles, id_field=id_field,
                    text_field=text_field, matrix_page="../../index.html",
                )  # fmt: skip
                documents += summary.documents
                warnings += [f"{cell.name}: {w}" for w in summary.warnings]
                site = f"cells/{cell.name}/index.html"
            views.append({"cells": row, "site": site, "failed": bool(cell.failures)})
        env = _environment()
        (out_dir / "index.html").write_text(
            env.get_template("matrix.html").render(
                title=f"Eval matrix: {result.name}",
                root="",
                name=result.name,
                baseline=result.baseline,
                header=header,
                rows=views,
                cells=result.cells,
                failures=result.failures,
                gates=result.gates,
                method=method_note(result),
                has_events=False,
            ),
            encoding="utf-8",
        )
        files, size = _measure(out_dir)
    return SiteSummary(
        out=final,
        index=final / "index.html",
        documents=documents,
        events=0,
        files=files,
        bytes=size,
        seconds=round(time.perf_counter() - started, 3),
        with_gold=True,
        warnings=tuple(warnings),
    )


def _worst_order(rows: Sequence[Sequence[Any]], *, with_gold: bool) -> list[int]:
    """Row positions from worst to best: failures first, then (with gold) lowest F1, then most problems."""

    def key(k: int) -> tuple[Any, ...]:
        row = rows[k]
        failed = row[2] == Status.FAILED.value
        f1 = row[9] if with_gold and row[9] is not None else 1.0
        return (not failed, f1, -(row[6] + row[7]), row[1])

    return sorted(range(len(rows)), key=key)


def _totals(results: Iterable[DocumentResult], verdicts: RunVerdicts | None) -> dict[str, Any]:
    status = {s.value: 0 for s in Status}
    incidents = evidence = grounded = rejected = flagged = 0
    for result in results:
        status[result.status.value] += 1
        flagged += "injection_suspected" in result.flags
        incidents += len(result.incidents)
        evidence += len(result.evidence)
        grounded += sum(span.alignment is not Alignment.NOT_FOUND for span in result.evidence)
        rejected += len(result.rejected)
    return {
        "documents": sum(status.values()),
        "status": status,
        "incidents": incidents,
        "evidence": evidence,
        "grounded": grounded,
        "grounding": grounded / evidence if evidence else None,
        "rejected": rejected,
        "injection_suspected": flagged,
    }


def _measure(root: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            files += 1
            size += (Path(dirpath) / name).stat().st_size
    return files, size
