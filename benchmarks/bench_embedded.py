"""The embedded model on the five seed articles, configuration by configuration: quality, tokens and speed.

Each configuration is a set of ``extract run`` options. Every run extracts the seeds with the
local backend (no cache), scores them against the gold labels and records incident F1, slot
F1, grounding, the supported share (when the scorer reports it), seconds per article (the
records' own timings: model loading excluded) and prompt and completion tokens per article,
with the load average beside it. With ``--repeat N`` the configurations take turns, so a
change in the machine's load falls on all of them alike; quality figures do not vary between
repeats (greedy decoding), seconds do.

Usage:
  python benchmarks/bench_embedded.py                               # the default configuration once
  python benchmarks/bench_embedded.py --config threads1='--threads 1' --config threads2='--threads 2' --repeat 3
  python benchmarks/bench_embedded.py --config base= --out runs/bench-embedded.jsonl

Prints a Markdown table; ``--out`` appends one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run_once(name: str, options: list[str], workdir: Path, corpus: Path, gold: Path) -> dict[str, Any]:
    """One extraction of the corpus with these options, scored; the figures as a dict."""
    extract = str(Path(sys.executable).with_name("extract"))
    out = workdir / f"{name}.jsonl"
    load_before = load_average()
    command = [extract, "run", str(corpus), "--backend", "local", "--out", str(out), "--overwrite"]
    command += ["--allow-failures", "--no-cache", "--quiet", *options]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    load_after = load_average()
    scored = workdir / f"{name}.eval.json"
    subprocess.run(
        [extract, "eval", "--gold", str(gold), "--pred", str(out), "--json", str(scored)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    summary = json.loads(scored.read_text(encoding="utf-8"))
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    n = len(records) or 1
    seconds = sum(float(r.get("seconds") or 0.0) for r in records)
    usage = [r.get("usage") or {} for r in records]
    return {
        "config": name,
        "options": shlex.join(options),
        "documents": len(records),
        "failed": sum(r.get("status") == "failed" for r in records),
        "incidents_predicted": sum(len(r.get("incidents") or []) for r in records),
        "incident_f1": summary["incidents"]["f1"],
        "incidents_matched": summary["incidents"]["matched"],
        "slot_f1": summary["slots"]["f1"],
        "grounding": summary["grounding"]["rate"],
        "supported_share": summary.get("supported_share"),
        "seconds_per_article": round(seconds / n, 2),
        "articles_per_minute": round(60 * n / seconds, 2) if seconds else None,
        "prompt_tokens_per_article": round(sum(int(u.get("prompt_tokens") or 0) for u in usage) / n),
        "completion_tokens_per_article": round(sum(int(u.get("completion_tokens") or 0) for u in usage) / n),
        "load_before": load_before,
        "load_after": load_after,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """One line per configuration; seconds are the median over its repeats, with the range."""
    columns = ["incident_f1", "slot_f1", "grounding", "supported_share"]
    head = "| config | incident F1 | slot F1 | grounding | supported | s/article | prompt tok | completion tok | load |"
    lines = [head, "|" + " --- |" * 9]
    for name in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == name]
        first = mine[0]
        secs = [r["seconds_per_article"] for r in mine]
        spread = f" ({min(secs):.1f}–{max(secs):.1f})" if len(secs) > 1 else ""
        loads = [r["load_before"] for r in mine] + [r["load_after"] for r in mine]
        cells = [_fmt(first[c]) for c in columns]
        cells += [f"{statistics.median(secs):.1f}{spread}", _fmt(first["prompt_tokens_per_article"])]
        cells += [_fmt(first["completion_tokens_per_article"]), f"{min(loads):.1f}–{max(loads):.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", default=[], help="NAME=OPTIONS (extract run options, quoted)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration, taking turns")
    parser.add_argument("--corpus", default=str(REPO / "gold" / "articles"))
    parser.add_argument("--gold", default=str(REPO / "gold"))
    parser.add_argument("--out", default=None, help="append one JSON line per run to this file")
    parser.add_argument("--keep", default=None, help="keep each run's records and scores in this folder")
    args = parser.parse_args(argv)
    configs = [c.split("=", 1) if "=" in c else [c, ""] for c in args.config] or [["default", ""]]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
        for turn in range(args.repeat):
            for name, options in configs:
                workdir = Path(args.keep or tmp)
                row = run_once(name, shlex.split(options), workdir, Path(args.corpus), Path(args.gold))
                row["turn"] = turn
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
