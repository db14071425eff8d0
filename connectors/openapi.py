"""The OpenAPI 3.1 document of the HTTP sources, made from the code that reads the bodies.

The request schemas follow the model classes the bodies are read into (the same walk as
:func:`liaison.model.jsonform.from_json`), so the document cannot drift from what the
sources accept; ``liaison connector openapi`` writes ``docs/openapi.yaml`` and ``--check``
(and the test suite) fails while the committed file differs.
"""

from __future__ import annotations

import copy
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID

from connectors.http_source import MAX_BULK_BYTES
from connectors.jsonbody import MAX_DEPTH, REQUIRED_KEYS
from liaison.avro.codec import MAX_MESSAGE_BYTES
from liaison.model import hints
from liaison.model.common import EvaluationCodes, HandlingConditions, Operation
from liaison.model.customs import CisRecord
from liaison.model.police import PoliceAlert

__all__ = ["DOCUMENT", "document", "json_schema", "rendered"]

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
_REF = "#/components/schemas/"


def json_schema(hint: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of values read as ``hint``; model records go to ``components``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        (member,) = members  # a union of records has no JSON form (jsonform refuses it)
        return {"anyOf": [json_schema(member, components), {"type": "null"}]}
    if origin is tuple:
        return {"type": "array", "items": json_schema(typing.get_args(hint)[0], components)}
    if isinstance(hint, type) and is_dataclass(hint):
        name = hint.__name__
        if name not in components:
            components[name] = {}  # reserved first: records may refer to each other
            known = {f.name: f for f in fields(hint)}
            properties = {n: json_schema(h, components) for n, h in hints(hint).items()}
            required = [
                n for n, f in known.items() if f.default is MISSING and f.default_factory is MISSING
            ]
            components[name] = {
                "type": "object",
                "properties": properties,
                **({"required": required} if required else {}),
                "additionalProperties": False,
            }
        return {"$ref": _REF + name}
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return {"type": "string", "enum": list(hint.__members__)}
    return _scalar(hint)


def _scalar(hint: Any) -> dict[str, Any]:
    table: dict[Any, dict[str, Any]] = {
        str: {"type": "string", "pattern": r"\S"},
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        datetime: {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with its UTC offset",
        },
        date: {"type": "string", "format": "date"},
        Decimal: {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
        UUID: {"type": "string", "format": "uuid"},
    }
    if hint not in table:
        raise TypeError(f"no JSON form for {hint!r}")
    return dict(table[hint])


def _body(payload_key: str, payload: type, components: dict[str, Any]) -> dict[str, Any]:
    """The common envelope of a body (connectors.jsonbody) around one payload."""
    text = {"type": "string", "pattern": r"\S"}
    return {
        "type": "object",
        "description": f"One report; its payload under {payload_key!r}. Nesting deeper than "
        f"{MAX_DEPTH} levels is refused before parsing.",
        "properties": {
            "record_id": {**text, "description": "the id in the sending system"},
            "version": {"type": "integer", "minimum": 1},
            "operation": json_schema(Operation, components),
            "reporting_country": {
                "type": "string",
                "pattern": "^[A-Z]{2}$",
                "description": "ISO 3166-1 alpha-2",
            },
            "reporting_agency": text,
            "event_time": _scalar(datetime),
            "report_time": _scalar(datetime),
            "handling": json_schema(HandlingConditions, components),
            "evaluation": json_schema(EvaluationCodes | None, components),
            payload_key: json_schema(payload, components),
        },
        "required": [*REQUIRED_KEYS, payload_key],
        "additionalProperties": False,
    }


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}},
        **extra,
    }


_REFUSALS = {
    "401": _error(
        "No valid bearer token.",
        headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    "413": _error(
        f"A body over {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB; its first 512 KiB go to the"
        " dead-letter topic with the reason, the rest is not read."
    ),
    "429": _error(
        "The sender is over its request rate; send again after Retry-After seconds.",
        headers={"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}},
    ),
    "503": _error(
        "Kafka could not take the record at once, or did not confirm it in time; send again "
        "(a record sent twice is recognised as a replay)."
    ),
}


def _one(payload_key: str, payload: type, components: dict[str, Any]) -> Any:
    name = f"{payload.__name__}Body"
    components[name] = _body(payload_key, payload, components)
    return {
        "post": {
            "operationId": f"send_{payload_key}",
            "summary": f"Send one {payload_key}, answered once Kafka has it.",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF + name}}},
            },
            "responses": {
                "202": {
                    "description": "Kafka confirmed the event (again, for a resend).",
                    "content": {"application/json": {"schema": {"$ref": _REF + "Accepted"}}},
                },
                "400": {
                    "description": "Not JSON, nested too deep, does not map or fails "
                    "validation; the body went to the dead-letter topic with the reason.",
                    "content": {"application/json": {"schema": {"$ref": _REF + "Errors"}}},
                },
                "403": {
                    "description": "A token of another endpoint, or a record the sender may "
                    "not report as its own (dead-lettered as OwnerMismatch).",
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [{"$ref": _REF + "Error"}, {"$ref": _REF + "Errors"}]
                            }
                        }
                    },
                },
                **copy.deepcopy(_REFUSALS),
            },
        }
    }


def _bulk() -> Any:
    return {
        "post": {
            "operationId": "send_alerts_in_bulk",
            "summary": "A watchlist import: one alert body per line, each taken or refused "
            "on its own.",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-ndjson": {
                        "schema": {
                            "type": "string",
                            "description": "Lines of PoliceAlertBody JSON; blank lines are "
                            f"skipped; up to {MAX_BULK_BYTES // (1024 * 1024)} MiB.",
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Kafka confirmed every event and dead letter.",
                    "content": {"application/json": {"schema": {"$ref": _REF + "BulkResult"}}},
                },
                "403": _error("A token of another endpoint."),
                **copy.deepcopy(_REFUSALS),
                "413": _error(
                    f"A body over {MAX_BULK_BYTES // (1024 * 1024)} MiB; its first 512 KiB go"
                    " to the dead-letter topic with the reason, the rest is not read."
                ),
            },
        }
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI document of the CIS+ and police sources."""
    components: dict[str, Any] = {}
    paths = {
        "/v1/records": _one("record", CisRecord, components),
        "/v1/alerts": _one("alert", PoliceAlert, components),
        "/v1/alerts/bulk": _bulk(),
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Whether the source is up (no token needed).",
                "responses": {
                    "200": {
                        "description": "Up.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"status": {"const": "ok"}},
                                    "required": ["status"],
                                }
                            }
                        },
                    }
                },
            }
        },
    }
    components.update(
        {
            "Accepted": {
                "type": "object",
                "properties": {"event_id": {"type": "string", "format": "uuid"}},
                "required": ["event_id"],
            },
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            },
            "FieldErrors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                    "required": ["field", "reason"],
                },
            },
            "Errors": {
                "type": "object",
                "properties": {"errors": {"$ref": _REF + "FieldErrors"}},
                "required": ["errors"],
            },
            "BulkResult": {
                "type": "object",
                "properties": {
                    "accepted": {"type": "integer", "minimum": 0},
                    "rejected": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "line": {"type": "integer", "minimum": 1},
                                "errors": {"$ref": _REF + "FieldErrors"},
                            },
                            "required": ["line", "errors"],
                        },
                    },
                },
                "required": ["accepted", "rejected"],
            },
        }
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Liaison HTTP sources",
            "version": "1",
            "description": "Where CIS+ gateways send records and police systems send alerts. "
            "Each source listens on its own port (LIAISON_CISPLUS_PORT serves /v1/records, "
            "LIAISON_POLICE_PORT /v1/alerts and /v1/alerts/bulk). Each sending system has "
            "its own bearer tokens. See docs/interfaces.md for worked examples.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def rendered() -> str:
    """The document as ``docs/openapi.yaml`` holds it."""
    import yaml  # noqa: PLC0415 - only the command that writes the file needs it

    header = (
        "# Generated by `liaison connector openapi`. Do not edit: the schemas follow the code\n"
        "# that reads the bodies (connectors/openapi.py); the test suite fails while they differ.\n"
    )
    return header + yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)
