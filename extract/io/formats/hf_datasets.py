"""Hugging Face datasets: a ``save_to_disk`` folder, or a ``datasets`` object passed in Python.

``datasets`` is imported only here, when such a source is opened. Loading a saved
dataset never touches the network, so nothing is set in the environment; its
progress bars and logging are silenced during the load only (they would break the
command line's own progress display) and restored after, as the caller had them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from extract.core.errors import InputError
from extract.io.rows import Fields, Source, batch_rows, check_columns, first_line, iter_rows, refuse_split


def is_saved_dataset(path: Path) -> bool:
    """Whether a folder was written by ``save_to_disk`` (a dataset or a dataset dict)."""
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def is_datasets_object(value: Any) -> bool:
    """Whether ``value`` comes from the ``datasets`` package, without importing it."""
    return type(value).__module__.split(".", 1)[0] == "datasets"


def open_saved(path: Path, display: str, fields: Fields, split: str) -> Source:
    """A ``save_to_disk`` folder, streamed from its Arrow files a batch at a time."""
    datasets = _datasets()
    try:
        with _quiet_datasets():
            loaded = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise InputError(f"{display}: cannot load the saved dataset ({first_line(exc)}); check the folder") from None
    ds = _checked_dataset(loaded, display, fields, split)
    files = [entry["filename"] for entry in ds.cache_files]
    if not files:
        return _dataset_source(ds, display, fields)
    # load_from_disk memory-maps the Arrow files, and every page touched while
    # iterating stays in the process's resident memory until the dataset is dropped,
    # so resident memory would grow with the corpus. Reading the same files as Arrow
    # streams frees each batch once it is used. (save_to_disk applies any index
    # mapping, so the files hold the rows in order.)
    stem = Path(display).name  # as given: the path itself may have been made absolute
    read = lambda: iter_rows(batch_rows(_arrow_stream_batches(files)), display, stem, fields)  # noqa: E731
    return Source("dataset", read, count=len(ds))


def open_dataset(ds: Any, display: str, fields: Fields, split: str) -> Source:
    """An in-memory ``Dataset``, ``IterableDataset`` or dataset dict (``split`` picks from a dict)."""
    return _dataset_source(_checked_dataset(ds, display, fields, split), display, fields)


def _arrow_stream_batches(files: list[str]) -> Iterator[Any]:
    import pyarrow as pa

    for name in files:
        with pa.OSFile(name) as fh:
            yield from pa.ipc.open_stream(fh)


def _checked_dataset(ds: Any, display: str, fields: Fields, split: str) -> Any:
    """The chosen split of a dataset, after checking it has the columns its records must have."""
    datasets = _datasets()
    if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split not in ds:
            names = ", ".join(ds) or "none"
            raise InputError(f"{display}: no split {split!r} (splits: {names}); choose one with --split")
        ds = ds[split]
    else:
        refuse_split(display, split, "a Dataset (not a DatasetDict)")
    columns = ds.column_names
    if columns is None:  # an IterableDataset that does not know its columns until read
        first = next(iter(ds), None)
        columns = list(first) if first is not None else None
    if columns is not None:
        check_columns(display, columns, fields)
    features = getattr(ds, "features", None)
    if features is not None and fields.text in features:
        text_feature = features[fields.text]
        if isinstance(text_feature, datasets.Value) and text_feature.dtype not in ("string", "large_string", "null"):
            raise InputError(
                f"{display}: column {fields.text!r} holds {text_feature.dtype}, not text; "
                "choose another with --text-field"
            )
    return ds


def _dataset_source(ds: Any, display: str, fields: Fields) -> Source:
    count = len(ds) if isinstance(ds, _datasets().Dataset) else None
    stem = Path(display).name if display != "<dataset>" else "dataset"
    return Source("dataset", lambda: iter_rows(ds, display, stem, fields), count=count)


def _datasets() -> ModuleType:
    import datasets

    return datasets


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets``' progress bars and logging for the block, then restore them as they were."""
    datasets = _datasets()
    bars_were_on = datasets.is_progress_bar_enabled()
    verbosity = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # failures are reported as InputError instead
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if bars_were_on:
            datasets.enable_progress_bars()
