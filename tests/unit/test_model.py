import dataclasses
import json
import random
import typing
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

import pytest
from fastavro.utils import generate_many

from liaison.avro.codec import AvroCodec
from liaison.avro.store import SCHEMA_DIR, TOP_LEVEL
from liaison.model import MODEL_TYPES, avro_name, from_avro, to_avro
from liaison.model.common import (
    DataSubjectCategory,
    Envelope,
    EvaluationCodes,
    Event,
    HandlingConditions,
    InformationAccuracy,
    Lineage,
    Operation,
    Organisation,
    Person,
    SienaHandlingCode,
    SourceReliability,
    SourceSystem,
    TlpLevel,
)
from liaison.model.customs import (
    CommodityArea,
    Conveyance,
    DetectionMethod,
    MonetaryAmount,
    Place,
    Quantity,
    QuantityUnit,
    Route,
    Seizure,
    TransportMode,
)

SCHEMAS = {p.stem: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.avsc")}


def test_one_model_type_per_schema():
    assert set(MODEL_TYPES) == set(SCHEMAS)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_model_type_matches_its_schema(name):
    schema, cls = SCHEMAS[name], MODEL_TYPES[name]
    assert avro_name(cls) == name
    if schema["type"] == "enum":
        assert issubclass(cls, StrEnum)
        assert [m.value for m in cls] == schema["symbols"]
        return
    model_fields = {f.name: f for f in dataclasses.fields(cls)}
    assert list(model_fields) == [f["name"] for f in schema["fields"]]
    hints = typing.get_type_hints(
        cls,
        globalns={c.__name__: c for c in MODEL_TYPES.values()}
        | {"date": date, "datetime": datetime, "Decimal": Decimal, "UUID": uuid.UUID},
    )
    for field in schema["fields"]:
        model_field = model_fields[field["name"]]
        has_default = model_field.default is not dataclasses.MISSING
        assert has_default == ("default" in field), f"{name}.{field['name']}"
        nullable = isinstance(field["type"], list) and "null" in field["type"]
        allows_none = type(None) in typing.get_args(hints[field["name"]])
        assert nullable == allows_none, f"{name}.{field['name']}"


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_plain_values_survive_the_typed_form(name):
    random.seed(name)
    codec = AvroCodec(name)
    cls = MODEL_TYPES[name]
    for value in generate_many(codec.reader.parsed, 100):
        plain = codec.decode(codec.encode(value))  # logical types now typed
        typed: object = from_avro(cls, plain)
        assert codec.encode(to_avro(typed)) == codec.encode(plain)
        assert from_avro(cls, codec.decode(codec.encode(to_avro(typed)))) == typed


def realistic_seizure() -> Event:
    return Event(
        envelope=Envelope(
            event_id=uuid.UUID("6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f"),
            source_system=SourceSystem.NCEN,
            source_record_id="NL-NCEN-2026-004711",
            version=2,
            operation=Operation.CORRECTION,
            reporting_country="NL",
            reporting_agency="NL Customs, Rotterdam port team",
            event_time=datetime(2026, 11, 20, 6, 15, tzinfo=UTC),
            report_time=datetime(2026, 11, 20, 9, 2, 30, tzinfo=UTC),
            ingest_time=datetime(2026, 11, 20, 9, 2, 31, 250000, tzinfo=UTC),
            handling=HandlingConditions(
                handling_code=SienaHandlingCode.H2,
                tlp=TlpLevel.AMBER,
                releasable_to=("BE-CUSTOMS", "EUROPOL"),
                purpose="prevention and detection of drug trafficking",
                legal_basis="Regulation (EC) 515/97",
                review_date=date(2027, 11, 20),
            ),
            evaluation=EvaluationCodes(
                source_reliability=SourceReliability.B,
                information_accuracy=InformationAccuracy.ACCURACY_2,
            ),
            data_subject_categories=(DataSubjectCategory.SUSPECT,),
            lineage=Lineage(
                source_topic="liaison.ingest.cen", source_partition=3, source_offset=991
            ),
        ),
        payload=Seizure(
            commodity_description="cocaine hydrochloride in bricks",
            hs_code="293999",
            commodity_area=CommodityArea.DRUGS,
            quantity=Quantity(amount=412.5, unit=QuantityUnit.KGM),
            estimated_value=MonetaryAmount(amount=Decimal("12375000.00"), currency="EUR"),
            concealment="mixed into banana cargo",
            cover_story="declared as fresh bananas",
            detection_method=DetectionMethod.XRAY_SCANNER,
            transport_mode=TransportMode.MARITIME,
            conveyance=Conveyance(imo_number="9321483", container_numbers=("MSKU9070323",)),
            place=Place(unlocode="NLRTM", customs_office="NL000396"),
            route=Route(origin_country="EC", transit_countries=("PA",), destination_country="NL"),
            persons=(
                Person(
                    category=DataSubjectCategory.SUSPECT,
                    role="consignee",
                    family_name="Quandry",
                    given_names="Testa Imaginé",
                    date_of_birth=date(1984, 2, 29),
                ),
            ),
            organisations=(
                Organisation(name="Fictive Fruit Imports BV", country="NL", role="importer"),
            ),
        ),
    )


def test_a_typed_event_round_trips_exactly():
    codec = AvroCodec("liaison.common.Event")
    event = realistic_seizure()
    assert from_avro(Event, codec.decode(codec.encode(to_avro(event)))) == event


def test_a_payload_is_read_back_as_its_own_type():
    codec = AvroCodec("liaison.common.Event")
    event = from_avro(Event, codec.decode(codec.encode(to_avro(realistic_seizure()))))
    assert isinstance(event.payload, Seizure)
    assert event.payload.quantity.unit is QuantityUnit.KGM
