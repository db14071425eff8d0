"""Typed values of the liaison.police schemas (see schemas/avro/liaison.police.*.avsc)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from liaison.model.common import Organisation, Person

__all__ = [
    "AlertType",
    "IdentifierKind",
    "PoliceAlert",
    "WatchedItem",
]


class AlertType(StrEnum):
    """Kind of police alert: an INTERPOL notice by colour (RED locate and arrest, BLUE identity or
    whereabouts, GREEN warning, YELLOW missing person, BLACK unidentified body, ORANGE imminent
    threat, PURPLE modus operandi or concealment, UNSC special notice, SILVER criminal assets),
    an INTERPOL diffusion circulated by a member country, a database entry (stolen motor vehicle
    SMV, stolen or lost travel document SLTD, stolen work of art, firearm), or a national police
    alert.
    """

    NOTICE_RED = "NOTICE_RED"
    NOTICE_BLUE = "NOTICE_BLUE"
    NOTICE_GREEN = "NOTICE_GREEN"
    NOTICE_YELLOW = "NOTICE_YELLOW"
    NOTICE_BLACK = "NOTICE_BLACK"
    NOTICE_ORANGE = "NOTICE_ORANGE"
    NOTICE_PURPLE = "NOTICE_PURPLE"
    NOTICE_UNSC = "NOTICE_UNSC"
    NOTICE_SILVER = "NOTICE_SILVER"
    DIFFUSION = "DIFFUSION"
    STOLEN_VEHICLE = "STOLEN_VEHICLE"
    TRAVEL_DOCUMENT = "TRAVEL_DOCUMENT"
    WORK_OF_ART = "WORK_OF_ART"
    FIREARM = "FIREARM"
    NATIONAL_ALERT = "NATIONAL_ALERT"


class IdentifierKind(StrEnum):
    """What a watched identifier identifies; with the identifier value it is the watchlist key."""

    VIN = "VIN"
    VEHICLE_REGISTRATION = "VEHICLE_REGISTRATION"
    TRAVEL_DOCUMENT = "TRAVEL_DOCUMENT"
    FIREARM_SERIAL = "FIREARM_SERIAL"
    WORK_OF_ART_ID = "WORK_OF_ART_ID"
    CONTAINER_NUMBER = "CONTAINER_NUMBER"
    IMO_NUMBER = "IMO_NUMBER"
    OBJECT_ID = "OBJECT_ID"
    PERSON = "PERSON"
    ORGANISATION = "ORGANISATION"
    OTHER = "OTHER"


@dataclass(frozen=True, slots=True, kw_only=True)
class PoliceAlert:
    """A police alert: an INTERPOL notice or diffusion, an entry in INTERPOL's SMV, SLTD, works-of-
    art or firearms databases, or a national alert, with the identifiers to watch for.
    """

    alert_type: AlertType
    alert_reference: str
    issuing_country: str
    issuing_agency: str
    offence: str | None = None
    valid_until: date | None = None
    items: tuple[WatchedItem, ...] = ()
    persons: tuple[Person, ...] = ()
    organisations: tuple[Organisation, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchedItem:
    """A thing an alert asks to look out for: a vehicle, a blank or stolen document, a firearm, a
    work of art, a container.
    """

    kind: IdentifierKind
    identifier: str
    country: str | None = None
    description: str | None = None
