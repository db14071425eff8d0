"""The content fingerprint that recognises one real-world seizure reported by two systems.

The CIS+ to CEN link copies EU seizures into CEN, so the same seizure arrives
twice with different ids and field shapes. Normalisation, documented:

- **country**: the reporting country (ISO 3166-1 alpha-2), as both reports give it;
- **day**: the UTC date of the seizure (CEN keeps the day, not the hour);
- **commodity**: the commodity area and, when an HS code is given, its heading
  (first four digits), since national subheadings differ between systems;
- **place**: the UN/LOCODE, else the customs office reference, else nothing;
- **conveyance**: the first of the container numbers (sorted), IMO number, VIN,
  registration plate or flight number, upper case without spaces or dashes;
- **quantity**: converted to a base unit (kilograms for mass, litres, cubic
  metres, pieces) and compared within a tolerance rather than hashed, so that
  ``1519.8 kg`` from grams and ``1519.8`` rounded by CEN still meet.

All but the quantity make the exact key under which candidates are kept; two
reports match when their keys are equal, their quantities agree within the
tolerance and they come from different source systems.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

from liaison.model.common import Event, SourceSystem
from liaison.model.customs import (
    CisCategory,
    CisRecord,
    CommodityArea,
    Conveyance,
    Place,
    Quantity,
    QuantityUnit,
    Seizure,
)

__all__ = ["BaseQuantity", "SeizureView", "base_quantity", "quantities_agree", "seizure_view"]

# Unit -> (dimension, factor to the base unit of that dimension).
_BASE_UNITS: dict[QuantityUnit, tuple[str, float]] = {
    QuantityUnit.KGM: ("mass", 1.0),
    QuantityUnit.GRM: ("mass", 0.001),
    QuantityUnit.LTR: ("volume", 1.0),
    QuantityUnit.MTQ: ("cubic", 1.0),
    QuantityUnit.H87: ("count", 1.0),
    QuantityUnit.NAR: ("count", 1.0),
    QuantityUnit.PR: ("pairs", 1.0),
}
_SEIZURE_CATEGORIES = {
    CisCategory.GOODS_DETAINED_SEIZED_CONFISCATED,
    CisCategory.CASH_DETAINED_SEIZED_CONFISCATED,
}
_NOISE = re.compile(r"[\s\-./]")


@dataclass(frozen=True)
class BaseQuantity:
    dimension: str
    amount: float


def base_quantity(quantity: Quantity) -> BaseQuantity | None:
    """The quantity in its dimension's base unit; None for units that do not convert."""
    known = _BASE_UNITS.get(quantity.unit)
    if known is None:
        return None
    dimension, factor = known
    return BaseQuantity(dimension, quantity.amount * factor)


def quantities_agree(
    a: BaseQuantity, b: BaseQuantity, relative: float = 0.01, absolute: float = 0.1
) -> bool:
    """Same dimension and amounts within 1 % or 0.1 base units, whichever is larger."""
    if a.dimension != b.dimension:
        return False
    return abs(a.amount - b.amount) <= max(absolute, relative * max(abs(a.amount), abs(b.amount)))


@dataclass(frozen=True)
class SeizureView:
    """What two reports of one seizure share, whatever system they come from."""

    source: SourceSystem
    key: str  # a digest of the normalised country, day, commodity, place and conveyance
    day: date
    quantity: BaseQuantity | None


def _normalised(identifier: str | None) -> str | None:
    return _NOISE.sub("", identifier).upper() if identifier else None


def _conveyance_id(conveyance: Conveyance | None) -> str:
    if conveyance is None:
        return ""
    for candidate in (
        min(conveyance.container_numbers, default=None),
        conveyance.imo_number,
        conveyance.vin,
        conveyance.vehicle_registration,
        conveyance.flight_number,
    ):
        if normalised := _normalised(candidate):
            return normalised
    return ""


def _place_id(place: Place | None) -> str:
    if place is None:
        return ""
    return _normalised(place.unlocode) or _normalised(place.customs_office) or ""


def _key(parts: tuple[str, ...]) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def seizure_view(event: Event) -> SeizureView | None:
    """The fingerprint view of a seizure or a CIS+ seizure record; None for anything else."""
    payload, envelope = event.payload, event.envelope
    conveyance: Conveyance | None
    place: Place | None
    if isinstance(payload, Seizure):
        area, hs_code, quantity = payload.commodity_area, payload.hs_code, payload.quantity
        conveyance, place = payload.conveyance, payload.place
    elif (
        isinstance(payload, CisRecord) and payload.category in _SEIZURE_CATEGORIES and payload.items
    ):
        item = payload.items[0]
        area, hs_code = item.commodity_area, item.hs_code
        quantity = item.quantity or Quantity(amount=0.0, unit=QuantityUnit.OTHER)
        conveyance, place = payload.conveyance, payload.place
    else:
        return None
    day = envelope.event_time.date()
    heading = hs_code[:4] if hs_code else ""
    parts = (
        envelope.reporting_country,
        day.isoformat(),
        CommodityArea(area).value,
        heading,
        _place_id(place),
        _conveyance_id(conveyance),
    )
    return SeizureView(envelope.source_system, _key(parts), day, base_quantity(quantity))
