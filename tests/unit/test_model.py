import dataclasses
import json
import random
import typing
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import pytest
from fastavro.utils import generate_many

from liaison.avro.codec import AvroCodec
from liaison.avro.store import SCHEMA_DIR, TOP_LEVEL
from liaison.identity import record_key
from liaison.model import MODEL_TYPES, avro_name, from_avro, to_avro
from liaison.model.common import (
    Event,
)
from liaison.model.customs import (
    QuantityUnit,
    Seizure,
)
from pipelines.records import outcome_key
from stack.synthetic.generator import TrafficGenerator
from tests.samples import realistic_seizure

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


def test_a_typed_event_round_trips_exactly():
    codec = AvroCodec("liaison.common.Event")
    event = realistic_seizure()
    assert from_avro(Event, codec.decode(codec.encode(to_avro(event)))) == event


def test_a_payload_is_read_back_as_its_own_type():
    codec = AvroCodec("liaison.common.Event")
    event = from_avro(Event, codec.decode(codec.encode(to_avro(realistic_seizure()))))
    assert isinstance(event.payload, Seizure)
    assert event.payload.quantity.unit is QuantityUnit.KGM


def test_one_record_key_for_ingest_records_stage_state_and_outcomes():
    for record in TrafficGenerator(seed=3).take(200):
        if record.event is None:
            continue
        envelope = record.event.envelope
        key = record_key(record.event)
        assert key == f"{envelope.source_system.value}:{envelope.source_record_id}"
        assert record.key == key.encode()  # what the generator produces with
        assert outcome_key(record.event) == key.encode()
