"""Batch benchmarks: concurrency against a slow server, pipeline overhead, memory, and the cost of a resume.

    .venv/bin/python benchmarks/bench_batch.py            # full sizes (a few minutes)
    .venv/bin/python benchmarks/bench_batch.py --quick    # small sizes (under a minute)
    .venv/bin/python benchmarks/bench_batch.py --only concurrency --diagnose

Figures are printed and written as JSON to ``benchmarks/results/``; nothing is
asserted. See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import datetime as dt
import functools
import io
import json
import os
import platform
import pstats
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from extract.api import make_backend
from extract.backends.mock import MockBackend
from extract.core.backend import Backend, Completion, CompletionRequest
from extract.core.pipeline import ExtractConfig
from extract.io.corpus import open_corpus
from extract.io.output import completed_ids
from extract.runner import run
from extract.testing import FakeOpenAIServer, write_corpus

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

FULL = {
    "concurrency": {"documents": 1000, "concurrency": 64, "latency": 0.2},
    "overhead": {"documents": 10_000},
    "memory": {"sizes": [1000, 10_000]},
    "resume": {"documents": 400, "concurrency": 8, "latency": 0.05},
}
QUICK = {
    "concurrency": {"documents": 256, "concurrency": 64, "latency": 0.2},
    "overhead": {"documents": 500},
    "memory": {"sizes": [200, 1000]},
    "resume": {"documents": 60, "concurrency": 4, "latency": 0.05},
}


# -- helpers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def server_process(latency: float) -> Iterator[str]:
    """The fake server in its own process (so it does not share the client's GIL); yields its base URL."""
    command = [sys.executable, "-m", "extract.testing.fake_server", "--latency", str(latency)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the fake server did not start (said {url!r})")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def server_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/_fake/stats", timeout=10) as response:
        return dict(json.load(response))


def timed_run(backend: Backend, corpus: Path, out: Path, concurrency: int) -> dict[str, Any]:
    """Run the batch; wall time and the client process's CPU time."""
    config = ExtractConfig(backend=backend)
    cpu, wall = time.process_time(), time.perf_counter()
    summary = run(open_corpus(str(corpus)), config, out, concurrency=concurrency, resume=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall_s": round(wall, 3),
        "client_cpu_s": round(cpu, 3),
        "client_cpu_ms_per_doc": round(1000 * cpu / max(1, summary.documents), 3),
        "documents": summary.documents,
        "ok": summary.ok,
        "failed": summary.failed,
        "requests": summary.usage.requests,
    }


class PrewrappedModel:
    """Diagnostic only: hands instructor a response model it has already wrapped.

    instructor 1.17 wraps the response model in a new pydantic class on every call
    (``response_schema`` -> ``create_model``), so its lru_cache of the tool schema
    never hits and the JSON schema is regenerated per request. Passing the wrapped
    class shows what building it once (in ``InstructorBackend``) would save.
    """

    def __init__(self, inner: Backend):
        self.inner = inner
        self.name = inner.name
        self.model = inner.model

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    async def complete(self, request: CompletionRequest) -> Completion:
        return await self.inner.complete(dataclasses.replace(request, response_model=_wrapped(request.response_model)))

    async def check(self) -> None:
        await self.inner.check()

    async def aclose(self) -> None:
        await self.inner.aclose()


@functools.cache
def _wrapped(model: Any) -> Any:
    import instructor

    return instructor.response_schema(model)


def raw_client_floor(base_url: str, corpus: Path, concurrency: int) -> dict[str, Any]:
    """The same chat requests through the bare AsyncOpenAI client: no instructor, validation or writing."""
    import openai

    from extract.core.prompts import load_prompt
    from extract.core.schema import Extraction

    prompt = load_prompt()
    tool = {"type": "function", "function": {"name": "Extraction", "parameters": Extraction.model_json_schema()}}
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    client = openai.AsyncOpenAI(base_url=base_url, api_key="no-key-needed", max_retries=0, timeout=60)

    async def go() -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(text: str) -> None:
            async with gate:
                await client.chat.completions.create(
                    model="fake",
                    messages=prompt.render(text),  # type: ignore[arg-type]
                    tools=[tool],  # type: ignore[list-item]
                    tool_choice={"type": "function", "function": {"name": "Extraction"}},
                    temperature=0.0,
                    max_tokens=4096,
                )

        await client.models.list()  # warm up: imports and the first connection
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(text) for text in texts))
        timings.update(wall_s=time.perf_counter() - wall, client_cpu_s=time.process_time() - cpu)
        await client.close()

    timings: dict[str, float] = {}
    asyncio.run(go())
    return {k: round(v, 3) for k, v in timings.items()} | {"documents": len(texts)}


def profile_top(stats_path: Path, limit: int = 20) -> list[str]:
    """The costliest calls by cumulative time, leaving out the event loop and the runner's own frames."""
    out = io.StringIO()
    where = r"instructor/|pydantic/main.py|openai/_base_client|extract/(core|io|backends|store)"
    pstats.Stats(str(stats_path), stream=out).sort_stats("cumulative").print_stats(where, limit)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    header = next(k for k, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return lines[header:]


# -- 1. concurrency ---------------------------------------------------------------------------------


def bench_concurrency(documents: int, concurrency: int, latency: float, work: Path, diagnose: bool) -> dict[str, Any]:
    corpus = write_corpus(work / "concurrency.jsonl", documents)
    ideal = documents / concurrency * latency
    result: dict[str, Any] = {"documents": documents, "concurrency": concurrency, "latency_s": latency}
    result["ideal_s"] = round(ideal, 3)
    with server_process(latency) as url:
        # make_backend checks the endpoint first (as `extract run` does), which also loads the client.
        backend = make_backend("openai", "fake", options={"base_url": url, "timeout": 120}, cache=False)
        run_ = timed_run(backend, corpus, work / "concurrency.out.jsonl", concurrency)
        run_["efficiency"] = round(ideal / run_["wall_s"], 4)
        run_["server_chat_requests"] = server_stats(url)["requests"]
        result["pipeline"] = run_
        if diagnose:
            floor = raw_client_floor(url, corpus, concurrency)
            floor["efficiency"] = round(ideal / floor["wall_s"], 4)
            result["raw_openai_client"] = floor
            pre = PrewrappedModel(
                make_backend("openai", "fake", options={"base_url": url, "timeout": 120}, cache=False)
            )
            run_pre = timed_run(pre, corpus, work / "concurrency.pre.jsonl", concurrency)  # type: ignore[arg-type]
            run_pre["efficiency"] = round(ideal / run_pre["wall_s"], 4)
            result["prewrapped_response_model"] = run_pre
    return result


# -- 2. overhead ---------------------------------------------------------------------------------------


def bench_overhead(documents: int, work: Path, diagnose: bool, profile: bool) -> dict[str, Any]:
    corpus = write_corpus(work / "overhead.jsonl", documents)
    result: dict[str, Any] = {"documents": documents, "backend": "MockBackend('echo')"}
    variants: dict[str, Backend] = {"default (tools mode)": MockBackend("echo")}
    if diagnose:
        # json mode pastes the schema into the system message on every request (instructor's doing)
        variants["json mode"] = MockBackend("echo", mode="json")
    for label, backend in variants.items():
        figures = timed_run(backend, corpus, work / "overhead.out.jsonl", concurrency=1)
        figures["docs_per_s"] = round(documents / figures["wall_s"], 1)
        result[label] = figures
    if profile:
        small = write_corpus(work / "overhead.profile.jsonl", min(documents, 1000))
        stats = RESULTS / "overhead.prof"
        profiler = cProfile.Profile()
        profiler.enable()
        run(
            open_corpus(str(small)),
            ExtractConfig(backend=MockBackend("echo")),
            work / "profile.out.jsonl",
            resume=False,
        )
        profiler.disable()
        profiler.dump_stats(stats)
        result["profile_top_cumulative"] = profile_top(stats)
        result["profile_file"] = str(stats)
    return result


# -- 3. memory ------------------------------------------------------------------------------------------


def peak_rss() -> int:
    """This process's peak resident set size in bytes.

    On Linux this is ``VmHWM``: ``ru_maxrss`` would not do, because Linux carries it
    over ``execve`` from the forking parent, so a child started by a big parent
    would report the parent's size.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, KiB elsewhere


def memory_child(corpus: str, out: str, variant: str) -> None:
    """Run in a fresh process: the mock pipeline over ``corpus``; print peak RSS as JSON.

    ``variant`` "mock-call-log-cleared" empties the mock's record of calls after each
    document, so that the figure is the pipeline's own and not the test double's log.
    """
    backend = MockBackend("echo")
    clear = variant == "mock-call-log-cleared"
    before = peak_rss()
    summary = run(
        open_corpus(corpus),
        ExtractConfig(backend=backend),
        out,
        resume=False,
        on_result=(lambda _: backend.calls.clear()) if clear else None,
    )
    figures = {"variant": variant, "documents": summary.documents, "rss_after_imports": before, "peak_rss": peak_rss()}
    print(json.dumps(figures))


MEMORY_VARIANTS = ("mock-as-shipped", "mock-call-log-cleared")


def bench_memory(sizes: list[int], work: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for variant in MEMORY_VARIANTS:
        rows = []
        for size in sizes:
            corpus = write_corpus(work / f"memory-{size}.jsonl", size, sentences=10)
            out = work / f"memory-{size}.out.jsonl"
            command = [sys.executable, __file__, "--memory-child", str(corpus), str(out), variant]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            child = json.loads(done.stdout.strip().splitlines()[-1])
            child["corpus_bytes"] = corpus.stat().st_size
            rows.append(child)
        first, last = rows[0], rows[-1]
        grown = [r["peak_rss"] - r["rss_after_imports"] for r in (first, last)]
        result[variant] = {
            "runs": rows,
            "peak_ratio": round(last["peak_rss"] / first["peak_rss"], 3),
            "growth_kib_per_extra_document": round(
                (grown[1] - grown[0]) / 1024 / (last["documents"] - first["documents"]), 2
            ),
        }
    return result


# -- 4. resume cost ------------------------------------------------------------------------------------------


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def bench_resume(documents: int, concurrency: int, latency: float, work: Path) -> dict[str, Any]:
    corpus = write_corpus(work / "resume.jsonl", documents)
    out = work / "resume.out.jsonl"
    with FakeOpenAIServer(latency=latency, keep_bodies=False) as server:
        command = [sys.executable, "-m", "extract.cli", "run", str(corpus), "--backend", "openai", "--model", "fake"]
        command += ["--base-url", server.base_url, "--out", str(out), "--no-cache", "--quiet", "--no-show"]
        command += ["--concurrency", str(concurrency)]
        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while _lines(out) < documents // 2 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        killed = first.poll() is None
        if killed:
            os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
        written = completed_ids(out)
        first_calls = server.counts_by_document()
        server.reset()
        wall = time.perf_counter()
        second = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - wall
        second_calls = server.counts_by_document()
    remaining = documents - len(written)
    return {
        "documents": documents,
        "killed_mid_run": killed,
        "written_before_kill": len(written),
        "requested_in_first_run": len(first_calls),
        "remaining": remaining,
        "rerun_model_calls": sum(second_calls.values()),
        "rerun_calls_for_already_written_documents": sum(n for d, n in second_calls.items() if d in written),
        "rerun_exit_code": second.returncode,
        "rerun_wall_s": round(wall, 3),
        "final_ids": len(completed_ids(out)),
    }


# -- the table -----------------------------------------------------------------------------------------------------


def print_table(results: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = []
    if c := results.get("concurrency"):
        p = c["pipeline"]
        rows.append(
            (
                f"concurrency: {c['documents']} docs, {c['concurrency']} in flight, {c['latency_s']} s server",
                f"{p['wall_s']:.2f} s (ideal {c['ideal_s']:.3f} s) = {p['efficiency']:.1%} efficiency; "
                f"client CPU {p['client_cpu_ms_per_doc']:.2f} ms/doc; {p['server_chat_requests']} requests",
            )
        )
        for key in ("raw_openai_client", "prewrapped_response_model"):
            if key in c:
                rows.append(
                    (f"  diagnostic: {key.replace('_', ' ')}", f"{c[key]['wall_s']:.2f} s = {c[key]['efficiency']:.1%}")
                )
    if o := results.get("overhead"):
        for label, figures in o.items():
            if isinstance(figures, dict):
                rows.append(
                    (f"overhead: {o['documents']} docs, mock echo, {label}", f"{figures['docs_per_s']:.0f} docs/s")
                )
    for variant, m in results.get("memory", {}).items():
        peaks = ", ".join(f"{r['documents']} docs {r['peak_rss'] / 2**20:.1f} MiB" for r in m["runs"])
        rows.append(
            (
                f"memory ({variant}): peak RSS",
                f"{peaks}; ratio {m['peak_ratio']:.2f}; "
                f"{m['growth_kib_per_extra_document']:.2f} KiB per extra document",
            )
        )
    if r := results.get("resume"):
        rows.append(
            (
                f"resume: {r['documents']} docs, killed after {r['written_before_kill']} written",
                f"re-run made {r['rerun_model_calls']} model calls for {r['remaining']} remaining "
                f"({r['rerun_calls_for_already_written_documents']} for documents already written)",
            )
        )
    width = max(len(what) for what, _ in rows) if rows else 0
    for what, value in rows:
        print(f"{what.ljust(width)}  {value}")


def environment() -> dict[str, Any]:
    versions = {}
    for name in ("openai", "instructor", "pydantic", "httpx2"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--only", default=None, help="comma-separated: concurrency,overhead,memory,resume")
    parser.add_argument("--diagnose", action="store_true", help="also run the diagnostic variants (see README)")
    parser.add_argument("--profile", action="store_true", help="profile the overhead run and print the top costs")
    parser.add_argument("--memory-child", nargs=3, metavar=("CORPUS", "OUT", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0

    sizes = QUICK if args.quick else FULL
    chosen = args.only.split(",") if args.only else list(sizes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "environment": environment()}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        if "concurrency" in chosen:
            results["concurrency"] = bench_concurrency(**sizes["concurrency"], work=work, diagnose=args.diagnose)
        if "overhead" in chosen:
            results["overhead"] = bench_overhead(
                **sizes["overhead"], work=work, diagnose=args.diagnose, profile=args.profile
            )
        if "memory" in chosen:
            results["memory"] = bench_memory(**sizes["memory"], work=work)
        if "resume" in chosen:
            results["resume"] = bench_resume(**sizes["resume"], work=work)
    results["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"bench_batch-{results['mode']}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    if "profile_top_cumulative" in results.get("overhead", {}):
        print("\nTop costs (cumulative) of the overhead run:")
        print("\n".join(results["overhead"]["profile_top_cumulative"]))
    print(f"\nResults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
