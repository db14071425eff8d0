"""Schema changes must stay backward compatible with every released version."""

import json
import shutil

import pytest

from liaison.avro.evolution import evolution_problems
from liaison.avro.store import RELEASED_DIR, SCHEMA_DIR


def test_current_schemas_read_every_released_version():
    assert sorted(p.name for p in RELEASED_DIR.iterdir() if p.is_dir()), "no release recorded"
    assert evolution_problems() == []


def test_release_one_lacks_the_field_added_since():
    # The compatible change that proves the check: Seizure.cover_story, optional, added later.
    def fields(directory):
        schema = json.loads((directory / "liaison.customs.Seizure.avsc").read_text())
        return {f["name"]: f for f in schema["fields"]}

    assert "cover_story" not in fields(RELEASED_DIR / "1")
    added = fields(SCHEMA_DIR)["cover_story"]
    assert added["default"] is None


@pytest.fixture
def incompatible(tmp_path):
    """The current schemas with three breaking changes, each of a different kind."""
    directory = tmp_path / "avro"
    shutil.copytree(SCHEMA_DIR, directory)

    def edit(name, change):
        path = directory / f"{name}.avsc"
        schema = json.loads(path.read_text())
        change(schema)
        path.write_text(json.dumps(schema))

    # A new field without a default: old seizures have no value for it.
    edit(
        "liaison.customs.Seizure",
        lambda s: s["fields"].append(
            {"name": "seal_number", "type": "string", "doc": "Seal on the container."}
        ),
    )
    # A symbol removed from an enum with no default: old records may hold it.
    edit("liaison.customs.CisCategory", lambda s: s["symbols"].remove("FRAUD_TRENDS"))
    # A type narrowed: long cannot be read as int.
    edit(
        "liaison.common.Envelope",
        lambda s: next(f for f in s["fields"] if f["name"] == "version").update(type="int"),
    )
    return directory


def test_breaking_changes_are_caught_with_the_field_that_broke(incompatible):
    problems = evolution_problems(current_dir=incompatible)
    text = "\n".join(problems)
    assert (
        "Event.payload<record liaison.customs.Seizure>.seal_number: new field without a default"
        in text
    )
    assert "dropped symbol(s) FRAUD_TRENDS" in text
    assert "Event.envelope.version: was long, now int" in text
    # Each break is caught against every release, and says which.
    for release in ("1", "2"):
        mine = [p for p in problems if p.startswith(f"against release {release}: ")]
        assert any("seal_number" in p for p in mine), release
        assert any("FRAUD_TRENDS" in p for p in mine), release
    assert all(p.startswith(("against release 1: ", "against release 2: ")) for p in problems)


def test_widening_a_type_is_allowed(tmp_path):
    directory = tmp_path / "avro"
    shutil.copytree(SCHEMA_DIR, directory)
    # Lineage.source_partition, int in release 1, widened to long.
    lineage = directory / "liaison.common.Lineage.avsc"
    lin = json.loads(lineage.read_text())
    next(f for f in lin["fields"] if f["name"] == "source_partition")["type"] = ["null", "long"]
    lineage.write_text(json.dumps(lin))
    assert evolution_problems(current_dir=directory) == []


def test_release_two_holds_the_lawful_disclosure_additions_and_one_does_not():
    # Release 2: the submitter in the envelope, restriction notices and receipts, firearm
    # serials and object ids on customs records; all optional, so release 1 still reads.
    def names(directory):
        return {p.stem for p in directory.glob("*.avsc")}

    def fields(directory, name):
        schema = json.loads((directory / f"{name}.avsc").read_text())
        return {f["name"] for f in schema["fields"]}

    one, two = RELEASED_DIR / "1", RELEASED_DIR / "2"
    added = {"liaison.exchange.RestrictionNotice", "liaison.exchange.DeliveryReceipt"}
    assert added <= names(two)
    assert not added & names(one)
    assert "submitted_by" in fields(two, "liaison.common.Envelope")
    assert "submitted_by" not in fields(one, "liaison.common.Envelope")
    for name in ("liaison.customs.Seizure", "liaison.customs.CisItem"):
        assert {"firearm_serials", "object_ids"} <= fields(two, name)
        assert not {"firearm_serials", "object_ids"} & fields(one, name)
    assert names(two) == names(SCHEMA_DIR)
