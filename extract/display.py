"""What a person sees on the terminal: the progress bar, the run summary, the incidents.

Only the command line prints; it makes its console with :func:`make_console` and hands it
to these functions. The library itself prints nothing.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from extract.core.fields import scored_fields
from extract.core.injection import INJECTION_FLAG
from extract.core.records import Alignment, DocumentResult, Status
from extract.core.schema import Incident
from extract.runner import RunSummary

#: The Unicode categories a terminal acts on or lays out instead of showing as they are: controls (Cc: C0 but
#: tab and newline, DEL, C1), format characters (Cf: the bidi embeddings, overrides and isolates U+202A-U+202E
#: and U+2066-U+2069 that reorder what follows them, the marks U+200E/U+200F and U+061C, zero-width spaces,
#: the byte order mark), lone surrogates (Cs, which cannot even be encoded) and the line and paragraph
#: separators (Zl, Zp).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Format characters that are part of spelling, not layout: the zero-width non-joiner and joiner, written
#: inside Persian and Indic words and emoji, are shown as they are.
_SPELLING = frozenset("\u200c\u200d")
#: Every character that may be unsafe: everything but printable ASCII, tab and newline (the rest is looked up).
_MAYBE_UNSAFE = re.compile(r"[^\t\n\x20-\x7e]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SPELLING or unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every control and format character written as an escape (``\\x1b``, ``\\u202e``).

    Ids, article text, model output and file names come from outside; an escape sequence in them would
    otherwise reach the terminal and act (a hyperlink (OSC 8), a cleared screen, a new window title), and a
    bidi override would show the rest of the line reversed, so that what is read is not what is there.
    Everything the command line prints passes through here (its console does it for every string).
    """
    return _MAYBE_UNSAFE.sub(_escape, text)


class _Console(Console):
    """A console that prints every string through :func:`printable`, markup or not."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)


def make_console() -> Console:
    """The command line's console on stdout."""
    # Wide enough for the summary when stdout is a file or a pipe (rich would assume 80 columns).
    return _Console(highlight=False, width=None if sys.stdout.isatty() else 120)


class RunProgress:
    """A progress bar on stderr: documents done, documents per second, tokens."""

    def __init__(self, total: int | None, enabled: bool):
        self.enabled = enabled
        self.tokens = 0
        self.failed = 0
        # Not even built when disabled: a disabled rich Progress still writes a newline on exit.
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]extract"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} doc/s"),
                TextColumn("{task.fields[tokens]} tok"),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=Console(file=sys.stderr),
                transient=False,
            )
            self._task = self._progress.add_task("run", total=total, rate="0.00", tokens=0, failed=0)

    def __enter__(self) -> RunProgress:
        if self._progress is not None:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def advance(self, result: DocumentResult) -> None:
        self.tokens += result.usage.total_tokens
        self.failed += result.status is Status.FAILED
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        elapsed = task.elapsed or 0.0
        done = task.completed + 1
        rate = f"{done / elapsed:.2f}" if elapsed > 0 else "-"
        self._progress.update(self._task, advance=1, rate=rate, tokens=self.tokens, failed=self.failed)


def print_summary(console: Console, summary: RunSummary, note: str | None = None) -> None:
    table = Table(title="Run summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("backend / model", f"{summary.backend} / {summary.model}"),
        (
            "documents",
            f"{summary.documents}" + (f" (+{summary.skipped} already in the output)" if summary.skipped else ""),
        ),
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
    if summary.injection_suspected:
        rows.append(("injection suspected (see flags)", str(summary.injection_suspected)))
    for reason, count in sorted(summary.failures.items()):
        rows.append((f"failed: {reason}", str(count)))
    rows.append(("output", summary.out))
    if summary.parquet:
        rows.append(("parquet", summary.parquet))
    for what, value in rows:
        # Ids, model names, paths and failure reasons come from outside: shown as text, never as markup.
        table.add_row(escape(what), escape(value))
    console.print(table)
    if note:
        console.print(note)


def _grounded(result: DocumentResult, k: int) -> str:
    spans = [e for e in result.evidence if e.path == f"incidents[{k}]" or e.path.startswith(f"incidents[{k}].")]
    found = sum(1 for e in spans if e.alignment is not Alignment.NOT_FOUND)
    return f"{found}/{len(spans)}"


def _unsupported(result: DocumentResult, k: int) -> str:
    """The checked values of incident ``k`` that its evidence does not state, as one line."""
    spans = [e for e in result.evidence if e.path == f"incidents[{k}]" or e.path.startswith(f"incidents[{k}].")]
    return "; ".join(f"{c.field} {c.value!r}" for e in spans for c in e.checks if not c.supported)


def print_incidents(console: Console, results: Iterable[DocumentResult]) -> None:
    """Per document: what the model returned, and how many of its quotes are in the article."""
    for result in results:
        if result.status is Status.FAILED:
            reason = result.failure.reason if result.failure else "?"
            message = result.failure.message if result.failure else ""
            console.print(f"[bold]{escape(result.id)}[/bold]  [red]failed[/red] ({escape(reason)}): {escape(message)}")
            continue
        extra = f", {len(result.rejected)} rejected by validation" if result.rejected else ""
        flag = "  [yellow]injection suspected[/yellow]" if INJECTION_FLAG in result.flags else ""
        console.print(f"[bold]{escape(result.id)}[/bold]  {len(result.incidents)} incident(s){extra}{flag}")
        for k, incident in enumerate(result.incidents):
            where = incident.location.show() if incident.location else "place not given"
            when = incident.date.text if incident.date else "date not given"
            mark = "*" if incident.primary else "-"
            console.print(f"  {mark} [cyan]{incident.type.value}[/cyan]  {escape(where)} · {escape(when)}")
            parts = [f"{label}: {text}" for label, text in _details(incident)]
            if parts:
                console.print("      " + escape(" · ".join(parts)))
            console.print(
                f"      quotes found in the article: {_grounded(result, k)}   “{escape(_clip(incident.quote))}”"
            )
            unsupported = _unsupported(result, k)
            if unsupported:
                console.print(f"      [yellow]not stated in their evidence[/yellow]: {escape(unsupported)}")


#: Shown on the headline of an incident, not among its details.
_HEADLINE = ("type", "date", "location", "primary")


def _details(incident: Incident) -> list[tuple[str, str]]:
    """(label, text) for every filled value field past the headline, walking the field declarations."""
    out = []
    for info in scored_fields(Incident):
        if info.name in _HEADLINE or info.model is None:
            continue
        value = getattr(incident, info.name)
        items = value if info.is_list else [value] if value is not None else []
        if items:
            out.append((info.label, "; ".join(item.show() for item in items)))
    return out


def _clip(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
