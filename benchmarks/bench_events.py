"""Event clustering at corpus scale: time and peak memory at 10,000 and 100,000 synthetic incidents.

The corpus is :func:`extract.events.synthetic.synthetic_corpus` (real GeoNames towns in
eight countries, each event reported by one to five perturbed articles, with hard
negatives; its rules are in that module). It is written once as a run file with its
publication dates; each measurement then runs in a fresh process that reads the run
file, geocodes, clusters and writes the events as JSON Lines, exactly as
``extract events`` does. The news is spread at a fixed density (``--per-day`` incidents a
day), so a larger corpus covers more weeks: memory that follows the block size stays
flat, memory that follows the corpus grows with it.

Peak memory is the largest resident set size a sampling thread sees (every 20 ms) minus
the resident size once the gazetteer is loaded, so the interpreter, pydantic and
GeoNames are not counted. The geocoder is wrapped in a cache keyed by the location (the
same answers, so that the figure is the clustering's, not the gazetteer's).

``--against DIR`` measures another checkout's ``extract`` package too (for example the
commit before the clustering streamed), side by side in the same run.

    .venv/bin/python benchmarks/bench_events.py                     # 10,000 and 100,000
    .venv/bin/python benchmarks/bench_events.py --quick             # 2,000 and 10,000
    .venv/bin/python benchmarks/bench_events.py --against /tmp/old  # and the old code, same files
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def write_corpus(n: int, folder: Path, **options: Any) -> dict[str, Any]:
    """A synthetic corpus of about ``n`` incidents as a run file and a publication-date file.

    ``options`` go to :func:`extract.events.synthetic.synthetic_corpus` (the days, towns and countries).
    """
    from extract.events.synthetic import synthetic_corpus

    events = max(1, n * 10 // 29)  # about 2.9 reports of an event per true event (see the generator's rules)
    corpus = synthetic_corpus(events, seed=11, **options)
    run = folder / f"run-{n}.jsonl"
    with run.open("w", encoding="utf-8") as fh:
        for result in corpus.results:
            fh.write(result.to_json() + "\n")
    dates = {doc: {"date": p.latest.isoformat()} for doc, p in corpus.published.items()}
    published = folder / f"published-{n}.json"
    published.write_text(json.dumps(dates), encoding="utf-8")
    truth = folder / f"truth-{n}.json"
    truth.write_text(json.dumps([sorted(f"{d}#{i}" for d, i in c) for c in corpus.key_clusters()]), encoding="utf-8")
    return {"run": str(run), "published": str(published), "truth": str(truth), "incidents": corpus.incidents}


class _Peak:
    """The largest RSS seen by a sampling thread."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def one(run: str, published: str, truth: str) -> dict[str, Any]:
    """Measure one checkout (whichever ``extract`` is importable) on one corpus."""
    import gc

    import psutil

    import extract
    from extract.events import pipeline
    from extract.events.cluster import ClusterStats
    from extract.events.dates import load_publication_dates
    from extract.events.export import export_events
    from extract.events.geocode import default_gazetteer
    from extract.scoring.coref import coref_scores

    gazetteer = default_gazetteer(None)

    class Cached:
        def __init__(self) -> None:
            self.seen: dict[str, Any] = {}

        def resolve(self, location: Any) -> Any:
            key = location.model_dump_json() if location is not None else ""
            if key not in self.seen:
                self.seen[key] = gazetteer.resolve(location)
            return self.seen[key]

    dates = load_publication_dates(published)
    cached = Cached()
    gazetteer._towns_by_country()  # loaded before the baseline
    gc.collect()
    before = psutil.Process().memory_info().rss
    stats = ClusterStats()
    out = Path(run).with_suffix(".events.jsonl")
    t0 = time.perf_counter()
    with _Peak() as peak:
        if hasattr(pipeline, "stream_events"):
            events = pipeline.stream_events([run], published=dates, gazetteer=cached, stats=stats)
        else:  # a checkout from before streaming: a list
            events = pipeline.events_from_runs([run], published=dates, gazetteer=cached, stats=stats)
        written = export_events(events, out, "jsonl")
    seconds = time.perf_counter() - t0
    response = [
        {f"{m['document_id']}#{m['incident_index']}" for m in json.loads(line)["mentions"]} for line in out.open()
    ]
    scores = coref_scores([set(c) for c in json.loads(Path(truth).read_text())], response)
    return {
        "code": str(Path(extract.__file__).parent.parent),
        "incidents": stats.mentions,
        "events": written,
        "seconds": round(seconds, 2),
        "incidents_per_second": round(stats.mentions / seconds),
        "peak_rss_growth_mib": round(max(0, peak.peak - before) / 2**20, 1),
        "rss_before_mib": round(before / 2**20, 1),
        "blocks": stats.blocks,
        "largest_block": stats.largest_block,
        "largest_window": getattr(stats, "largest_window", None),
        "pairs_compared": stats.pairs_compared,
        "capped_blocks": getattr(stats, "capped_blocks", None),
        "synthetic_conll_f1": round(scores.conll_f1, 4),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--per-day", type=int, default=25, help="incidents a day (the corpus's density)")
    parser.add_argument("--against", default=None, help="another checkout to measure on the same files")
    parser.add_argument("--one", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one(*args.one)))
        return 0
    sizes = [2000, 10000] if args.quick else [10000, 100000]
    return measure(
        sizes,
        args.against,
        lambda n, folder: write_corpus(n, folder, days=max(30, n // args.per_day)),
        "events.json",
        {"per_day": args.per_day},
    )


def measure(
    sizes: list[int],
    against: str | None,
    write: Callable[[int, Path], dict[str, Any]],
    results: str,
    settings: dict[str, Any],
) -> int:
    """Measure this tree (and ``against``) on a corpus of each size, each in a fresh process; print and save rows.

    ``write(n, folder)`` writes a corpus of ``n`` incidents as :func:`write_corpus` does and returns its files;
    ``settings`` go into the JSON as they are.
    """
    load_start = os.getloadavg()
    rows = []
    # Each checkout's package by path: the environment may have installed another checkout's.
    checkouts = [("this tree", str(HERE.parent))] + ([("against", str(Path(against).resolve()))] if against else [])
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        for n in sizes:
            files = write(n, Path(tmp))
            for label, path in checkouts:
                env = {**os.environ, "PYTHONPATH": path}
                cmd = [sys.executable, str(HERE / "bench_events.py"), "--one", files["run"], files["published"],
                       files["truth"]]  # fmt: skip
                out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
                row = json.loads(out.strip().splitlines()[-1])
                row["checkout"] = label
                row["uptime"] = os.getloadavg()
                rows.append(row)
                print(
                    f"{label:>9} {row['incidents']:>7} incidents: {row['seconds']:>7.2f} s "
                    f"({row['incidents_per_second']}/s), peak RSS growth {row['peak_rss_growth_mib']} MiB, "
                    f"largest window {row['largest_window']}, largest block {row['largest_block']}, "
                    f"{row['pairs_compared']} pairs ({row['capped_blocks']} blocks capped), {row['events']} events "
                    f"(synthetic CoNLL F1 {row['synthetic_conll_f1']}; load {row['uptime'][0]:.2f})",
                    flush=True,
                )
    result: dict[str, Any] = {
        "sizes": rows,
        **settings,
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / results).write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {load_start} -> {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
