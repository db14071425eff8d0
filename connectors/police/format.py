"""The police alert as the police source accepts it: the common JSON body with ``alert``.

The ``alert`` object has the fields of ``liaison.police.PoliceAlert``; see
:mod:`connectors.jsonbody` for the rest of the body. A watchlist bulk import is
a file of such bodies, one JSON object per line.
"""

from __future__ import annotations

from connectors.jsonbody import JsonBodyFormat
from liaison.model.common import SourceSystem
from liaison.model.police import PoliceAlert

__all__ = ["FORMAT", "PAYLOAD_KEY", "body_of", "event_of"]

PAYLOAD_KEY = "alert"
FORMAT = JsonBodyFormat(SourceSystem.POLICE, PoliceAlert, PAYLOAD_KEY)
body_of = FORMAT.body_of
event_of = FORMAT.event_of
