"""A partner on the JVM reads Liaison's messages with stock Apache Avro and the .avsc files."""

import base64
import datetime as dt
import json
import random
import shutil
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastavro.utils import generate_many

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT, RELEASED_DIR, SCHEMA_DIR, TOP_LEVEL, SchemaStore
from liaison.settings import load_settings

pytestmark = pytest.mark.integration

JAVA_DIR = Path(__file__).parents[1] / "interop" / "java"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def java_reader(tmp_path_factory) -> list[str]:
    """Compile LiaisonDecode.java against Avro from Maven Central; return the java command."""
    libs = load_settings({}).cache_dir / "interop-java" / "libs"
    if not any(libs.glob("avro-*.jar")):
        subprocess.run(
            [
                "mvn",
                "--batch-mode",
                "--quiet",
                "--file",
                str(JAVA_DIR / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
            ],
            check=True,
            timeout=900,
        )
    classes = tmp_path_factory.mktemp("java-classes")
    subprocess.run(
        ["javac", "-d", str(classes), "-cp", f"{libs}/*", str(JAVA_DIR / "LiaisonDecode.java")],
        check=True,
        timeout=300,
    )
    return ["java", "-cp", f"{classes}:{libs}/*", "LiaisonDecode"]


def _samples(codec: AvroCodec, count: int, seed: int | str) -> list[dict[str, Any]]:
    """Random values of every branch of the schema, with money within its declared precision.

    fastavro's generator fills decimals with random bytes, beyond decimal(18,2);
    the codec itself refuses such Decimals.
    """
    random.seed(seed)
    values = list(generate_many(codec.reader.parsed, count))

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            if set(node) == {"amount", "currency"}:
                cents = random.randint(-(10**15), 10**15)  # noqa: S311 - test data
                node["amount"] = Decimal(cents).scaleb(-2)
            for item in node.values():
                fix(item)
        elif isinstance(node, list):
            for item in node:
                fix(item)

    fix(values)
    return values


def _as_json(value: Any) -> Any:
    """Python's decoded value in the JSON form the Java program prints."""
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return _leaf_as_json(value)


def _leaf_as_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        # Exact integer milliseconds: float seconds * 1000 can be one off.
        return (value - _EPOCH) // dt.timedelta(milliseconds=1)
    if isinstance(value, dt.date | uuid.UUID):
        return str(value)
    return value


def _run(java_reader, name, directories, messages, tmp_path) -> list[Any]:
    files = []
    for index, data in enumerate(messages):
        path = tmp_path / f"{index:04d}.bin"
        path.write_bytes(data)
        files.append(str(path))
    result = subprocess.run(
        [*java_reader, name, *map(str, directories), "--", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_java_decodes_what_liaison_wrote_field_by_field(java_reader, name, tmp_path):
    codec = AvroCodec(name)
    messages = [codec.encode(value) for value in _samples(codec, 40, name)]
    decoded = [_as_json(codec.decode(data)) for data in messages]
    from_java = _run(java_reader, name, [SCHEMA_DIR], messages, tmp_path)
    assert len(from_java) == len(decoded)
    for ours, theirs in zip(decoded, from_java, strict=True):
        assert theirs == ours


def test_java_reads_messages_of_a_released_version_as_the_current_one(java_reader, tmp_path):
    old = AvroCodec(
        EVENT, SchemaStore(current_dir=RELEASED_DIR / "1", released_dir=None, names=[EVENT])
    )
    messages = [old.encode(value) for value in _samples(old, 40, 1)]
    decoded = [_as_json(AvroCodec(EVENT).decode(data)) for data in messages]
    from_java = _run(java_reader, EVENT, [SCHEMA_DIR, RELEASED_DIR / "1"], messages, tmp_path)
    assert from_java == decoded
    seizures = [e for e in from_java if "cover_story" in e["payload"]]
    assert seizures, "the sample holds no seizure"
    assert all(e["payload"]["cover_story"] is None for e in seizures)


def test_java_needs_nothing_but_the_published_files(java_reader, tmp_path):
    published = tmp_path / "published"
    shutil.copytree(SCHEMA_DIR, published, ignore=shutil.ignore_patterns("*.md"))
    codec = AvroCodec(EVENT)
    (message,) = (codec.encode(value) for value in _samples(codec, 1, 2))
    (theirs,) = _run(java_reader, EVENT, [published], [message], tmp_path)
    assert theirs == _as_json(codec.decode(message))
