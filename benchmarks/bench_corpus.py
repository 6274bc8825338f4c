"""Reading corpora: time and peak memory to read every document of a 16 MB file, per format.

Each read runs in a fresh process: ``open_corpus`` (which for ``.json`` is a full
streaming pass that checks the syntax and counts the records) and then iterating
every document. Peak memory is the process's peak resident set size (``VmHWM``,
reset just before opening) minus its resident size then, so the interpreter and
imports are not counted. Two shapes: 5 kB articles, and 200-byte snippets (many
more records per megabyte, so the per-record cost shows).

``--against DIR`` reads the same files with another checkout's ``extract`` package
(a folder holding ``extract/``, e.g. ``git archive main extract | tar -x -C DIR``),
alternating with this one, so the two are measured side by side under the same load.

    .venv/bin/python benchmarks/bench_corpus.py                      # 16 MB files, 3 runs each
    .venv/bin/python benchmarks/bench_corpus.py --quick              # 4 MB files, 1 run each
    .venv/bin/python benchmarks/bench_corpus.py --against /tmp/main  # this tree and another, side by side
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
FORMATS = ("json-array", "json-object", "jsonl")
SHAPES = {"articles": (200, 1000), "snippets": (5000, 30)}  # records per MB, filler words per record


def write_corpus(folder: Path, fmt: str, megabytes: int, shape: str = "articles") -> Path:
    """About ``megabytes`` MB of records (non-ASCII included) of one shape in one format."""
    per_mb, words = SHAPES[shape]
    rows = [
        {"id": f"d{i}", "text": f"{i} Shelling hit Ḥamā «again». " + "word " * words, "source": "wire", "n": i}
        for i in range(megabytes * per_mb)
    ]
    if fmt == "jsonl":
        path = folder / f"{shape}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        path = folder / f"{shape}-{fmt}.json"
        document: Any = rows if fmt == "json-array" else {"version": 1, "documents": rows}
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    # Imports leave a high-water mark above the resident size; Linux resets it on "5".
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def one(path: Path, tree: str | None) -> dict[str, Any]:
    """Worker: open and read every document of ``path`` with the ``extract`` package found in ``tree``."""
    if tree:
        sys.path.insert(0, tree)
    from extract.io.corpus import open_corpus

    _reset_peak()
    before = _status_kib("VmRSS")
    t0 = time.perf_counter()
    corpus = open_corpus(path)
    opened = time.perf_counter() - t0
    documents = sum(1 for _ in corpus)
    total = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    return {
        "documents": documents,
        "open_seconds": round(opened, 3),
        "total_seconds": round(total, 3),
        "peak_rss_growth_mib": round((peak - before) / 1024, 1),
    }


def run(path: Path, tree: str | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", str(path)] + (["--tree", tree] if tree else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _ijson_backend() -> str:
    import ijson

    return str(ijson.backend)  # yajl2_c when the C extension is installed; the pure Python one is much slower


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--against", help="another checkout's root (a folder holding extract/) to compare with")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(Path(args.one), args.tree)))
        return 0
    megabytes = 4 if args.quick else 16
    repeat = args.repeat or (1 if args.quick else 3)
    trees = {"this": str(ROOT)} | ({"against": str(Path(args.against).resolve())} if args.against else {})
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape, fmt in ((shape, fmt) for shape in SHAPES for fmt in FORMATS):
            path = write_corpus(Path(tmp), fmt, megabytes, shape)
            size = round(path.stat().st_size / 1e6, 1)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
            for _ in range(repeat):
                for name, tree in trees.items():  # alternate, so both see the same load
                    runs[name].append(run(path, tree))
            for name, results in runs.items():
                row = {
                    "shape": shape,
                    "format": fmt,
                    "tree": name,
                    "megabytes": size,
                    "documents": results[0]["documents"],
                    "runs": results,
                    "median_total_seconds": statistics.median(r["total_seconds"] for r in results),
                    "median_open_seconds": statistics.median(r["open_seconds"] for r in results),
                    "max_peak_rss_growth_mib": max(r["peak_rss_growth_mib"] for r in results),
                }
                rows.append(row)
                print(
                    f"{shape:>8} {fmt:>11} {size:>5} MB {name:>7}: open {row['median_open_seconds']:.2f} s, "
                    f"open+read {row['median_total_seconds']:.2f} s ({row['documents']} docs), "
                    f"peak RSS growth {row['max_peak_rss_growth_mib']} MiB",
                    flush=True,
                )
    result = {
        "rows": rows,
        "environment": {
            "python": platform.python_version(),
            "ijson_backend": _ijson_backend(),
            "cpus": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": os.getloadavg(),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "corpus.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average {load_start} -> {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
