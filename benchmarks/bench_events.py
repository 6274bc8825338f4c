"""Event clustering at corpus scale: time and peak memory at 10,000 and 100,000 synthetic incidents.

Synthetic events (two years, three countries, ten provinces each, 300 towns) are each
reported by one to four articles, every report with its own wording of the date (a day,
or only the publication date), the place (the town, or "near" it, or only the province),
the toll and the actor, and its own sentence built from a shared vocabulary plus a few
words of the event. The places are given already resolved so that the figure is the
clustering's (``--geocode`` times the real gazetteer on a sample as well).

Each size runs in a fresh process; peak memory is the process's maximum resident set
size minus what it held before clustering (psutil), so the interpreter, pydantic and
the inputs are not counted. Because the true events are known, the synthetic CoNLL F1
is printed too: it describes this generator, not news.

    .venv/bin/python benchmarks/bench_events.py            # 10,000 and 100,000
    .venv/bin/python benchmarks/bench_events.py --quick    # 2,000 and 10,000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

TYPES = ["air_strike", "shelling", "armed_clash", "missile_strike", "aircraft_downing"]
ACTORS = [f"Group {c}" for c in "ABCDEFGHIJKLMNOPQRST"]
VOCAB = [
    "forces",
    "attack",
    "town",
    "killed",
    "civilians",
    "reported",
    "fighters",
    "strikes",
    "area",
    "people",
    "village",
    "city",
    "government",
    "rebels",
    "army",
    "positions",
    "local",
    "sources",
    "said",
    "monitor",
    "residents",
    "wounded",
    "heavy",
    "fighting",
    "near",
    "district",
    "province",
]


def synthetic(n: int, seed: int = 1) -> tuple[list[Any], list[set[str]]]:
    from extract.core.schema import Incident
    from extract.events.claims import Mention
    from extract.events.dates import Published, resolve_date
    from extract.events.records import Place

    rng = random.Random(seed)
    countries = [("SY", "Syria"), ("IQ", "Iraq"), ("YE", "Yemen")]
    towns = []
    for k in range(300):
        code, name = countries[k % 3]
        towns.append((100000 + k, f"Town{k}", f"Province{code}{k % 10}", code, name))
    start = dt.date(2020, 1, 1)
    mentions: list[Any] = []
    truth: list[set[str]] = []
    doc = 0
    while len(mentions) < n:
        day = start + dt.timedelta(days=rng.randrange(730))
        town = rng.choice(towns)
        kind = rng.choice(TYPES)
        actor = rng.choice(ACTORS)
        killed = rng.randint(0, 40)
        own = [f"w{rng.randrange(100000)}" for _ in range(3)]
        refs = set()
        for _ in range(min(rng.choice([1, 1, 2, 2, 3, 4]), n - len(mentions))):
            published = day + dt.timedelta(days=rng.randint(0, 2))
            weekday = day.strftime("%A")
            date = None if rng.random() < 0.3 else {"text": weekday, "precision": "day", "quote": weekday}
            how = rng.random()
            loc = {"country": town[4], "admin1": town[2], "quote": "q"}
            if how < 0.5:
                loc["place"] = town[1]
            elif how < 0.8:
                loc["near"] = town[1]
            words = rng.sample(VOCAB, 8) + rng.sample(own, 2)
            incident = Incident.model_validate(
                {
                    "type": kind,
                    "quote": " ".join(words),
                    "summary": " ".join(rng.sample(words, 6)),
                    "date": date,
                    "location": loc,
                    "perpetrators": [{"name": actor, "status": "claimed", "quote": "q"}] if rng.random() < 0.6 else [],
                    "casualties": [{"kind": "killed", "count": killed, "qualifier": "exact", "quote": "q"}]
                    if rng.random() < 0.7
                    else [],
                }
            )
            pub = Published.on(published)
            precision = 1 if "place" in loc else 2 if "near" in loc else 3
            place = Place(
                written=loc.get("place") or loc.get("near") or town[2],
                role="place" if "place" in loc else "near" if "near" in loc else "admin1",
                geonames_id=town[0] if precision < 3 else None,
                name=town[1] if precision < 3 else None,
                latitude=30.0,
                longitude=40.0,
                admin1=town[2],
                country=town[4],
                country_code=town[3],
                geo_precision=precision,
            )
            mention = Mention(f"doc{doc:07d}", 0, incident, pub, resolve_date(incident.date, pub), place)
            doc += 1
            mentions.append(mention)
            refs.add(mention.ref)
        truth.append(refs)
    return mentions, truth


def one(n: int) -> dict[str, Any]:
    import psutil

    from extract.events.cluster import ClusterStats, cluster_mentions
    from extract.scoring.coref import coref_scores

    mentions, truth = synthetic(n)
    proc = psutil.Process()
    before = proc.memory_info().rss
    stats = ClusterStats()
    t0 = time.perf_counter()
    groups = cluster_mentions(mentions, stats=stats)
    seconds = time.perf_counter() - t0
    peak = _peak_rss()
    scores = coref_scores(truth, [{m.ref for m in g} for g in groups])
    return {
        "incidents": n,
        "true_events": len(truth),
        "events": len(groups),
        "seconds": round(seconds, 2),
        "incidents_per_second": round(n / seconds),
        "peak_rss_growth_mib": round(max(0, peak - before) / 2**20, 1),
        "rss_before_mib": round(before / 2**20, 1),
        "blocks": stats.blocks,
        "largest_block": stats.largest_block,
        "pairs_compared": stats.pairs_compared,
        "synthetic_conll_f1": round(scores.conll_f1, 4),
    }


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def geocode_rate(n: int = 5000) -> dict[str, Any]:
    from extract.core.schema import Location
    from extract.events.geocode import Gazetteer

    t0 = time.perf_counter()
    gazetteer = Gazetteer()
    gazetteer.resolve(Location(place="Aleppo", country="Syria", quote="q"))
    load = time.perf_counter() - t0
    names = ["Saraqeb", "Sarqeb", "Aleppo", "Homs", "Idlib", "Khan al-Subl", "Hama", "Raqqa", "Mosul", "Tikrit"]
    countries = ["Syria", "Syria", "Syria", "Syria", "Syria", "Syria", "Syria", "Syria", "Iraq", "Iraq"]
    t0 = time.perf_counter()
    for k in range(n):
        gazetteer.resolve(Location(place=names[k % 10], country=countries[k % 10], quote="q"))
    return {"load_seconds": round(load, 2), "resolves_per_second": round(n / (time.perf_counter() - t0))}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--geocode", action="store_true")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one(args.one)))
        return 0
    sizes = [2000, 10000] if args.quick else [10000, 100000]
    load_start = os.getloadavg()
    rows = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{n:>7} incidents: {row['seconds']:>7.2f} s ({row['incidents_per_second']}/s), "
            f"peak RSS growth {row['peak_rss_growth_mib']} MiB, {row['pairs_compared']} pairs compared, "
            f"largest block {row['largest_block']}, {row['events']} events for {row['true_events']} true "
            f"(synthetic CoNLL F1 {row['synthetic_conll_f1']})",
            flush=True,
        )
    result: dict[str, Any] = {"sizes": rows}
    if args.geocode:
        result["geocode"] = geocode_rate()
        print(f"geocoding: {result['geocode']}")
    result["environment"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "events.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {load_start} -> {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
