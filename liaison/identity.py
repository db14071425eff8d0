"""Liaison's event ids: derived from what identifies a report, so a resent report keeps its id."""

from __future__ import annotations

import uuid

from liaison.model.common import Event, SourceSystem

__all__ = ["EVENT_ID_NAMESPACE", "event_id_for", "record_key"]

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
