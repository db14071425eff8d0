"""Rules every schema file in schemas/avro must follow."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import load_schema

from liaison.avro.store import SCHEMA_DIR, TOP_LEVEL

FILES = sorted(SCHEMA_DIR.glob("*.avsc"))
RAW = {path.stem: json.loads(path.read_text()) for path in FILES}
NAMESPACES = {"liaison.common", "liaison.customs", "liaison.police", "liaison.exchange"}
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def full_name(name: str, namespace: str) -> str:
    return name if "." in name else f"{namespace}.{name}"


def walk_types(schema: Any, namespace: str):
    """Every type expression inside ``schema`` (inline definitions included)."""
    yield schema
    if isinstance(schema, list):
        for branch in schema:
            yield from walk_types(branch, namespace)
    elif isinstance(schema, dict):
        namespace = schema.get("namespace", namespace)
        if schema.get("type") == "record":
            for field in schema["fields"]:
                yield from walk_types(field["type"], namespace)
        elif schema.get("type") == "array":
            yield from walk_types(schema["items"], namespace)
        elif schema.get("type") == "map":
            yield from walk_types(schema["values"], namespace)


def referenced_names(schema: Any, namespace: str) -> set[str]:
    return {
        full_name(t, namespace)
        for t in walk_types(schema, namespace)
        if isinstance(t, str) and t not in PRIMITIVES
    }


def test_there_is_one_file_per_named_type_named_after_it():
    assert FILES, SCHEMA_DIR
    for stem, schema in RAW.items():
        assert schema["namespace"] in NAMESPACES, stem
        assert full_name(schema["name"], schema["namespace"]) == stem


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_schema_parses_with_its_references(path: Path):
    load_schema(str(path), _write_hint=False)


def test_top_level_types_exist():
    assert set(TOP_LEVEL) <= set(RAW)


def test_every_type_and_field_is_documented():
    for stem, schema in RAW.items():
        assert schema.get("doc", "").strip(), stem
        for field in schema.get("fields", []):
            assert field.get("doc", "").strip(), f"{stem}.{field['name']}"


def test_no_type_refers_to_itself_even_indirectly():
    edges = {stem: referenced_names(schema, schema["namespace"]) for stem, schema in RAW.items()}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for name in edges.get(start, ()):
            if name == target or (name not in seen and reaches(name, target, seen | {name})):
                return True
        return False

    for stem in RAW:
        assert not reaches(stem, stem, {stem}), f"{stem} is recursive"


def _zero_width(item: Any, namespace: str) -> bool:
    """A type whose values can encode to no bytes at all: null, or a record of nothing."""
    if item == "null":
        return True
    if isinstance(item, list):
        return any(_zero_width(branch, namespace) for branch in item)
    if isinstance(item, str) and item not in PRIMITIVES:
        named = RAW[full_name(item, namespace)]
        return named["type"] == "record" and not named["fields"]
    return isinstance(item, dict) and item.get("type") == "record" and not item["fields"]


def test_no_array_or_map_can_hold_zero_width_items():
    # A hostile message could declare billions of such items in a few bytes.
    for stem, schema in RAW.items():
        for t in walk_types(schema, schema["namespace"]):
            if isinstance(t, dict) and t.get("type") in ("array", "map"):
                items = t.get("items", t.get("values"))
                assert not _zero_width(items, schema["namespace"]), stem


def test_personal_fields_are_marked_and_strippable():
    marked = []
    for stem, schema in RAW.items():
        for field in schema.get("fields", []):
            if field.get("pii") is True:
                marked.append(f"{stem}.{field['name']}")
                # Stripping sets the default, so it must say "nothing here".
                assert field.get("default", "missing") in (None, []), f"{stem}.{field['name']}"
    person = RAW["liaison.common.Person"]
    identifying = {"family_name", "given_names", "date_of_birth", "document_number", "nationality"}
    assert identifying <= {f["name"] for f in person["fields"] if f.get("pii")}
    for payload in (
        "liaison.customs.Seizure",
        "liaison.customs.CisRecord",
        "liaison.police.PoliceAlert",
    ):
        assert f"{payload}.persons" in marked
    # The data-subject category is what entitlement is checked against: never stripped.
    assert not next(f for f in person["fields"] if f["name"] == "category").get("pii")


def test_every_field_holding_a_person_is_marked_personal():
    for stem, schema in RAW.items():
        for field in schema.get("fields", []):
            names = referenced_names(field["type"], schema["namespace"])
            if "liaison.common.Person" in names:
                assert field.get("pii") is True, f"{stem}.{field['name']}"
