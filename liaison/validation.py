"""Checks of event values against the code lists the domain uses.

Each problem names the field (a dotted path from the event) and the rule,
never the value: some values are personal data. Connectors reject, and the
pipeline dead-letters, events with problems.

Code lists: ISO 3166-1 countries and ISO 4217 currencies (pycountry); the
Harmonized System's shape and chapters; UN/LOCODE shape (with a bundled table
of the places Liaison knows by name); ISO 6346 container numbers, IMO ship
numbers and, for North American VINs, the ISO 3779 check digit.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from importlib import resources
from typing import Any

import pycountry

from liaison.model.common import (
    Envelope,
    HandlingConditions,
    Organisation,
    Person,
    SienaHandlingCode,
    TlpLevel,
)
from liaison.model.customs import CisItem, Conveyance, MonetaryAmount, Place, Route, Seizure
from liaison.model.police import IdentifierKind, PoliceAlert, WatchedItem

__all__ = [
    "Problem",
    "container_check_digit",
    "imo_check_digit",
    "known_place",
    "valid_container_number",
    "valid_country",
    "valid_currency",
    "valid_hs_code",
    "valid_imo_number",
    "valid_unlocode",
    "valid_vin",
    "validate",
    "vin_check_digit",
]

# Codes the EU uses that ISO 3166-1 leaves to users: XK Kosovo, EU the Union itself.
_EXTRA_COUNTRIES = {"XK", "EU"}


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@functools.cache
def valid_country(code: str) -> bool:
    # pycountry matches any case; the codes themselves are upper case.
    if len(code) != 2 or not code.isupper():
        return False
    return code in _EXTRA_COUNTRIES or pycountry.countries.get(alpha_2=code) is not None


@functools.cache
def valid_currency(code: str) -> bool:
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


_HS_RE = re.compile(r"\d{6}(?:\d{2}){0,2}")


def valid_hs_code(code: str) -> bool:
    """6 international digits, optionally 2 or 4 national ones; chapter 01 to 97, not 77."""
    if not _HS_RE.fullmatch(code):
        return False
    chapter = int(code[:2])
    return 1 <= chapter <= 97 and chapter != 77


_LOCODE_RE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")


def valid_unlocode(code: str) -> bool:
    return bool(_LOCODE_RE.fullmatch(code)) and valid_country(code[:2])


@functools.cache
def _places() -> dict[str, tuple[str, tuple[str, ...]]]:
    table = resources.files("liaison.reference").joinpath("unlocode.csv").read_text("utf-8")
    return {
        row["unlocode"]: (row["name"], tuple(row["functions"].split("|")))
        for row in csv.DictReader(table.splitlines())
    }


def known_place(code: str) -> tuple[str, tuple[str, ...]] | None:
    """Name and functions (port, rail, road, airport, border) of a bundled UN/LOCODE."""
    return _places().get(code)


def _letter_values() -> dict[str, int]:
    # ISO 6346: A=10 upwards, skipping 11, 22 and 33 (multiples of eleven).
    values, number = {}, 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if number % 11 == 0:
            number += 1
        values[letter] = number
        number += 1
    return values


_ISO6346 = _letter_values()
_CONTAINER_RE = re.compile(r"[A-Z]{3}[UJZ]\d{7}")


def container_check_digit(first_ten: str) -> int:
    """The ISO 6346 check digit of an owner code, category and serial number."""
    total = sum((_ISO6346[c] if c.isalpha() else int(c)) << i for i, c in enumerate(first_ten))
    return total % 11 % 10


def valid_container_number(number: str) -> bool:
    """Owner code, category (U, J or Z), six-digit serial and the mod-11 check digit."""
    return bool(_CONTAINER_RE.fullmatch(number)) and (
        container_check_digit(number[:10]) == int(number[10])
    )


def imo_check_digit(first_six: str) -> int:
    """The sum of the first six digits weighted 7 down to 2, modulo 10."""
    return sum(int(d) * w for d, w in zip(first_six, range(7, 1, -1), strict=True)) % 10


def valid_imo_number(number: str) -> bool:
    """Seven digits, the last a check digit."""
    return bool(re.fullmatch(r"\d{7}", number)) and imo_check_digit(number[:6]) == int(number[6])


_VIN_RE = re.compile(r"[A-HJ-NPR-Z0-9]{17}")  # I, O and Q are never used
_VIN_VALUES = dict(
    zip(
        "ABCDEFGHJKLMNPRSTUVWXYZ",
        [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9],
        strict=True,
    )
)
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def valid_vin(vin: str) -> bool:
    """17 characters without I, O or Q; the check digit (position 9) where it is mandatory,
    that is for vehicles made for North America (world manufacturer codes 1 to 5)."""
    if not _VIN_RE.fullmatch(vin):
        return False
    return vin[0] not in "12345" or vin[8] == vin_check_digit(vin)


def vin_check_digit(vin: str) -> str:
    """The ISO 3779 check character of a 17-character VIN (position 9 itself weighs 0)."""
    values = (int(c) if c.isdigit() else _VIN_VALUES[c] for c in vin)
    check = sum(v * w for v, w in zip(values, _VIN_WEIGHTS, strict=True)) % 11
    return "X" if check == 10 else str(check)


# -- whole events ------------------------------------------------------------------

Rule = Callable[[Any], str | None]


def _code(check: Callable[[str], bool], what: str) -> Rule:
    return lambda value: None if value is None or check(value) else f"not {what}"


def _each(rule: Rule) -> Rule:
    def check(values: Any) -> str | None:
        for value in values:
            if (reason := rule(value)) is not None:
                return reason
        return None

    return check


_COUNTRY = _code(valid_country, "an ISO 3166-1 alpha-2 country code")
_RULES: dict[tuple[type, str], Rule] = {
    (Envelope, "reporting_country"): _COUNTRY,
    (Envelope, "version"): lambda v: None if v >= 1 else "must be 1 or more",
    (Person, "nationality"): _COUNTRY,
    (Person, "document_country"): _COUNTRY,
    (Organisation, "country"): _COUNTRY,
    (Route, "origin_country"): _COUNTRY,
    (Route, "destination_country"): _COUNTRY,
    (Route, "transit_countries"): _each(_COUNTRY),
    (MonetaryAmount, "currency"): _code(valid_currency, "an ISO 4217 currency code"),
    (Seizure, "hs_code"): _code(valid_hs_code, "a Harmonized System code (6, 8 or 10 digits)"),
    (CisItem, "hs_code"): _code(valid_hs_code, "a Harmonized System code (6, 8 or 10 digits)"),
    (Place, "unlocode"): _code(valid_unlocode, "a UN/LOCODE"),
    (Conveyance, "container_numbers"): _each(
        _code(valid_container_number, "an ISO 6346 container number with a valid check digit")
    ),
    (Conveyance, "vin"): _code(valid_vin, "a valid vehicle identification number"),
    (Conveyance, "imo_number"): _code(valid_imo_number, "an IMO number with a valid check digit"),
    (PoliceAlert, "issuing_country"): _COUNTRY,
    (WatchedItem, "country"): _COUNTRY,
}
_IDENTIFIERS: dict[IdentifierKind, Rule] = {
    IdentifierKind.VIN: _RULES[(Conveyance, "vin")],
    IdentifierKind.IMO_NUMBER: _RULES[(Conveyance, "imo_number")],
    IdentifierKind.CONTAINER_NUMBER: _code(
        valid_container_number, "an ISO 6346 container number with a valid check digit"
    ),
}


def _walk(value: Any, path: str) -> Iterator[tuple[Any, str]]:
    """Every record inside ``value`` with its path."""
    if is_dataclass(value) and not isinstance(value, type):
        yield value, path
        for field in fields(value):
            yield from _walk(
                getattr(value, field.name), f"{path}.{field.name}" if path else field.name
            )
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def validate(event: Any) -> list[Problem]:
    """Every problem found in an event (or any model record); empty when it is valid."""
    problems: list[Problem] = []
    for record, path in _walk(event, ""):
        where = f"{path}." if path else ""
        for field in fields(record):
            rule = _RULES.get((type(record), field.name))
            if rule is not None and (reason := rule(getattr(record, field.name))) is not None:
                problems.append(Problem(where + field.name, reason))
        identifier_rule = _IDENTIFIERS.get(record.kind) if isinstance(record, WatchedItem) else None
        if identifier_rule and (reason := identifier_rule(record.identifier)) is not None:
            problems.append(Problem(where + "identifier", reason))
        if isinstance(record, HandlingConditions):
            problems.extend(_handling_problems(record, where))
    return problems


def _handling_problems(handling: HandlingConditions, where: str) -> list[Problem]:
    problems = []
    if handling.handling_code is SienaHandlingCode.H3 and not handling.restrictions:
        problems.append(Problem(where + "restrictions", "required with handling code H3"))
    restricted = handling.handling_code is SienaHandlingCode.H2 or handling.tlp is TlpLevel.RED
    if restricted and not handling.releasable_to:
        problems.append(
            Problem(where + "releasable_to", "H2 and TLP:RED data must name its recipients")
        )
    return problems
