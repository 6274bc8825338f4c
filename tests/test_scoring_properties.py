"""Invariants of the scorer, checked with hypothesis on generated gold and predicted incidents."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from extract.core.gold import GoldDocument, GoldIncident, GoldSet
from extract.core.records import DocumentResult, Provenance, Status
from extract.core.schema import (
    Aircraft,
    AircraftCategory,
    AttributionStatus,
    Casualty,
    CasualtyKind,
    CountQualifier,
    DateInfo,
    DatePrecision,
    Incident,
    IncidentType,
    Location,
    Perpetrator,
    Source,
    SourceKind,
    Weapon,
    WeaponCategory,
)
from extract.scoring import EvalReport, evaluate, types_compatible

PROV = Provenance(prompt="p", prompt_hash="h", schema_version="1.0.0", backend="mock", model="m", extractor_version="0")
# A quick run in every suite, a deep one with the slow tests.
EXAMPLES = [pytest.param(40, id="quick"), pytest.param(600, id="deep", marks=pytest.mark.slow)]


def invariant(*strategies: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Callable[[int], None]]:
    """Turn a check over generated values into a test run at each size of :data:`EXAMPLES`."""

    def wrap(check: Callable[..., None]) -> Callable[[int], None]:
        @pytest.mark.parametrize("examples", EXAMPLES)
        def test(examples: int) -> None:
            run_check = given(*strategies)(check)
            settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])(run_check)()

        test.__name__, test.__doc__ = check.__name__, check.__doc__
        return test

    return wrap


# Small vocabularies, so that generated values often match, nearly match (transliterations) or differ.
PLACES = ["Saraqeb", "Sarqeb", "Idlib", "Aleppo", "Halab", "Deir ez-Zor", "Ariha", "Homs", "Hama", "Syria"]
ACTORS = ["Tahrir al-Sham", "Hayat Tahrir al-Sham", "HTS", "Syrian rebels", "Russia", "Islamic State"]
MODELS = ["Su-25", "Su 25", "Su-24", "Mi-8", "L-39", None]
DAYS = ["Saturday", "Sunday", "July 8", "on July 8th", "last week"]
ISOS = ["2018-02-03", "2018-02", "2018", "2019-07-08", None]
Q = "quoted text"

names = st.sampled_from(PLACES + ACTORS)
places = st.sampled_from(PLACES)
actors = st.sampled_from(ACTORS)
maybe_place = st.one_of(st.none(), places)


@st.composite
def dates(draw: st.DrawFn) -> DateInfo:
    return DateInfo(
        text=draw(st.sampled_from(DAYS)), iso=draw(st.sampled_from(ISOS)), precision=DatePrecision.DAY, quote=Q
    )


@st.composite
def locations(draw: st.DrawFn) -> Location:
    parts = {k: draw(maybe_place) for k in ("place", "near", "admin1", "country")}
    if not any(parts.values()):
        parts["country"] = "Syria"
    return Location(**parts, quote=Q)


@st.composite
def casualties(draw: st.DrawFn) -> Casualty:
    qualifier = draw(st.sampled_from(list(CountQualifier)))
    low = draw(st.integers(0, 40))
    high = low + draw(st.integers(0, 10)) if qualifier is CountQualifier.RANGE else None
    return Casualty(
        kind=draw(st.sampled_from(list(CasualtyKind))),
        count=low,
        count_max=high,
        qualifier=qualifier,
        who=draw(st.sampled_from([None, "pilot", "civilians", "soldiers"])),
        quote=Q,
    )


aircraft = st.builds(
    Aircraft,
    model=st.sampled_from(MODELS),
    category=st.sampled_from(list(AircraftCategory)),
    operator=st.one_of(st.none(), st.sampled_from(["Russia", "Syria", "Turkey"])),
    quote=st.just(Q),
)
perpetrators = st.builds(Perpetrator, name=actors, status=st.sampled_from(list(AttributionStatus)), quote=st.just(Q))
weapons = st.builds(
    Weapon,
    text=st.sampled_from(["MANPADS", "shoulder-launched missile", "anti-aircraft gun"]),
    category=st.sampled_from(list(WeaponCategory)),
    quote=st.just(Q),
)
sources = st.builds(
    Source,
    name=st.sampled_from(["SOHR", "Russian Defence Ministry", "Reuters"]),
    kind=st.sampled_from(list(SourceKind)),
    quote=st.just(Q),
)


FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(list(IncidentType)),
    "date": st.one_of(st.none(), dates()),
    "location": st.one_of(st.none(), locations()),
    "aircraft": st.lists(aircraft, max_size=2),
    "perpetrators": st.lists(perpetrators, max_size=2),
    "weapon": st.one_of(st.none(), weapons),
    "casualties": st.lists(casualties(), max_size=2),
    "sources": st.lists(sources, max_size=2),
    "primary": st.booleans(),
}


@st.composite
def incident_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields = {name: draw(strategy) for name, strategy in FIELD_STRATEGIES.items()}
    return {**fields, "quote": Q, "summary": "Something happened."}


def dumped(value: Any) -> Any:
    if isinstance(value, list):
        return [item.model_dump() for item in value]
    return value.model_dump() if hasattr(value, "model_dump") else value


@st.composite
def gold_incidents(draw: st.DrawFn) -> GoldIncident:
    fields = draw(incident_fields())
    alternatives = {}
    # Alternatives only for values the gold fills; an empty gold value with alternatives is optional,
    # which makes recall's denominator depend on the prediction.
    if fields["location"] is not None and fields["location"].place is not None and draw(st.booleans()):
        alternatives["location.place"] = [draw(places)]
    return GoldIncident(**fields, key="k", alternatives=alternatives)


def as_prediction(gold: GoldIncident) -> Incident:
    return Incident(**gold.model_dump(exclude={"key", "alternatives", "note"}))


EDITS = [
    "type",
    "date",
    "primary",
    "location.part",
    "aircraft.model",
    "aircraft.operator",
    "perpetrators.status",
    "casualties.count",
    "casualties.who",
    "add-item",
    "drop-item",
    "swap-field",
]


def edit(draw: st.DrawFn, fields: dict[str, Any]) -> None:
    """One small change to a prediction's fields (a dump of an Incident), in place."""
    what = draw(st.sampled_from(EDITS))
    if what in ("type", "date", "primary"):
        fields[what] = dumped(draw(FIELD_STRATEGIES[what]))
    elif what == "location.part":
        if fields["location"] is not None:
            part = draw(st.sampled_from(["place", "near", "admin1", "country"]))
            fields["location"][part] = draw(maybe_place)
            if not any(fields["location"][p] for p in ("place", "near", "admin1", "country")):
                fields["location"]["country"] = "Syria"
    elif what in ("add-item", "drop-item", "swap-field"):
        name = draw(st.sampled_from(["aircraft", "perpetrators", "casualties", "sources", "location", "weapon"]))
        if what == "swap-field":
            fields[name] = dumped(draw(FIELD_STRATEGIES[name]))
        elif name in ("location", "weapon"):
            fields[name] = None
        elif what == "add-item":
            fields[name].extend(dumped(draw(FIELD_STRATEGIES[name]))[:1])
        elif fields[name]:
            fields[name].pop(draw(st.integers(0, len(fields[name]) - 1)))
    else:
        head, _, sub = what.partition(".")
        if fields[head]:
            item = fields[head][draw(st.integers(0, len(fields[head]) - 1))]
            if sub == "model":
                item[sub] = draw(st.sampled_from(MODELS))
            elif sub == "operator":
                item[sub] = draw(st.sampled_from([None, "Russia", "Syria"]))
            elif sub == "status":
                item[sub] = draw(st.sampled_from(list(AttributionStatus)))
            elif sub == "who":
                item[sub] = draw(st.sampled_from([None, "pilot", "civilians"]))
            elif item["qualifier"] != "range":
                item[sub] = max(0, item[sub] + draw(st.integers(-3, 8)))


@st.composite
def predicted_from(draw: st.DrawFn, gold: list[GoldIncident]) -> list[Incident]:
    """Predictions derived from gold: exact copies, copies with a few small edits, drops and extras."""
    out: list[Incident] = []
    for incident in gold:
        action = draw(st.sampled_from(["copy", "edit", "edit", "drop"]))
        if action == "drop":
            continue
        fields = as_prediction(incident).model_dump()
        if action == "edit":
            for _ in range(draw(st.integers(1, 3))):
                edit(draw, fields)
        out.append(Incident.model_validate(fields))
    out.extend(Incident(**f) for f in draw(st.lists(incident_fields(), max_size=1)))
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, list[GoldIncident]], dict[str, list[Incident]]]:
    count = draw(st.integers(1, 3))
    gold = {f"doc{k}": draw(st.lists(gold_incidents(), max_size=3)) for k in range(count)}
    preds = {doc_id: draw(predicted_from(incidents)) for doc_id, incidents in gold.items()}
    return gold, preds


def make_gold(docs: dict[str, list[GoldIncident]]) -> GoldSet:
    return GoldSet(
        documents={d: GoldDocument(id=d, incidents=incs) for d, incs in docs.items()},
        articles={d: "" for d in docs},
        aliases={"Hayat Tahrir al-Sham": ["HTS"], "Aleppo": ["Halab"]},
        root=Path("."),
    )


def run(gold: dict[str, list[GoldIncident]], preds: dict[str, list[Incident]]) -> EvalReport:
    results = [DocumentResult(id=d, status=Status.OK, incidents=incs, provenance=PROV) for d, incs in preds.items()]
    return evaluate(make_gold(gold), results, bootstrap=0)


def not_higher(after: float | None, before: float | None) -> bool:
    if after is None or before is None:
        return after is None or before is None
    return after <= before + 1e-12


@invariant(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.lists(gold_incidents(), max_size=3), min_size=1))
def test_gold_against_itself_is_perfect(gold: dict[str, list[GoldIncident]]) -> None:
    report = run(gold, {d: [as_prediction(i) for i in incs] for d, incs in gold.items()})
    if any(gold.values()):
        assert report.slots.f1 == 1.0
        assert report.incidents.f1 == 1.0
        assert all(c.f1 in (1.0, None) for c in report.fields.values())
        assert all(c.f1 in (1.0, None) for c in report.subfields.values())
    else:
        assert report.slots.f1 is None


@invariant(scenarios(), st.randoms(use_true_random=False))
def test_reordering_incidents_changes_nothing(scenario: Any, random: Any) -> None:
    gold, preds = scenario
    shuffled_gold = {d: random.sample(incs, len(incs)) for d, incs in gold.items()}
    shuffled_preds = {d: random.sample(incs, len(incs)) for d, incs in preds.items()}
    assert run(shuffled_gold, shuffled_preds).summary() == run(gold, preds).summary()


@invariant(scenarios(), st.data())
def test_adding_a_spurious_incident_never_raises_precision(scenario: Any, data: st.DataObject) -> None:
    gold, preds = scenario
    doc_id = data.draw(st.sampled_from(sorted(gold)))
    # a truly spurious incident: its type is compatible with no gold incident of the document
    free = [t for t in IncidentType if not any(types_compatible(g.type, t) for g in gold[doc_id])]
    assume(free)
    extra = Incident(**{**data.draw(incident_fields()), "type": data.draw(st.sampled_from(free))})
    before = run(gold, preds)
    after = run(gold, {**preds, doc_id: [*preds[doc_id], extra]})
    assert not_higher(after.slots.precision, before.slots.precision)
    assert not_higher(after.incidents.precision, before.incidents.precision)
    assert after.slots.spurious > before.slots.spurious


REMOVABLE = [
    "date",
    "location",
    "weapon",
    "primary",
    "aircraft",
    "perpetrators",
    "casualties",
    "sources",
    "aircraft.model",
    "aircraft.operator",
    "casualties.who",
    "location.part",
]


def remove_value(incident: Incident, what: str, k: int) -> Incident | None:
    """The incident with one value removed, or None when it has no such value."""
    fields = incident.model_dump()
    head, _, sub = what.partition(".")
    if what in ("date", "location", "weapon"):
        if fields[what] is None:
            return None
        fields[what] = None
    elif what == "primary":
        if not fields["primary"]:
            return None
        fields["primary"] = False
    elif not sub:
        if not fields[what]:
            return None
        del fields[what][k % len(fields[what])]
    elif head == "location":
        loc = fields["location"]
        filled = [p for p in ("place", "near", "admin1", "country") if loc and loc[p]] if loc else []
        if len(filled) < 2:  # a location must keep at least one part
            return None
        loc[filled[k % len(filled)]] = None
    else:
        items = [item for item in fields[head] if item[sub] is not None]
        if not items:
            return None
        items[k % len(items)][sub] = None
    return Incident.model_validate(fields)


@invariant(scenarios(), st.data())
def test_removing_a_predicted_value_never_raises_recall(scenario: Any, data: st.DataObject) -> None:
    # Stronger than "removing a correct value": no removal of any predicted value may raise recall.
    gold, preds = scenario
    doc_id = data.draw(st.sampled_from(sorted(preds)))
    assume(preds[doc_id])
    index = data.draw(st.integers(0, len(preds[doc_id]) - 1))
    smaller = remove_value(preds[doc_id][index], data.draw(st.sampled_from(REMOVABLE)), data.draw(st.integers(0, 5)))
    assume(smaller is not None)
    changed = [*preds[doc_id]]
    changed[index] = smaller
    before = run(gold, preds)
    after = run(gold, {**preds, doc_id: changed})
    assert not_higher(after.slots.recall, before.slots.recall)
    assert after.slots.gold == before.slots.gold  # recall's denominator is the gold side only


@invariant(scenarios())
def test_counts_add_up(scenario: Any) -> None:
    gold, preds = scenario
    report = run(gold, preds)
    # every slot of the total is in exactly one field, and incidents are matched, missing or spurious
    for attr in ("correct", "partial", "incorrect", "missing", "spurious"):
        assert getattr(report.slots, attr) == sum(getattr(c, attr) for c in report.fields.values())
    assert report.incidents.matched + report.incidents.missing == sum(len(v) for v in gold.values())
    assert report.incidents.matched + report.incidents.spurious == sum(len(v) for v in preds.values())
    assert report.fields["type"].gold == sum(len(v) for v in gold.values())
