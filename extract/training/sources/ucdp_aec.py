"""UCDP-AEC articles: the rows of ``test.jsonl`` and ``validation.jsonl``, and the article texts behind our labels.

Each line of those files is one UCDP event together with one news article that reports it
(``id`` is the UCDP event id, ``source_article`` the text; the other fields are UCDP's
coding). The UCDP labels are CC BY 4.0, but the article texts are their publishers', so
the project commits only its own labels: a label ``aec-<split>-<line>.json`` points at line
``<line>`` (1-based) of ``<split>.jsonl``, and :func:`rebuild_articles` writes the texts
back from a copy of the two files::

    python -m extract.training.sources.ucdp_aec rebuild SOURCE_DIR GOLD_DIR
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extract.core.errors import InputError

SPLITS = ("test", "validation")

#: A document id that points into the dataset: ``aec-<split>-<line>``, the line zero-padded to 4.
DOCUMENT_ID = re.compile(r"^aec-(?P<split>test|validation)-(?P<line>\d{4,})$")
#: A gold key that names the UCDP event it codes: ``aec-<UCDP event id>-<slug>``.
_EVENT_KEY = re.compile(r"^aec-(?P<event>\d+)-")

_TEXT_FIELDS = (
    "source_date",
    "side_a_name",
    "side_b_name",
    "location_root_name",
    "location_adm1_name",
    "location_adm2_name",
    "location_where_name",
    "start_date",
    "end_date",
)
_COUNT_FIELDS = (
    "deaths_side_a",
    "deaths_side_b",
    "deaths_civilian",
    "deaths_unknown",
    "deaths_low",
    "deaths_high",
)


@dataclass(frozen=True)
class Row:
    """One line of a UCDP-AEC file: a UCDP event and one article that reports it."""

    line: int
    id: int
    source_article: str
    source_date: str = ""
    deaths_side_a: int = 0
    deaths_side_b: int = 0
    deaths_civilian: int = 0
    deaths_unknown: int = 0
    deaths_low: int = 0
    deaths_high: int = 0
    side_a_name: str = ""
    side_b_name: str = ""
    location_root_name: str = ""
    location_adm1_name: str = ""
    location_adm2_name: str = ""
    location_where_name: str = ""
    start_date: str = ""
    end_date: str = ""


def document_id(split: str, line_number: int) -> str:
    """The id of the document at ``line_number`` (1-based) of ``<split>.jsonl``: ``aec-validation-0007``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if line_number < 1:
        raise ValueError(f"line numbers start at 1, got {line_number}")
    return f"aec-{split}-{line_number:04d}"


def _row(data: Any, line: int) -> Row:
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    event = data.get("id")
    if not isinstance(event, int) or isinstance(event, bool):
        raise ValueError(f"'id' must be a whole number (the UCDP event id), got {event!r}")
    article = data.get("source_article")
    if not isinstance(article, str):
        raise ValueError(f"'source_article' must be a string, got {type(article).__name__}")
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValueError(f"{name!r} must be a string, got {value!r}")
        values[name] = value
    for name in _COUNT_FIELDS:
        value = data.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name!r} must be a whole number, got {value!r}")
        values[name] = value
    return Row(line=line, id=event, source_article=article, **values)


def load_rows(path: str | Path) -> list[Row]:
    """The rows of one UCDP-AEC jsonl file, in file order; blank lines are skipped but still counted.

    Raises :class:`InputError` naming ``file:line`` for the first malformed line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: cannot be read: {exc}", hint="give the folder holding test.jsonl and validation.jsonl"
        ) from None
    rows: list[Row] = []
    # Split on newlines only: an article may contain U+2028 and similar, which str.splitlines() would split on.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append(_row(json.loads(line), number))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}:{number}: not valid JSON: {exc.msg}", hint="the file must hold one JSON object a line"
            ) from None
        except ValueError as exc:
            raise InputError(f"{path}:{number}: {exc}", hint="the file must hold one UCDP-AEC row a line") from None
    return rows


def _label_event_ids(label: Path) -> set[int]:
    try:
        data = json.loads(label.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{label}: cannot be read as JSON: {exc}", hint="fix the label file") from None
    incidents = data.get("incidents") if isinstance(data, dict) else None
    found: set[int] = set()
    for incident in incidents if isinstance(incidents, list) else []:
        key = incident.get("key") if isinstance(incident, dict) else None
        match = _EVENT_KEY.match(key) if isinstance(key, str) else None
        if match:
            found.add(int(match.group("event")))
    return found


def rebuild_articles(source_dir: str | Path, gold_dir: str | Path) -> int:
    """Write ``gold_dir/articles/<id>.txt`` for every ``gold_dir/labels/<id>.json`` whose id is ``aec-<split>-<line>``.

    The text is the row's ``source_article``, exactly, in UTF-8. A label whose key names a
    UCDP event (``aec-<event id>-...``) must point at a row of that event, so that a copy of
    the files in another order is refused instead of giving labels the wrong texts.
    Returns the number of articles written.
    """
    source, gold = Path(source_dir), Path(gold_dir)
    labels_dir = gold / "labels"
    if not labels_dir.is_dir():
        raise InputError(f"{gold}: no labels/ folder", hint="give the gold directory that holds labels/*.json")
    wanted: list[tuple[Path, str, int]] = []
    for label in sorted(labels_dir.glob("*.json")):
        match = DOCUMENT_ID.match(label.stem)
        if match:
            wanted.append((label, match.group("split"), int(match.group("line"))))
    rows: dict[str, dict[int, Row]] = {}
    for split in sorted({split for _, split, _ in wanted}):
        path = source / f"{split}.jsonl"
        if not path.is_file():
            raise InputError(f"{path}: missing", hint=f"put the UCDP-AEC {split}.jsonl in {source}")
        rows[split] = {row.line: row for row in load_rows(path)}
    articles = gold / "articles"
    articles.mkdir(parents=True, exist_ok=True)
    for label, split, line in wanted:
        row = rows[split].get(line)
        if row is None:
            raise InputError(
                f"{label}: {split}.jsonl has no row at line {line}",
                hint="use the dataset's own test.jsonl and validation.jsonl",
            )
        events = _label_event_ids(label)
        if events and row.id not in events:
            raise InputError(
                f"{label}: line {line} of {split}.jsonl is UCDP event {row.id}, but the label codes event "
                f"{', '.join(str(e) for e in sorted(events))}",
                hint="the jsonl files are not the ones the labels were made from",
            )
        with open(articles / f"{label.stem}.txt", "w", encoding="utf-8", newline="") as out:
            out.write(row.source_article)
    return len(wanted)


def main(argv: list[str] | None = None) -> int:
    """``python -m extract.training.sources.ucdp_aec rebuild SOURCE_DIR GOLD_DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m extract.training.sources.ucdp_aec", description="UCDP-AEC articles for the project's labels."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser(
        "rebuild",
        help="write GOLD_DIR/articles/<id>.txt for each aec-<split>-<line> label, from the dataset's jsonl files",
    )
    rebuild.add_argument("source_dir", metavar="SOURCE_DIR", help="folder holding test.jsonl and validation.jsonl")
    rebuild.add_argument("gold_dir", metavar="GOLD_DIR", help="folder holding labels/ (articles/ is written)")
    args = parser.parse_args(argv)
    try:
        written = rebuild_articles(args.source_dir, args.gold_dir)
    except InputError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    print(f"wrote {written} article(s) to {Path(args.gold_dir) / 'articles'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
