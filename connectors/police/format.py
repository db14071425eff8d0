"""The police alert as the police source accepts it: the common JSON body with ``alert``.

The ``alert`` object has the fields of ``liaison.police.PoliceAlert``; see
:mod:`connectors.jsonbody` for the rest of the body. A watchlist bulk import is
a file of such bodies, one JSON object per line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.jsonbody import body_from_event, event_from_body
from liaison.errors import MappingError
from liaison.model.common import Event, SourceSystem
from liaison.model.police import PoliceAlert

__all__ = ["PAYLOAD_KEY", "body_of", "event_of"]

PAYLOAD_KEY = "alert"


def body_of(event: Event) -> dict[str, Any]:
    if not isinstance(event.payload, PoliceAlert):
        raise MappingError("payload", "a police body carries a police alert")
    return body_from_event(event, PAYLOAD_KEY)


def event_of(body: Any, *, ingest_time: datetime) -> Event:
    return event_from_body(
        body,
        source=SourceSystem.POLICE,
        payload_type=PoliceAlert,
        payload_key=PAYLOAD_KEY,
        ingest_time=ingest_time,
    )
