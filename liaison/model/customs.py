"""Typed values of the liaison.customs schemas (see schemas/avro/liaison.customs.*.avsc)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from liaison.model.common import Organisation, Person

__all__ = [
    "CisCategory",
    "CisItem",
    "CisLegalFramework",
    "CisRecord",
    "CommodityArea",
    "Conveyance",
    "DetectionMethod",
    "MonetaryAmount",
    "Place",
    "Quantity",
    "QuantityUnit",
    "Route",
    "Seizure",
    "SuggestedAction",
    "TransportMode",
]


class CisCategory(StrEnum):
    """The eight CIS+ data categories."""

    COMMODITIES = "COMMODITIES"
    MEANS_OF_TRANSPORT = "MEANS_OF_TRANSPORT"
    BUSINESSES = "BUSINESSES"
    PERSONS = "PERSONS"
    FRAUD_TRENDS = "FRAUD_TRENDS"
    AVAILABLE_EXPERTISE = "AVAILABLE_EXPERTISE"
    GOODS_DETAINED_SEIZED_CONFISCATED = "GOODS_DETAINED_SEIZED_CONFISCATED"
    CASH_DETAINED_SEIZED_CONFISCATED = "CASH_DETAINED_SEIZED_CONFISCATED"


class CisLegalFramework(StrEnum):
    """The instrument a CIS+ record is held under: REGULATION_515_97 (EU customs and agricultural
    law, mutual assistance) or DECISION_2009_917_JHA (serious breaches of national law, the
    former third pillar).
    """

    REGULATION_515_97 = "REGULATION_515_97"
    DECISION_2009_917_JHA = "DECISION_2009_917_JHA"


class CommodityArea(StrEnum):
    """Enforcement area of the goods, which decides which partners receive a seizure."""

    DRUGS = "DRUGS"
    PRECURSORS = "PRECURSORS"
    TOBACCO = "TOBACCO"
    ALCOHOL = "ALCOHOL"
    WILDLIFE = "WILDLIFE"
    TIMBER = "TIMBER"
    CULTURAL_GOODS = "CULTURAL_GOODS"
    MEDICINES = "MEDICINES"
    COUNTERFEITS = "COUNTERFEITS"
    WEAPONS = "WEAPONS"
    EXPLOSIVES = "EXPLOSIVES"
    CASH = "CASH"
    PRECIOUS_METALS = "PRECIOUS_METALS"
    OTHER = "OTHER"


class DetectionMethod(StrEnum):
    """How the goods were found."""

    RISK_PROFILING = "RISK_PROFILING"
    INTELLIGENCE = "INTELLIGENCE"
    RANDOM_CHECK = "RANDOM_CHECK"
    XRAY_SCANNER = "XRAY_SCANNER"
    DETECTOR_DOG = "DETECTOR_DOG"
    PHYSICAL_EXAMINATION = "PHYSICAL_EXAMINATION"
    DATABASE_HIT = "DATABASE_HIT"
    ONLINE_PATROL = "ONLINE_PATROL"
    OTHER = "OTHER"


class QuantityUnit(StrEnum):
    """Unit of measure, UN/ECE Recommendation 20 codes: KGM kilogram, GRM gram, LTR litre, MTQ
    cubic metre, H87 piece, NAR number of articles, PR pair, OTHER anything else (say which in
    the description).
    """

    KGM = "KGM"
    GRM = "GRM"
    LTR = "LTR"
    MTQ = "MTQ"
    H87 = "H87"
    NAR = "NAR"
    PR = "PR"
    OTHER = "OTHER"


class SuggestedAction(StrEnum):
    """The action a CIS+ record asks of other administrations."""

    SIGHTING_AND_REPORTING = "SIGHTING_AND_REPORTING"
    DISCREET_SURVEILLANCE = "DISCREET_SURVEILLANCE"
    SPECIFIC_CHECK = "SPECIFIC_CHECK"
    OPERATIONAL_OR_STRATEGIC_ANALYSIS = "OPERATIONAL_OR_STRATEGIC_ANALYSIS"


class TransportMode(StrEnum):
    """Mode of transport, UN/CEFACT Recommendation 19 (code in brackets): NOT_SPECIFIED (0),
    MARITIME (1), RAIL (2), ROAD (3), AIR (4), MAIL (5), MULTIMODAL (6), FIXED_INSTALLATION (7),
    INLAND_WATER (8), NOT_APPLICABLE (9).
    """

    NOT_SPECIFIED = "NOT_SPECIFIED"
    MARITIME = "MARITIME"
    RAIL = "RAIL"
    ROAD = "ROAD"
    AIR = "AIR"
    MAIL = "MAIL"
    MULTIMODAL = "MULTIMODAL"
    FIXED_INSTALLATION = "FIXED_INSTALLATION"
    INLAND_WATER = "INLAND_WATER"
    NOT_APPLICABLE = "NOT_APPLICABLE"


@dataclass(frozen=True, slots=True, kw_only=True)
class CisItem:
    """One item of a CIS+ record: goods, cash or a means of transport."""

    description: str
    hs_code: str | None = None
    commodity_area: CommodityArea
    quantity: Quantity | None = None
    value: MonetaryAmount | None = None
    firearm_serials: tuple[str, ...] = ()
    object_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CisRecord:
    """A record in the EU Customs Information System."""

    case_reference: str
    category: CisCategory
    suggested_action: SuggestedAction
    legal_framework: CisLegalFramework
    items: tuple[CisItem, ...] = ()
    transport_mode: TransportMode | None = None
    conveyance: Conveyance | None = None
    place: Place | None = None
    route: Route | None = None
    persons: tuple[Person, ...] = ()
    organisations: tuple[Organisation, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Conveyance:
    """The means of transport the goods were found in or on."""

    vehicle_registration: str | None = None
    vin: str | None = None
    imo_number: str | None = None
    vessel_name: str | None = None
    container_numbers: tuple[str, ...] = ()
    flight_number: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MonetaryAmount:
    """A sum of money in a stated currency."""

    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """Where the goods were found."""

    unlocode: str | None = None
    customs_office: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Quantity:
    """An amount of goods in a stated unit."""

    amount: float
    unit: QuantityUnit


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """The route of the goods as declared or established."""

    origin_country: str | None = None
    transit_countries: tuple[str, ...] = ()
    destination_country: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Seizure:
    """A customs seizure: goods detained, seized or confiscated, as reported to CEN or nCEN."""

    commodity_description: str
    hs_code: str | None = None
    commodity_area: CommodityArea
    quantity: Quantity
    estimated_value: MonetaryAmount | None = None
    concealment: str | None = None
    cover_story: str | None = None
    detection_method: DetectionMethod
    transport_mode: TransportMode
    conveyance: Conveyance
    place: Place
    route: Route
    persons: tuple[Person, ...] = ()
    organisations: tuple[Organisation, ...] = ()
    firearm_serials: tuple[str, ...] = ()
    object_ids: tuple[str, ...] = ()
