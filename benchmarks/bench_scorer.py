"""Scorer benchmark: evaluate synthetic gold/prediction pairs, bootstrap included.

    .venv/bin/python benchmarks/bench_scorer.py              # 10,000 document pairs
    .venv/bin/python benchmarks/bench_scorer.py --quick      # 1,000
    .venv/bin/python benchmarks/bench_scorer.py --tracemalloc  # also the Python heap peak of evaluate (slower)

The pairs are generated from a seed: each gold document has one to four incidents;
the prediction drops some, adds spurious ones, changes values (other places,
transliterated spellings, wrong counts and statuses, removed fields) and shuffles
the order; a few documents fail or are missing from the run. Only ``evaluate`` is
timed. Figures are printed and written as JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from extract.core.fields import evidenced_values
from extract.core.records import (
    Alignment,
    DocumentResult,
    EvidenceSpan,
    Failure,
    Provenance,
    Status,
    Usage,
)
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
from extract.scoring import evaluate
from extract.scoring.gold import GoldDocument, GoldIncident, GoldSet

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PROV = Provenance(
    prompt="incidents",
    prompt_hash="bench",
    schema_version="1.0.0",
    backend="mock",
    model="synthetic",
    extractor_version="0",
)

# Each place comes with spellings a model might use instead (a correct or partial match).
PLACES = {
    "Saraqeb": ["Sarqeb", "Saraqib"],
    "Deir ez-Zor": ["Deir al-Zour", "Dayr az-Zawr"],
    "Khan Shaykhun": ["Khan Sheikhoun"],
    "Maarat al-Numan": ["Maarrat al-Nu'man"],
    "Ariha": ["Areeha"],
    "Aleppo": ["Halab"],
    "Homs": ["Hims"],
    "Hama": ["Hamah"],
    "Raqqa": ["Ar-Raqqah"],
    "Palmyra": ["Tadmur"],
    "Donetsk": ["Donetsk city"],
    "Kharkiv": ["Kharkov"],
}
ADMIN1 = ["Idlib", "Aleppo", "Hama", "Homs", "Donetsk", "Kharkiv"]
COUNTRIES = ["Syria", "Ukraine", "Yemen", "Libya"]
ACTORS = [
    "Tahrir al-Sham",
    "Syrian rebels",
    "Islamic State",
    "Russian forces",
    "Houthis",
    "Syrian Arab Army",
    "Turkish army",
    "Jaish al-Izza",
]
MODELS = ["Su-25", "Su-24", "Mi-8", "Mi-24", "L-39", "MiG-23", "Bayraktar TB2", "Ka-52", None]
OPERATORS = ["Russia", "Syria", "Turkey", "Ukraine", None]
SOURCES = [
    "Syrian Observatory for Human Rights",
    "Russian Defence Ministry",
    "Reuters",
    "SANA",
    "White Helmets",
    "local activists",
]
WEAPONS = ["shoulder-launched missile", "anti-aircraft gun", "barrel bombs", "cruise missile", "artillery shells"]
DAYS = ["Saturday", "Sunday", "Monday", "on Tuesday", "July 8", "last week", "February 3"]
Q = "a quotation from the article"
ALIASES = {"Hayat Tahrir al-Sham": ["Tahrir al-Sham", "HTS"], "Aleppo": ["Halab"], "Palmyra": ["Tadmur"]}


def make_incident(rng: random.Random, primary: bool) -> dict[str, Any]:
    place = rng.choice(list(PLACES))
    iso = rng.choice([None, f"2018-0{rng.randint(1, 9)}-{rng.randint(10, 28)}", "2018-02"])
    return {
        "type": rng.choice(list(IncidentType)),
        "quote": Q,
        "summary": f"An incident near {place}.",
        "date": DateInfo(text=rng.choice(DAYS), iso=iso, precision=DatePrecision.DAY, quote=Q)
        if rng.random() < 0.7
        else None,
        "location": Location(
            place=place if rng.random() < 0.6 else None,
            near=place if rng.random() < 0.3 else None,
            admin1=rng.choice(ADMIN1) if rng.random() < 0.6 else None,
            country=rng.choice(COUNTRIES),
            quote=Q,
        ),
        "aircraft": [
            Aircraft(
                model=rng.choice(MODELS),
                category=rng.choice(list(AircraftCategory)),
                operator=rng.choice(OPERATORS),
                quote=Q,
            )
            for _ in range(rng.choice([0, 0, 1, 1, 2]))
        ],
        "perpetrators": [
            Perpetrator(name=actor, status=rng.choice(list(AttributionStatus)), quote=Q)
            for actor in rng.sample(ACTORS, rng.choice([0, 1, 1, 2]))
        ],
        "weapon": Weapon(text=rng.choice(WEAPONS), category=rng.choice(list(WeaponCategory)), quote=Q)
        if rng.random() < 0.5
        else None,
        "casualties": [make_casualty(rng, kind) for kind in rng.sample(list(CasualtyKind), rng.choice([0, 1, 1, 2]))],
        "sources": [
            Source(name=name, kind=rng.choice(list(SourceKind)), quote=Q)
            for name in rng.sample(SOURCES, rng.choice([0, 1, 1, 2, 3]))
        ],
        "primary": primary,
    }


def make_casualty(rng: random.Random, kind: CasualtyKind, count: int | None = None) -> Casualty:
    qualifier = rng.choice([CountQualifier.EXACT] * 4 + list(CountQualifier))
    low = rng.randint(0, 60) if count is None else count
    high = low + rng.randint(1, 10) if qualifier is CountQualifier.RANGE else None
    return Casualty(
        kind=kind,
        count=low,
        count_max=high,
        qualifier=qualifier,
        who=rng.choice([None, "civilians", "pilot", "soldiers"]),
        quote=Q,
    )


def perturb(rng: random.Random, fields: dict[str, Any]) -> dict[str, Any]:
    """A prediction of an incident: most values kept, some respelled, changed or dropped."""
    out = dict(fields)
    if rng.random() < 0.1:
        out["type"] = rng.choice(list(IncidentType))
    if out["date"] is not None and rng.random() < 0.2:
        out["date"] = None if rng.random() < 0.5 else out["date"].model_copy(update={"text": rng.choice(DAYS)})
    loc = out["location"]
    if rng.random() < 0.3 and loc.place is not None:
        variants = PLACES.get(loc.place, [])
        new_place = rng.choice(variants) if variants and rng.random() < 0.6 else rng.choice(list(PLACES))
        out["location"] = loc.model_copy(update={"place": new_place})
    if out["perpetrators"] and rng.random() < 0.3:
        first = out["perpetrators"][0]
        out["perpetrators"] = [
            first.model_copy(update={"status": rng.choice(list(AttributionStatus))}),
            *out["perpetrators"][1:],
        ]
    if out["casualties"] and rng.random() < 0.3:
        first = out["casualties"][0]
        out["casualties"] = [
            make_casualty(rng, first.kind, max(0, first.count + rng.randint(-5, 10))),
            *out["casualties"][1:],
        ]
    for name in ("aircraft", "sources"):
        if out[name] and rng.random() < 0.2:
            out[name] = out[name][1:]
    if out["weapon"] is not None and rng.random() < 0.2:
        out["weapon"] = None
    return out


def make_pair(rng: random.Random, doc_id: str) -> tuple[GoldDocument, DocumentResult | None]:
    n = rng.randint(1, 4)
    gold_fields = [make_incident(rng, primary=(k == 0)) for k in range(n)]
    gold = GoldDocument(
        id=doc_id, incidents=[GoldIncident(**f, key=f"{doc_id}-{k}") for k, f in enumerate(gold_fields)]
    )
    roll = rng.random()
    if roll < 0.01:
        return gold, None
    usage = Usage(requests=1, prompt_tokens=rng.randint(800, 3000), completion_tokens=rng.randint(100, 900))
    if roll < 0.03:
        failure = Failure(reason="validation", message="every attempt failed validation", attempts=3)
        return gold, DocumentResult(
            id=doc_id, status=Status.FAILED, failure=failure, usage=usage, seconds=2.0, provenance=PROV
        )
    pred_fields = [perturb(rng, f) for f in gold_fields if rng.random() >= 0.1]
    pred_fields += [make_incident(rng, primary=False) for _ in range(rng.choice([0, 0, 0, 1]))]
    rng.shuffle(pred_fields)
    incidents = [Incident(**f) for f in pred_fields]
    evidence = []
    for k, incident in enumerate(incidents):
        for path, quote in evidenced_values(incident, f"incidents[{k}]"):
            alignment = rng.choices(list(Alignment), weights=[8, 1, 1])[0]
            evidence.append(
                EvidenceSpan(
                    path=path,
                    quote=quote,
                    alignment=alignment,
                    score={"exact": 1.0, "fuzzy": 0.9, "not_found": 0.0}[alignment.value],
                )
            )
    return gold, DocumentResult(
        id=doc_id,
        status=Status.OK,
        incidents=incidents,
        evidence=evidence,
        usage=usage,
        seconds=round(rng.uniform(0.5, 4.0), 3),
        provenance=PROV,
    )


FILLER = (
    "Fighting continued in the province as both sides traded accusations over the latest attacks. "
    "Residents said many families had fled towards the border in recent days. "
)


def make_article(rng: random.Random, gold: GoldDocument) -> str:
    quotes = list(dict.fromkeys(q for incident in gold.incidents for _, q in evidenced_values(incident)))
    parts = [FILLER * rng.randint(1, 3) + q + "." for q in quotes]
    return " ".join(parts) + " " + FILLER * 8


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 documents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--tracemalloc", action="store_true", help="measure the Python heap peak of evaluate")
    parser.add_argument(
        "--no-articles", action="store_true", help="give no article texts, so that no quote is re-grounded"
    )
    args, _ = parser.parse_known_args(argv)  # run_all.py passes its own flags to every benchmark
    docs = 1000 if args.quick else args.docs

    rng = random.Random(args.seed)
    started = time.perf_counter()
    golds: dict[str, GoldDocument] = {}
    preds: list[DocumentResult] = []
    for k in range(docs):
        gold, pred = make_pair(rng, f"doc{k:06d}")
        golds[gold.id] = gold
        if pred is not None:
            preds.append(pred)
    # Each article holds its gold quotes among filler text (about 3,000 characters, a short news story), so that
    # re-grounding searches a realistic haystack: most predicted quotes are found exactly, edited ones fuzzily or not.
    articles = {} if args.no_articles else {doc_id: make_article(rng, gold) for doc_id, gold in golds.items()}
    gold_set = GoldSet(documents=golds, articles=articles, aliases=ALIASES, root=Path("."))
    generated = time.perf_counter() - started
    rss_before = peak_rss_mb()

    if args.tracemalloc:
        tracemalloc.start()
    started = time.perf_counter()
    report = evaluate(gold_set, preds, bootstrap=args.bootstrap, seed=args.seed)
    seconds = time.perf_counter() - started
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
    if args.tracemalloc:
        tracemalloc.stop()
    rss_after = peak_rss_mb()

    gold_incidents = sum(len(d.incidents) for d in golds.values())
    pred_incidents = sum(len(p.incidents) for p in preds)
    figures = {
        "documents": docs,
        "gold_incidents": gold_incidents,
        "predicted_incidents": pred_incidents,
        "bootstrap": args.bootstrap,
        "seconds": round(seconds, 3),
        "documents_per_second": round(docs / seconds, 1),
        "peak_rss_mb_before_evaluate": round(rss_before, 1),
        "peak_rss_mb_after_evaluate": round(rss_after, 1),
        "evaluate_heap_peak_mb": None if heap_peak is None else round(heap_peak, 1),
        "incidents_f1": report.incidents.f1,
        "slots_f1": report.slots.f1,
        "slots_f1_ci": report.ci["slots.f1"],
        "grounding_rate": report.grounding.rate,
        "re_grounded": not args.no_articles,
        "gtt_f1": report.research.gtt.f1,
        "ceaf_ree_f1": report.research.ceaf_ree.f1,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(
        f"generated {docs:,} document pairs ({gold_incidents:,} gold, {pred_incidents:,} predicted incidents) "
        f"in {generated:.1f} s"
    )
    print(f"evaluate (bootstrap {args.bootstrap}): {seconds:.2f} s = {docs / seconds:,.0f} documents/s")
    print(f"peak RSS: {rss_before:.0f} MB before evaluate, {rss_after:.0f} MB after")
    if heap_peak is not None:
        print(f"Python heap peak during evaluate (tracemalloc, which slows it down): {heap_peak:.0f} MB")
    f1_ci = report.ci["slots.f1"]
    ci_text = f" (95% CI {f1_ci[0]:.3f}-{f1_ci[1]:.3f})" if f1_ci else ""
    print(f"scores: incidents F1 {report.incidents.f1:.3f}, slots F1 {report.slots.f1:.3f}{ci_text}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scorer.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
