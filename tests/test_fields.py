"""Fields are declared once, in the schema; grounding, scoring and the console walk the declarations."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from extract.core.fields import (
    Compare,
    Family,
    Spec,
    evidenced_values,
    family_of_path,
    fields_of,
    has_evidence,
    scored_fields,
)
from extract.core.schema import (
    Aircraft,
    Casualty,
    DateInfo,
    Incident,
    Location,
    Perpetrator,
    Quote,
    Source,
    Weapon,
    _Model,
)
from extract.scoring.incidents import COMPOSITES, FIELDS, SUBFIELDS


def _models(root: type[BaseModel]) -> set[type[BaseModel]]:
    seen = {root}
    for info in fields_of(root):
        if info.model is not None and info.model not in seen:
            seen |= _models(info.model)
    return seen


def test_every_field_of_the_schema_says_how_it_is_scored_or_why_not() -> None:
    for model in _models(Incident):
        for info in fields_of(model):  # raises for a field without a Spec
            assert info.scored or info.spec.excluded, f"{model.__name__}.{info.name}"
            if info.scored and model is not Incident:
                assert info.spec.compare is not None, f"{model.__name__}.{info.name} is scored but compares nothing"


def test_a_field_without_a_declaration_is_refused() -> None:
    class Careless(Incident):
        vehicle: str | None = Field(default=None, description="A vehicle.")

    with pytest.raises(TypeError, match=r"Careless.vehicle declares no Spec"):
        fields_of(Careless)


def test_scoring_tables_are_the_declarations() -> None:
    assert tuple(f.name for f in fields_of(Incident) if f.scored) == FIELDS
    for field, parts in COMPOSITES.items():
        model = next(f.model for f in fields_of(Incident) if f.name == field)
        assert model is not None
        assert [p.name for p in parts] == [f.name for f in scored_fields(model)]
        assert [p.weight for p in parts] == [f.spec.weight for f in scored_fields(model)]
    assert "casualties.count" in SUBFIELDS and "casualties.qualifier" not in SUBFIELDS


def _full_incident() -> Incident:
    return Incident(
        type="air_strike",
        quote="Jets struck the town",
        summary="Jets struck the town.",
        date=DateInfo(text="Monday", precision="day", quote="on Monday"),
        location=Location(place="Kafr Nabl", quote="the town of Kafr Nabl"),
        aircraft=[Aircraft(model="Su-24", category="fixed_wing", quote="an Su-24")],
        perpetrators=[Perpetrator(name="air force", status="accused", quote="the air force")],
        weapon=Weapon(text="bombs", category="aerial_bomb", quote="dropped bombs"),
        casualties=[Casualty(kind="killed", count=3, qualifier="exact", quote="killing three")],
        sources=[Source(name="a monitor", kind="monitor", quote="a monitor said")],
    )


def test_every_value_with_a_quote_is_grounded() -> None:
    incident = _full_incident()
    paths = {path for path, _ in evidenced_values(incident, "incidents[0]")}
    with_quote = {f.name for f in fields_of(Incident) if f.model is not None and has_evidence(f.model)}
    assert {p.split(".")[1].split("[")[0] for p in paths if "." in p} == with_quote
    assert "incidents[0]" in paths and "incidents[0].casualties[0]" in paths


def test_a_new_field_is_grounded_and_shown_without_another_edit() -> None:
    class Vehicle(_Model):
        kind: Annotated[str, Spec(Compare.NAME, weight=1)] = Field(description="What vehicle.")
        quote: Quote

        def show(self) -> str:
            return self.kind

    class WithVehicles(Incident):
        vehicles: Annotated[list[Vehicle], Spec(family=Family.WEAPON)] = Field(default_factory=list)

    base = _full_incident().model_dump()
    incident = WithVehicles(**base, vehicles=[Vehicle(kind="tank", quote="a tank")])
    assert ("incidents[0].vehicles[0]", "a tank") in evidenced_values(incident, "incidents[0]")
    assert [f.name for f in scored_fields(WithVehicles)][-1] == "vehicles"
    assert family_of_path(WithVehicles, "incidents[0].vehicles[0]") is Family.WEAPON


@pytest.mark.parametrize(
    ("path", "family"),
    [
        pytest.param("incidents[0]", Family.INCIDENT, id="incident"),
        pytest.param("incidents[2].location", Family.PLACE, id="location"),
        pytest.param("incidents[0].perpetrators[1]", Family.ACTOR, id="perpetrator"),
        pytest.param("incidents[0].casualties[0]", Family.CASUALTIES, id="casualty"),
        pytest.param("incidents[0].sources[0]", Family.SOURCE, id="source"),
    ],
)
def test_an_evidence_path_names_its_family(path: str, family: Family) -> None:
    assert family_of_path(Incident, path) is family


def test_the_declarations_do_not_reach_the_model() -> None:
    schema = str(Incident.model_json_schema())
    assert "Spec(" not in schema and "excluded" not in schema and "weight" not in schema
