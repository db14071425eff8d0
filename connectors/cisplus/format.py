"""The CIS+ record as the CIS+ source accepts it: the common JSON body with ``record``.

The ``record`` object has the fields of ``liaison.customs.CisRecord``; see
:mod:`connectors.jsonbody` for the rest of the body.
"""

from __future__ import annotations

from connectors.jsonbody import JsonBodyFormat
from liaison.model.common import SourceSystem
from liaison.model.customs import CisRecord

__all__ = ["FORMAT", "PAYLOAD_KEY", "body_of", "event_of"]

PAYLOAD_KEY = "record"
FORMAT = JsonBodyFormat(SourceSystem.CIS_PLUS, CisRecord, PAYLOAD_KEY)
body_of = FORMAT.body_of
event_of = FORMAT.event_of
