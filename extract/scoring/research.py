"""The template-filling metrics of the literature, computed beside ours so that results compare.

Both treat an incident's values as *role fillers*: the strings (or, for casualties, the
counts) that fill a role. The roles of this schema are:

============== ===========================================================
role           fillers of one incident
============== ===========================================================
``date``       the date's text
``location``   ``place`` and ``near`` (the towns; how they relate is ignored)
``region``     ``admin1`` and ``country``
``aircraft``   each aircraft's model
``perpetrator`` each perpetrator's name
``weapon``     the weapon's text
``victim``     each casualty group (kind and count)
``source``     each source's name
============== ===========================================================

A predicted filler *matches* a gold filler when the two are the same after
normalisation: names equal under :class:`~extract.scoring.comparators.NameMatcher`'s
*correct* rule (normalised form, transliteration keys, gold alternatives, alias table,
and for places without the qualifier words their fields declare, "Idlib countryside"
for "Idlib"; no partial credit), casualty groups of the same kind whose count
:func:`~extract.scoring.comparators.compare_count` finds correct. A gold value left
empty with listed alternatives is *optional*: a predicted filler matching it counts as
found (on both sides), and is neither missing nor spurious otherwise.

**GTT role-filler F1** (the template metric of Du, Cardie and Rush, "Template Filling
with Generative Transformers", NAACL 2021, after the MUC-4 scoring of templates):
predicted templates (incidents) are aligned one-to-one with gold templates of the same
incident type (or a type the gold lists as an alternative), choosing the alignment that
matches the most fillers; within an aligned pair, each role's fillers are matched
one-to-one. Fillers of unaligned templates are all spurious or missing. Precision is
matched fillers over predicted fillers, recall matched over gold, micro-averaged over
roles and documents.

**CEAF-REE** (Du, Rush and Cardie, "GRIT: Generative Role-filler Transformers for
Document-level Event Entity Extraction", EACL 2021): templates are ignored. Per document
and role, the gold fillers of all incidents are pooled into entities (fillers that name the
same entity, equal or listed as aliases, are one entity, their accepted forms merged),
the predicted fillers likewise, and the two sets are aligned one-to-one to maximise the summed
similarity φ (1 when the predicted filler matches one of the entity's forms, else 0).
Precision is Σφ over predicted entities, recall Σφ over gold entities, micro-averaged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from extract.core.fields import fields_of
from extract.core.schema import Casualty, Incident, Location
from extract.scoring.comparators import NameMatcher, Verdict, compare_count
from extract.scoring.incidents import assign, canonical_order
from extract.scoring.metrics import prf

# What matching an optional gold filler is worth in the filler alignment, against 1 for a required one.
_OPTIONAL_WORTH = 1e-3

#: The roles, in report order (see the module docstring).
ROLES: tuple[str, ...] = ("date", "location", "region", "aircraft", "perpetrator", "weapon", "victim", "source")


@dataclass(frozen=True)
class Filler:
    """One value filling a role: the value, the other accepted forms, and whether it is optional."""

    role: str
    value: Any  # a name (str) or a Casualty
    alternatives: tuple[str, ...] = ()
    optional: bool = False
    #: Generic words left out when the filler is compared (the field's declared qualifiers).
    qualifiers: frozenset[str] = frozenset()


# The qualifier words each location part declares ("countryside", "town"...).
_PLACE_QUALIFIERS = {f.name: f.spec.qualifiers for f in fields_of(Location)}


def _alts(alternatives: Mapping[str, Sequence[str]], path: str) -> tuple[str, ...]:
    return tuple(alternatives.get(path, ()))


def role_fillers(incident: Incident) -> list[Filler]:
    """The role fillers of an incident (a gold incident's alternatives included)."""
    alts: Mapping[str, Sequence[str]] = getattr(incident, "alternatives", None) or {}
    out: list[Filler] = []

    def name(role: str, value: str | None, path: str, qualifiers: frozenset[str] = frozenset()) -> None:
        accepted = _alts(alts, path)
        if value is not None:
            out.append(Filler(role, value, accepted, qualifiers=qualifiers))
        elif accepted:
            out.append(Filler(role, accepted[0], accepted[1:], optional=True, qualifiers=qualifiers))

    if incident.date is not None:
        name("date", incident.date.text, "date.text")
    else:
        name("date", None, "date.text")
    if incident.location is not None:
        for role, part in (("location", "place"), ("location", "near"), ("region", "admin1"), ("region", "country")):
            name(role, getattr(incident.location, part), f"location.{part}", _PLACE_QUALIFIERS[part])
    for k, aircraft in enumerate(incident.aircraft):
        name("aircraft", aircraft.model, f"aircraft[{k}].model")
    for k, perpetrator in enumerate(incident.perpetrators):
        name("perpetrator", perpetrator.name, f"perpetrators[{k}].name")
    if incident.weapon is not None:
        name("weapon", incident.weapon.text, "weapon.text")
    for k, casualty in enumerate(incident.casualties):
        out.append(Filler("victim", casualty, _alts(alts, f"casualties[{k}].count")))
    for k, source in enumerate(incident.sources):
        name("source", source.name, f"sources[{k}].name")
    return out


def fillers_match(gold: Filler, pred: Filler, names: NameMatcher) -> bool:
    """Whether a predicted filler is the gold one after normalisation (no partial credit)."""
    if gold.role != pred.role:
        return False
    if isinstance(gold.value, Casualty):
        return (
            isinstance(pred.value, Casualty)
            and pred.value.kind is gold.value.kind
            and compare_count(gold.value, pred.value, gold.alternatives) is Verdict.CORRECT
        )
    if isinstance(pred.value, Casualty):
        return False
    return (
        names.compare(gold.value, pred.value, gold.alternatives, gold.qualifiers | pred.qualifiers) is Verdict.CORRECT
    )


@dataclass(frozen=True)
class FillerCounts:
    """Matched, predicted and gold fillers (or entities); precision, recall and F1 from them."""

    matched: int = 0
    predicted: int = 0
    gold: int = 0

    def __add__(self, other: FillerCounts) -> FillerCounts:
        return FillerCounts(self.matched + other.matched, self.predicted + other.predicted, self.gold + other.gold)

    @property
    def precision(self) -> float | None:
        return prf(self.matched, self.predicted, self.gold)[0]

    @property
    def recall(self) -> float | None:
        return prf(self.matched, self.predicted, self.gold)[1]

    @property
    def f1(self) -> float | None:
        return prf(self.matched, self.predicted, self.gold)[2]

    def as_dict(self) -> dict[str, float | int | None]:
        p, r, f = prf(self.matched, self.predicted, self.gold)
        return {"precision": p, "recall": r, "f1": f, "matched": self.matched, "predicted": self.predicted,
                "gold": self.gold}  # fmt: skip


@dataclass(frozen=True)
class ResearchScores:
    """GTT role-filler and CEAF-REE counts, in total and per role."""

    gtt: FillerCounts = field(default_factory=FillerCounts)
    gtt_roles: dict[str, FillerCounts] = field(default_factory=dict)
    ceaf_ree: FillerCounts = field(default_factory=FillerCounts)
    ceaf_ree_roles: dict[str, FillerCounts] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "gtt": self.gtt.as_dict(),
            "gtt_roles": {role: c.as_dict() for role, c in self.gtt_roles.items()},
            "ceaf_ree": self.ceaf_ree.as_dict(),
            "ceaf_ree_roles": {role: c.as_dict() for role, c in self.ceaf_ree_roles.items()},
        }


def _match_counts(gold: Sequence[Filler], pred: Sequence[Filler], names: NameMatcher) -> dict[str, FillerCounts]:
    """Per role: fillers matched one-to-one, predicted and gold (optional gold fillers only when matched).

    The matching maximises the matches with required gold fillers first, so that an
    optional filler never takes a prediction that a required one could use.
    """
    by_role: dict[str, tuple[list[Filler], list[Filler]]] = {}
    for f in gold:
        by_role.setdefault(f.role, ([], []))[0].append(f)
    for f in pred:
        by_role.setdefault(f.role, ([], []))[1].append(f)
    out: dict[str, FillerCounts] = {}
    for role, (g, p) in by_role.items():
        pairs: list[tuple[int, int]] = []
        if len(g) == 1 and len(p) == 1:
            pairs = [(0, 0)] if fillers_match(g[0], p[0], names) else []
        elif g and p:
            allowed = np.array([[fillers_match(a, b, names) for b in p] for a in g], dtype=bool)
            worth = np.array([[_OPTIONAL_WORTH if a.optional else 1.0] * len(p) for a in g])
            pairs = assign(np.where(allowed, worth, 0.0), allowed)
        matched_optional = sum(g[i].optional for i, _ in pairs)
        required = sum(not f.optional for f in g)
        counts = FillerCounts(len(pairs), len(p), required + matched_optional)
        if counts.predicted or counts.gold:
            out[role] = counts
    return out


def _add(total: dict[str, FillerCounts], part: Mapping[str, FillerCounts]) -> None:
    for role, counts in part.items():
        total[role] = total.get(role, FillerCounts()) + counts


def _types_align(gold: Incident, pred: Incident) -> bool:
    alternatives: Mapping[str, Sequence[str]] = getattr(gold, "alternatives", None) or {}
    return pred.type is gold.type or pred.type.value in alternatives.get("type", ())


def gtt_document(gold: Sequence[Incident], pred: Sequence[Incident], names: NameMatcher) -> dict[str, FillerCounts]:
    """GTT role-filler counts of one document, per role (see the module docstring).

    Both sides are put in the scorer's canonical order first, so that a tie between pairings of
    equal credit (which roles the matches fall in) is not settled by the order the incidents came in.
    """
    gold = [gold[k] for k in canonical_order(gold)]
    pred = [pred[k] for k in canonical_order(pred)]
    gold_fillers = [role_fillers(i) for i in gold]
    pred_fillers = [role_fillers(i) for i in pred]
    n, m = len(gold), len(pred)
    credit = np.zeros((n, m))
    allowed = np.zeros((n, m), dtype=bool)
    pair_counts: dict[tuple[int, int], dict[str, FillerCounts]] = {}
    for i in range(n):
        for j in range(m):
            if _types_align(gold[i], pred[j]):
                counts = _match_counts(gold_fillers[i], pred_fillers[j], names)
                allowed[i, j] = True
                credit[i, j] = sum(c.matched for c in counts.values())
                pair_counts[i, j] = counts
    total: dict[str, FillerCounts] = {}
    pairs = assign(credit, allowed)
    for i, j in pairs:
        _add(total, pair_counts[i, j])
    aligned_g, aligned_p = {i for i, _ in pairs}, {j for _, j in pairs}
    for i in range(n):
        if i not in aligned_g:
            _add(total, _match_counts(gold_fillers[i], [], names))
    for j in range(m):
        if j not in aligned_p:
            _add(total, _match_counts([], pred_fillers[j], names))
    return total


def _same_entity(a: Filler, b: Filler, names: NameMatcher) -> bool:
    """Whether two fillers of one side name the same entity (equal counts; names equal or aliases)."""
    if a.role != b.role:
        return False
    if isinstance(a.value, Casualty) or isinstance(b.value, Casualty):
        return a.value == b.value
    return names.compare(a.value, b.value, (), a.qualifiers | b.qualifiers) is Verdict.CORRECT


def _entities(fillers: Iterable[Filler], names: NameMatcher) -> list[Filler]:
    """Fillers of one role pooled into entities: fillers naming the same entity are one, their forms merged.

    The same rule pools both sides, so that the gold used as a prediction pools the same way.
    """
    entities: list[Filler] = []
    for filler in fillers:
        for k, entity in enumerate(entities):
            if _same_entity(entity, filler, names):
                extra = (filler.value,) if isinstance(filler.value, str) else ()
                entities[k] = Filler(
                    entity.role,
                    entity.value,
                    tuple(dict.fromkeys((*entity.alternatives, *extra, *filler.alternatives))),
                    entity.optional and filler.optional,
                    entity.qualifiers | filler.qualifiers,
                )
                break
        else:
            entities.append(filler)
    return entities


def ceaf_ree_document(
    gold: Sequence[Incident], pred: Sequence[Incident], names: NameMatcher
) -> dict[str, FillerCounts]:
    """CEAF-REE counts of one document, per role (see the module docstring)."""
    gold_fillers = [f for incident in gold for f in role_fillers(incident)]
    pred_fillers = [f for incident in pred for f in role_fillers(incident)]
    roles = {f.role for f in gold_fillers} | {f.role for f in pred_fillers}
    entities: list[Filler] = []
    for role in roles:
        entities += _entities((f for f in gold_fillers if f.role == role), names)
    predicted: list[Filler] = []
    for role in roles:
        predicted += _entities((f for f in pred_fillers if f.role == role), names)
    return _match_counts(entities, predicted, names)


def research_scores(
    documents: Iterable[tuple[Sequence[Incident], Sequence[Incident]]], names: NameMatcher
) -> ResearchScores:
    """GTT role-filler F1 and CEAF-REE over documents given as (gold incidents, predicted incidents)."""
    gtt: dict[str, FillerCounts] = {}
    ree: dict[str, FillerCounts] = {}
    for gold, pred in documents:
        _add(gtt, gtt_document(gold, pred, names))
        _add(ree, ceaf_ree_document(gold, pred, names))

    def total(per_role: Mapping[str, FillerCounts]) -> FillerCounts:
        return sum(per_role.values(), FillerCounts())

    order = {role: k for k, role in enumerate(ROLES)}
    return ResearchScores(
        gtt=total(gtt),
        gtt_roles=dict(sorted(gtt.items(), key=lambda kv: order[kv[0]])),
        ceaf_ree=total(ree),
        ceaf_ree_roles=dict(sorted(ree.items(), key=lambda kv: order[kv[0]])),
    )
