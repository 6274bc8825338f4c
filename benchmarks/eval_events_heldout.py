"""Out-of-sample score of the event clustering: synthetic corpora of perturbed reports, beside the singleton baseline.

The clustering's weights were written looking at the seed articles' pairs, so its score on
them (CoNLL F1 1.000) is in sample. The corpora here follow the stated rules of
:mod:`extract.events.synthetic` (real GeoNames towns, random actors, hard negatives,
perturbed dates, places, types, tolls and names), with the default weights unchanged.
Each seed is one corpus; the mean is over seeds. Seeds 1-5 (the default) are the held-out
figure in the README; seeds 11-13 are the development side, on which the clustering's
evidence may be tried (``--seeds 11 12 13``). Results go to
``benchmarks/results/events_heldout.json``.

    .venv/bin/python benchmarks/eval_events_heldout.py                 # 1,000 true events, seeds 1-5
    .venv/bin/python benchmarks/eval_events_heldout.py --events 300 --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str]) -> int:
    from extract.events.synthetic import heldout_scores

    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--quick", action="store_true", help="300 true events, seeds 1 and 2")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.seeds = 300, [1, 2]
    load = os.getloadavg()
    result = heldout_scores(args.events, args.seeds)
    for run in result["runs"]:
        c, s = run["clustering"], run["singletons"]
        print(
            f"seed {run['seed']}: {run['incidents']} incidents, {run['true_events']} true events, "
            f"{run['events']} found; CoNLL F1 {c['conll_f1']:.3f} (MUC {c['muc']['f1']:.3f}, B3 {c['b3']['f1']:.3f}, "
            f"CEAF-e {c['ceafe']['f1']:.3f}); singletons {s['conll_f1']:.3f}"
        )
    print("mean F1:", json.dumps(result["mean_f1"]))
    result["loadavg"] = [load, os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "events_heldout.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
