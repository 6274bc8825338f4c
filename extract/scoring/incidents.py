"""Scoring one gold incident against one predicted incident, and aligning incidents.

A *slot* is one scored unit: a scalar field (type, date, primary), a composite value
(location, weapon) or one item of a list field (each aircraft, perpetrator, casualty
group and source). Composites and list items are judged on their sub-fields; see
:mod:`extract.scoring` for the field list and how each is counted.

Alignment, of incidents within a document and of items within a list, is an optimal
one-to-one assignment (``scipy.optimize.linear_sum_assignment``) that maximises the
total credit of the pairs (correct 1, partial 0.5, summed over their slots) among the
pairs allowed by a gate, with a tiny bonus per pair so that an allowed pair is always
preferred to leaving both sides unmatched. Maximising the credit maximises the MUC
numerator, so the pairing chosen is the one that gives the prediction the best
precision and recall at once. Both sides are put in a canonical order first, so the
result never depends on the order of the input.

Pairings of incidents that earn the same credit are told apart by what the scores
count besides credit: more pairs, then more pairs of the same type (strict detection),
then fewer predicted slots (values over-filled where the gold is empty). Every headline
score (detection, strict and lenient; slots) is then the same whichever of the tied
pairings is taken, so that the canonical order, which moves with any change of a
predicted value, even a wrong value for another wrong one, never decides a score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel
from scipy.optimize import linear_sum_assignment

from extract.core.fields import Compare, FieldInfo, fields_of, parts_of, scored_fields
from extract.core.schema import DateInfo, Incident
from extract.scoring.comparators import (
    FUZZY_NAME_THRESHOLD,
    NameMatcher,
    Verdict,
    compare_count,
    compare_date,
    compare_enum,
    compare_place_near,
    types_compatible,
    without_qualifiers,
)
from extract.scoring.normalize import normalize_date, normalize_name

# Every table below is derived from the field declarations in extract/core/schema.py
# (see extract.core.fields): a field added there is scored here without an edit.
INCIDENT_FIELDS: tuple[FieldInfo, ...] = scored_fields(Incident)

#: The scored fields of an incident, in report order.
FIELDS: tuple[str, ...] = tuple(f.name for f in INCIDENT_FIELDS)
LIST_FIELDS: tuple[str, ...] = tuple(f.name for f in INCIDENT_FIELDS if f.is_list)

#: A pair of incidents is aligned only if, over its slots other than type and primary,
#: the prediction earns at least this share of the credit the gold incident offers
#: (unless the gold incident has no such slots, when compatible types suffice).
MIN_AGREEMENT = 0.25

# Bonus per aligned pair: far smaller than the smallest credit step (0.5), so it only
# breaks ties in favour of aligning more pairs.
_PAIR_BONUS = 1e-6
# Incidents only, each a hundred times smaller than the one before, so that they break ties in
# this order (for documents of fewer than a hundred incidents): a bonus per pair of the same
# type, and a cost per predicted slot a pair adds to those of the prediction left unmatched.
_SAME_TYPE_BONUS = 1e-8
_EXTRA_SLOT_COST = 1e-10


@dataclass(frozen=True)
class Part:
    """One sub-field of a composite value: its name, how it is compared, its weight, whether it is a key."""

    name: str
    kind: Compare
    weight: float
    key: bool = False
    #: Generic words left out when the value is compared (see :func:`~extract.scoring.comparators.without_qualifiers`).
    qualifiers: frozenset[str] = frozenset()


# The weights decide when a composite is partial rather than incorrect (see _combine):
# the identifying sub-field weighs most, so a perpetrator with the right name and the
# wrong status is partial, and a casualty group with the wrong count is incorrect.
def _parts(model: type[BaseModel]) -> tuple[Part, ...]:
    parts = []
    for p in parts_of(model):
        if p.spec.compare is None:
            raise TypeError(f"{model.__name__}.{p.name} is scored but declares no comparison")
        parts.append(Part(p.name, p.spec.compare, p.spec.weight, p.spec.key, p.spec.qualifiers))
    return tuple(parts)


COMPOSITES: dict[str, tuple[Part, ...]] = {
    f.name: _parts(f.model) for f in INCIDENT_FIELDS if f.composite and f.model is not None
}

#: Sub-fields reported on their own, as ``field.sub``.
SUBFIELDS: tuple[str, ...] = tuple(f"{field}.{part.name}" for field, parts in COMPOSITES.items() for part in parts)


@dataclass(frozen=True, slots=True)
class SubVerdict:
    """The verdict on one sub-field of a composite value."""

    name: str
    verdict: Verdict
    gold: Any = None
    pred: Any = None


@dataclass(frozen=True, slots=True)
class Slot:
    """The verdict on one slot, with the two values it compared."""

    field: str
    verdict: Verdict
    gold: Any = None
    pred: Any = None
    subs: tuple[SubVerdict, ...] = ()
    gold_index: int | None = None
    pred_index: int | None = None


@dataclass(frozen=True, slots=True)
class PairScore:
    """A gold incident compared with a predicted one."""

    slots: tuple[Slot, ...]
    credit: float
    agreement: float
    allowed: bool
    #: The types agree (the same, or one the gold lists): a strict detection when aligned.
    same_type: bool = True


Alternatives = Mapping[str, Sequence[str]]


def _count_text(item: Any) -> str:
    if item.count_max is not None:
        return f"{item.count}-{item.count_max} ({item.qualifier.value})"
    return f"{item.count} ({item.qualifier.value})"


class NameComparator:
    """Names and places: normalised, transliterations folded, aliases, the gold alternatives and the part's
    declared qualifier words ("Idlib countryside" is "Idlib") accepted."""

    def compare(self, part: Part, gold: Any, pred: Any, alternatives: Sequence[str], names: NameMatcher) -> Verdict:
        return names.compare(gold, pred, alternatives, part.qualifiers)


class EnumComparator:
    """One of a fixed set: equal, or one of the gold alternatives."""

    def compare(self, part: Part, gold: Any, pred: Any, alternatives: Sequence[str], names: NameMatcher) -> Verdict:
        return compare_enum(gold, pred, alternatives)


class CountComparator:
    """A count with its qualifier, judged on the whole item (count, count_max, qualifier)."""

    def compare(self, part: Part, gold: Any, pred: Any, alternatives: Sequence[str], names: NameMatcher) -> Verdict:
        return compare_count(gold, pred, alternatives)


#: How each kind of declared comparison is done, for sub-fields of composites.
COMPARATORS: dict[Compare, NameComparator | EnumComparator | CountComparator] = {
    Compare.NAME: NameComparator(),
    Compare.ENUM: EnumComparator(),
    Compare.COUNT: CountComparator(),
}


def _compare_part(part: Part, gold: Any, pred: Any, alternatives: Sequence[str], names: NameMatcher) -> Verdict:
    return COMPARATORS[part.kind].compare(part, gold, pred, alternatives, names)


def _optional(part: Part, pred: Any, alternatives: Sequence[str], names: NameMatcher) -> Verdict:
    """A value the gold left empty but listed acceptable alternatives for."""
    verdict = _compare_part(part, alternatives[0], pred, alternatives[1:], names)
    return verdict if verdict is not Verdict.INCORRECT else Verdict.SPURIOUS


def _judge_part(
    part: Part, g: Any, p: Any, alternatives: Alternatives, prefix: str, names: NameMatcher
) -> Verdict | None:
    """One sub-field: None when both sides are empty."""
    alts = alternatives.get(f"{prefix}.{part.name}", ())
    if g is None:
        if p is None:
            return None
        return _optional(part, p, alts, names) if alts else Verdict.SPURIOUS
    if p is None:
        return Verdict.MISSING
    return _compare_part(part, g, p, alts, names)


def _location_subverdicts(
    gold: Any, pred: Any, alternatives: Alternatives, prefix: str, names: NameMatcher
) -> tuple[SubVerdict, ...]:
    parts = {part.name: part for part in COMPOSITES["location"]}

    def judge(name: str, value: str | None) -> Verdict | None:
        return _judge_part(parts[name], getattr(gold, name), value, alternatives, prefix, names)

    out = [
        SubVerdict(name, verdict, g, p)
        for name, verdict, g, p in compare_place_near(judge, gold.place, gold.near, pred.place, pred.near)
    ]
    for name in ("admin1", "country"):
        verdict = judge(name, getattr(pred, name))
        if verdict is not None:
            out.append(SubVerdict(name, verdict, getattr(gold, name), getattr(pred, name)))
    return tuple(out)


def _subverdicts(
    field: str, gold: Any, pred: Any, alternatives: Alternatives, prefix: str, names: NameMatcher
) -> tuple[SubVerdict, ...]:
    if field == "location":
        return _location_subverdicts(gold, pred, alternatives, prefix, names)
    out = []
    for part in COMPOSITES[field]:
        if part.kind is Compare.COUNT:
            out.append(
                SubVerdict(
                    part.name,
                    _compare_part(part, gold, pred, alternatives.get(f"{prefix}.{part.name}", ()), names),
                    _count_text(gold),
                    _count_text(pred),
                )
            )
            continue
        g, p = getattr(gold, part.name), getattr(pred, part.name)
        verdict = _judge_part(part, g, p, alternatives, prefix, names)
        if verdict is not None:
            out.append(SubVerdict(part.name, verdict, g, p))
    return tuple(out)


def _combine(field: str, subs: Sequence[SubVerdict]) -> tuple[Verdict, float]:
    """The verdict on a composite from its sub-fields, and the share of the weight earned.

    Judged on the sub-fields the gold fills (plus empty gold sub-fields whose listed
    alternatives the prediction matched): correct when all are correct; partial when at
    least half the weight is earned, or when some credit is earned and nothing the
    prediction gives is wrong (a correct but less specific value: "Khan al-Subl" alone
    for a four-part location scores above leaving the location empty); incorrect
    otherwise. Sub-fields only the prediction fills are not part of this verdict: they
    are counted by :func:`overfill_slot`, against precision only.
    """
    weights = {p.name: p.weight for p in COMPOSITES[field]}
    total = earned = 0.0
    all_correct = True
    wrong = False
    for sub in subs:
        if sub.verdict is Verdict.SPURIOUS:
            continue
        w = weights[sub.name]
        total += w
        earned += w * sub.verdict.credit
        all_correct = all_correct and sub.verdict is Verdict.CORRECT
        wrong = wrong or sub.verdict is Verdict.INCORRECT
    share = earned / total if total else 0.0
    if total and all_correct:
        return Verdict.CORRECT, share
    if share >= 0.5 or (earned > 0 and not wrong):
        return Verdict.PARTIAL, share
    return Verdict.INCORRECT, share


def overfill_slot(field: str, subs: Sequence[SubVerdict], pred: Any, index: int | None = None) -> Slot | None:
    """One spurious slot for a compared value that fills sub-fields the gold leaves empty with unaccepted values.

    A location with a wrong ``place`` where the gold has none claims more than the
    article supports; the extra slot lowers precision and leaves recall alone, so that
    over-filling never scores as well as the gold and removing the wrong value never
    lowers recall. One slot per value, however many sub-fields it over-fills.
    """
    extra = tuple(sub for sub in subs if sub.verdict is Verdict.SPURIOUS)
    if not extra:
        return None
    text = "; ".join(f"{sub.name}: {sub.pred}" for sub in extra)
    return Slot(field, Verdict.SPURIOUS, None, f"{text} (not in gold)", extra, pred_index=index)


def compare_composite(
    field: str, gold: Any, pred: Any, alternatives: Alternatives, prefix: str, names: NameMatcher
) -> tuple[Verdict, tuple[SubVerdict, ...], float]:
    """Compare two composite values (a location, weapon or list item): verdict, sub-verdicts, share earned."""
    subs = _subverdicts(field, gold, pred, alternatives, prefix, names)
    verdict, share = _combine(field, subs)
    return verdict, subs, share


def _item_allowed(field: str, subs: Sequence[SubVerdict], share: float) -> bool:
    """Whether two list items may be aligned at all (otherwise both stay unmatched).

    Items whose model declares key sub-fields (a perpetrator's name, a casualty group's kind)
    pair only where no key is wrong; items without keys (aircraft) where some weight is earned.
    """
    keys = {p.name for p in COMPOSITES[field] if p.key}
    if keys:
        return all(s.verdict not in (Verdict.INCORRECT, Verdict.MISSING) for s in subs if s.name in keys)
    return share > 0


def as_compared(value: BaseModel) -> BaseModel:
    """The value with every name whose field declares qualifier words in the form it is compared in.

    "Idlib countryside", "the countryside of Idlib" and "Idlib" all become "idlib"; values of
    sub-models are done the same way. Other fields are left as they are.
    """
    update: dict[str, Any] = {}
    for info in fields_of(type(value)):
        held = getattr(value, info.name)
        if info.spec.qualifiers and isinstance(held, str):
            update[info.name] = normalize_name(without_qualifiers(held, info.spec.qualifiers))
        elif info.model is not None and held:
            update[info.name] = [as_compared(item) for item in held] if info.is_list else as_compared(held)
    return value.model_copy(update=update) if update else value


def canonical_order(items: Sequence[BaseModel]) -> list[int]:
    """Indices of the items sorted by content, so that alignment ignores input order.

    Sorted by the values as compared first (:func:`as_compared`), so that the words a comparison
    leaves out ("Idlib countryside" for "Idlib") cannot reorder the items and settle a tie
    between pairings another way; then by the values as given, so that the order is total.
    """
    if len(items) < 2:
        return list(range(len(items)))
    keys = [(as_compared(item).model_dump_json(), item.model_dump_json()) for item in items]
    return sorted(range(len(items)), key=keys.__getitem__)


def assign(credit: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """The optimal one-to-one pairs of a credit matrix among the allowed cells."""
    rows, cols = credit.shape
    if rows == 0 or cols == 0:
        return []
    if rows == 1 and cols == 1:
        return [(0, 0)] if allowed[0, 0] else []
    weight = np.where(allowed, credit + _PAIR_BONUS, 0.0)
    r, c = linear_sum_assignment(weight, maximize=True)
    return [(int(i), int(j)) for i, j in zip(r, c, strict=True) if allowed[i, j]]


def _lone_item_slot(field: str, item: Any, verdict: Verdict, index: int | None = None) -> Slot:
    """A value with nothing to compare against: every sub-field it fills is missing (or spurious)."""
    subs = []
    for part in COMPOSITES[field]:
        value = _count_text(item) if part.kind is Compare.COUNT else getattr(item, part.name)
        if value is not None:
            subs.append(
                SubVerdict(
                    part.name,
                    verdict,
                    value if verdict is Verdict.MISSING else None,
                    value if verdict is Verdict.SPURIOUS else None,
                )
            )
    gold, pred = (item, None) if verdict is Verdict.MISSING else (None, item)
    return Slot(
        field,
        verdict,
        gold,
        pred,
        tuple(subs),
        gold_index=index if verdict is Verdict.MISSING else None,
        pred_index=index if verdict is Verdict.SPURIOUS else None,
    )


def compare_lists(
    field: str, gold: Sequence[Any], pred: Sequence[Any], alternatives: Alternatives, names: NameMatcher
) -> list[Slot]:
    """Align two lists item by item and score each pair; unmatched items are missing or spurious."""
    if not gold and not pred:
        return []
    g_order, p_order = canonical_order(gold), canonical_order(pred)
    n, m = len(gold), len(pred)
    credit = np.zeros((n, m))
    allowed = np.zeros((n, m), dtype=bool)
    results: dict[tuple[int, int], tuple[Verdict, tuple[SubVerdict, ...]]] = {}
    for a, gi in enumerate(g_order):
        for b, pj in enumerate(p_order):
            verdict, subs, share = compare_composite(field, gold[gi], pred[pj], alternatives, f"{field}[{gi}]", names)
            if _item_allowed(field, subs, share):
                allowed[a, b] = True
                credit[a, b] = verdict.credit
                results[a, b] = (verdict, subs)
    slots: list[Slot] = []
    matched_g: set[int] = set()
    matched_p: set[int] = set()
    for a, b in assign(credit, allowed):
        gi, pj = g_order[a], p_order[b]
        verdict, subs = results[a, b]
        slots.append(Slot(field, verdict, gold[gi], pred[pj], subs, gold_index=gi, pred_index=pj))
        extra = overfill_slot(field, subs, pred[pj], pj)
        if extra is not None:
            slots.append(extra)
        matched_g.add(gi)
        matched_p.add(pj)
    slots.extend(_lone_item_slot(field, gold[k], Verdict.MISSING, k) for k in range(n) if k not in matched_g)
    slots.extend(_lone_item_slot(field, pred[k], Verdict.SPURIOUS, k) for k in range(m) if k not in matched_p)
    return slots


def _date_slot(gold: DateInfo | None, pred: DateInfo | None, alternatives: Alternatives) -> Slot | None:
    texts, isos = alternatives.get("date.text", ()), alternatives.get("date.iso", ())
    if gold is None:
        if pred is None:
            return None
        # An empty gold date with alternatives means "optional, but if given it must be one of these".
        optional_match = any(normalize_date(pred.text) == normalize_date(a) for a in texts) or (
            pred.iso is not None and pred.iso in isos
        )
        return Slot("date", Verdict.CORRECT if optional_match else Verdict.SPURIOUS, None, pred)
    if pred is None:
        return Slot("date", Verdict.MISSING, gold, None)
    return Slot("date", compare_date(gold, pred, texts, isos, FUZZY_NAME_THRESHOLD), gold, pred)


def _composite_slot(field: str, gold: Any, pred: Any, alternatives: Alternatives, names: NameMatcher) -> list[Slot]:
    if gold is None:
        return [] if pred is None else [_lone_item_slot(field, pred, Verdict.SPURIOUS)]
    if pred is None:
        return [_lone_item_slot(field, gold, Verdict.MISSING)]
    verdict, subs, _ = compare_composite(field, gold, pred, alternatives, field, names)
    extra = overfill_slot(field, subs, pred)
    return [Slot(field, verdict, gold, pred, subs), *([extra] if extra is not None else [])]


def _flag_slot(field: str, gold: bool, pred: bool) -> Slot | None:
    # False is the empty value: only a flag set on either side is a slot.
    if gold and pred:
        return Slot(field, Verdict.CORRECT, True, True)
    if gold:
        return Slot(field, Verdict.MISSING, True, False)
    if pred:
        return Slot(field, Verdict.SPURIOUS, False, True)
    return None


def _field_slots(
    info: FieldInfo, gold: Incident, pred: Incident, alternatives: Alternatives, names: NameMatcher
) -> list[Slot]:
    """The slots of one declared field of an aligned pair."""
    g, p = getattr(gold, info.name), getattr(pred, info.name)
    if info.is_list:
        return compare_lists(info.name, g, p, alternatives, names)
    if info.composite:
        return _composite_slot(info.name, g, p, alternatives, names)
    if info.spec.compare is Compare.DATE:
        slot = _date_slot(g, p, alternatives)
    elif info.spec.compare is Compare.FLAG:
        slot = _flag_slot(info.name, g, p)
    else:
        slot = Slot(info.name, compare_enum(g, p, alternatives.get(info.name, ())), g, p)
    return [] if slot is None else [slot]


def compare_incidents(gold: Incident, pred: Incident, names: NameMatcher) -> PairScore | None:
    """Score a predicted incident against a gold one; None when their types are incompatible.

    A type listed among the gold incident's ``type`` alternatives is always compatible.
    """
    alternatives: Alternatives = getattr(gold, "alternatives", None) or {}
    same_type = pred.type is gold.type or pred.type.value in alternatives.get("type", ())
    if not same_type and not types_compatible(gold.type, pred.type):
        return None
    slots: list[Slot] = []
    for info in INCIDENT_FIELDS:
        slots.extend(_field_slots(info, gold, pred, alternatives, names))

    credit = sum(s.verdict.credit for s in slots)
    offered = earned = 0.0
    for s in slots:
        if s.field not in _NOT_AGREEMENT and s.verdict is not Verdict.SPURIOUS:
            offered += 1
            earned += s.verdict.credit
    agreement = earned / offered if offered else 1.0
    return PairScore(tuple(slots), credit, agreement, agreement >= MIN_AGREEMENT, same_type)


# The type gates alignment on its own, and the primary flag says nothing about which incident it is.
_NOT_AGREEMENT = frozenset({"type", *(f.name for f in INCIDENT_FIELDS if f.spec.compare is Compare.FLAG)})


def lone_incident_slots(incident: Incident, verdict: Verdict) -> list[Slot]:
    """The slots of an unmatched incident: all missing (gold) or all spurious (prediction)."""
    missing = verdict is Verdict.MISSING
    slots: list[Slot] = []
    for info in INCIDENT_FIELDS:
        value = getattr(incident, info.name)
        if info.is_list:
            slots.extend(_lone_item_slot(info.name, item, verdict, k) for k, item in enumerate(value))
        elif value is None or (info.spec.compare is Compare.FLAG and not value):
            continue
        elif info.composite:
            slots.append(_lone_item_slot(info.name, value, verdict))
        else:
            slots.append(Slot(info.name, verdict, value if missing else None, None if missing else value))
    return slots


@dataclass(frozen=True, slots=True)
class IncidentAlignment:
    """The incidents of one document, aligned: pairs (gold index, predicted index, score) and the rest."""

    pairs: tuple[tuple[int, int, PairScore], ...]
    missing: tuple[int, ...]
    spurious: tuple[int, ...]


def _tie_break(score: PairScore, alone: int) -> float:
    """What a pair adds to its credit in the alignment: bonuses and costs too small to outweigh any credit.

    ``alone`` is the number of slots of the prediction left unmatched; a pair that over-fills has more.
    """
    predicted = sum(s.verdict is not Verdict.MISSING for s in score.slots)
    return _SAME_TYPE_BONUS * score.same_type - _EXTRA_SLOT_COST * (predicted - alone)


def align_incidents(gold: Sequence[Incident], pred: Sequence[Incident], names: NameMatcher) -> IncidentAlignment:
    """Align the predicted incidents of a document with the gold ones (see the module docstring)."""
    g_order, p_order = canonical_order(gold), canonical_order(pred)
    n, m = len(gold), len(pred)
    credit = np.zeros((n, m))
    allowed = np.zeros((n, m), dtype=bool)
    scores: dict[tuple[int, int], PairScore] = {}
    alone = [len(lone_incident_slots(p, Verdict.SPURIOUS)) for p in pred]
    for a, gi in enumerate(g_order):
        for b, pj in enumerate(p_order):
            score = compare_incidents(gold[gi], pred[pj], names)
            if score is not None and score.allowed:
                allowed[a, b] = True
                credit[a, b] = score.credit + _tie_break(score, alone[pj])
                scores[a, b] = score
    pairs = sorted(((g_order[a], p_order[b], scores[a, b]) for a, b in assign(credit, allowed)), key=lambda t: t[0])
    matched_g = {gi for gi, _, _ in pairs}
    matched_p = {pj for _, pj, _ in pairs}
    return IncidentAlignment(
        pairs=tuple(pairs),
        missing=tuple(k for k in range(n) if k not in matched_g),
        spurious=tuple(k for k in range(m) if k not in matched_p),
    )
