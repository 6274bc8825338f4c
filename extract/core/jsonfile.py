"""Small JSON tables the user hands in (an alias table, an actor table, publication dates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from extract.core.errors import InputError


def read_json_object(path: str | Path, what: str, shape: str) -> dict[str, Any]:
    """The JSON object in ``path``; an :class:`InputError` of one line naming the file (and the line) when it
    cannot be read, is not UTF-8, is not JSON, or is not an object. ``what`` names the table in those messages
    ("the alias table"), ``shape`` says what it should look like."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{p}: cannot read {what} ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: {what} is not UTF-8 text (byte {exc.start})", hint="save it as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}:{exc.lineno}: {what} is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: {what} must be a JSON object {shape}")
    return data
