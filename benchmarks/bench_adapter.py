"""The local backend's throughput with and without the LoRA adapter: articles per minute.

Runs the five seed articles through the embedded model (the cache off, so every article is
really extracted) once with the shipped adapter and once with ``--adapter none``, each with
the serving configuration the adapter was trained with, and reports seconds per article,
articles per minute, tokens, and the ratio of the two. Quality is not measured here: that is
`extract eval` (README: "Teaching the bundled model").

Usage: python benchmarks/bench_adapter.py [--adapter PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def one_pass(adapter: str, serving: dict[str, object]) -> dict[str, float]:
    from extract.api import run_corpus

    with tempfile.TemporaryDirectory(prefix="bench-adapter-") as tmp:
        out = Path(tmp) / "run.jsonl"
        started = time.perf_counter()
        summary = run_corpus(
            REPO / "gold" / "articles", out=out, backend="local", cache=False,
            backend_options={"adapter": adapter, "chat_format": serving.get("chat_format", "gemma")},
            prompt=str(serving["prompt"]), evidence=str(serving["evidence"]),
            schema_style=str(serving["schema_style"]), candidates=bool(serving["candidates"]),
        )  # fmt: skip
        seconds = time.perf_counter() - started
    n = summary.documents
    return {
        "articles": n,
        "failed": summary.failed,
        "incidents": summary.incidents,
        "seconds": round(seconds, 2),
        "seconds_per_article": round(seconds / max(1, n), 2),
        "articles_per_minute": round(60 * n / seconds, 2),
        "prompt_tokens_per_article": round(summary.usage.prompt_tokens / max(1, n), 1),
        "completion_tokens_per_article": round(summary.usage.completion_tokens / max(1, n), 1),
    }


def main(argv: list[str]) -> int:
    from extract.backends.local import SHIPPED_ADAPTER, adapter_info

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default=str(SHIPPED_ADAPTER), help="the adapter to measure (default: shipped)")
    parser.add_argument("--repeat", type=int, default=1, help="passes per configuration (the best is kept)")
    parser.add_argument("--quick", action="store_true", help="one pass (as run_all.py passes it)")
    args = parser.parse_args(argv)
    adapter = Path(args.adapter)
    if not adapter.is_file():
        print(f"no adapter at {adapter}: nothing to measure (train one with extract train)")
        return 0
    serving = adapter_info(adapter).get("serving") or {}
    if not serving:
        print(f"{adapter}: carries no serving note; pass an adapter written by extract train")
        return 1
    load = os.getloadavg()
    figures: dict[str, object] = {"adapter": adapter.name, "serving": serving}
    for label, which in (("with_adapter", str(adapter)), ("bare_model", "none")):
        passes = [one_pass(which, serving) for _ in range(1 if args.quick else args.repeat)]
        figures[label] = min(passes, key=lambda p: p["seconds"])
        print(label, json.dumps(figures[label]), flush=True)
    with_adapter, bare = figures["with_adapter"], figures["bare_model"]
    assert isinstance(with_adapter, dict) and isinstance(bare, dict)
    figures["time_ratio_adapter_to_bare"] = round(with_adapter["seconds"] / bare["seconds"], 2)
    figures["machine"] = {
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_start": load, "load_end": os.getloadavg(),
    }  # fmt: skip
    print(json.dumps(figures, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "adapter.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
