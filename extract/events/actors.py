"""Actor types and ACLED's ``inter`` codes, from an actor table and the gazetteer's countries.

The records name actors (perpetrators, an aircraft's operator) but not what kind of actor
they are, and a model's guess is no evidence. So an actor's type comes only from:

1. **An actor table** the user gives (``--actors FILE``): ``{"name": "type"}``, where a
   type is one of :class:`ActorType`'s values (``rebel_group``) or ACLED's inter code
   (``2``). Names are matched after the shared normalisation and the alias table, so
   "Hayat Tahrir al-Sham" finds an entry written "Tahrir al-Sham" when the aliases say so.
2. **A country's name.** An actor named exactly as a country ("Russia", "Syria") is that
   state's forces: ACLED's code 1 (State Forces) in its own country, 8 (External/Other
   Forces: "state forces active outside their main country of operation") elsewhere.
   "Russian Air Force" is not a country's name, and is left to the table.

Anything else is left empty, never guessed. ``interaction`` follows ACLED: the two codes,
lower first ("12"); an event with one actor and no second gets the code followed by 0
("20"); when the second actor exists but its type is unknown, it stays empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import IntEnum
from pathlib import Path

from extract.core.errors import InputError
from extract.core.jsonfile import read_json_object
from extract.scoring.normalize import AliasIndex, name_keys


class ActorType(IntEnum):
    """ACLED's actor types; the value is the ``inter`` code."""

    STATE_FORCES = 1
    REBEL_GROUP = 2
    POLITICAL_MILITIA = 3
    IDENTITY_MILITIA = 4
    RIOTERS = 5
    PROTESTERS = 6
    CIVILIANS = 7
    EXTERNAL_OTHER_FORCES = 8

    @property
    def label(self) -> str:
        return self.name.lower()


def _parse_type(value: object) -> ActorType | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return ActorType(value) if value in ActorType._value2member_map_ else None
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "_").replace("-", "_").replace("/", "_")
        if text.isdigit():
            return _parse_type(int(text))
        return next((t for t in ActorType if t.label == text), None)
    return None


class ActorTable:
    """Actor names with their types; looked up by normalised name and alias."""

    def __init__(
        self,
        types: Mapping[str, ActorType] | None = None,
        aliases: AliasIndex | None = None,
        country_of: Callable[[str], str | None] | None = None,
    ):
        self.aliases = aliases or AliasIndex()
        #: Resolves a name to an ISO alpha-2 code when it is a country's name (the gazetteer's lookup).
        self.country_of = country_of
        self._by_key: dict[str, ActorType] = {}
        for name, kind in (types or {}).items():
            for variant in self.aliases.expand([name]):
                for key in name_keys(variant):
                    self._by_key.setdefault(key, kind)

    @classmethod
    def load(
        cls,
        path: str | Path,
        aliases: AliasIndex | None = None,
        country_of: Callable[[str], str | None] | None = None,
    ) -> ActorTable:
        """Read ``{"name": "type or inter code"}``; a bad entry raises :class:`InputError` naming it."""
        p = Path(path)
        raw = read_json_object(p, "the actor table", "{name: type}")
        types = {}
        for name, value in raw.items():
            kind = _parse_type(value)
            if kind is None:
                choices = ", ".join(t.label for t in ActorType)
                raise InputError(f"{p}: actor {name!r} has type {value!r}; use one of {choices} or an inter code 1-8")
            types[name] = kind
        return cls(types, aliases, country_of)

    def type_of(self, name: str | None, event_country: str | None) -> ActorType | None:
        """The type of a named actor in an event in ``event_country`` (ISO alpha-2), or None."""
        if not name:
            return None
        for variant in self.aliases.expand([name]):
            for key in name_keys(variant):
                if key in self._by_key:
                    return self._by_key[key]
        if self.country_of is not None:
            state = self.country_of(name)
            if state is not None and event_country:
                return ActorType.STATE_FORCES if state == event_country else ActorType.EXTERNAL_OTHER_FORCES
        return None


def interaction(inter1: ActorType | None, inter2: ActorType | None, has_actor2: bool) -> str:
    """ACLED's interaction code: both inter codes, lower first; a lone actor's code and 0."""
    if inter1 is None:
        return ""
    if not has_actor2:
        return f"{inter1.value}0"
    if inter2 is None:
        return ""
    low, high = sorted((inter1.value, inter2.value))
    return f"{low}{high}"
