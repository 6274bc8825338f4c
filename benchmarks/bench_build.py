"""The portable llama.cpp build against a native one: what does portability cost on this machine?

Runs ``bench_local.py --raw-only`` (llama.cpp alone, no grammar) under each interpreter given,
alternating between them round after round so that a change in the machine's load hits both
alike, and reports the median of each with the ratio to the first.

    make bench-native      # builds a native llama-cpp-python into .venv-native, then runs this
    python benchmarks/bench_build.py --python .venv/bin/python --python .venv-native/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ("prompt_tokens_per_second", "generation_tokens_per_second", "load_seconds")


def build_of(python: str) -> str:
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode().strip())"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return " ".join(p.split("=")[0].strip() for p in out.replace("CPU :", "").split("|") if p.strip().endswith("= 1"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", action="append", required=True, help="an interpreter with llama_cpp (repeat)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=sorted({1, os.cpu_count() or 2}))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)

    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for threads in args.threads:
            for python in args.python:
                cmd = [python, str(HERE / "bench_local.py"), "--raw-only", "--threads", str(threads)]
                if args.quick:
                    cmd.append("--quick")
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                runs.setdefault((python, threads), []).append(json.loads(out.strip().splitlines()[-1]))

    figures: dict[str, object] = {"load_average": os.getloadavg(), "rounds": args.rounds, "builds": {}}
    base = args.python[0]
    print(f"{'build':<34} {'threads':>7} {'prompt tok/s':>13} {'gen tok/s':>10} {'vs first':>16}")
    for python in args.python:
        build = build_of(python)
        entry: dict[str, object] = {"features": build}
        for threads in args.threads:
            med = {k: statistics.median(r[k] for r in runs[(python, threads)]) for k in KEYS}
            ref = {k: statistics.median(r[k] for r in runs[(base, threads)]) for k in KEYS}
            ratio = (
                med["prompt_tokens_per_second"] / ref["prompt_tokens_per_second"],
                med["generation_tokens_per_second"] / ref["generation_tokens_per_second"],
            )
            entry[f"{threads}_threads"] = {**med, "ratio_to_first": [round(x, 3) for x in ratio]}
            print(
                f"{Path(python).parent.parent.name:<34} {threads:>7} {med['prompt_tokens_per_second']:>13.1f} "
                f"{med['generation_tokens_per_second']:>10.1f} {ratio[0]:>7.2f}x {ratio[1]:>6.2f}x"
            )
        figures["builds"][python] = entry  # type: ignore[index]
        print(f"  {python}: built for {build}")
    print(f"load average during the run: {figures['load_average']}")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "build.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
