"""Liaison's event ids: derived from what identifies a report, so a resent report keeps its id."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from liaison.model.common import Event, SourceSystem

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_ID_NAMESPACE",
    "VERSION_HEADER",
    "delivered_event",
    "delivery_headers",
    "event_id_for",
    "record_key",
]

T = TypeVar("T")

# A fixed namespace of Liaison's own, for name-based (version 5) UUIDs.
EVENT_ID_NAMESPACE = uuid.UUID("5b1f3c52-7a43-5f0e-9d1c-4a1e7c2b9d10")


def event_id_for(source: SourceSystem, record_id: str, version: int) -> uuid.UUID:
    """The event id of version ``version`` of ``record_id`` from ``source``: the same every time."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{source.value}\x1f{record_id}\x1f{version}")


def record_key(event: Event) -> str:
    """``SYSTEM:record-id``: which source record ``event`` is a version of. Ingest records
    are keyed by it (so one record's versions share a partition), and the stages keep
    per-record state under it."""
    envelope = event.envelope
    return f"{envelope.source_system.value}:{envelope.source_record_id}"


# Headers on every record of a partner topic, so that what reads the topic for its receipts
# (connectors.read_receipts) and the partner itself know which event a record is without
# decoding it.
EVENT_ID_HEADER = "liaison-event-id"
VERSION_HEADER = "liaison-version"


def delivery_headers(event: Event) -> list[tuple[str, bytes]]:
    """The headers naming ``event`` on a partner topic."""
    envelope = event.envelope
    return [
        (EVENT_ID_HEADER, str(envelope.event_id).encode()),
        (VERSION_HEADER, str(envelope.version).encode()),
    ]


def delivered_event(
    headers: Mapping[str, str | bytes | None] | Iterable[tuple[str, str | bytes | None]] | None,
) -> tuple[uuid.UUID | None, int | None]:
    """(event id, version) from a partner record's headers (pairs or a mapping, as clients
    give them); None for what is absent or malformed (a record written before these headers
    existed has neither)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    found: dict[str, bytes] = {}
    for name, value in pairs:
        if value is not None:
            found.setdefault(name, value.encode() if isinstance(value, str) else value)
    version = found.get(VERSION_HEADER)
    return (
        _parsed(found.get(EVENT_ID_HEADER), uuid.UUID),
        int(version) if version is not None and version.isdigit() else None,
    )


def _parsed(value: bytes | None, kind: Callable[[str], T]) -> T | None:
    if value is None:
        return None
    try:
        return kind(value.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
