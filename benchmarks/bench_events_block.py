"""Event clustering when every incident falls in one block: time and peak memory at 2,000 and 8,000 incidents.

The worst case of the clustering's blocking: N articles, each reporting one shelling of
Mogadishu on one day (4 January 2021, published that day), with a death toll of 3 to 5 and
a quote drawn from a shared vocabulary. Country and province cannot split the block and
every pair scores above the threshold, so without a limit every pair is compared and kept
as a candidate until the merge (the truth is one event). The rows give the largest block,
the pairs compared and the blocks whose comparisons were capped
(:attr:`extract.events.cluster.ClusterConfig.max_pairs`).

Measured as ``bench_events.py`` measures (a fresh process reads the run file, geocodes,
clusters and writes JSON Lines as ``extract events`` does; peak RSS growth over the
process once the gazetteer is loaded), with the same ``--against DIR`` to measure another
checkout on the same files.

    .venv/bin/python benchmarks/bench_events_block.py                     # 2,000 and 8,000
    .venv/bin/python benchmarks/bench_events_block.py --quick             # 500 and 2,000
    .venv/bin/python benchmarks/bench_events_block.py --sizes 4000 --against /tmp/old
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from bench_events import measure

DAY = "2021-01-04"
WORDS = ("forces", "local", "sources", "reported", "heavy", "residents", "officials", "district", "market", "army")


def write_block(n: int, folder: Path) -> dict[str, Any]:
    """``n`` one-incident articles of one shelling (see the module docstring), as a run file and its dates."""
    from extract.core.records import DocumentResult, Status
    from extract.core.schema import Incident
    from extract.testing.synthetic_runs import PROVENANCE

    rng = random.Random(7)
    run, published, truth = folder / f"block-{n}.jsonl", folder / f"published-{n}.json", folder / f"truth-{n}.json"
    with run.open("w", encoding="utf-8") as fh:
        for k in range(n):
            words = " ".join(rng.sample(WORDS, 4))
            killed = rng.randint(3, 5)
            incident = Incident.model_validate(
                {
                    "type": "shelling",
                    "quote": f"Shelling hit Mogadishu on 4 January 2021, killing {killed}, {words} said.",
                    "summary": "Shelling hit Mogadishu.",
                    "date": {"text": "4 January 2021", "iso": DAY, "precision": "day", "quote": "4 January 2021"},
                    "location": {"place": "Mogadishu", "admin1": "Banaadir", "country": "Somalia",
                                 "quote": "Mogadishu"},
                    "casualties": [{"kind": "killed", "count": killed, "qualifier": "exact", "quote": "killing"}],
                }
            )  # fmt: skip
            doc = DocumentResult(id=f"blk-{k:06d}", status=Status.OK, incidents=[incident], provenance=PROVENANCE)
            fh.write(doc.to_json() + "\n")
    published.write_text(json.dumps({f"blk-{k:06d}": {"date": DAY} for k in range(n)}), encoding="utf-8")
    truth.write_text(json.dumps([[f"blk-{k:06d}#0" for k in range(n)]]), encoding="utf-8")
    return {"run": str(run), "published": str(published), "truth": str(truth), "incidents": n}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="incidents in the block (2000 8000)")
    parser.add_argument("--against", default=None, help="another checkout to measure on the same files")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([500, 2000] if args.quick else [2000, 8000])
    return measure(sizes, args.against, write_block, "events_block.json", {"corpus": "one shelling, one day"})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
