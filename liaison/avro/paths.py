"""Find where a value breaks its schema, to say which field is wrong without quoting it."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

__all__ = ["mismatches"]

_LEAF_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "int": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "bytes": (bytes, bytearray),
    "string": (str,),
}
_LOGICAL_TYPES: dict[str, tuple[type, ...]] = {
    "date": (dt.date, int),
    "timestamp-millis": (dt.datetime, int),
    "timestamp-micros": (dt.datetime, int),
    "decimal": (Decimal, bytes),
    "uuid": (uuid.UUID, str),
}


def mismatches(value: Any, schema: Any, path: str, limit: int = 5) -> list[str]:
    """Paths where ``value`` does not fit ``schema`` (load_schema form), and what was expected."""
    walker = _Walker(limit)
    walker.walk(value, schema, path)
    return walker.found


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class _Walker:
    def __init__(self, limit: int, names: dict[str, Any] | None = None) -> None:
        self.limit = limit
        self.names: dict[str, Any] = {} if names is None else names
        self.found: list[str] = []

    def walk(self, value: Any, schema: Any, path: str) -> None:
        if len(self.found) >= self.limit:
            return
        schema = self.names.get(schema, schema) if isinstance(schema, str) else schema
        if isinstance(schema, list):
            if not any(self._fits(value, branch) for branch in schema):
                self.found.append(f"{path}: fits no branch of the union")
        elif isinstance(schema, str):
            self._leaf(value, schema, path)
        else:
            self._complex(value, schema, path)

    def _leaf(self, value: Any, schema: str, path: str) -> None:
        wrong_type = not isinstance(value, _LEAF_TYPES.get(schema, (object,)))
        if wrong_type or (schema in ("int", "long") and isinstance(value, bool)):
            self.found.append(f"{path}: expected {schema}")

    def _complex(self, value: Any, schema: dict[str, Any], path: str) -> None:
        kind = schema["type"]
        if isinstance(schema.get("name"), str):
            self.names.setdefault(schema["name"], schema)
        logical = schema.get("logicalType")
        if logical in _LOGICAL_TYPES:
            if not isinstance(value, _LOGICAL_TYPES[logical]) or (
                logical == "uuid" and isinstance(value, str) and not _is_uuid(value)
            ):
                self.found.append(f"{path}: expected {logical}")
        elif kind == "record":
            self._record(value, schema, path)
        elif kind == "enum":
            if value not in schema["symbols"]:
                self.found.append(f"{path}: not a symbol of {schema['name']}")
        elif kind in ("array", "map"):
            self._container(value, schema, path)
        else:
            self.walk(value, kind, path)

    def _container(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if schema["type"] == "array":
            if not isinstance(value, list):
                self.found.append(f"{path}: expected an array")
                return
            for index, item in enumerate(value):
                self.walk(item, schema["items"], f"{path}[{index}]")
        elif not isinstance(value, dict):
            self.found.append(f"{path}: expected a map")
        else:
            for item in value.values():
                self.walk(item, schema["values"], f"{path}{{}}")

    def _record(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if not isinstance(value, dict):
            self.found.append(f"{path}: expected a record {schema['name']}")
            return
        known = {field["name"] for field in schema["fields"]}
        for extra in sorted(value.keys() - known):
            self.found.append(f"{path}.{extra}: not a field of {schema['name']}")
        for field in schema["fields"]:
            name = field["name"]
            if name in value:
                self.walk(value[name], field["type"], f"{path}.{name}")
            elif "default" not in field:
                self.found.append(f"{path}.{name}: missing")

    def _fits(self, value: Any, schema: Any) -> bool:
        probe = _Walker(1, self.names)
        probe.walk(value, schema, "")
        return not probe.found
