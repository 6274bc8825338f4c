"""Which field family an evidence span belongs to, from its path.

The review page colours every span by family. The family is read off the span's
``path`` (``incidents[0].location`` -> place) through the field declarations
(:mod:`extract.core.fields`): a new field gets its family where it is declared.
"""

from __future__ import annotations

import re

from extract.core.fields import Family, fields_of
from extract.core.schema import Incident


def _declared_families() -> dict[str, str]:
    out = {"": Family.INCIDENT.value}  # the empty name is the incident's own quote
    for info in fields_of(Incident):
        if info.spec.family is not None and info.model is not None:  # the fields that carry evidence
            out[info.name] = info.spec.family.value
    return out


#: Incident field -> family shown on the review page, from the declarations.
FAMILY_OF_FIELD: dict[str, str] = _declared_families()

#: Families in legend order, with the label the page shows.
FAMILY_LABELS: dict[str, str] = {
    "place": "place",
    "actor": "actor",
    "aircraft": "aircraft",
    "weapon": "weapon",
    "casualties": "casualties",
    "date": "date",
    "source": "source",
    "incident": "incident sentence",
    "other": "other",
}

# A field of the schema that this table does not know yet still gets shown, as "other".
OTHER = "other"

_PATH = re.compile(r"^incidents\[(\d+)\](?:\.([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?)?$")


def parse_path(path: str) -> tuple[int, str, int | None] | None:
    """``incidents[2].aircraft[1]`` -> (2, "aircraft", 1); ``incidents[0]`` -> (0, "", None); None if unknown."""
    match = _PATH.match(path)
    if match is None:
        return None
    incident, field, item = match.groups()
    return int(incident), field or "", None if item is None else int(item)


def family_of_field(field: str) -> str:
    return FAMILY_OF_FIELD.get(field, OTHER)


def family(path: str) -> str:
    """The family of an evidence path; ``other`` for a path this table does not know."""
    parsed = parse_path(path)
    return OTHER if parsed is None else family_of_field(parsed[1])
