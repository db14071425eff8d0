"""The CIS+ record as the CIS+ source accepts it: the common JSON body with ``record``.

The ``record`` object has the fields of ``liaison.customs.CisRecord``; see
:mod:`connectors.jsonbody` for the rest of the body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.jsonbody import body_from_event, event_from_body
from liaison.errors import MappingError
from liaison.model.common import Event, SourceSystem
from liaison.model.customs import CisRecord

__all__ = ["PAYLOAD_KEY", "body_of", "event_of"]

PAYLOAD_KEY = "record"


def body_of(event: Event) -> dict[str, Any]:
    if not isinstance(event.payload, CisRecord):
        raise MappingError("payload", "a CIS+ body carries a CIS+ record")
    return body_from_event(event, PAYLOAD_KEY)


def event_of(body: Any, *, ingest_time: datetime) -> Event:
    return event_from_body(
        body,
        source=SourceSystem.CIS_PLUS,
        payload_type=CisRecord,
        payload_key=PAYLOAD_KEY,
        ingest_time=ingest_time,
    )
