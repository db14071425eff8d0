"""Avro single-object encoding: marker C3 01, the writer schema's 8-byte CRC-64-AVRO
fingerprint (little-endian), then the Avro binary body.

Any Avro library can read these messages with the published ``.avsc`` files.
Decoding finds the writer schema by fingerprint among every known version and
resolves the body to the current (reader) schema. Every failure is one of the
typed :class:`~liaison.errors.SerdeError` classes; messages name schemas and
fields, never values, since values may be personal data.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.write import LOGICAL_WRITERS

from liaison.avro.paths import mismatches
from liaison.avro.store import SchemaStore, SchemaVersion
from liaison.errors import (
    BadMarkerError,
    EncodeError,
    InvalidMessageError,
    MessageTooLargeError,
    TruncatedMessageError,
    UnknownFingerprintError,
)

__all__ = ["HEADER_BYTES", "MARKER", "MAX_MESSAGE_BYTES", "AvroCodec"]

MARKER = b"\xc3\x01"
HEADER_BYTES = len(MARKER) + 8
# Matches the topics' max.message.bytes: nothing larger can arrive from Kafka.
MAX_MESSAGE_BYTES = 1024 * 1024


def _canonical_uuid(data: Any, schema: Any) -> str:
    """Write the uuid logical type only in the RFC 4122 form the Avro specification requires.

    fastavro passes any string through, and a Java reader rejects, say, a UUID
    written as 32 hex digits without dashes.
    """
    return str(data if isinstance(data, uuid.UUID) else uuid.UUID(data))


# fastavro's documented hook for logical types: replaces its pass-through writer.
LOGICAL_WRITERS["string-uuid"] = _canonical_uuid

_DECODE_FAILURES = (
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    OverflowError,
    SchemaResolutionError,
    AttributeError,
)


class AvroCodec:
    """Encodes and decodes one top-level type, e.g. ``liaison.common.Event``."""

    def __init__(
        self, name: str, store: SchemaStore | None = None, max_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        self.store = store or SchemaStore.default()
        self.reader: SchemaVersion = self.store.current(name)
        self.max_bytes = max_bytes
        self._header = MARKER + self.reader.fingerprint

    @property
    def name(self) -> str:
        return self.reader.name

    def encode(self, value: Mapping[str, Any]) -> bytes:
        """The single-object encoding of ``value`` under the current schema."""
        buffer = io.BytesIO()
        buffer.write(self._header)
        try:
            schemaless_writer(buffer, self.reader.parsed, value, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise EncodeError(self._why_invalid(value, exc)) from None
        data = buffer.getvalue()
        if len(data) > self.max_bytes:
            raise MessageTooLargeError(
                f"{self.name}: encoded to {len(data)} bytes, over the {self.max_bytes}-byte bound"
            )
        return data

    def _why_invalid(self, value: Mapping[str, Any], exc: Exception) -> str:
        wrong = mismatches(value, self.reader.schema, self.name.rsplit(".", 1)[-1])
        if wrong:
            return f"{self.name}: value does not fit the schema: {'; '.join(wrong)}"
        return f"{self.name}: value does not fit the schema ({type(exc).__name__})"

    def decode(self, data: bytes) -> dict[str, Any]:
        """The value in ``data``, resolved to the current schema."""
        return self.decode_with_writer(data)[0]

    def decode_with_writer(self, data: bytes) -> tuple[dict[str, Any], SchemaVersion]:
        """The value in ``data`` and the schema version it was written with."""
        size = len(data)
        if size > self.max_bytes:
            raise MessageTooLargeError(f"{size} bytes, over the {self.max_bytes}-byte bound")
        if data[: min(size, 2)] != MARKER[: min(size, 2)]:
            raise BadMarkerError("not Avro single-object encoding: no C3 01 marker")
        if size < HEADER_BYTES:
            raise TruncatedMessageError(
                f"{size} bytes: shorter than the {HEADER_BYTES}-byte header"
            )
        writer = self.store.by_fingerprint(data[2:HEADER_BYTES])
        if writer is None:
            raise UnknownFingerprintError(
                f"writer schema fingerprint {data[2:HEADER_BYTES].hex()} matches no known version"
            )
        if writer.name != self.name:
            raise InvalidMessageError(f"holds a {writer.name}, not a {self.name}")
        body = io.BytesIO(data)
        body.seek(HEADER_BYTES)
        reader = None if writer is self.reader else self.reader.parsed
        try:
            value = schemaless_reader(body, writer.parsed, reader)
        except EOFError:
            raise TruncatedMessageError(f"{writer}: body ends early") from None
        except UnicodeDecodeError:
            raise InvalidMessageError(f"{writer}: a string is not valid UTF-8") from None
        except _DECODE_FAILURES as exc:
            if body.tell() >= size:  # ran out of bytes inside a number or a length
                raise TruncatedMessageError(f"{writer}: body ends early") from None
            raise InvalidMessageError(
                f"{writer}: body does not decode ({type(exc).__name__})"
            ) from None
        trailing = size - body.tell()
        if trailing:
            raise InvalidMessageError(f"{writer}: {trailing} bytes after the end of the body")
        if not isinstance(value, dict):  # pragma: no cover - top-level types are records
            raise InvalidMessageError(f"{writer}: not a record")
        return value, writer
