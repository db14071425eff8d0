"""docs/interfaces.md: every example a national system might copy is read by the code the
connectors run, and is accepted."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from connectors.cen.format import read_export
from connectors.cen.xmlexport import read_xml_export
from connectors.cisplus import format as cisplus
from connectors.openapi import DOCUMENT as OPENAPI
from connectors.openapi import rendered
from connectors.police import format as police
from liaison.model.customs import Seizure
from liaison.validation import validate

DOC = Path(__file__).resolve().parents[2] / "docs" / "interfaces.md"
INGEST = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def examples() -> dict[str, str]:
    found = re.findall(r"<!-- example: ([\w-]+) -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    return dict(found)


def test_the_document_has_every_example(examples):
    assert set(examples) == {
        "cen-seizures-csv",
        "cen-persons-csv",
        "cen-xml",
        "cisplus-json",
        "police-json",
    }


def test_the_cen_examples_are_accepted_and_carry_the_same_seizure(examples):
    (from_csv,) = read_export(
        examples["cen-seizures-csv"], examples["cen-persons-csv"], ingest_time=INGEST
    )
    (from_xml,) = read_xml_export(examples["cen-xml"], ingest_time=INGEST)
    for result in (from_csv, from_xml):
        assert result.error is None
        assert result.event is not None
        assert validate(result.event) == []
    assert from_csv.event == from_xml.event
    assert from_csv.event is not None
    seizure = from_csv.event.payload
    assert isinstance(seizure, Seizure)
    assert len(seizure.persons) == 1


@pytest.mark.parametrize(("name", "fmt"), [("cisplus-json", cisplus), ("police-json", police)])
def test_the_json_examples_are_accepted(examples, name, fmt):
    event = fmt.event_of(json.loads(examples[name]), ingest_time=INGEST)
    assert validate(event) == []


def _openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
    return document


def test_the_openapi_document_is_what_the_code_gives():
    assert OPENAPI.read_text() == rendered(), "run `liaison connector openapi`"


@pytest.mark.parametrize(
    ("name", "body"), [("cisplus-json", "CisRecordBody"), ("police-json", "PoliceAlertBody")]
)
def test_the_json_examples_are_valid_under_the_openapi_schemas(examples, name, body):
    document = _openapi()
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{body}", "components": document["components"]}
    )
    example = json.loads(examples[name])
    assert list(validator.iter_errors(example)) == []
    # And the schema is no blank cheque: a field the code refuses, it refuses too.
    assert list(validator.iter_errors({**example, "surplus": 1}))
    assert list(validator.iter_errors({k: v for k, v in example.items() if k != "version"}))
