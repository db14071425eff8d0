"""Typed values for the Avro schemas, and their conversion to and from Avro's plain form.

One frozen dataclass per record schema and one ``StrEnum`` per enum schema,
in a module per namespace (``liaison.common`` is :mod:`liaison.model.common`).
Arrays are tuples. :func:`to_avro` and :func:`from_avro` convert between these
values and the dicts the codec reads and writes; a test keeps the classes and
the schema files in step, field by field.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar, cast
from uuid import UUID

from liaison.model import common, customs, exchange, police

__all__ = ["MODEL_TYPES", "avro_name", "from_avro", "hints", "to_avro"]

T = TypeVar("T")

_MODULES = {
    "liaison.common": common,
    "liaison.customs": customs,
    "liaison.police": police,
    "liaison.exchange": exchange,
}
MODEL_TYPES: dict[str, type] = {
    f"{namespace}.{name}": getattr(module, name)
    for namespace, module in _MODULES.items()
    for name in module.__all__
}
_NAMES = {cls: name for name, cls in MODEL_TYPES.items()}
_HINT_NAMESPACE: dict[str, Any] = {
    **{cls.__name__: cls for cls in MODEL_TYPES.values()},
    "date": date,
    "datetime": datetime,
    "Decimal": Decimal,
    "UUID": UUID,
}

Convert = Callable[[Any], Any]


def avro_name(cls: type) -> str:
    """The full Avro name of a model class."""
    return _NAMES[cls]


def to_avro(value: Any) -> dict[str, Any]:
    """The plain form of a model record, ready for :class:`~liaison.avro.codec.AvroCodec`."""
    return cast(dict[str, Any], _record_to(type(value))(value))


def from_avro(cls: type[T], data: Mapping[str, Any]) -> T:
    """The model record of class ``cls`` from the plain form the codec decoded."""
    return cast(T, _record_from(cls)(data))


def _identity(value: Any) -> Any:
    return value


def hints(cls: type) -> dict[str, Any]:
    """The resolved type of each field of a model record, in field order."""
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = typing.get_type_hints(cls, globalns=_HINT_NAMESPACE)
    return found


_HINTS: dict[type, dict[str, Any]] = {}


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and is_dataclass(hint)


def _converters(hint: Any) -> tuple[Convert, Convert]:
    """(to Avro, from Avro) for one type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if len(members) == 1:
            to, back = _converters(members[0])
        else:
            to, back = _union_converters(tuple(members))
        if not optional:
            return to, back
        return (
            lambda v: None if v is None else to(v),
            lambda v: None if v is None else back(v),
        )
    if origin is tuple:
        to, back = _converters(typing.get_args(hint)[0])
        return (lambda v: [to(i) for i in v]), (lambda v: tuple(back(i) for i in v))
    if _is_record(hint):
        return _record_to(hint), _record_from(hint)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return (lambda v: v.value), _enum_from(hint)
    return _identity, _identity


def _enum_from(enum: type[StrEnum]) -> Convert:
    """The member for a value: a dictionary lookup (calling the enum class is slow), the
    class itself deciding (and raising ValueError) for anything else."""
    members = {member.value: member for member in enum}
    return lambda value: members.get(value) or enum(value)


def _union_converters(members: tuple[type, ...]) -> tuple[Convert, Convert]:
    """A union of records: written in fastavro's (name, value) notation, so no guessing;
    read back from that notation or, for a plain dict, by its exact set of field names."""
    by_fields = {frozenset(f.name for f in fields(m)): m for m in members}
    by_name = {avro_name(m): m for m in members}

    def to(value: Any) -> Any:
        return (avro_name(type(value)), _record_to(type(value))(value))

    def back(value: Any) -> Any:
        if isinstance(value, tuple):
            name, body = value
            return _record_from(by_name[name])(body)
        member = by_fields.get(frozenset(value))
        if member is None:
            raise ValueError(f"a record that is none of {', '.join(by_name)}")
        return _record_from(member)(value)

    return to, back


_TO: dict[type, Convert] = {}
_FROM: dict[type, Convert] = {}


def _record_to(cls: type) -> Convert:
    if cls not in _TO:
        plan: list[tuple[str, Convert]] = []
        _TO[cls] = lambda value: {name: to(getattr(value, name)) for name, to in plan}
        # Filled after registering, so that a type met again while planning finds it.
        plan.extend((name, _converters(hint)[0]) for name, hint in hints(cls).items())
    return _TO[cls]


def _record_from(cls: type) -> Convert:
    if cls not in _FROM:
        plan: list[tuple[str, Convert]] = []
        _FROM[cls] = lambda data: cls(**{n: back(data[n]) for n, back in plan if n in data})
        plan.extend((name, _converters(hint)[1]) for name, hint in hints(cls).items())
    return _FROM[cls]
