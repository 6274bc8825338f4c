"""How requests leave the process: concurrency efficiency and client CPU per request, per transport.

    .venv/bin/python benchmarks/bench_transport.py              # 1,000 documents at 16, 64 and 256 in flight
    .venv/bin/python benchmarks/bench_transport.py --quick      # 256 documents
    .venv/bin/python benchmarks/bench_transport.py --concurrency 64 --variants direct,sdk

Every variant runs the full pipeline (instructor, validation, grounding, writing the
run file) through :func:`extract.runner.run` against the fake server in its own
process, answering each request after 200 ms, one after the other in one run, so the
figures are side by side under the same load. The last row, ``bare-aiohttp``, is no
pipeline at all: the same request bodies posted with aiohttp, the floor for one
event loop on this machine.

- ``sdk``: ``AsyncOpenAI.chat.completions.create`` over the SDK's httpx transport (what
  the backend did before ``direct``).
- ``sdk-aiohttp``: the same with the SDK's aiohttp transport (``DefaultAioHttpClient``).
- ``sdk-prepared``: the SDK's ``post`` with a body serialised once per schema (no
  parameter walk), httpx transport.
- ``sdk-prepared-aiohttp``: the same over the SDK's aiohttp transport.
- ``direct``: the backend's default, prepared body over the backend's own aiohttp pool.
- ``direct-gc``: ``direct`` with the cyclic collector left as it is, instead of the
  runner's :func:`~extract.runner.freeze_heap` (what the runner did before).

Efficiency is ideal / wall, where ideal = documents / concurrency x latency.
Nothing is asserted; figures go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

from bench_batch import RESULTS, environment, server_process, server_stats

from extract import runner
from extract.backends.openai_compat import OpenAIBackend, translate
from extract.backends.openai_wire import PreparedBodies
from extract.core.aio import run_sync
from extract.core.pipeline import ExtractConfig
from extract.io.corpus import open_corpus
from extract.runner import run
from extract.testing import write_corpus

VARIANTS = ("sdk", "sdk-aiohttp", "sdk-prepared", "sdk-prepared-aiohttp", "direct", "direct-gc", "bare-aiohttp")


class SdkVariant(OpenAIBackend):
    """The SDK path with an aiohttp transport and/or a prepared body (benchmark variants only)."""

    def __init__(self, *args: Any, aiohttp: bool, prepared: bool, **kwargs: Any):
        super().__init__(*args, transport="sdk", **kwargs)
        self.use_aiohttp = aiohttp
        self.prepared = prepared
        self.bodies = PreparedBodies()

    def _async_client(self) -> Any:
        import openai

        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is not loop:
            http = openai.DefaultAioHttpClient() if self.use_aiohttp else None
            self._aclient = openai.AsyncOpenAI(**self._common, http_client=http)
            self._aclient_loop = loop
        return self._aclient

    async def _send(self, kwargs: dict[str, Any]) -> Any:
        if not self.prepared:
            return await super()._send(kwargs)
        import openai
        from openai.types.chat import ChatCompletion

        body = self.bodies.body(kwargs, self.mode)
        try:
            return await self._async_client().post(
                "/chat/completions", cast_to=ChatCompletion, content=body, options={"headers": {}}
            )
        except openai.OpenAIError as exc:
            raise translate(exc, self.base_url) from None


def make(variant: str, url: str) -> OpenAIBackend:
    common: dict[str, Any] = {"base_url": url, "timeout": 120, "max_connections": 2048}
    if variant in ("direct", "direct-gc"):
        return OpenAIBackend("fake", transport="direct", **common)
    if variant == "sdk":
        return OpenAIBackend("fake", transport="sdk", **common)
    return SdkVariant("fake", aiohttp="aiohttp" in variant, prepared="prepared" in variant, **common)


class CollectorPauses:
    """How long the cyclic garbage collector holds this thread (the event loop), per pass, while active.

    Wall time from the clock without a system call: a pass holds the loop for as long as it
    lasts, and the callback runs twice per pass, often enough that its own cost shows.
    """

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._start))

    def __enter__(self) -> CollectorPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def figures(self) -> dict[str, Any]:
        return {
            "gc_ms": round(sum(p for _, p in self.pauses) * 1e3, 1),
            "gc_full_passes": sum(1 for g, _ in self.pauses if g == 2),
            "gc_longest_ms": round(max((p for _, p in self.pauses), default=0.0) * 1e3, 1),
        }


def pipeline_run(variant: str, url: str, corpus: Path, out: Path, concurrency: int) -> dict[str, Any]:
    backend = make(variant, url)
    run_sync(backend.check())  # as `extract run` does: loads the client before the clock starts
    # One warm-up document on its own loop, so that imports and first-use costs are not timed.
    run(open_corpus(str(corpus), limit=1), ExtractConfig(backend=backend), out, resume=False)
    with contextlib.ExitStack() as stack:
        if variant == "direct-gc":
            stack.enter_context(mock.patch.object(runner, "freeze_heap", lambda: False))
        pauses = stack.enter_context(CollectorPauses())
        cpu, wall = time.process_time(), time.perf_counter()
        summary = run(
            open_corpus(str(corpus)), ExtractConfig(backend=backend), out, concurrency=concurrency, resume=False
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu, "documents": summary.documents, "failed": summary.failed} | pauses.figures()


def bare_aiohttp(url: str, corpus: Path, concurrency: int) -> dict[str, Any]:
    """No pipeline: the same bodies (as the direct transport builds them) posted with aiohttp."""
    import aiohttp
    from openai.types.chat import ChatCompletion

    from extract.core.prompts import load_prompt
    from extract.core.schema import Extraction

    prompt = load_prompt()
    name = "Extraction"
    rest = {
        "model": "fake",
        "temperature": 0.0,
        "max_tokens": 4096,
        "tools": [{"type": "function", "function": {"name": name, "parameters": Extraction.model_json_schema()}}],
        "tool_choice": {"type": "function", "function": {"name": name}},
    }
    bodies = PreparedBodies()
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    figures: dict[str, Any] = {}

    async def go() -> None:
        gate = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=2048)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(text: str) -> None:
                body = bodies.body({"messages": prompt.render(text), **rest}, name)
                async with gate, session.post(url + "/chat/completions", data=body) as response:
                    ChatCompletion.model_validate_json(await response.read())

            await one(texts[0])
            with CollectorPauses() as pauses:
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.gather(*(one(t) for t in texts))
                figures.update(wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu)
            figures.update(pauses.figures())

    asyncio.run(go())
    return figures | {"documents": len(texts), "failed": 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 documents instead of 1,000")
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--concurrency", default="16,64,256", help="comma-separated (default 16,64,256)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--latency", type=float, default=0.2, help="server latency in seconds (default 0.2)")
    args, _ = parser.parse_known_args(argv)  # run_all.py passes every benchmark the same options
    documents = args.documents or (256 if args.quick else 1000)
    levels = [int(c) for c in args.concurrency.split(",")]
    variants = args.variants.split(",")
    results: dict[str, Any] = {"environment": environment(), "documents": documents, "latency_s": args.latency}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-transport-") as tmp, server_process(args.latency) as url:
        work = Path(tmp)
        corpus = write_corpus(work / "corpus.jsonl", documents)
        for concurrency in levels:
            ideal = documents / concurrency * args.latency
            for variant in variants:
                before = server_stats(url)["requests"]
                if variant == "bare-aiohttp":
                    figures = bare_aiohttp(url, corpus, concurrency)
                else:
                    figures = pipeline_run(variant, url, corpus, work / f"{variant}.jsonl", concurrency)
                row = {
                    "variant": variant,
                    "concurrency": concurrency,
                    "wall_s": round(figures["wall_s"], 3),
                    "ideal_s": round(ideal, 3),
                    "efficiency": round(ideal / figures["wall_s"], 4),
                    "client_cpu_ms_per_request": round(1000 * figures["cpu_s"] / documents, 3),
                    "failed": figures["failed"],
                    "server_requests": server_stats(url)["requests"] - before,
                    "gc_ms": figures["gc_ms"],
                    "gc_full_passes": figures["gc_full_passes"],
                    "gc_longest_ms": figures["gc_longest_ms"],
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                }
                rows.append(row)
                print(
                    f"c={concurrency:<4d} {variant:<22s} wall {row['wall_s']:6.2f} s  ideal {row['ideal_s']:5.2f} s  "
                    f"efficiency {row['efficiency']:6.1%}  client CPU {row['client_cpu_ms_per_request']:5.2f} ms/req  "
                    f"collector {row['gc_ms']:5.0f} ms ({row['gc_full_passes']} full pass(es), "
                    f"longest {row['gc_longest_ms']:.0f} ms)  "
                    f"load {row['load_average'][0]}",
                    flush=True,
                )
    results["rows"] = rows
    results["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench_transport-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nResults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
