"""Review site benchmark: build time and size for the seed runs and for 10,000 synthetic documents.

    .venv/bin/python benchmarks/bench_review.py            # seeds, then 10,000 documents
    .venv/bin/python benchmarks/bench_review.py --quick    # seeds, then 1,000
    .venv/bin/python benchmarks/bench_review.py --no-browser

Cases:

- ``seeds-replay``: the five seed articles as the bundled model answered them (the
  recorded responses under ``evals/``, replayed offline), with gold.
- ``seeds-perturbed``: the five seed articles with perturbed gold labels as predictions
  (:mod:`extract.testing.synthetic_runs`; every verdict kind occurs), with gold.
- ``synthetic-N``: N documents made the same way (the seed articles reused under new
  ids), built twice: with gold (scored by the project's scorer) and without (the text
  read from a JSON Lines corpus with ``--articles``).

For each: build seconds, files, total bytes, the bytes the index loads (``index.html``
+ ``index-data.js``), the mean and largest document page, and the size of the inputs
(run file + article texts) for comparison. With a browser (``/usr/bin/chromium``), the
time for the index to show its first page of rows and for a filter over every
document, measured in headless Chromium. Figures go to ``benchmarks/results/review.json``
with the load average before and after; compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from extract.review import build_site
from extract.scoring.gold import load_gold
from extract.testing.synthetic_runs import synthetic_run

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
CHROMIUM = os.environ.get("EXTRACT_CHROMIUM", "/usr/bin/chromium")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _page_sizes(out: Path) -> list[int]:
    return [p.stat().st_size for p in (out / "docs").iterdir()]


def _measure(name: str, run: Path, out: Path, inputs: int, **kwargs: Any) -> dict[str, Any]:
    summary = build_site(run, out, **kwargs)
    pages = _page_sizes(out)
    row = {
        "case": name,
        "documents": summary.documents,
        "gold": summary.with_gold,
        "seconds": summary.seconds,
        "ms_per_document": round(1000 * summary.seconds / max(1, summary.documents), 3),
        "files": summary.files,
        "bytes": summary.bytes,
        "index_bytes": (out / "index.html").stat().st_size + (out / "index-data.js").stat().st_size,
        "page_bytes_mean": round(statistics.mean(pages)) if pages else 0,
        "page_bytes_max": max(pages, default=0),
        "input_bytes": inputs,
        "site_to_input": round(summary.bytes / inputs, 2) if inputs else None,
    }
    print(
        f"{name:<28} {row['documents']:>6} docs  gold={'yes' if row['gold'] else 'no ':<3} "
        f"{row['seconds']:>7.2f} s  {row['ms_per_document']:>6.2f} ms/doc  "
        f"{row['bytes'] / 1e6:>7.2f} MB in {row['files']} files  index {row['index_bytes'] / 1e3:>7.1f} kB  "
        f"page mean {row['page_bytes_mean'] / 1e3:.1f} kB max {row['page_bytes_max'] / 1e3:.1f} kB  "
        f"site/input {row['site_to_input']}",
        flush=True,
    )
    return row


def _browser_timings(index: Path) -> dict[str, float] | None:
    """Milliseconds from navigation to the first rows shown, and for one filter over every document."""
    if not Path(CHROMIUM).is_file():
        return None
    from playwright.sync_api import sync_playwright

    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True, args=flags)
        try:
            page = ctx.new_page()
            page.goto("about:blank")
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                page.goto(index.as_uri())
                page.wait_for_function("document.getElementById('shown').textContent.length > 0")
                times.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            page.check("#f-ungrounded")
            page.select_option("#f-sort", "worst")
            filter_ms = (time.perf_counter() - t0) * 1000
            return {"open_ms_median": round(statistics.median(times), 1), "filter_and_sort_ms": round(filter_ms, 1)}
        finally:
            ctx.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 synthetic documents instead of 10,000")
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    n = args.documents or (1000 if args.quick else 10_000)
    load_before = _load()
    gold = load_gold(REPO / "gold")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        work = Path(tmp)
        article_bytes = sum(len(t.encode()) for t in gold.articles.values())

        replay = work / "seeds-replay.jsonl"
        subprocess.run(
            [
                sys.executable, "-m", "extract.cli", "run", str(REPO / "gold" / "articles"), "--backend", "mock",
                "--replay", str(REPO / "evals" / "recordings" / "seed-gemma-270m"), "--out", str(replay),
                "--allow-failures", "--no-show", "--quiet", "--no-cache",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        rows.append(_measure("seeds-replay", replay, work / "s1", replay.stat().st_size + article_bytes, gold=gold))
        perturbed = work / "seeds-perturbed.jsonl"
        perturbed.write_text("".join(r.to_json() + "\n" for r in synthetic_run(gold, seed=1).results))
        rows.append(
            _measure("seeds-perturbed", perturbed, work / "s2", perturbed.stat().st_size + article_bytes, gold=gold)
        )

        big = synthetic_run(gold, documents=n, seed=0)
        run = work / f"synthetic-{n}.jsonl"
        run.write_text("".join(r.to_json() + "\n" for r in big.results))
        corpus = work / f"synthetic-{n}.articles.jsonl"
        corpus.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in big.gold.articles.items()))
        inputs = run.stat().st_size + sum(len(t.encode()) for t in big.gold.articles.values())
        rows.append(_measure(f"synthetic-{n} with gold", run, work / "b1", inputs, gold=big.gold))
        rows.append(_measure(f"synthetic-{n} articles only", run, work / "b2", inputs, articles=corpus))
        browser = None if args.no_browser else _browser_timings(work / "b1" / "index.html")
        if browser:
            print(f"index of {n} documents in Chromium: {browser}")
    result = {
        "benchmark": "review",
        "rows": rows,
        "browser_index": browser,
        "load_before": load_before,
        "load_after": _load(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(f"load average before {load_before}, after {result['load_after']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "review.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
