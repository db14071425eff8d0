"""Reference data and a transparent risk indicator added to an event.

The risk indicator is the sum of the weights of the rules below that fire,
capped at 100; the ids of the rules that fired travel with the score, so a
recipient sees why. It ranks events for attention; it decides nothing.

=================== ====== ==================================================
rule                weight fires when
=================== ====== ==================================================
watchlist-hit       50     the event matched a police alert
known-source-route  20     the goods came from a country known as a source
                           for their commodity area (e.g. cocaine from EC)
structural-hiding   10     hidden in the vehicle's structure or on the body
large-quantity      15     more than the area's threshold, in base units
named-suspect       5      a person is recorded as a suspect
=================== ====== ==================================================
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from liaison.model.common import DataSubjectCategory, Event
from liaison.model.customs import CisRecord, CommodityArea, Seizure
from liaison.model.exchange import Enrichment
from pipelines.dedupe.fingerprint import base_quantity
from pipelines.enrich.reference import country_info, hs_chapter, place

__all__ = ["RISK_RULES", "RiskRule", "enrich", "risk"]


@dataclass(frozen=True)
class RiskRule:
    id: str
    weight: int


RISK_RULES = (
    RiskRule("watchlist-hit", 50),
    RiskRule("known-source-route", 20),
    RiskRule("structural-hiding", 10),
    RiskRule("large-quantity", 15),
    RiskRule("named-suspect", 5),
)
_WEIGHTS = {rule.id: rule.weight for rule in RISK_RULES}
_SOURCE_COUNTRIES = {
    CommodityArea.DRUGS: {"CO", "EC", "PE", "BO", "BR", "PA"},
    CommodityArea.WILDLIFE: {"NG", "CM", "KE", "ZA", "MZ", "TZ"},
    CommodityArea.TIMBER: {"MG", "CM", "MM"},
    CommodityArea.PRECURSORS: {"CN", "IN"},
}
_STRUCTURAL = ("engine", "bulkhead", "roof", "body", "swallowed", "double floor", "fuel tank")
# Thresholds in base units (kg for mass, pieces for counts).
_LARGE = {
    CommodityArea.DRUGS: 100.0,
    CommodityArea.TOBACCO: 1000.0,
    CommodityArea.WILDLIFE: 100.0,
    CommodityArea.PRECURSORS: 500.0,
    CommodityArea.WEAPONS: 20.0,
}


def risk(event: Event, hits: int) -> tuple[int, tuple[str, ...]]:
    """The score and the ids of the rules that fired."""
    payload = event.payload
    fired = []
    if hits:
        fired.append("watchlist-hit")
    if isinstance(payload, Seizure):
        area = payload.commodity_area
        origin = payload.route.origin_country
        if origin and origin in _SOURCE_COUNTRIES.get(area, ()):
            fired.append("known-source-route")
        if payload.concealment and any(w in payload.concealment.lower() for w in _STRUCTURAL):
            fired.append("structural-hiding")
        amount = base_quantity(payload.quantity)
        if amount is not None and amount.amount > _LARGE.get(area, float("inf")):
            fired.append("large-quantity")
    persons = getattr(payload, "persons", ())
    if any(p.category is DataSubjectCategory.SUSPECT for p in persons):
        fired.append("named-suspect")
    return min(100, sum(_WEIGHTS[r] for r in fired)), tuple(fired)


def enrich(event: Event, hits: int = 0) -> Event:
    """``event`` with its enrichment: region, RILO, HS chapter, place and risk (``hits``:
    how many watchlist matches it made)."""
    payload = event.payload
    hs_code = place_code = None
    if isinstance(payload, Seizure):
        hs_code, place_code = payload.hs_code, payload.place.unlocode
    elif isinstance(payload, CisRecord):
        hs_code = payload.items[0].hs_code if payload.items else None
        place_code = payload.place.unlocode if payload.place else None
    country = country_info(event.envelope.reporting_country)
    chapter = hs_chapter(hs_code)
    known = place(place_code)
    score, reasons = risk(event, hits)
    enrichment = Enrichment(
        wco_region=country.wco_region if country else None,
        rilo=country.rilo if country else None,
        hs_chapter=chapter.chapter if chapter else None,
        hs_chapter_description=chapter.description if chapter else None,
        place_name=known[0] if known else None,
        place_functions=known[1] if known else (),
        risk_score=score,
        risk_reasons=reasons,
    )
    return dataclasses.replace(event, enrichment=enrichment)
