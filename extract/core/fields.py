"""What the code knows about each field of the schema, declared once, next to the field.

A field of :mod:`extract.core.schema` carries a :class:`Spec` in its annotation::

    place: Annotated[OptionalName, Spec(Compare.NAME, weight=3)] = Field(...)

Grounding, scoring, the reports and the console walk these declarations (through
:func:`fields_of`, :func:`scored_fields`, :func:`parts_of` and :func:`evidenced_values`)
instead of listing field names again, so a new field is one edit here in the schema.
A field that is not scored says why (``Spec(excluded="...")``); a test fails for a field
that does neither.

How a field is scored follows from its type and its spec:

* a scalar (``type``, ``primary``) is one slot, compared by its ``compare``;
* a model compared whole (``date``: ``Compare.DATE``) is one slot;
* any other model (``location``, ``weapon``) is a *composite*: one slot judged on its
  sub-fields, each with its own spec and weight;
* a list of models (``aircraft``, ``perpetrators``...) is one slot per item, items aligned
  one-to-one and judged like composites. An item may pair only where its ``key``
  sub-fields are not wrong (or, with no key, where some weight is earned).

Nothing here knows how comparing is done: that is the evaluation code's business.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, get_args, get_origin

from pydantic import BaseModel


class Compare(StrEnum):
    """How a value is compared with a gold value."""

    #: Names and places: normalised, transliterations folded, aliases and alternatives accepted.
    NAME = "name"
    #: One of a fixed set of values.
    ENUM = "enum"
    #: A count with its qualifier (at least, more than, about, a range): the item is compared whole.
    COUNT = "count"
    #: A date as written and its ISO form: the date object is compared whole.
    DATE = "date"
    #: True or false, where false is the empty value (only a set flag is a slot).
    FLAG = "flag"


class Family(StrEnum):
    """Which kind of fact a field holds: the colour it is shown in, the group it is reported in."""

    INCIDENT = "incident"
    DATE = "date"
    PLACE = "place"
    AIRCRAFT = "aircraft"
    ACTOR = "actor"
    WEAPON = "weapon"
    CASUALTIES = "casualties"
    SOURCE = "source"


class ClaimPart(StrEnum):
    """Which part of a reported value a sub-field is, when several reports of one incident are kept side by side."""

    #: What is reported (names are grouped across spellings).
    VALUE = "value"
    #: How the report attributes it (claimed, accused...).
    STATUS = "status"
    #: Its category; it stands for the value when the value is not given.
    CATEGORY = "category"


@dataclass(frozen=True)
class Claims:
    """A value that reports of one incident may give differently: every version is kept as a claim.

    The claims go into the list named ``into``, one per distinct value (and status or category),
    each naming the reports behind it. Reports *conflict* on it when their claims differ in the
    parts ``on``; the disagreement is reported as ``conflict`` (empty: several values are no
    conflict, as with several sources).
    """

    into: str
    conflict: str = ""
    on: tuple[ClaimPart, ...] = (ClaimPart.VALUE,)


@dataclass(frozen=True)
class Spec:
    """The declaration of one field: how it is compared, how much it weighs, how it is shown."""

    compare: Compare | None = None
    #: Weight inside a composite or list item (how much of the item this sub-field decides).
    weight: float = 1.0
    #: Sub-fields marked key decide whether two list items may be paired at all.
    key: bool = False
    family: Family | None = None
    #: A short label for the console ("by" for perpetrators); the field name when empty.
    label: str = ""
    #: Why the field is not scored, for a field that is not. Empty for scored fields.
    excluded: str = ""
    #: Reports of one incident may give this value differently: each version is kept as a claim.
    claims: Claims | None = None
    #: Which part of its parent's claim this sub-field is.
    claim: ClaimPart | None = None
    #: Whether the value is checked against its evidence text (``extract.core.support``): by
    #: default names and counts are; True or False overrides that for this field.
    checked: bool | None = None
    #: A proper name the article writes out (a place, a group, an aircraft model): a grammar-constrained
    #: backend may be given the article's own names to choose from (``extract.core.candidates``).
    proper: bool = False
    #: A date phrase the article writes ("Saturday", "March 3"): offered from the article's own date phrases.
    dated: bool = False
    #: Free text in the model's own words (a summary). Strict candidate mode does not ask for it: the
    #: record carries the text of the sentences the incident cites instead.
    prose: bool = False
    #: Generic words that qualify a name without naming anything else ("Idlib countryside", "the town
    #: of Saraqib"): left out on both sides when the name is compared (see :data:`PLACE_QUALIFIERS`).
    qualifiers: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.excluded and self.compare is not None:
            raise ValueError("a field is either compared or excluded, not both")


#: Words that say what kind of place a name is, not which: "Idlib countryside" and "Idlib province" are
#: the gold's "Idlib", "Saraqib town" its "Saraqeb". Declared on the place fields of the schema.
PLACE_QUALIFIERS = frozenset(
    {"countryside", "province", "governorate", "region", "district", "town", "city", "village", "outskirts"}
)

#: The spec of a sub-model field whose model is scored some other way (given by the parent).
SCORED_BY_PARENT = "compared as part of its parent value"
SCORED_WITH_COUNT = "compared with the count (its qualifier and range)"


@dataclass(frozen=True)
class FieldInfo:
    """One field of a model, with what its declaration and its type say."""

    name: str
    spec: Spec
    #: The model of the value (or of each item) when the field holds models, else None.
    model: type[BaseModel] | None
    is_list: bool
    optional: bool

    @property
    def scored(self) -> bool:
        return not self.spec.excluded

    @property
    def composite(self) -> bool:
        """Judged on its sub-fields (a model that is not compared whole)."""
        return self.model is not None and self.spec.compare is None

    @property
    def label(self) -> str:
        return self.spec.label or self.name.replace("_", " ")


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool, bool]:
    """(model, is a list, may be None) for a field annotation."""
    optional = False
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _model_of(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) == 1:
            model, is_list, _ = _model_of(args[0])
            return model, is_list, optional
        return None, False, optional
    if origin is list:
        model, _, _ = _model_of(get_args(annotation)[0])
        return model, True, False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False, False
    return None, False, False


@cache
def fields_of(model: type[BaseModel]) -> tuple[FieldInfo, ...]:
    """Every field of a schema model with its declaration, in schema order.

    Raises ``TypeError`` for a field without a :class:`Spec`: every field must say how it is
    scored or why it is not.
    """
    out = []
    for name, info in model.model_fields.items():
        specs = [m for m in info.metadata if isinstance(m, Spec)]
        if not specs:
            raise TypeError(f"{model.__name__}.{name} declares no Spec: say how it is scored, or why it is not")
        sub, is_list, _ = _model_of(info.annotation)
        optional = not info.is_required()
        out.append(FieldInfo(name, specs[-1], sub, is_list, optional))
    return tuple(out)


def field_of(model: type[BaseModel], name: str) -> FieldInfo:
    for info in fields_of(model):
        if info.name == name:
            return info
    raise KeyError(f"{model.__name__} has no field {name!r}")


def scored_fields(model: type[BaseModel]) -> tuple[FieldInfo, ...]:
    """The fields of ``model`` that are scored, in report order (schema order)."""
    return tuple(f for f in fields_of(model) if f.scored)


def parts_of(model: type[BaseModel]) -> tuple[FieldInfo, ...]:
    """The scored sub-fields of a composite or list-item model."""
    return scored_fields(model)


def has_evidence(model: type[BaseModel]) -> bool:
    """Whether values of this model carry a ``quote`` of their own."""
    return "quote" in model.model_fields


def evidenced_values(value: BaseModel, prefix: str = "incident") -> list[tuple[str, str]]:
    """Every (path, quote) pair of a value and of its parts that carry evidence, in schema order.

    Paths look like ``incidents[0].location`` or ``incidents[0].casualties[1]``. Grounding and
    the grounding rate count these units: one per quote-bearing object.
    """
    return [(path, part.quote) for path, part in evidenced_objects(value, prefix)]  # type: ignore[attr-defined]


def evidenced_objects(value: BaseModel, prefix: str = "incident") -> list[tuple[str, BaseModel]]:
    """Every (path, object) of a value and of its parts that carry evidence, in schema order."""
    out: list[tuple[str, BaseModel]] = []
    if has_evidence(type(value)):
        out.append((prefix, value))
    for info in fields_of(type(value)):
        if info.model is None:
            continue
        for path, part in _values(value, info, prefix):
            out.extend(evidenced_objects(part, path))
    return out


def _values(value: BaseModel, info: FieldInfo, prefix: str) -> Iterator[tuple[str, BaseModel]]:
    held = getattr(value, info.name)
    if info.is_list:
        for k, item in enumerate(held):
            yield f"{prefix}.{info.name}[{k}]", item
    elif held is not None:
        yield f"{prefix}.{info.name}", held


def family_of_path(root: type[BaseModel], path: str, root_family: Family = Family.INCIDENT) -> Family:
    """The family of the value an evidence path points to (``incidents[0].location`` -> place)."""
    model: type[BaseModel] | None = root
    family = root_family
    for step in path.split(".")[1:]:
        if model is None:
            return family
        name = step.split("[", 1)[0]
        try:
            info = field_of(model, name)
        except KeyError:
            return family
        family = info.spec.family or family
        model = info.model
    return family
