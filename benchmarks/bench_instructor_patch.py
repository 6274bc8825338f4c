"""What the instructor patch saves: client CPU per document on the mock pipeline, with and without it.

The mock backend answers at once, so the time is the client's own: prompt, instructor,
validation, grounding. Rounds alternate between the two settings so that a change in the
machine's load hits both alike. Usage: python benchmarks/bench_instructor_patch.py [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def per_document_ms(n: int, patched: bool) -> float:
    """Client CPU milliseconds per document over ``n`` mock documents."""
    from extract.backends import instructor_patch
    from extract.backends.mock import MockBackend
    from extract.core.pipeline import ExtractConfig, extract_document
    from extract.core.records import Document

    backend = MockBackend("echo", keep_calls=1)  # building it puts the patch in place
    if not patched:
        instructor_patch.uninstall()
    assert instructor_patch.active() is patched
    config = ExtractConfig(backend=backend, max_retries=0)
    text = (REPO / "gold" / "articles" / "002_32aebb9906950c9b.txt").read_text(encoding="utf-8")
    started = time.process_time()
    for k in range(n):
        extract_document(Document(id=f"d{k}", text=text), config)
    return (time.process_time() - started) / n * 1000


def main(argv: list[str]) -> int:
    n = 100 if "--quick" in argv else 500
    rounds = 3
    per_document_ms(20, True)  # warm up imports and schema caches
    figures: dict[str, list[float]] = {"with_patch": [], "without_patch": []}
    for _ in range(rounds):
        figures["without_patch"].append(per_document_ms(n, False))
        figures["with_patch"].append(per_document_ms(n, True))
    med = {k: statistics.median(v) for k, v in figures.items()}
    result = {
        "documents_per_round": n,
        "rounds": rounds,
        "client_cpu_ms_per_document": {k: round(v, 3) for k, v in med.items()},
        "without_over_with": round(med["without_patch"] / med["with_patch"], 2),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "instructor_patch.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
