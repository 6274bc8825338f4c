"""Run every benchmark, one after the other: `make bench` or `python benchmarks/run_all.py [--quick]`.

Each benchmark prints its own figures and writes JSON to benchmarks/results/.
Figures vary with the machine and its load; compare ratios, not absolute times.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "bench_batch.py",
    "bench_transport.py",
    "bench_ray.py",
    "bench_scorer.py",
    "bench_instructor_patch.py",
    "bench_events.py",
    "bench_events_block.py",
    "eval_events_heldout.py",
    "bench_corpus.py",
    "bench_review.py",
    "bench_local.py",
    "bench_prompt_tokens.py",
    "bench_adapter.py",
]


def main(argv: list[str]) -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        code = subprocess.call([sys.executable, str(HERE / name), *argv])
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
