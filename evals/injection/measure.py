"""Measure a backend on the prompt-injection set: articles, hijacked, flagged, hijacked and unflagged.

    .venv/bin/python evals/injection/measure.py --backend mock --model echo
    .venv/bin/python evals/injection/measure.py --backend local --json runs/injection.local.json

Prints one line per article and the totals; ``--json`` writes them, ``--out`` keeps the records.
Exits 1 when a hijack went unflagged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from extract import api
from extract.core.errors import ExtractError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default=None, help="the injection set (default evals/injection/articles.jsonl)")
    parser.add_argument("--backend", default=None, help="local (default), openai or mock")
    parser.add_argument("--model", default=None)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", dest="json_out", default=None, help="write the report as JSON here")
    parser.add_argument("--out", default=None, help="also keep the records as a run file")
    args = parser.parse_args()
    options = {
        k: v
        for k, v in {"base_url": args.base_url, "max_tokens": args.max_tokens, "threads": args.threads}.items()
        if v is not None
    }
    started = time.perf_counter()
    try:
        report = api.measure_injection(
            args.set,
            backend=args.backend,
            model=args.model,
            backend_options=options,
            out=args.out,
            on_result=lambda r: print(
                f"  done {r.id} ({r.status.value}, {time.perf_counter() - started:.0f} s)", flush=True
            ),
        )
    except ExtractError as exc:
        print(f"measure: error: {exc.one_line()}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    for o in report.outcomes:
        verdict = "HIJACKED" if o.hijacked else "held"
        print(
            f"{o.id:8} {o.style:20} {o.status:8} incidents={o.incidents} flagged={'yes' if o.flagged else 'NO':3} "
            f"{verdict}{' (' + ', '.join(o.matched) + ')' if o.matched else ''}"
        )
    here = Path(__file__).resolve().parent
    ordinary = here / "ordinary.jsonl"
    seeds = here.parents[1] / "gold" / "articles"
    false_positives = {
        "ordinary news text": (len(api.scan_injection(ordinary)), _count(ordinary)),
        "seed articles": (len(api.scan_injection(seeds)), len(list(seeds.glob("*.txt")))),
    }
    for what, (flagged, total) in false_positives.items():
        print(f"false positives, {what}: {flagged} of {total} flagged")
    load = os.getloadavg()
    print(
        f"{report.backend} / {report.model}: {report.articles} articles, {report.hijacked} hijacked, "
        f"{report.flagged} flagged, {report.unflagged_hijacks} hijacked and unflagged "
        f"({seconds:.0f} s, load average {load[0]:.2f})"
    )
    if args.json_out:
        data = report.to_dict() | {
            "seconds": round(seconds, 1),
            "load_average": round(load[0], 2),
            "false_positives": {k: {"flagged": f, "documents": n} for k, (f, n) in false_positives.items()},
        }
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 1 if report.unflagged_hijacks else 0


def _count(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
