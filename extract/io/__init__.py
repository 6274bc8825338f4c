"""Reading corpora and writing run output.

:func:`open_corpus` turns a folder, a file or a dataset into a lazy stream of
documents; :class:`RunWriter` appends one JSON line per result, and the readers
next to it resume, collect and export a run file.
"""

from extract.io.corpus import BadDocument, Corpus, CorpusItem, open_corpus
from extract.io.output import (
    RunWriter,
    completed_ids,
    export_parquet,
    read_run,
    repair_run,
    results_by_id,
    run_state,
)

__all__ = [
    "BadDocument",
    "Corpus",
    "CorpusItem",
    "RunWriter",
    "completed_ids",
    "export_parquet",
    "open_corpus",
    "read_run",
    "repair_run",
    "results_by_id",
    "run_state",
]
