"""How the stages' table values are stored: small JSON documents, one per key.

Tables hold bytes (the app serialises nothing itself), so what a changelog
holds is readable and versioned by these functions alone.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from liaison.model.common import HandlingConditions, SourceSystem
from liaison.model.jsonform import from_json, to_json
from pipelines.dedupe.decide import Candidate, RecordState
from pipelines.dedupe.fingerprint import BaseQuantity
from pipelines.route.retention import Held, RecordName

__all__ = [
    "WatchRow",
    "dump_candidates",
    "dump_entries",
    "dump_held",
    "dump_record_state",
    "dump_watch_row",
    "load_candidates",
    "load_entries",
    "load_held",
    "load_record_state",
    "load_watch_row",
]


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def dump_record_state(state: RecordState) -> bytes:
    return _json(
        {
            "version": state.version,
            "event_id": state.event_id,
            "seen_at": state.seen_at.isoformat(),
            "seen_versions": list(state.seen_versions),
            "owner": state.owner,
        }
    )


def load_record_state(data: bytes | None) -> RecordState | None:
    if data is None:
        return None
    raw = json.loads(data)
    return RecordState(
        version=raw["version"],
        event_id=raw["event_id"],
        seen_at=datetime.fromisoformat(raw["seen_at"]),
        seen_versions=tuple(raw["seen_versions"]),
        owner=raw.get("owner"),  # state written before owners were kept has none
    )


def dump_candidates(candidates: tuple[Candidate, ...]) -> bytes:
    return _json(
        [
            {
                "source": c.source.value,
                "record_key": c.record_key,
                "event_id": c.event_id,
                "quantity": [c.quantity.dimension, c.quantity.amount] if c.quantity else None,
                "seen_at": c.seen_at.isoformat(),
                "duplicate_of": c.duplicate_of,
                "merged_event_ids": list(c.merged_event_ids),
                "merged_handling": to_json(c.merged_handling) if c.merged_handling else None,
            }
            for c in candidates
        ]
    )


def load_candidates(data: bytes | None) -> tuple[Candidate, ...]:
    if data is None:
        return ()
    return tuple(
        Candidate(
            source=SourceSystem(raw["source"]),
            record_key=raw["record_key"],
            event_id=raw["event_id"],
            quantity=BaseQuantity(*raw["quantity"]) if raw["quantity"] else None,
            seen_at=datetime.fromisoformat(raw["seen_at"]),
            duplicate_of=raw["duplicate_of"],
            merged_event_ids=tuple(raw["merged_event_ids"]),
            merged_handling=from_json(HandlingConditions, raw["merged_handling"])
            if raw.get("merged_handling")  # none in state written before it was kept
            else None,
        )
        for raw in json.loads(data)
    )


def dump_entries(entries: dict[str, tuple[datetime, bytes]]) -> bytes:
    """Watch-table entries: per source record, when it was seen and its encoded event."""
    return _json(
        {
            key: [moment.isoformat(), base64.b64encode(value).decode()]
            for key, (moment, value) in entries.items()
        }
    )


def load_entries(data: bytes | None) -> dict[str, tuple[datetime, bytes]]:
    if data is None:
        return {}
    return {
        key: (datetime.fromisoformat(moment), base64.b64decode(value))
        for key, (moment, value) in json.loads(data).items()
    }


@dataclass(frozen=True, slots=True)
class WatchRow:
    """One record's row in a watch table (see pipelines.enrich.tables)."""

    seen_at: datetime
    encoded: bytes  # the event
    until: date  # the last day it may be kept, as judged under ``policy``
    policy: str  # the digest of the routing policy that judged it


def dump_watch_row(row: WatchRow) -> bytes:
    return _json(
        [
            row.seen_at.isoformat(),
            base64.b64encode(row.encoded).decode(),
            row.until.isoformat(),
            row.policy,
        ]
    )


def load_watch_row(data: bytes) -> WatchRow:
    seen_at, encoded, until, policy = json.loads(data)
    return WatchRow(
        datetime.fromisoformat(seen_at),
        base64.b64decode(encoded),
        date.fromisoformat(until),
        policy,
    )


def dump_held(held: Held) -> bytes:
    """What route keeps of a record: recipients, the last day they may hold it, its name."""
    name = held.name
    return _json(
        {
            "to": sorted(held.recipients),
            "until": held.keep_until.isoformat() if held.keep_until else None,
            "owner": held.owner,
            "review": held.review_date.isoformat() if held.review_date else None,
            "reminded": held.reminded_for.isoformat() if held.reminded_for else None,
            "name": None
            if name is None
            else {
                "system": name.source_system.value,
                "id": name.record_id,
                "version": name.version,
                "country": name.reporting_country,
                "agency": name.reporting_agency,
                "event_time": name.event_time.isoformat(),
                "report_time": name.report_time.isoformat(),
            },
        }
    )


def load_held(data: bytes | None) -> Held:
    if data is None:
        return Held()
    raw = json.loads(data)
    if isinstance(raw, list):  # written before retention was kept: recipients alone
        return Held(frozenset(raw))
    name = raw["name"]
    review, reminded = raw.get("review"), raw.get("reminded")
    return Held(
        recipients=frozenset(raw["to"]),
        keep_until=date.fromisoformat(raw["until"]) if raw["until"] else None,
        name=None
        if name is None
        else RecordName(
            source_system=SourceSystem(name["system"]),
            record_id=name["id"],
            version=name["version"],
            reporting_country=name["country"],
            reporting_agency=name["agency"],
            event_time=datetime.fromisoformat(name["event_time"]),
            report_time=datetime.fromisoformat(name["report_time"]),
        ),
        owner=raw.get("owner"),
        review_date=date.fromisoformat(review) if review else None,
        reminded_for=date.fromisoformat(reminded) if reminded else None,
    )
