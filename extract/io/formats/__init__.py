"""One module per corpus format; :mod:`extract.io.corpus` holds the registry that picks one.

Each module's opener takes ``(path, display, fields, split)``, checks what
concerns the whole source (raising :class:`~extract.core.errors.InputError`),
and returns a :class:`~extract.io.rows.Source` that reads it lazily.
"""
