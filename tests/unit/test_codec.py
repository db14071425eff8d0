import contextlib
import random
import shutil
import struct
import uuid

import pytest
from fastavro.utils import generate_many

from liaison.avro.codec import HEADER_BYTES, MARKER, AvroCodec
from liaison.avro.store import (
    DEAD_LETTER_SCHEMA,
    EVENT,
    RELEASED_DIR,
    SCHEMA_DIR,
    TOP_LEVEL,
    SchemaStore,
)
from liaison.errors import (
    BadMarkerError,
    EncodeError,
    InvalidMessageError,
    MessageTooLargeError,
    SerdeError,
    TruncatedMessageError,
    UnknownFingerprintError,
)


def _zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@pytest.fixture(autouse=True)
def _seeded():
    random.seed(20261124)  # fastavro's generate_many draws from the global generator


@pytest.fixture(scope="module")
def event_codec() -> AvroCodec:
    return AvroCodec(EVENT)


@pytest.fixture
def sample(event_codec):
    return event_codec.encode(next(iter(generate_many(event_codec.reader.parsed, 1))))


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_round_trip_is_lossless_for_every_top_level_type(name):
    codec = AvroCodec(name)
    for value in generate_many(codec.reader.parsed, 200):
        # Random values hold logical types in raw form (ints for dates, hex for
        # UUIDs); after one decode they are typed, and from then on nothing changes.
        decoded = codec.decode(codec.encode(value))
        data = codec.encode(decoded)
        assert codec.decode(data) == decoded
        assert codec.encode(codec.decode(data)) == data


def test_header_is_marker_and_little_endian_fingerprint(event_codec, sample):
    assert sample[:2] == MARKER
    assert sample[2:HEADER_BYTES] == event_codec.reader.fingerprint
    # The fingerprint is the CRC-64-AVRO of the canonical form, little-endian on the wire.
    crc = _crc64_avro(event_codec.reader.canonical.encode())
    assert sample[2:HEADER_BYTES] == struct.pack("<Q", crc)


def _crc64_avro(data: bytes) -> int:
    # The Avro specification's reference algorithm, written independently of fastavro.
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", TruncatedMessageError),
        (b"\xc3", TruncatedMessageError),
        (b"\xc3\x01\x00\x01", TruncatedMessageError),
        (b'{"json": true}', BadMarkerError),
        (b"\x00\x00\x00\x00\x01" + b"x" * 20, BadMarkerError),  # Confluent framing
        (b"\xc3\x01" + b"\xff" * 8 + b"body", UnknownFingerprintError),
    ],
)
def test_hostile_headers_give_typed_errors(event_codec, data, error):
    with pytest.raises(error):
        event_codec.decode(data)


def test_truncated_body(event_codec, sample):
    for cut in (HEADER_BYTES, HEADER_BYTES + 1, len(sample) // 2, len(sample) - 1):
        with pytest.raises(TruncatedMessageError):
            event_codec.decode(sample[:cut])


def test_huge_declared_length_does_not_allocate_or_hang(event_codec):
    # The first field of Event is envelope.event_id, a string: declare 2**60 bytes of it.
    data = MARKER + event_codec.reader.fingerprint + _zigzag(2**60) + b"abc"
    with pytest.raises(TruncatedMessageError):
        event_codec.decode(data)
    negative = MARKER + event_codec.reader.fingerprint + _zigzag(-7)
    with pytest.raises(SerdeError):
        event_codec.decode(negative)


def test_trailing_bytes_are_refused(event_codec, sample):
    with pytest.raises(InvalidMessageError, match="after the end"):
        event_codec.decode(sample + b"\x00")


def test_oversized_message_is_refused_before_decoding(event_codec):
    with pytest.raises(MessageTooLargeError):
        event_codec.decode(MARKER + b"\x00" * (event_codec.max_bytes + 1))


def test_a_message_of_another_type_is_refused(event_codec):
    dead_letter = AvroCodec(DEAD_LETTER_SCHEMA)
    data = dead_letter.encode(next(iter(generate_many(dead_letter.reader.parsed, 1))))
    with pytest.raises(InvalidMessageError, match="DeadLetter"):
        event_codec.decode(data)


def test_random_corruption_only_ever_raises_serde_errors(event_codec, sample):
    rng = random.Random(1234)  # noqa: S311 - reproducible corruption, not secrets
    for _ in range(3000):
        data = bytearray(sample)
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(HEADER_BYTES, len(data))
            data[position] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(HEADER_BYTES, len(data))]
        with contextlib.suppress(SerdeError):
            event_codec.decode(bytes(data))


def test_encode_error_names_the_field_not_the_value(event_codec):
    value = next(iter(generate_many(event_codec.reader.parsed, 1)))
    value["envelope"]["reporting_country"] = 12345  # not a string
    value["envelope"]["reporting_agency"] = "Secret Agent Name"
    del value["envelope"]["version"]
    with pytest.raises(EncodeError) as caught:
        event_codec.encode(value)
    message = str(caught.value)
    assert "Event.envelope.reporting_country: expected string" in message
    assert "Event.envelope.version: missing" in message
    assert "12345" not in message
    assert "Secret" not in message


def test_data_written_with_a_released_version_reads_as_current(tmp_path):
    release_one = SchemaStore(current_dir=RELEASED_DIR / "1", released_dir=None, names=[EVENT])
    old = AvroCodec(EVENT, release_one)
    current = AvroCodec(EVENT)
    assert old.reader.fingerprint != current.reader.fingerprint
    for value in generate_many(old.reader.parsed, 50):
        decoded, writer = current.decode_with_writer(old.encode(value))
        assert writer.release == "1"
        if (
            "commodity_area" in decoded["payload"]
            and "quantity" in decoded["payload"]
            and ("conveyance" in decoded["payload"] and "route" in decoded["payload"])
        ):
            assert decoded["payload"]["cover_story"] is None  # a Seizure: added field defaulted


def test_unreleased_schemas_elsewhere_are_unknown(tmp_path):
    other = tmp_path / "avro"
    shutil.copytree(SCHEMA_DIR, other)
    path = other / "liaison.common.Envelope.avsc"
    path.write_text(path.read_text().replace('"event_id"', '"event_uuid"'))
    foreign = AvroCodec(EVENT, SchemaStore(current_dir=other, released_dir=None))
    data = foreign.encode(next(iter(generate_many(foreign.reader.parsed, 1))))
    with pytest.raises(UnknownFingerprintError):
        AvroCodec(EVENT).decode(data)


def test_uuids_are_written_in_canonical_form_and_junk_is_refused(event_codec):
    value = next(iter(generate_many(event_codec.reader.parsed, 1)))
    plain = uuid.uuid4()
    value["envelope"]["event_id"] = plain.hex  # 32 digits, no dashes
    data = event_codec.encode(value)
    assert str(plain).encode() in data
    assert event_codec.decode(data)["envelope"]["event_id"] == plain
    value["envelope"]["event_id"] = "not-a-uuid"
    with pytest.raises(EncodeError, match=r"envelope\.event_id: expected uuid"):
        event_codec.encode(value)
