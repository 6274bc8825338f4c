"""Agreement between two annotations of the same articles: the ceiling a model can be asked to reach.

Two gold directories (two annotators coding the same articles under the same
guidelines) are scored against each other both ways, A as gold and B as the
prediction, then B as gold and A as the prediction: each way uses that side's
alternatives and alias table, so the two directions differ exactly where one
annotator accepted more readings than the other. Per field, both F1 figures are given
and their mean.

For categorical fields (incident type, attribution status, weapon, aircraft and source
categories), Cohen's kappa is computed over the pairs the alignment of A against B
found, one pair per aligned incident (type) or aligned item (the others): how far the
two annotators agree beyond what their category frequencies alone would give.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from extract.core.errors import InputError
from extract.core.records import DocumentResult, Provenance, Status
from extract.core.schema import SCHEMA_VERSION, Incident
from extract.scoring.comparators import Verdict
from extract.scoring.gold import GoldSet
from extract.scoring.incidents import FIELDS
from extract.scoring.scorer import EvalReport, evaluate

#: The categorical fields Cohen's kappa is given for, as (name, slot field, attribute of the value).
CATEGORICAL: tuple[tuple[str, str, str | None], ...] = (
    ("type", "type", None),
    ("perpetrators.status", "perpetrators", "status"),
    ("weapon.category", "weapon", "category"),
    ("aircraft.category", "aircraft", "category"),
    ("sources.kind", "sources", "kind"),
)


@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa over paired codings: observed and chance agreement, and the kappa (None if undefined)."""

    pairs: int
    observed: float | None
    expected: float | None
    kappa: float | None

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 6)

        return {"pairs": self.pairs, "observed": r(self.observed), "expected": r(self.expected), "kappa": r(self.kappa)}


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> Kappa:
    """Cohen's kappa of two coders over items each coded once by both.

    kappa = (p_o - p_e) / (1 - p_e), with p_o the share of items coded alike and p_e the
    agreement expected by chance from each coder's category frequencies. Undefined (None)
    with no pairs, or when both coders used one and the same category for everything
    (p_e = 1).
    """
    n = len(pairs)
    if n == 0:
        return Kappa(0, None, None, None)
    observed = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[c] * second[c] for c in first) / (n * n)
    if expected >= 1.0:
        return Kappa(n, observed, expected, None)
    return Kappa(n, observed, expected, (observed - expected) / (1 - expected))


@dataclass(frozen=True)
class AgreementReport:
    """Two annotations scored against each other (see the module docstring)."""

    a: str
    b: str
    documents: tuple[str, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    a_as_gold: EvalReport
    b_as_gold: EvalReport
    kappas: dict[str, Kappa] = field(default_factory=dict)

    def field_agreement(self) -> dict[str, dict[str, float | None]]:
        """Per field (and overall): F1 with A as gold, with B as gold, and their mean."""
        out: dict[str, dict[str, float | None]] = {}
        rows = [("incidents", self.a_as_gold.incidents.f1, self.b_as_gold.incidents.f1)]
        rows.append(("slots", self.a_as_gold.slots.f1, self.b_as_gold.slots.f1))
        rows += [(name, self.a_as_gold.fields[name].f1, self.b_as_gold.fields[name].f1) for name in FIELDS]
        for name, ab, ba in rows:
            mean = None if ab is None or ba is None else (ab + ba) / 2
            out[name] = {"a_as_gold": ab, "b_as_gold": ba, "mean": mean}
        return out

    def summary(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 6)

        return {
            "format": "incident-extract-agreement/1",
            "a": self.a,
            "b": self.b,
            "documents": list(self.documents),
            "only_a": list(self.only_a),
            "only_b": list(self.only_b),
            "fields": {k: {kk: r(vv) for kk, vv in v.items()} for k, v in self.field_agreement().items()},
            "kappa": {name: k.as_dict() for name, k in self.kappas.items()},
            "a_as_gold": self.a_as_gold.summary(),
            "b_as_gold": self.b_as_gold.summary(),
        }


def _value(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def categorical_pairs(report: EvalReport, slot_field: str, attribute: str | None) -> list[tuple[str, str]]:
    """(gold category, predicted category) for every aligned slot of a field with a value on both sides."""
    out = []
    for doc in report.documents:
        for pair in doc.pairs:
            for slot in pair.slots:
                if slot.field != slot_field or slot.verdict in (Verdict.MISSING, Verdict.SPURIOUS):
                    continue
                if slot.gold is None or slot.pred is None:
                    continue
                g = slot.gold if attribute is None else getattr(slot.gold, attribute)
                p = slot.pred if attribute is None else getattr(slot.pred, attribute)
                out.append((_value(g), _value(p)))
    return out


def as_predictions(gold: GoldSet, ids: Iterable[str], name: str) -> list[DocumentResult]:
    """A gold set's documents as a run's records (alternatives, keys and notes dropped)."""
    provenance = Provenance(
        prompt="annotation", prompt_hash="-", schema_version=SCHEMA_VERSION, backend="annotator", model=name,
        extractor_version="-",
    )  # fmt: skip
    return [
        DocumentResult(
            id=doc_id,
            status=Status.OK,
            incidents=[
                Incident(**i.model_dump(exclude={"key", "alternatives", "note"}))
                for i in gold.documents[doc_id].incidents
            ],
            provenance=provenance,
        )
        for doc_id in ids
    ]


def _restrict(gold: GoldSet, ids: Sequence[str]) -> GoldSet:
    return GoldSet(
        documents={d: gold.documents[d] for d in ids},
        articles={d: gold.articles[d] for d in ids if d in gold.articles},
        aliases=gold.aliases,
        root=gold.root,
    )


def agreement(a: GoldSet, b: GoldSet, *, names: tuple[str, str] = ("A", "B"), bootstrap: int = 0) -> AgreementReport:
    """Score two annotations of the same articles against each other, both ways, with Cohen's kappa."""
    shared = tuple(sorted(set(a.documents) & set(b.documents)))
    if not shared:
        raise InputError(
            f"{names[0]} and {names[1]} have no document in common",
            hint="both directories must label the same articles (same ids in labels/)",
        )
    a_as_gold = evaluate(_restrict(a, shared), as_predictions(b, shared, names[1]), bootstrap=bootstrap)
    b_as_gold = evaluate(_restrict(b, shared), as_predictions(a, shared, names[0]), bootstrap=bootstrap)
    kappas = {name: cohen_kappa(categorical_pairs(a_as_gold, f, attr)) for name, f, attr in CATEGORICAL}
    return AgreementReport(
        a=names[0],
        b=names[1],
        documents=shared,
        only_a=tuple(sorted(set(a.documents) - set(b.documents))),
        only_b=tuple(sorted(set(b.documents) - set(a.documents))),
        a_as_gold=a_as_gold,
        b_as_gold=b_as_gold,
        kappas=kappas,
    )


def agreement_dirs(dir_a: str | Path, dir_b: str | Path) -> AgreementReport:
    """:func:`agreement` of two gold directories, named by their paths."""
    from extract.scoring.gold import load_gold

    return agreement(load_gold(dir_a), load_gold(dir_b), names=(str(dir_a), str(dir_b)))


def render_agreement(report: AgreementReport) -> Table:
    """A rich table: per-field F1 both ways and their mean, then Cohen's kappa for the categorical fields."""

    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    table = Table(title=f"Agreement: {escape(str(report.a))} vs {escape(str(report.b))}", title_justify="left")
    for column, justify in (("field", "left"), ("F1, A as gold", "right"), ("F1, B as gold", "right"),
                            ("mean", "right"), ("Cohen's κ (pairs)", "right")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    kappas = report.kappas
    for name, row in report.field_agreement().items():
        k = kappas.get(name)
        table.add_row(name, num(row["a_as_gold"]), num(row["b_as_gold"]), num(row["mean"]),
                      f"{num(k.kappa)} ({k.pairs})" if k else "")  # fmt: skip
    table.add_section()
    for name, k in kappas.items():
        if name != "type":
            table.add_row(name, "", "", "", f"{num(k.kappa)} ({k.pairs})")
    only = [f"only in A: {', '.join(report.only_a)}" if report.only_a else "",
            f"only in B: {', '.join(report.only_b)}" if report.only_b else ""]  # fmt: skip
    table.caption = f"{len(report.documents)} documents in common" + "".join(f"; {o}" for o in only if o)
    return table
