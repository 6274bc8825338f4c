"""The ``extract`` command. Each subcommand parses arguments and calls a library function.

Exit codes: 0 success; 1 some documents failed (unless --allow-failures) or an
evaluation gate failed; 2 a usage, configuration or input error, reported in one
line without a traceback; 130 interrupted (Ctrl-C), 143 terminated (SIGTERM), each
after removing the command's temporary outputs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.markup import escape

from extract import api
from extract.backends import MAX_RESPONSE_BYTES
from extract.core.errors import ExtractError, ExtractWarning
from extract.core.secrets import redact, redacting_logs, url_secrets
from extract.display import printable
from extract.engines import ENGINES

#: The run configuration's defaults, for the help of the flags that set them (declared in RunConfig, not here).
_RUN = api.RunConfig()

EXIT_OK, EXIT_FAILURES, EXIT_ERROR = 0, 1, 2
#: The commands that continue where an interrupted one stopped.
RESUMABLE = frozenset({"run", "train"})


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--backend", default=None, help="local (default: the bundled model, in process), openai, or mock")
    g.add_argument("--model", default=None, help="local: a .gguf path; openai: the model name; mock: empty or echo")
    g.add_argument("--base-url", default=None, help="openai backend: the endpoint, e.g. http://127.0.0.1:8000/v1")
    g.add_argument(
        "--api-key-env", default=None, help="openai backend: variable holding the API key (default OPENAI_API_KEY)"
    )
    g.add_argument("--mode", default=None, help="instructor mode: tools, json, json_schema or md_json")
    g.add_argument(
        "--prompt",
        default=None,
        help="prompt template name in prompts/, or a path (default: incidents, or what the local adapter was "
        "trained on)",
    )
    g.add_argument("--max-tokens", type=int, default=None, help="completion budget per request")
    g.add_argument(
        "--max-retries",
        type=int,
        default=None,
        help=f"re-asks after a reply fails validation (default {_RUN.extraction.max_retries})",
    )
    g.add_argument("--timeout", type=float, default=None, help="openai backend: seconds per request (default 120)")
    g.add_argument(
        "--max-response-bytes",
        type=int,
        default=None,
        help=f"openai backend: fail a request whose reply is larger once decoded (default {MAX_RESPONSE_BYTES:,})",
    )
    g.add_argument("--threads", type=int, default=None, help="local backend: CPU threads (default: half the cores)")
    g.add_argument("--replay", default=None, help="mock backend: answer from a directory recorded with --record")
    g.add_argument(
        "--chat-format",
        default=None,
        help="local backend: the turn format, auto (default: the GGUF's template, else by architecture), gguf, "
        "gemma, chatml, llama-3, llama-2 or plain",
    )
    g.add_argument(
        "--adapter",
        default=None,
        help="local backend: a LoRA adapter .gguf (from extract train), none, or default (the shipped adapter "
        "on the bundled model)",
    )


class _VersionAction(argparse.Action):
    """``extract --version``: one line, read from files (no model is loaded)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        found = api.versions()
        adapter = found["adapter"]
        print(
            f"incident-extract {found['incident-extract']}; schema {found['schema']}; "
            f"llama-cpp-python {found['llama-cpp-python'] or 'not installed'}; "
            f"adapter {'sha256 ' + adapter[:16] if adapter else 'none shipped'}"
        )
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose messages (a usage error quotes what was typed) are printed through printable."""

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(printable(message), file)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="extract", description="Incident records from news articles, with evidence.")
    parser.add_argument("--version", action=_VersionAction, help="the package, schema, llama.cpp and adapter versions")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="extract incidents from a corpus into a JSON Lines file")
    run.add_argument("corpus", help="a folder of .txt/.md, a .jsonl/.json/.csv/.parquet file, or a saved HF dataset")
    run.add_argument(
        "--out", default=None, help="output .jsonl (default runs/<corpus>.<backend>.jsonl); resumed if it exists"
    )
    run.add_argument("--parquet", default=None, help="also write the results as Parquet to this path")
    run.add_argument("--id-field", default=None, help=f"the id column (default {_RUN.reading.id_field})")
    run.add_argument("--text-field", default=None, help=f"the text column (default {_RUN.reading.text_field})")
    run.add_argument("--split", default=None, help=f"split of a saved DatasetDict (default {_RUN.reading.split})")
    run.add_argument("--limit", type=int, default=None, help="only the first N documents")
    run.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"documents in flight at once (openai backend; default {_RUN.pace.concurrency})",
    )
    run.add_argument("--rpm", type=float, default=None, help="at most this many requests per minute")
    run.add_argument("--tpm", type=float, default=None, help="at most this many tokens per minute (estimated)")
    run.add_argument(
        "--max-chars",
        type=int,
        default=None,
        help=f"refuse documents longer than this (default {_RUN.extraction.max_chars:,})",
    )
    run.add_argument(
        "--chunk-chars",
        type=int,
        default=None,
        help=f"split longer documents into chunks of this size (default {_RUN.extraction.chunk_chars:,})",
    )
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    run.add_argument(
        "--cache-dir", default=None, help="response cache (default $EXTRACT_CACHE_DIR or ~/.cache/incident-extract)"
    )
    run.add_argument(
        "--record", default=None, help="also store every response in DIR, for replay with --backend mock --replay DIR"
    )
    run.add_argument("--overwrite", action="store_true", help="start the output afresh instead of resuming it")
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help="when resuming, extract again the documents whose record is a failure",
    )
    run.add_argument("--allow-failures", action="store_true", help="exit 0 even when some documents failed")
    run.add_argument(
        "--evidence",
        choices=("quotes", "refs"),
        default=None,
        help="quotes: each value copies a quote; refs: the article is numbered sentences and each value cites numbers "
        "(default: what the local adapter was trained on, else quotes)",
    )
    run.add_argument(
        "--schema",
        dest="schema_style",
        choices=("full", "compact"),
        default=None,
        help="the JSON schema the model sees: full, or compact (no titles, shared definitions; fewer prompt tokens); "
        "default: what the local adapter was trained on, else full",
    )
    run.add_argument(
        "--candidates",
        nargs="?",
        const="open",
        default=None,
        choices=("open", "strict"),
        help="offer the article's own names, numbers and dates as choices in the schema (for grammar-constrained "
        "models); open (the default when given): each with a free-text twin; strict: the article's values only",
    )
    run.add_argument("--prices", default=None, help='JSON price table {"model": {"input": USD/1M, "output": USD/1M}}')
    run.add_argument(
        "--show",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="print the incidents (default: for 20 documents or fewer)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_backend_args(run)
    _add_engine_args(run)

    ev = sub.add_parser("eval", help="score a run against gold labels, or run an eval suite with gates")
    ev.add_argument("--gold", default=None, help="gold directory (labels/, articles/, aliases.json)")
    ev.add_argument("--pred", default=None, help="a run's .jsonl output")
    ev.add_argument(
        "--suite", default=None, help="an eval suite (.toml under evals/): runs extraction, scores, applies gates"
    )
    ev.add_argument(
        "--matrix",
        default=None,
        help="an eval matrix (.toml under evals/matrices/): runs every cell, scores, compares with the baseline "
        "cell, applies gates",
    )
    ev.add_argument("--review", default=None, help="--matrix: also write a review site comparing the cells here")
    ev.add_argument("--json", dest="json_out", default=None, help="write the JSON summary here")
    ev.add_argument("--report", default=None, help="write the Markdown report here")
    ev.add_argument("--baseline", default=None, help="a previous JSON summary: show the deltas")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the confidence intervals")
    ev.add_argument("--prices", default=None, help="price table (as for extract run): add the run's cost estimate")
    ev.add_argument(
        "--corpus", default=None, help="the documents the run read, to re-ground its quotes (default: gold articles)"
    )
    ev.add_argument("--id-field", default="id", help="--corpus: the id column")
    ev.add_argument("--text-field", default="text", help="--corpus: the text column")

    # --- events ---
    events = sub.add_parser("events", help="cluster the incidents of runs into events; export ACLED/UCDP/Parquet/HF")
    events.add_argument("runs", nargs="+", help="one or more run files (.jsonl written by extract run)")
    events.add_argument("--out", required=True, help="where to write the events")
    events.add_argument("--format", dest="fmt", default="jsonl", help="jsonl (default), acled, ucdp, parquet or hf")
    events.add_argument("--gold", default=None, help="a gold directory: its alias table and published.json dates")
    events.add_argument("--published", default=None, help='publication dates: {"doc id": {"date": "YYYY-MM-DD"}}')
    events.add_argument("--corpus", default=None, help="the corpus the run was made from, for --date-field")
    events.add_argument("--date-field", default=None, help="the corpus column holding the publication date")
    events.add_argument("--id-field", default="id", help="the corpus id column (default id)")
    events.add_argument("--text-field", default="text", help="the corpus text column (default text)")
    events.add_argument("--aliases", default=None, help="an alias table {name: [variants]} (default: the gold set's)")
    events.add_argument("--quiet", action="store_true", help="no progress bar")
    events.add_argument("--actors", default=None, help='an actor table {"name": "rebel_group"} for ACLED inter codes')

    gold = sub.add_parser("gold", help="gold label tools")
    gold_sub = gold.add_subparsers(dest="gold_command", required=True)
    val = gold_sub.add_parser(
        "validate", help="check gold labels against the schema and every quote against its article"
    )
    val.add_argument("directory")
    agree = gold_sub.add_parser(
        "agree", help="score two annotations of the same articles against each other (per-field F1, Cohen's kappa)"
    )
    agree.add_argument("dir_a", help="a gold directory (labels/, articles/, aliases.json)")
    agree.add_argument("dir_b", help="another annotation of the same articles")
    agree.add_argument("--json", dest="json_out", default=None, help="write the JSON summary here")
    gev = gold_sub.add_parser(
        "events", help="cluster a gold set's incidents and score the events against the incident keys (offline)"
    )
    gev.add_argument("directory", help="a gold directory (labels/; aliases.json and published.json if present)")
    gev.add_argument("--no-aliases", action="store_true", help="leave the set's alias table out")
    gev.add_argument("--json", dest="json_out", default=None, help="write the JSON summary here")

    doc = sub.add_parser("doctor", help="can this machine run the local model? load it and generate a few tokens")
    doc.add_argument("--model", default=None, help="a .gguf path (default: the bundled model)")
    doc.add_argument("--threads", type=int, default=None, help="CPU threads (default: half the cores)")
    doc.add_argument("--adapter", default=None, help="a LoRA adapter .gguf, none, or default (the shipped one)")

    rv = sub.add_parser("review", help="write a static review site: evidence in the article, gold diff, events")
    rv.add_argument("run", help="a run's .jsonl output")
    rv.add_argument("--out", required=True, help="folder for the site (created; an earlier review site is replaced)")
    rv.add_argument("--gold", default=None, help="gold directory: per-field verdicts, and the text of its articles")
    rv.add_argument("--events", default=None, help="an events .jsonl file: adds the events page")
    rv.add_argument(
        "--articles", default=None, help="the corpus given to extract run, for the article text (any format it reads)"
    )
    rv.add_argument("--id-field", default="id", help="--articles: the id column")
    rv.add_argument("--text-field", default="text", help="--articles: the text column")
    rv.add_argument("--page-size", type=int, default=100, help="documents per index page (default 100)")

    # --- train: a LoRA adapter for the local model ---
    tr = sub.add_parser(
        "train", help="train a LoRA adapter for the local model on labelled articles (needs the train extra)"
    )
    tr.add_argument("gold", nargs="*", help="gold folders (articles/ + labels/) to train on")
    tr.add_argument("--out", required=True, help="folder for the adapter, its model card and the checkpoint")
    tr.add_argument("--silver", default=None, help="a run file of any backend to train on (distillation)")
    tr.add_argument("--silver-corpus", default=None, help="the corpus that run file was made from")
    tr.add_argument(
        "--min-grounded", type=float, default=1.0, help="silver: keep records with at least this share grounded (1.0)"
    )
    tr.add_argument("--model", default=None, help="the base .gguf (default: the bundled Gemma 3 270M)")
    tr.add_argument("--epochs", type=int, default=1)
    tr.add_argument("--rank", type=int, default=16, help="LoRA rank (16)")
    tr.add_argument("--alpha", type=float, default=32.0, help="LoRA alpha (32)")
    tr.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (3e-4)")
    tr.add_argument("--grad-accum", type=int, default=4, help="examples per optimizer step (4)")
    tr.add_argument("--max-tokens", type=int, default=2304, help="leave out longer examples (2304 tokens)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--dev-fraction", type=float, default=0.05, help="share of articles held out for development")
    tr.add_argument("--dev-limit", type=int, default=16, help="score at most this many development articles")
    tr.add_argument("--no-dev-eval", action="store_true", help="skip scoring the development set after each epoch")
    tr.add_argument("--limit", type=int, default=None, help="train on at most this many examples")
    tr.add_argument(
        "--per-source", action="append", default=[], metavar="NAME=N", help="at most N articles of source NAME"
    )
    tr.add_argument("--evidence", choices=("quotes", "refs"), default="refs", help="what the adapter learns (refs)")

    # --- scan: text addressed to the model ---
    sc = sub.add_parser("scan", help="list the documents of a corpus that hold text addressed to the model (injection)")
    sc.add_argument("corpus", help="any corpus extract run reads")
    sc.add_argument("--id-field", default="id")
    sc.add_argument("--text-field", default="text")
    sc.add_argument("--split", default="train", help="split of a saved DatasetDict")
    sc.add_argument("--limit", type=int, default=None, help="only the first N documents")
    sn = sub.add_parser("sentences", help="an article as numbered sentences with offsets (what --evidence refs shows)")
    sn.add_argument("file", help="a .txt or .md article")
    sn.add_argument("--max-chars", type=int, default=400, help="cut longer sentences into numbered spans (400)")
    sn.add_argument(
        "--candidates", action="store_true", help="also list the names, numbers and dates --candidates offers"
    )
    sn.add_argument("--json", action="store_true", help="print JSON instead")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from extract.display import RunProgress, make_console, print_incidents, print_summary

    console = make_console()
    shown: list[Any] = []
    progress: list[RunProgress] = []

    def on_start(total: int | None) -> None:
        progress.append(RunProgress(total, not args.quiet and sys.stderr.isatty()).__enter__())

    def on_result(result: Any) -> None:
        progress[0].advance(result)
        if args.show is not False and len(shown) <= 20:
            shown.append(result)

    config = _run_config(args)
    try:
        # Ray shows its own progress bars (config.ray.progress); the local engine reports each record here.
        summary = (
            api.run_corpus(args.corpus, config)
            if config.ray is not None
            else api.run_corpus(args.corpus, config, on_start=on_start, on_result=on_result)
        )
    finally:
        for bar in progress:
            bar.__exit__(None, None, None)
    if args.show or (args.show is None and summary.documents <= 20):
        print_incidents(console, shown)
    print_summary(console, summary, note=api.BUNDLED_NOTE if summary.bundled else None)
    failed = summary.failed + summary.skipped_failed
    if failed and not args.allow_failures:
        earlier = (
            f", {summary.skipped_failed} of them in an earlier run (--retry-failed to try again)"
            if summary.skipped_failed
            else ""
        )
        print(
            f"{failed} document(s) failed{earlier}; see the failure records in {printable(str(summary.out))} "
            "(--allow-failures to exit 0)"
        )
        return EXIT_FAILURES
    return EXIT_OK


# -- the Ray Data engine (extract run --engine ray) ----------------------------------------------------------------


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=ENGINES, default=None, help="local (one process, default) or ray (Ray Data)")
    g.add_argument("--ray-address", default=None, help="ray: a cluster (auto, ray://HOST:10001); default: start one")
    g.add_argument(
        "--actors",
        type=int,
        default=None,
        help=f"ray: backend actors, each with --concurrency in flight (default {api.RayEngine().actors})",
    )
    g.add_argument("--batch-size", type=int, default=None, help="ray: rows per batch (default 4 x --concurrency)")
    g.add_argument(
        "--ray-write",
        choices=("jsonl", "parquet"),
        default=None,
        help="ray: --out is a folder of part files written by Ray's writers, in this format",
    )
    g.add_argument(
        "--transport", choices=("direct", "sdk"), default=None, help="openai backend: how requests are sent (direct)"
    )


def _run_config(args: argparse.Namespace) -> api.RunConfig:
    """The run's configuration, built once from the command line; a flag left out is the configuration's default."""
    ray = args.engine == "ray"
    return api.RunConfig.from_options(
        engine=args.engine, out=args.out, parquet=args.parquet, resume=not args.overwrite,
        retry_failed=args.retry_failed, prices=args.prices,
        id_field=args.id_field, text_field=args.text_field, split=args.split, limit=args.limit,
        backend=args.backend, model=args.model, backend_options=_backend_options(args), prompt=args.prompt,
        evidence=args.evidence, schema_style=args.schema_style, candidates=args.candidates,
        max_retries=args.max_retries, max_chars=args.max_chars, chunk_chars=args.chunk_chars,
        cache=not args.no_cache, cache_dir=args.cache_dir, record=args.record,
        concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm,
        address=args.ray_address, actors=args.actors, batch_size=args.batch_size, write=args.ray_write,
        progress=(not args.quiet and sys.stderr.isatty()) if ray else None,
    )  # fmt: skip


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "base_url": args.base_url,
        "api_key_env": args.api_key_env,
        "mode": args.mode,
        "max_tokens": args.max_tokens,
        "timeout": args.timeout,
        "max_response_bytes": args.max_response_bytes,
        "replay": args.replay,
        "threads": args.threads,
        "transport": getattr(args, "transport", None),
        "chat_format": args.chat_format,
        "adapter": args.adapter,
    }


def _cmd_eval(args: argparse.Namespace) -> int:
    from extract.display import make_console
    from extract.scoring import render_table

    console = make_console()
    if args.matrix:
        return _eval_matrix(args, console)
    if args.suite:
        suite = api.run_suite(args.suite, json_out=args.json_out, report=args.report, baseline=args.baseline)
        console.print(render_table(suite.result))
        for line in suite.failures:
            console.print(f"[red]gate failed[/red]: {escape(line)}")
        if suite.passed:
            console.print(f"[green]all {suite.gates} gate(s) passed[/green] ({escape(suite.path)})")
        return EXIT_OK if suite.passed else EXIT_FAILURES
    if not args.gold or not args.pred:
        raise api.ConfigError("extract eval needs --gold DIR and --pred RUN.jsonl, or --suite FILE")
    result = api.evaluate_run(
        args.gold,
        args.pred,
        json_out=args.json_out,
        report=args.report,
        baseline=args.baseline,
        bootstrap=args.bootstrap,
        prices=args.prices,
        corpus=args.corpus,
        id_field=args.id_field,
        text_field=args.text_field,
    )
    from extract.scoring import load_summary
    from extract.scoring.report import report_warnings

    console.print(escape(api.describe_run(args.pred)))
    for line in report_warnings(result):
        console.print(f"[yellow]warning[/yellow]: {escape(line)}")
    console.print(render_table(result, baseline=load_summary(args.baseline) if args.baseline else None))
    if args.prices:
        console.print(f"Estimated cost of the run: ${api.run_cost(args.pred, args.prices):.4f}")
    return EXIT_OK


def _eval_matrix(args: argparse.Namespace, console: Any) -> int:
    """``extract eval --matrix``: run the cells, then the matrix table, the failed gates and where things went."""
    from extract.scoring.matrix import render_matrix

    def started(name: str, k: int, n: int) -> None:
        console.print(f"cell {k}/{n}: {escape(name)}")

    result = api.run_matrix(
        args.matrix, json_out=args.json_out, report=args.report, review=args.review, bootstrap=args.bootstrap,
        on_cell=started,
    )  # fmt: skip
    console.print(render_matrix(result, console.width))
    for line in result.failures:
        console.print(f"[red]gate failed[/red]: {escape(line)}")
    if result.passed:
        console.print(f"[green]all {result.gates} gate(s) passed[/green] ({escape(result.path)})")
    console.print(f"runs and reports in {escape(result.out)}")
    if args.review:
        console.print(f"review site: {escape(os.path.join(args.review, 'index.html'))}")
    return EXIT_OK if result.passed else EXIT_FAILURES


def _cmd_events(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    show = not args.quiet and sys.stderr.isatty()
    bar = Progress(console=Console(stderr=True), transient=True) if show else None
    task = bar.add_task("clustering", total=None) if bar is not None else None

    def progress(done: int, total: int) -> None:
        if bar is not None and task is not None:
            bar.update(task, completed=done, total=total)

    if bar is not None:
        bar.start()
    try:
        summary = _build_events(args, progress if bar is not None else None)
    finally:
        if bar is not None:
            bar.stop()
    print(
        f"{summary['events']} events from {summary['mentions']} incidents "
        f"({summary['multi_document_events']} reported by several articles, {summary['with_conflicts']} with "
        f"conflicting reports) -> {printable(str(summary['out']))} ({summary['format']})"
    )
    return EXIT_OK


def _build_events(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    return api.build_events_dataset(
        args.runs,
        out=args.out,
        fmt=args.fmt,
        gold=args.gold,
        published=args.published,
        corpus=args.corpus,
        id_field=args.id_field,
        text_field=args.text_field,
        date_field=args.date_field,
        aliases=args.aliases,
        progress=progress,
        actors=args.actors,
    )


def _cmd_gold(args: argparse.Namespace) -> int:
    if args.gold_command == "agree":
        return _cmd_gold_agree(args)
    if args.gold_command == "events":
        return _cmd_gold_events(args)
    problems = api.validate_gold_dir(args.directory)
    for problem in problems:
        print(printable(problem))
    if problems:
        print(printable(f"{len(problems)} problem(s) in {args.directory}"))
        return EXIT_FAILURES
    print(printable(f"{args.directory}: gold labels valid"))
    return EXIT_OK


def _cmd_gold_events(args: argparse.Namespace) -> int:
    scores = api.gold_events_scores(args.directory, aliases=not args.no_aliases, json_out=args.json_out)
    print(
        f"{printable(args.directory)}: {scores.predicted_events} events for {scores.gold_events} incident keys "
        f"({'without' if args.no_aliases else 'with'} the alias table; publication dates for "
        f"{scores.published_dates} documents)"
    )
    for label, s in (("events", scores.gold_input), ("one event per incident", scores.gold_input_baseline)):
        print(
            f"{label}: MUC P/R/F1 {s.muc.precision:.3f}/{s.muc.recall:.3f}/{s.muc.f1:.3f}  B3 F1 {s.b3.f1:.3f}  "
            f"CEAF-e F1 {s.ceafe.f1:.3f}  CoNLL F1 {s.conll_f1:.3f}"
        )
    return EXIT_OK


def _cmd_doctor(args: argparse.Namespace) -> int:
    report = api.doctor(args.model, threads=args.threads, **({"adapter": args.adapter} if args.adapter else {}))
    print(printable(report.one_line()))
    return EXIT_OK if report.ok else EXIT_FAILURES


def _cmd_gold_agree(args: argparse.Namespace) -> int:
    from extract.display import make_console
    from extract.scoring.agreement import render_agreement

    make_console().print(render_agreement(api.gold_agreement(args.dir_a, args.dir_b, json_out=args.json_out)))
    return EXIT_OK


def _cmd_review(args: argparse.Namespace) -> int:
    site = api.build_review(
        args.run,
        args.out,
        gold=args.gold,
        events=args.events,
        articles=args.articles,
        id_field=args.id_field,
        text_field=args.text_field,
        page_size=args.page_size,
    )
    for warning in site.warnings:
        print(f"warning: {printable(warning)}", file=sys.stderr)
    print(
        f"Review site: {printable(str(site.index))} ({site.documents} documents, {site.events} events, "
        f"{site.files} files, {site.bytes / 1e6:.1f} MB, {site.seconds:.1f} s)"
    )
    return EXIT_OK


def _cmd_scan(args: argparse.Namespace) -> int:
    from extract.display import make_console

    console = make_console()
    counted: list[int] = []
    found = api.scan_injection(
        args.corpus,
        id_field=args.id_field,
        text_field=args.text_field,
        split=args.split,
        limit=args.limit,
        on_document=lambda: counted.append(1),
    )
    for doc_id, hits in found:
        rules = ", ".join(sorted({hit.rule for hit in hits}))
        console.print(f"[bold]{escape(doc_id)}[/bold]  {escape(rules)}: {escape(repr(hits[0].excerpt))}")
    console.print(f"{len(found)} of {len(counted)} document(s) hold text addressed to the model")
    return EXIT_FAILURES if found else EXIT_OK


def _secrets(args: argparse.Namespace) -> list[str]:
    """What this command must never print: the API key, URL credentials, and a key given where a name goes."""
    name = getattr(args, "api_key_env", None) or "OPENAI_API_KEY"
    found = [os.environ.get(name, "") if name.isidentifier() else name]
    return [s for s in found + url_secrets(getattr(args, "base_url", None)) if s]


def _cmd_sentences(args: argparse.Namespace) -> int:
    import json

    view = api.article_sentences(args.file, max_chars=args.max_chars)
    if args.json:
        print(json.dumps(view.as_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK
    for s in view.sentences:
        print(f"[{s.number}] {s.start}-{s.end}  {printable(' '.join(s.text.split()))}")
    if args.candidates:
        print(f"names ({len(view.candidates.names)}): {printable('; '.join(view.candidates.names))}")
        print(f"numbers ({len(view.candidates.numbers)}): {', '.join(map(str, view.candidates.numbers))}")
        print(f"dates ({len(view.candidates.dates)}): {printable('; '.join(view.candidates.dates))}")
    return EXIT_OK


def _one_line_warnings(original: Callable[..., None]) -> Callable[..., None]:
    """Show the package's warnings as one line on stderr (a damaged cache entry is a miss, not a traceback)."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ExtractWarning):
            print(f"extract: warning: {printable(str(message))}", file=sys.stderr)
        else:
            original(message, category, *args, **kwargs)

    return show


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from extract.display import make_console
    from extract.training.lora import TrainOptions
    from extract.training.run import Source, train_adapter

    console = make_console()
    sources = [Source(Path(g)) for g in args.gold]
    if args.silver:
        if not args.silver_corpus:
            raise api.ConfigError("--silver needs --silver-corpus, the corpus the run was made from")
        sources.append(Source(Path(args.silver), "silver", Path(args.silver_corpus), min_grounded=args.min_grounded))
    if not sources:
        raise api.ConfigError("nothing to train on", hint="give gold folders, or --silver RUN --silver-corpus CORPUS")
    limits: dict[str, int] = {}
    for item in args.per_source:
        name, _, count = item.partition("=")
        if not count.isdigit():
            raise api.ConfigError(f"--per-source {item!r}: expected NAME=N")
        limits[name] = int(count)
    options = TrainOptions(
        rank=args.rank, alpha=args.alpha, learning_rate=args.lr, epochs=args.epochs, grad_accum=args.grad_accum,
        max_tokens=args.max_tokens, seed=args.seed,
    )  # fmt: skip
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
    ) as bar:  # fmt: skip
        task = bar.add_task("training", total=None, loss="-")

        def on_progress(progress: Any, total: int, loss: float) -> None:
            recent = progress.losses[-1] if progress.losses else loss
            bar.update(task, completed=progress.seen, total=total, loss=f"{recent:.3f}")

        report = train_adapter(
            sources, args.out, base_model=args.model, options=options, serving={"evidence": args.evidence},
            dev_fraction=args.dev_fraction, dev_limit=args.dev_limit, train_limit=args.limit,
            per_source_limit=limits or None, on_progress=on_progress, on_stage=lambda s: console.print(escape(s)),
            evaluate_dev=not args.no_dev_eval,
        )  # fmt: skip
    console.print(f"adapter: {escape(str(report.adapter))}  model card: {escape(str(report.card))}")
    for epoch in report.dev:
        figures = ", ".join(f"{k} {v}" for k, v in epoch.items() if k not in ("epoch", "adapter"))
        console.print(f"epoch {epoch['epoch']}: {escape(figures)}")
    return EXIT_OK


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that it unwinds as Ctrl-C does and removes its temporary outputs."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    raise _Terminated


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While a command runs, SIGTERM unwinds it like Ctrl-C; the handler found is put back when it ends.

    Left alone off the main thread (only it can take signals) and when SIGTERM is ignored (nohup-like parents).
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    handlers = {
        "run": _cmd_run,
        "eval": _cmd_eval,
        "gold": _cmd_gold,
        "doctor": _cmd_doctor,
        "events": _cmd_events,
        "review": _cmd_review,
        "scan": _cmd_scan,
        "sentences": _cmd_sentences,
        "train": _cmd_train,
    }
    secrets = _secrets(args)
    try:
        with redacting_logs(secrets), warnings.catch_warnings(), _sigterm_unwinds():  # each restores what it changed
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            return handlers[args.command](args)
    except ExtractError as exc:
        print(f"extract: error: {printable(redact(exc.one_line(), secrets))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        # A run (and training) resumes from what it wrote; every other command writes its output whole or not at all.
        then = (
            "run the same command again to resume" if args.command in RESUMABLE else "no output was left half-written"
        )
        terminated = isinstance(exc, _Terminated)
        print(f"extract: {'terminated' if terminated else 'interrupted'}; {then}", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
