"""The JSON body that the HTTP sources accept: the report's identity and handling, and its payload.

::

    {
      "record_id": "CISP-NL-2026-0000042",      the id in the sending system
      "version": 1,                             1, then higher for each amendment
      "operation": "UPSERT",                    UPSERT, CORRECTION or ERASURE
      "reporting_country": "NL",                ISO 3166-1 alpha-2
      "reporting_agency": "NL Customs, Rotterdam port team",
      "event_time": "2026-11-20T06:15:00.000Z", when it happened (ISO 8601, offset required)
      "report_time": "2026-11-20T09:02:30.000Z",
      "handling": {"handling_code": "H1", "tlp": "AMBER", "releasable_to": [],
                   "purpose": "...", "legal_basis": "...", "review_date": "2027-11-20"},
      "evaluation": {"source_reliability": "B", "information_accuracy": "ACCURACY_2"},
      "<payload>": { ... }                      "record" for CIS+, "alert" for police
    }

The payload object has exactly the fields of its schema (``liaison.customs.CisRecord``,
``liaison.police.PoliceAlert``), in the JSON form of :mod:`liaison.model.jsonform`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from liaison.errors import MappingError
from liaison.identity import event_id_for
from liaison.model.common import (
    Envelope,
    EvaluationCodes,
    Event,
    HandlingConditions,
    Lineage,
    Operation,
    SourceSystem,
)
from liaison.model.jsonform import from_json, read_value, to_json

__all__ = ["REQUIRED_KEYS", "JsonBodyFormat", "body_from_event", "event_from_body"]

_ENVELOPE_KEYS = (
    "record_id",
    "version",
    "operation",
    "reporting_country",
    "reporting_agency",
    "event_time",
    "report_time",
    "handling",
    "evaluation",
)
REQUIRED_KEYS = _ENVELOPE_KEYS[:-1]  # every envelope key but the evaluation


def body_from_event(event: Event, payload_key: str) -> dict[str, Any]:
    envelope = event.envelope
    return {
        "record_id": envelope.source_record_id,
        "version": envelope.version,
        "operation": envelope.operation.value,
        "reporting_country": envelope.reporting_country,
        "reporting_agency": envelope.reporting_agency,
        "event_time": to_json(envelope.event_time),
        "report_time": to_json(envelope.report_time),
        "handling": to_json(envelope.handling),
        "evaluation": to_json(envelope.evaluation) if envelope.evaluation else None,
        payload_key: to_json(event.payload),
    }


def event_from_body(
    body: Any,
    *,
    source: SourceSystem,
    payload_type: type,
    payload_key: str,
    ingest_time: datetime,
) -> Event:
    """The event of one JSON body; MappingError names the first wrong field."""
    if not isinstance(body, Mapping):
        raise MappingError("body", "must be a JSON object")
    unknown = sorted(set(body) - {*_ENVELOPE_KEYS, payload_key})
    if unknown:
        raise MappingError(unknown[0], "is not a field here")
    for key in (*REQUIRED_KEYS, payload_key):
        if body.get(key) is None:
            raise MappingError(key, "is required")
    version = read_value(int, body["version"], "version")
    if version < 1:
        raise MappingError("version", "must be 1 or more")
    record_id = read_value(str, body["record_id"], "record_id")
    payload: Any = from_json(payload_type, body[payload_key], payload_key)
    persons = getattr(payload, "persons", ())
    envelope = Envelope(
        event_id=event_id_for(source, record_id, version),
        source_system=source,
        source_record_id=record_id,
        version=version,
        operation=read_value(Operation, body["operation"], "operation"),
        reporting_country=read_value(str, body["reporting_country"], "reporting_country"),
        reporting_agency=read_value(str, body["reporting_agency"], "reporting_agency"),
        event_time=read_value(datetime, body["event_time"], "event_time"),
        report_time=read_value(datetime, body["report_time"], "report_time"),
        ingest_time=ingest_time,
        handling=from_json(HandlingConditions, body["handling"], "handling"),
        evaluation=from_json(EvaluationCodes, body["evaluation"], "evaluation")
        if body.get("evaluation") is not None
        else None,
        data_subject_categories=tuple(sorted({p.category for p in persons})),
        lineage=Lineage(),
    )
    return Event(envelope=envelope, payload=payload)


class JsonBodyFormat:
    """The JSON body of one source system, whose payload is of one type under one key."""

    def __init__(self, source: SourceSystem, payload_type: type, payload_key: str) -> None:
        self.source, self.payload_type, self.payload_key = source, payload_type, payload_key

    def body_of(self, event: Event) -> dict[str, Any]:
        if not isinstance(event.payload, self.payload_type):
            raise MappingError(
                "payload", f"a {self.source.value} body carries a {self.payload_type.__name__}"
            )
        return body_from_event(event, self.payload_key)

    def event_of(self, body: Any, *, ingest_time: datetime) -> Event:
        return event_from_body(
            body,
            source=self.source,
            payload_type=self.payload_type,
            payload_key=self.payload_key,
            ingest_time=ingest_time,
        )


# Liaison's bodies nest a few levels (body, payload, items, persons, their fields); this
# leaves room and stops a body built to exhaust the parser's recursion before it parses.
MAX_DEPTH = 32
# A string, or an unterminated one to the end (so that no quote starts a second scan).
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\Z)')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def parse_body(raw: bytes) -> Any:
    """The JSON value of ``raw``; a MappingError for what is not JSON (or not UTF-8), and
    for a body nesting deeper than MAX_DEPTH, found before it is parsed."""
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(raw) > MAX_DEPTH:
        raise MappingError("body", f"nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(raw)
    except ValueError:  # not JSON, not UTF-8, or a number past the parser's digit limit
        raise MappingError("body", "is not valid JSON") from None
    except RecursionError:  # not reached within MAX_DEPTH; kept as a second fence
        raise MappingError("body", f"nests deeper than {MAX_DEPTH} levels") from None


def _depth(raw: bytes) -> int:
    """How deep the brackets of ``raw`` nest, strings aside (in C but for one step per
    bracket; an unterminated string counts its brackets, and such a body is no JSON)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(itertools.accumulate(steps, initial=0))
