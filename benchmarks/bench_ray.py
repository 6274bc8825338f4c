"""The Ray Data engine against the default engine, side by side on one machine.

    .venv/bin/python benchmarks/bench_ray.py            # 1,000 documents, 64 in flight in all
    .venv/bin/python benchmarks/bench_ray.py --quick    # 256 documents

The same corpus, the same fake server in its own process (200 ms per answer), the
same openai backend with the same total number of requests in flight: the default
engine with ``--concurrency 64``, and Ray with 2 actors x 32 on a local Ray instance
(``num_cpus=2``). Reported:

- **ray.init**: starting the local Ray instance (a cluster is already running).
- **fixed cost per run**: a two-document run on the running instance, twice: the
  first also starts Ray's worker processes (which then import the package); the next
  reuses them and pays planning, the actor pool and each actor building its client.
- **wall** of each engine over the corpus and the **ratio** Ray / default; for Ray also
  when the first result arrived (a whole batch comes back at once) and the wall less
  the warm fixed cost, the streaming part of the run.

On one machine Ray cannot win: the point is what it costs here, which bounds what it
costs per node on a cluster. Nothing is asserted; figures go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_batch import RESULTS, environment, server_process

from extract.backends.openai_compat import OpenAIBackend
from extract.core.aio import run_sync
from extract.core.pipeline import ExtractConfig
from extract.io.corpus import open_corpus
from extract.runner import run
from extract.testing import write_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 documents instead of 1,000")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--actors", type=int, default=2)
    args, _ = parser.parse_known_args(argv)  # run_all.py passes every benchmark the same options
    try:
        from extract.engines.config import RunConfig
        from extract.engines.ray import ray_session, read_corpus, run_dataset
    except ImportError:
        print("bench_ray: Ray is not installed (pip install 'incident-extract[ray]'); skipped")
        return 0
    documents = 256 if args.quick else 1000
    in_flight = 64
    per_actor = in_flight // args.actors
    ideal = documents / in_flight * args.latency
    results: dict[str, Any] = {
        "environment": environment(),
        "documents": documents,
        "in_flight": in_flight,
        "actors": args.actors,
        "latency_s": args.latency,
        "ideal_s": round(ideal, 3),
    }
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp, server_process(args.latency) as url:
        work = Path(tmp)
        corpus = write_corpus(work / "corpus.jsonl", documents)
        tiny = write_corpus(work / "tiny.jsonl", 2, prefix="tiny")

        backend = OpenAIBackend("fake", base_url=url, timeout=120)
        run_sync(backend.check())
        run(open_corpus(str(tiny)), ExtractConfig(backend=backend), work / "warm.jsonl", resume=False)
        wall = time.perf_counter()
        summary = run(
            open_corpus(str(corpus)), ExtractConfig(backend=backend), work / "local.jsonl", concurrency=64, resume=False
        )
        local_wall = time.perf_counter() - wall
        results["default"] = {
            "wall_s": round(local_wall, 3),
            "efficiency": round(ideal / local_wall, 4),
            "failed": summary.failed,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(f"default engine, 64 in flight: {local_wall:.2f} s ({ideal / local_wall:.1%} of ideal)", flush=True)

        started = time.perf_counter()
        with ray_session(num_cpus=2):
            init_s = time.perf_counter() - started
            job = RunConfig.from_options(
                backend="openai", model="fake", backend_options={"base_url": url, "timeout": 120}, cache=False,
                concurrency=per_actor, resume=False, engine="ray", actors=args.actors,
            )  # fmt: skip
            fixed: list[float] = []
            for k in range(2):  # the first run also starts Ray's worker processes; the second reuses them
                begun = time.perf_counter()
                run_dataset(read_corpus(str(tiny))[0], job.replace(out=work / f"tiny{k}.jsonl"))
                fixed.append(time.perf_counter() - begun)
            stamps: list[float] = []
            wall = time.perf_counter()
            dataset, _ = read_corpus(str(corpus))
            summary = run_dataset(
                dataset,
                job.replace(out=work / "ray.jsonl", batch_size=4 * per_actor),
                on_result=lambda _: stamps.append(time.perf_counter()),
            )
            ray_wall = time.perf_counter() - wall
        first_s = stamps[0] - wall
        # Results come back a whole batch at a time, so a rate between results says little;
        # the wall less what a warm two-document run costs is the streaming part of the run.
        streaming = ray_wall - fixed[1]
        results["ray"] = {
            "init_s": round(init_s, 3),
            "fixed_cost_first_run_s": round(fixed[0], 3),
            "fixed_cost_next_runs_s": round(fixed[1], 3),
            "wall_s": round(ray_wall, 3),
            "first_result_after_s": round(first_s, 3),
            "wall_less_fixed_s": round(streaming, 3),
            "efficiency_less_fixed": round(ideal / streaming, 4),
            "efficiency": round(ideal / ray_wall, 4),
            "failed": summary.failed,
            "documents": summary.documents,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        results["ratio_ray_over_default"] = round(ray_wall / local_wall, 3)
    print(f"ray.init (local instance): {init_s:.2f} s")
    print(f"ray fixed cost per run (2 documents): first run {fixed[0]:.2f} s, next runs {fixed[1]:.2f} s")
    print(
        f"ray, {args.actors} actors x {per_actor} in flight: {ray_wall:.2f} s ({ideal / ray_wall:.1%} of ideal); "
        f"first result after {first_s:.2f} s; less the fixed cost {streaming:.2f} s ({ideal / streaming:.1%} of ideal)"
    )
    print(f"ratio ray / default: {ray_wall / local_wall:.2f}  (load {os.getloadavg()[0]:.2f})")
    results["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench_ray-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nResults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
