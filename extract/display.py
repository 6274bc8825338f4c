"""What a person sees on the terminal: the progress bar, the run summary, the incidents."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from extract.core.records import Alignment, DocumentResult, Status
from extract.runner import RunSummary

console = Console(highlight=False)


class RunProgress:
    """A progress bar on stderr: documents done, documents per second, tokens."""

    def __init__(self, total: int | None, enabled: bool):
        self.enabled = enabled
        self.tokens = 0
        self.failed = 0
        self._progress = Progress(
            TextColumn("[bold]extract"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} doc/s"),
            TextColumn("{task.fields[tokens]} tok"),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task("run", total=total, rate="0.00", tokens=0, failed=0)

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def advance(self, result: DocumentResult) -> None:
        self.tokens += result.usage.total_tokens
        self.failed += result.status is Status.FAILED
        task = self._progress.tasks[0]
        elapsed = task.elapsed or 0.0
        done = task.completed + 1
        rate = f"{done / elapsed:.2f}" if elapsed > 0 else "-"
        self._progress.update(self._task, advance=1, rate=rate, tokens=self.tokens, failed=self.failed)


def print_summary(summary: RunSummary, note: str | None = None) -> None:
    table = Table(title="Run summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("backend / model", f"{summary.backend} / {summary.model}"),
        ("documents", f"{summary.documents}" + (f" (+{summary.skipped} already done)" if summary.skipped else "")),
        ("ok / partial / failed", f"{summary.ok} / {summary.partial} / {summary.failed}"),
        ("incidents", str(summary.incidents)),
        ("rejected incidents", str(summary.rejected)),
        ("model requests", str(summary.usage.requests)),
        ("tokens in / out", f"{summary.usage.prompt_tokens:,} / {summary.usage.completion_tokens:,}"),
        ("answered from cache", str(summary.cached)),
        ("wall time", f"{summary.seconds:.1f} s ({summary.docs_per_second:.2f} doc/s)"),
    ]
    if summary.cost is not None:
        rows.append(("estimated cost", f"${summary.cost:.4f}"))
    for reason, count in sorted(summary.failures.items()):
        rows.append((f"failed: {reason}", str(count)))
    rows.append(("output", summary.out))
    for what, value in rows:
        table.add_row(what, value)
    console.print(table)
    if note:
        console.print(note)


def _grounded(result: DocumentResult, k: int) -> str:
    spans = [e for e in result.evidence if e.path == f"incidents[{k}]" or e.path.startswith(f"incidents[{k}].")]
    found = sum(1 for e in spans if e.alignment is not Alignment.NOT_FOUND)
    return f"{found}/{len(spans)}"


def print_incidents(results: Iterable[DocumentResult]) -> None:
    """One table per document: what the model returned, and how many of its quotes are in the article."""
    for result in results:
        if result.status is Status.FAILED:
            reason = result.failure.reason if result.failure else "?"
            message = result.failure.message if result.failure else ""
            console.print(f"[bold]{result.id}[/bold]: [red]failed[/red] ({reason}): {message}")
            continue
        title = f"{result.id}: {len(result.incidents)} incident(s)" + (
            f", {len(result.rejected)} rejected" if result.rejected else ""
        )
        if not result.incidents:
            console.print(f"[bold]{title}[/bold]")
            continue
        table = Table(title=title, title_justify="left", show_lines=False)
        for name in ("type", "where", "when", "aircraft", "perpetrators", "casualties", "quotes found"):
            table.add_column(name, overflow="fold")
        for k, incident in enumerate(result.incidents):
            loc = incident.location
            where = ", ".join(x for x in (loc.place, loc.near and f"near {loc.near}", loc.admin1, loc.country) if x) if loc else ""
            table.add_row(
                ("* " if incident.primary else "") + incident.type.value,
                where,
                incident.date.text if incident.date else "",
                "; ".join(" ".join(x for x in (a.operator, a.model or a.category.value) if x) for a in incident.aircraft),
                "; ".join(f"{p.name} ({p.status.value})" for p in incident.perpetrators),
                "; ".join(f"{c.kind.value} {c.qualifier.value} {c.count} {c.who or ''}".strip() for c in incident.casualties),
                _grounded(result, k),
            )
        console.print(table)
