"""Writers for an :class:`~extract.scoring.scorer.EvalReport`: JSON summary, Markdown report, console table.

With a baseline (an earlier JSON summary), every tracked metric also shows its change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from extract.core.errors import InputError
from extract.scoring.comparators import (
    ABOUT_TOLERANCE,
    COMPATIBLE_TYPES,
    FUZZY_NAME_THRESHOLD,
    OPEN_COUNT_FACTOR,
    Verdict,
)
from extract.scoring.incidents import COMPOSITES, FIELDS, MIN_AGREEMENT, Slot
from extract.scoring.metrics import Counts

if TYPE_CHECKING:
    from extract.scoring.scorer import DocumentScore, EvalReport, LoneIncident

SUMMARY_FORMAT = "incident-extract-eval/1"
_METRIC_KEYS = ("precision", "recall", "f1")


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def _rounded(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _round(v) for k, v in data.items()}


def summarize(report: EvalReport, baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON summary of a report.

    Top-level keys: ``incidents`` (strict: types must agree), ``incidents_lenient``
    (compatible types count), ``slots`` (each with ``precision``, ``recall``, ``f1`` and
    counts), ``fields`` and ``subfields`` (name -> the same), ``research`` (GTT role-filler
    and CEAF-REE scores, in total and per role), ``grounding_rate``, ``grounding`` and
    ``ungrounded`` (measured by re-grounding every quote), ``grounding_claimed`` (what the
    run file said), ``grounding_disagreements`` (how many quotes differ, and the list),
    ``grounding_unchecked`` (documents with no article to check), ``duplicate_ids``,
    ``primary_accuracy``, ``ci``, ``documents`` (how many were scored), ``failures`` and
    ``missing`` (how many failed, how many had no record), the lists of missing, failed
    and extra documents, ``usage``, ``settings``, and ``delta`` (metric path -> change)
    when a baseline summary is given.
    """
    summary: dict[str, Any] = {
        "format": SUMMARY_FORMAT,
        "incidents": _rounded(report.incidents.as_dict()),
        "slots": _rounded(report.slots.as_dict()),
        "fields": {name: _rounded(c.as_dict()) for name, c in report.fields.items()},
        "subfields": {name: _rounded(c.as_dict()) for name, c in report.subfields.items()},
        "incidents_lenient": _rounded(report.incidents_lenient.as_dict()),
        "research": {
            "gtt": _rounded(report.research.gtt.as_dict()),
            "ceaf_ree": _rounded(report.research.ceaf_ree.as_dict()),
            "gtt_roles": {k: _rounded(v.as_dict()) for k, v in report.research.gtt_roles.items()},
            "ceaf_ree_roles": {k: _rounded(v.as_dict()) for k, v in report.research.ceaf_ree_roles.items()},
        },
        "grounding_rate": _round(report.grounding.rate),
        "grounding": _rounded(report.grounding.as_dict()),
        # not found in the article, or found without stating a value it is cited for
        "ungrounded": report.grounding.total - report.grounding.grounded,
        "supported_share": _round(report.grounding.supported_share),
        "grounding_claimed": _rounded(report.grounding_claimed.as_dict()),
        "grounding_disagreements": len(report.grounding_disagreements),
        "grounding_disagreement_list": [
            {"document": d.document, "path": d.path, "quote": d.quote, "claimed": d.claimed, "measured": d.measured}
            for d in report.grounding_disagreements
        ],
        "grounding_unchecked": list(report.grounding_unchecked),
        "duplicate_ids": list(report.duplicate_ids),
        "primary_accuracy": _round(report.primary_accuracy),
        "primary_incidents": report.primary_incidents,
        "ci": {
            "level": 0.95,
            "resamples": report.resamples,
            "seed": report.seed,
            **{name: (None if ci is None else [_round(ci[0]), _round(ci[1])]) for name, ci in report.ci.items()},
        },
        "documents": len(report.documents),
        "failures": len(report.failed_documents),
        "missing": len(report.missing_documents),
        "missing_documents": list(report.missing_documents),
        "failed_documents": [{"id": f.id, "reason": f.reason, "message": f.message} for f in report.failed_documents],
        "extra_documents": list(report.extra_documents),
        "usage": {
            "requests": report.usage.requests,
            "prompt_tokens": report.usage.prompt_tokens,
            "completion_tokens": report.usage.completion_tokens,
            "total_tokens": report.usage.total_tokens,
            "cached_documents": report.cached_documents,
            "seconds": report.seconds,
        },
        "settings": {
            "partial_credit": 0.5,
            "fuzzy_name_threshold": FUZZY_NAME_THRESHOLD,
            "about_tolerance": ABOUT_TOLERANCE,
            "open_count_factor": OPEN_COUNT_FACTOR,
            "location_weights": {part.name: part.weight for part in COMPOSITES["location"]},
            "min_agreement": MIN_AGREEMENT,
            "compatible_types": sorted(sorted(t.value for t in pair) for pair in COMPATIBLE_TYPES),
            "aliases": report.aliases,
        },
    }
    if baseline is not None:
        summary["delta"] = deltas(summary, baseline)
    return summary


def tracked_metrics(summary: Mapping[str, Any]) -> Iterator[tuple[str, float | None]]:
    """The metrics that deltas are computed for, as (dotted path, value)."""
    for group in ("incidents", "incidents_lenient", "slots"):
        for key in _METRIC_KEYS:
            yield f"{group}.{key}", summary.get(group, {}).get(key)
    for metric in ("gtt", "ceaf_ree"):
        for key in _METRIC_KEYS:
            yield f"research.{metric}.{key}", summary.get("research", {}).get(metric, {}).get(key)
    for group in ("fields", "subfields"):
        for name, values in summary.get(group, {}).items():
            for key in _METRIC_KEYS:
                yield f"{group}.{name}.{key}", values.get(key)
    for key in ("grounding_rate", "primary_accuracy"):
        yield key, summary.get(key)


def deltas(summary: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, float]:
    """Current minus baseline for every tracked metric both summaries have a value for."""
    before = dict(tracked_metrics(baseline))
    out: dict[str, float] = {}
    for path, value in tracked_metrics(summary):
        old = before.get(path)
        if isinstance(value, (int, float)) and isinstance(old, (int, float)):
            out[path] = round(value - old, 6)
    return out


def load_summary(path: str | Path) -> dict[str, Any]:
    """Read a JSON summary written by :func:`write_json` (for use as a baseline)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read the baseline: {exc.strerror}", hint="check the --baseline path"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}", hint="pass a summary from --json") from None
    if not isinstance(data, dict) or "incidents" not in data or "slots" not in data:
        raise InputError(f"{path}: not an evaluation summary", hint="pass a file written by extract eval --json")
    return data


def write_json(report: EvalReport, path: str | Path, baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write the JSON summary; returns it."""
    summary = summarize(report, baseline)
    Path(path).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary


# ---------------------------------------------------------------- formatting


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _delta(value: float | None) -> str:
    return "" if value is None else f"{value:+.3f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"{ci[0]:.3f}–{ci[1]:.3f}"


def format_value(value: Any) -> str:
    """A gold or predicted value as one short line (a schema value shows itself: see its ``show``)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    show = getattr(value, "show", None)
    return str(show()) if callable(show) else str(value)


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_MARKDOWN = re.compile(r"([\\`\[\]!|])")


def _cell(text: str) -> str:
    """Untrusted text (article, model output, ids) as Markdown text: one line, no HTML, link or image.

    HTML is written as entities, so ``<script>`` or ``<img onerror=...>`` shows as text in any renderer;
    the characters that make links, images, code spans and table cells are escaped with a backslash.
    (Emphasis is left alone: harmless, and escaping ``_`` would garble every id that has one.)
    """
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()).translate(_HTML))


def _verdict_text(slot: Slot) -> str:
    """The verdict, with the sub-fields that were not correct (for a compared composite)."""
    compared = slot.verdict not in (Verdict.MISSING, Verdict.SPURIOUS)
    notes = [f"{s.name}: {s.verdict.value}" for s in slot.subs if s.verdict is not Verdict.CORRECT] if compared else []
    text = slot.verdict.value if slot.verdict is Verdict.CORRECT else f"**{slot.verdict.value}**"
    return text + (f" ({'; '.join(notes)})" if notes else "")


# ---------------------------------------------------------------- markdown


def _metric_rows(report: EvalReport, delta: Mapping[str, float] | None) -> list[str]:
    d = delta or {}
    has = delta is not None
    head = "| metric | precision | recall | F1 / value | 95% CI |" + (" Δ |" if has else "")
    rows = [head, "|---|---:|---:|---:|---|" + ("---:|" if has else "")]

    def row(name: str, p: float | None, r: float | None, v: float | None, ci: str, key: str) -> None:
        rows.append(
            f"| {name} | {_num(p)} | {_num(r)} | {_num(v)} | {ci} |" + (f" {_delta(d.get(key))} |" if has else "")
        )

    inc, slots = report.incidents, report.slots
    row("incident detection", inc.precision, inc.recall, inc.f1, _ci(report.ci.get("incidents.f1")),
        "incidents.f1")  # fmt: skip
    lenient = report.incidents_lenient
    row("incident detection, lenient types", lenient.precision, lenient.recall, lenient.f1, "", "incidents_lenient.f1")
    row("slots (micro)", slots.precision, slots.recall, slots.f1, _ci(report.ci.get("slots.f1")), "slots.f1")
    gtt, ree = report.research.gtt, report.research.ceaf_ree
    row("GTT role-filler", gtt.precision, gtt.recall, gtt.f1, "", "research.gtt.f1")
    row("CEAF-REE", ree.precision, ree.recall, ree.f1, "", "research.ceaf_ree.f1")
    row("grounding rate", None, None, report.grounding.rate, _ci(report.ci.get("grounding_rate")), "grounding_rate")
    row("values supported by evidence", None, None, report.grounding.supported_share, "", "supported_share")
    row("primary slot accuracy", None, None, report.primary_accuracy, "", "primary_accuracy")
    return rows


def _field_rows(report: EvalReport, delta: Mapping[str, float] | None) -> list[str]:
    has = delta is not None
    d = delta or {}
    rows = [
        "| field | COR | PAR | INC | MIS | SPU | precision | recall | F1 |" + (" Δ F1 |" if has else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if has else ""),
    ]

    def row(label: str, c: Counts, key: str) -> None:
        rows.append(
            f"| {label} | {c.correct} | {c.partial} | {c.incorrect} | {c.missing} | {c.spurious} "
            f"| {_num(c.precision)} | {_num(c.recall)} | {_num(c.f1)} |" + (f" {_delta(d.get(key))} |" if has else "")
        )

    for name in FIELDS:
        row(name, report.fields[name], f"fields.{name}.f1")
        for sub, counts in report.subfields.items():
            if sub.startswith(name + ".") and (counts.gold or counts.predicted):
                row(f"&nbsp;&nbsp;{sub}", counts, f"subfields.{sub}.f1")
    return rows


def _pair_table(slots: Iterable[Slot]) -> list[str]:
    rows = ["| field | gold | predicted | verdict |", "|---|---|---|---|"]
    for slot in slots:
        rows.append(
            f"| {slot.field} | {_cell(format_value(slot.gold))} | {_cell(format_value(slot.pred))} "
            f"| {_verdict_text(slot)} |"
        )
    return rows


def _incident_title(incident: Any) -> str:
    return _cell(f"{incident.type.value}: {incident.summary}")


def _lone(kind: str, doc: DocumentScore, lone: LoneIncident) -> list[str]:
    incident = doc.gold[lone.index] if kind == "missing" else doc.pred[lone.index]
    side = "gold" if kind == "missing" else "predicted"
    lines = [f"**{kind}** {side} incident {lone.index}: {_incident_title(incident)}", ""]
    lines += [f"| field | {side} |", "|---|---|"]
    for slot in lone.slots:
        lines.append(f"| {slot.field} | {_cell(format_value(slot.gold if kind == 'missing' else slot.pred))} |")
    return [*lines, ""]


def _document_section(doc: DocumentScore) -> list[str]:
    c = doc.counts
    head = f"### {_cell(doc.id)}"
    lines = [head, ""]
    status = doc.status + (f" — {doc.failure}" if doc.failure else "")
    lines.append(
        f"Status: {_cell(status)}. Incidents: {len(doc.gold)} gold, {len(doc.pred)} predicted, "
        f"{len(doc.pairs)} aligned. Slots: P {_num(c.precision)}, R {_num(c.recall)}, F1 {_num(c.f1)}. "
        f"Grounding: {doc.grounding.exact} exact, {doc.grounding.fuzzy} fuzzy, {doc.grounding.not_found} not found."
    )
    lines.append("")
    for pair in doc.pairs:
        lines.append(
            f"**gold {pair.gold_index} ↔ predicted {pair.pred_index}** (agreement {pair.agreement:.2f}): "
            f"{_incident_title(doc.gold[pair.gold_index])}"
        )
        lines.append("")
        lines += _pair_table(pair.slots)
        lines.append("")
    for lone in doc.missing:
        lines += _lone("missing", doc, lone)
    for lone in doc.spurious:
        lines += _lone("spurious", doc, lone)
    return lines


def markdown(report: EvalReport, baseline: Mapping[str, Any] | None = None) -> str:
    """The Markdown report: metric tables, then per document a gold-against-predicted diff."""
    delta = deltas(summarize(report), baseline) if baseline is not None else None
    u = report.usage
    lines = [
        "# Evaluation report",
        "",
        f"Documents scored: {len(report.documents)}; missing from the run: {len(report.missing_documents)}; "
        f"failed: {len(report.failed_documents)}; not in the gold set: {len(report.extra_documents)}.",
        f"Run usage: {u.total_tokens:,} tokens ({u.prompt_tokens:,} prompt, {u.completion_tokens:,} completion), "
        f"{u.requests:,} requests, {report.cached_documents} documents from cache, "
        f"{report.seconds:.1f} s of model time.",
        f"Confidence intervals: {report.resamples} bootstrap resamples of documents, seed {report.seed}. "
        f"Partial matches count 0.5.",
        "",
        "## Summary",
        "",
        *_metric_rows(report, delta),
        "",
        f"Evidence spans, every quote located again in its article: {report.grounding.exact} exact, "
        f"{report.grounding.fuzzy} fuzzy, {report.grounding.not_found} not found (ungrounded) of "
        f"{report.grounding.total}. The run file claimed {report.grounding_claimed.exact} exact, "
        f"{report.grounding_claimed.fuzzy} fuzzy, {report.grounding_claimed.not_found} not found; "
        f"{len(report.grounding_disagreements)} quote(s) differ. "
        f"{report.grounding.unsupported} found quote(s) do not state a value they are cited for (counted as "
        f"ungrounded); {report.grounding.values_supported} of {report.grounding.values} checked names, places, "
        "numbers and dates are stated in their quote.",
        "",
        *_warning_lines(report),
        "## Fields",
        "",
        *_field_rows(report, delta),
        "",
    ]
    if report.failed_documents:
        lines += ["## Failed documents", ""]
        lines += [f"- {_cell(f.id)}: {_cell(f.reason)}: {_cell(f.message)}" for f in report.failed_documents]
        lines.append("")
    if report.missing_documents:
        lines += ["## Documents missing from the run", "", *(f"- {_cell(d)}" for d in report.missing_documents), ""]
    lines += ["## Documents", ""]
    for doc in report.documents:
        lines += _document_section(doc)
    return "\n".join(lines).rstrip() + "\n"


def report_warnings(report: EvalReport) -> list[str]:
    """One line per thing the reader of the scores should know about the run file (for the console)."""
    lines = []
    if report.duplicate_ids:
        shown = ", ".join(report.duplicate_ids[:10]) + (", ..." if len(report.duplicate_ids) > 10 else "")
        lines.append(f"{len(report.duplicate_ids)} id(s) written more than once (the later record is scored): {shown}")
    if report.missing_documents:
        shown = ", ".join(report.missing_documents[:10]) + (", ..." if len(report.missing_documents) > 10 else "")
        lines.append(f"{len(report.missing_documents)} gold document(s) missing from the run: {shown}")
    if report.grounding_unchecked:
        shown = ", ".join(report.grounding_unchecked[:10])
        lines.append(
            f"no article for {len(report.grounding_unchecked)} document(s), their quotes are not re-grounded "
            f"(pass --corpus): {shown}"
        )
    if report.grounding_disagreements:
        lines.append(
            f"{len(report.grounding_disagreements)} quote(s) where the run file's evidence differs from the "
            "re-check (listed in the JSON summary and the report)"
        )
    return lines


def _warning_lines(report: EvalReport) -> list[str]:
    lines = []
    if report.duplicate_ids:
        lines.append(
            f"Ids written more than once (the later record was scored): {_cell(', '.join(report.duplicate_ids))}."
        )
    if report.grounding_unchecked:
        lines.append(
            f"No article to re-ground these documents' quotes: {_cell(', '.join(report.grounding_unchecked))}."
        )
    if report.grounding_disagreements:
        lines += ["", "| document | path | run file says | found now | quote |", "|---|---|---|---|---|"]
        for d in report.grounding_disagreements[:50]:
            lines.append(
                f"| {_cell(d.document)} | {_cell(d.path)} | {d.claimed} | {d.measured} | {_cell(d.quote[:80])} |"
            )
        if len(report.grounding_disagreements) > 50:
            lines.append(f"\n({len(report.grounding_disagreements) - 50} more in the JSON summary)")
    return [*lines, ""] if lines else []


def write_markdown(report: EvalReport, path: str | Path, baseline: Mapping[str, Any] | None = None) -> None:
    """Write the Markdown report."""
    Path(path).write_text(markdown(report, baseline), encoding="utf-8")


# ---------------------------------------------------------------- console


def render_table(report: EvalReport, baseline: Mapping[str, Any] | None = None) -> Table:
    """A rich table of the headline metrics and the per-field scores, for the console."""
    delta = deltas(summarize(report), baseline) if baseline is not None else None
    table = Table(title="Evaluation", title_justify="left")
    table.add_column("metric")
    table.add_column("precision", justify="right")
    table.add_column("recall", justify="right")
    table.add_column("F1 / value", justify="right")
    table.add_column("95% CI", justify="right")
    if delta is not None:
        table.add_column("Δ", justify="right")

    def row(name: str, p: float | None, r: float | None, v: float | None, ci: str, key: str) -> None:
        cells = [name, _num(p), _num(r), _num(v), ci]
        if delta is not None:
            change = delta.get(key)
            style = "" if not change else ("green" if change > 0 else "red")
            cells.append(f"[{style}]{_delta(change)}[/]" if style else _delta(change))
        table.add_row(*cells)

    inc, slots = report.incidents, report.slots
    row("incident detection", inc.precision, inc.recall, inc.f1, _ci(report.ci.get("incidents.f1")), "incidents.f1")
    lenient = report.incidents_lenient
    row("  lenient types", lenient.precision, lenient.recall, lenient.f1, "", "incidents_lenient.f1")
    row("slots (micro)", slots.precision, slots.recall, slots.f1, _ci(report.ci.get("slots.f1")), "slots.f1")
    gtt, ree = report.research.gtt, report.research.ceaf_ree
    row("GTT role-filler", gtt.precision, gtt.recall, gtt.f1, "", "research.gtt.f1")
    row("CEAF-REE", ree.precision, ree.recall, ree.f1, "", "research.ceaf_ree.f1")
    table.add_section()
    for name in FIELDS:
        c = report.fields[name]
        row(f"  {name}", c.precision, c.recall, c.f1, "", f"fields.{name}.f1")
    table.add_section()
    row("grounding rate", None, None, report.grounding.rate, _ci(report.ci.get("grounding_rate")), "grounding_rate")
    row("values supported by evidence", None, None, report.grounding.supported_share, "", "supported_share")
    row("primary slot accuracy", None, None, report.primary_accuracy, "", "primary_accuracy")
    u = report.usage
    shown = ", ".join(escape(d) for d in report.missing_documents[:5])  # ids are untrusted: rich markup
    missing = f" ({shown}{', ...' if len(report.missing_documents) > 5 else ''})"
    table.caption = (
        f"{len(report.documents)} documents, {len(report.missing_documents)} missing"
        f"{missing if report.missing_documents else ''}, "
        f"{len(report.failed_documents)} failed; "
        f"{report.grounding.total - report.grounding.grounded} ungrounded values "
        f"(re-grounded; {len(report.grounding_disagreements)} differ from the run file); "
        f"{u.total_tokens:,} tokens, {report.seconds:.1f} s"
    )
    return table
