"""Model values as plain JSON (for the HTTP connectors), and back with field-level errors.

Dates are ``YYYY-MM-DD``; times ISO 8601 in UTC with milliseconds and ``Z``;
money a decimal string; UUIDs their canonical text; enums their symbol;
tuples arrays. Reading checks every type and names the path of the first
field that is wrong, never its value.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar, cast
from uuid import UUID

from liaison.errors import MappingError
from liaison.model import hints
from liaison.timestamps import to_millis

__all__ = ["from_json", "read_value", "to_json"]

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """The JSON form of a model value."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [to_json(item) for item in value]
    return _scalar_to_json(value)


def _scalar_to_json(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date | Decimal | UUID):
        return value.isoformat() if isinstance(value, date) else str(value)
    return value


def from_json(cls: type[T], data: Any, path: str = "") -> T:
    """The model record of class ``cls`` from its JSON form; MappingError names what is wrong."""
    return cast(T, _read(cls, data, path or cls.__name__))


def read_value(hint: Any, value: Any, path: str) -> Any:
    """One JSON value read as the type ``hint`` (a model class, enum, date, ...)."""
    return _read(hint, value, path)


def _read(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        if value is None:
            if len(members) < len(typing.get_args(hint)):
                return None
            raise MappingError(path, "is required")
        if len(members) == 1:
            return _read(members[0], value, path)
        raise MappingError(path, "a union of records has no JSON form here")
    if origin is tuple:
        if not isinstance(value, list):
            raise MappingError(path, "must be an array")
        item = typing.get_args(hint)[0]
        return tuple(_read(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and is_dataclass(hint):
        return _record(hint, value, path)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        if not isinstance(value, str) or value not in hint.__members__:
            raise MappingError(path, f"must be one of {', '.join(hint.__members__)}")
        return hint(value)
    return _leaf(hint, value, path)


def _record(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise MappingError(path, "must be an object")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise MappingError(f"{path}.{unknown[0]}", "is not a field here")
    arguments = {}
    for name, hint in hints(cls).items():
        if name in value:
            arguments[name] = _read(hint, value[name], f"{path}.{name}")
        elif known[name].default is MISSING and known[name].default_factory is MISSING:
            raise MappingError(f"{path}.{name}", "is required")
    return cls(**arguments)


_SCALARS: dict[type, tuple[tuple[type, ...], str]] = {
    str: ((str,), "must be a non-empty string"),
    bool: ((bool,), "must be true or false"),
    int: ((int,), "must be a whole number"),
    float: ((int, float), "must be a number"),
}


def _leaf(hint: Any, value: Any, path: str) -> Any:
    if hint in _SCALARS:
        accepted, reason = _SCALARS[hint]
        usable = isinstance(value, accepted) and (hint is bool or not isinstance(value, bool))
        if not usable or (hint is str and not value.strip()):
            raise MappingError(path, reason)
        return float(value) if hint is float else value
    if not isinstance(value, str):
        raise MappingError(path, f"must be a string holding a {hint.__name__}")
    try:
        return _from_text(hint, value, path)
    except (ValueError, InvalidOperation):
        raise MappingError(path, f"is not a valid {hint.__name__}") from None


def _from_text(hint: Any, value: str, path: str) -> Any:
    if hint is datetime:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise MappingError(path, "must carry its UTC offset")
        return to_millis(moment)
    if hint is date:
        return date.fromisoformat(value)
    if hint is Decimal:
        return Decimal(value).quantize(Decimal("0.01"))
    if hint is UUID:
        return UUID(value)
    raise MappingError(path, f"has an unsupported type {hint!r}")
