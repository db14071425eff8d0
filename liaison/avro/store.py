"""The schema store: every schema in ``schemas/avro``, and every released version, parsed once.

Top-level types are the ones written to topics; the other files hold the named
types they are built from. Each version is known by its CRC-64-AVRO
fingerprint of the parsing canonical form, which single-object encoding puts
in every message.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import (
    SchemaParseException,
    UnknownType,
    fingerprint,
    load_schema,
    to_parsing_canonical_form,
)

from liaison.errors import SchemaError

__all__ = [
    "DEAD_LETTER_SCHEMA",
    "DELIVERY_AUDIT",
    "DELIVERY_RECEIPT",
    "EVENT",
    "PIPELINE_OUTCOME",
    "RELEASED_DIR",
    "SCHEMA_DIR",
    "TOP_LEVEL",
    "SchemaStore",
    "SchemaVersion",
]

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"
RELEASED_DIR = SCHEMA_DIR.parent / "released"

EVENT = "liaison.common.Event"
DELIVERY_AUDIT = "liaison.exchange.DeliveryAudit"
DEAD_LETTER_SCHEMA = "liaison.exchange.DeadLetter"
PIPELINE_OUTCOME = "liaison.exchange.PipelineOutcome"
DELIVERY_RECEIPT = "liaison.exchange.DeliveryReceipt"
TOP_LEVEL = (EVENT, DELIVERY_AUDIT, DEAD_LETTER_SCHEMA, PIPELINE_OUTCOME, DELIVERY_RECEIPT)

CURRENT = "current"


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one top-level schema."""

    name: str
    release: str  # "current", or the release directory's name
    schema: Any  # the full schema as JSON, named types defined at first use
    parsed: Any  # fastavro's parsed form, ready for its readers and writers
    canonical: str
    fingerprint: bytes  # 8 bytes, in wire order

    def __str__(self) -> str:
        return f"{self.name} ({self.release}, fingerprint {self.fingerprint.hex()})"


def _load(directory: Path, name: str, release: str) -> SchemaVersion:
    path = directory / f"{name}.avsc"
    try:
        schema = load_schema(str(path), _write_hint=False)
    except FileNotFoundError as exc:
        raise SchemaError(f"{release}: no schema file {path}") from exc
    except (SchemaParseException, UnknownType, ValueError) as exc:
        raise SchemaError(f"{release}: {path.name} does not parse: {exc}") from exc
    canonical = to_parsing_canonical_form(schema)
    # fastavro gives the fingerprint as hex in wire order (little-endian).
    wire = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    # With its hint, fastavro knows it parsed and does not parse again on every call.
    parsed = parse_schema(schema)
    return SchemaVersion(name, release, schema, parsed, canonical, wire)


class SchemaStore:
    """Current and released versions of the top-level schemas."""

    def __init__(
        self,
        current_dir: Path = SCHEMA_DIR,
        released_dir: Path | None = RELEASED_DIR,
        names: Iterable[str] = TOP_LEVEL,
    ) -> None:
        self.current_dir = current_dir
        self.names = tuple(names)
        self._current = {name: _load(current_dir, name, CURRENT) for name in self.names}
        self._versions: dict[bytes, SchemaVersion] = {}
        releases = sorted(p for p in released_dir.iterdir() if p.is_dir()) if released_dir else []
        for release in releases:
            for name in self.names:
                if (release / f"{name}.avsc").is_file():
                    self._remember(_load(release, name, release.name))
        for version in self._current.values():
            self._remember(version)

    def _remember(self, version: SchemaVersion) -> None:
        other = self._versions.get(version.fingerprint)
        if other is not None and other.name != version.name:
            raise SchemaError(f"{version} and {other} share a fingerprint")
        self._versions[version.fingerprint] = version

    def current(self, name: str) -> SchemaVersion:
        """The version Liaison writes and reads as."""
        try:
            return self._current[name]
        except KeyError:
            raise SchemaError(
                f"no top-level schema {name!r}; known: {', '.join(self.names)}"
            ) from None

    def by_fingerprint(self, wire_fingerprint: bytes) -> SchemaVersion | None:
        return self._versions.get(bytes(wire_fingerprint))

    def versions(self, name: str) -> list[SchemaVersion]:
        """Every known version of ``name``, released ones first."""
        return [v for v in self._versions.values() if v.name == name]

    @staticmethod
    @functools.cache
    def default() -> SchemaStore:
        """The project's schemas, loaded once per process."""
        return SchemaStore()
