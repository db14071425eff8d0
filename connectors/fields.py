"""Reading external values into typed ones, with errors that name the field, never the value."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from liaison.errors import MappingError
from liaison.timestamps import to_millis

__all__ = [
    "format_timestamp",
    "parse_date",
    "parse_decimal",
    "parse_enum",
    "parse_float",
    "parse_int",
    "parse_timestamp",
    "required",
]

E = TypeVar("E", bound=StrEnum)


def required(value: str | None, field: str) -> str:
    if value is None or not value.strip():
        raise MappingError(field, "is required")
    return value.strip()


def parse_enum(kind: type[E], value: str, field: str) -> E:
    try:
        return kind(value.strip().upper())
    except ValueError:
        raise MappingError(field, f"must be one of {', '.join(m.value for m in kind)}") from None


def parse_int(value: str, field: str, minimum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise MappingError(field, "must be a whole number") from None
    if minimum is not None and number < minimum:
        raise MappingError(field, f"must be {minimum} or more")
    return number


def parse_float(value: str, field: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise MappingError(field, "must be a number") from None
    if not math.isfinite(number):
        raise MappingError(field, "must be a finite number")
    return number


def parse_decimal(value: str, field: str) -> Decimal:
    try:
        number = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise MappingError(field, "must be an amount with at most two decimals") from None
    if abs(number) >= Decimal(10) ** 16:
        raise MappingError(field, "is too large")
    return number


def parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise MappingError(field, "must be a date, YYYY-MM-DD") from None


def parse_timestamp(value: str, field: str) -> datetime:
    """An ISO 8601 time with a UTC offset, or a bare date (midnight UTC); kept to milliseconds."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MappingError(field, "must be an ISO 8601 time, e.g. 2026-11-20T06:15:00Z") from None
    if len(value) == 10:  # a date alone
        moment = moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise MappingError(field, "must carry its UTC offset, e.g. Z or +01:00")
    return to_millis(moment)


def format_timestamp(moment: datetime) -> str:
    """UTC, milliseconds, 'Z': the form every external format here uses."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
