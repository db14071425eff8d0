"""Hand-made events with realistic, invented values, shared by the tests."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from liaison.model.common import (
    DataSubjectCategory,
    Envelope,
    EvaluationCodes,
    Event,
    HandlingConditions,
    InformationAccuracy,
    Lineage,
    Operation,
    Organisation,
    Person,
    SienaHandlingCode,
    SourceReliability,
    SourceSystem,
    TlpLevel,
)
from liaison.model.customs import (
    CommodityArea,
    Conveyance,
    DetectionMethod,
    MonetaryAmount,
    Place,
    Quantity,
    QuantityUnit,
    Route,
    Seizure,
    TransportMode,
)
from pipelines.enrich.watchlist import PersonKeys


def realistic_seizure() -> Event:
    return Event(
        envelope=Envelope(
            event_id=uuid.UUID("6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f"),
            source_system=SourceSystem.NCEN,
            source_record_id="NL-NCEN-2026-004711",
            version=2,
            operation=Operation.CORRECTION,
            reporting_country="NL",
            reporting_agency="NL Customs, Rotterdam port team",
            event_time=datetime(2026, 11, 20, 6, 15, tzinfo=UTC),
            report_time=datetime(2026, 11, 20, 9, 2, 30, tzinfo=UTC),
            ingest_time=datetime(2026, 11, 20, 9, 2, 31, 250000, tzinfo=UTC),
            handling=HandlingConditions(
                handling_code=SienaHandlingCode.H2,
                tlp=TlpLevel.AMBER,
                releasable_to=("BE-CUSTOMS", "EUROPOL"),
                purpose="prevention and detection of drug trafficking",
                legal_basis="Regulation (EC) 515/97",
                review_date=date(2027, 11, 20),
            ),
            evaluation=EvaluationCodes(
                source_reliability=SourceReliability.B,
                information_accuracy=InformationAccuracy.ACCURACY_2,
            ),
            data_subject_categories=(DataSubjectCategory.SUSPECT,),
            lineage=Lineage(
                source_topic="liaison.ingest.cen", source_partition=3, source_offset=991
            ),
        ),
        payload=Seizure(
            commodity_description="cocaine hydrochloride in bricks",
            hs_code="293999",
            commodity_area=CommodityArea.DRUGS,
            quantity=Quantity(amount=412.5, unit=QuantityUnit.KGM),
            estimated_value=MonetaryAmount(amount=Decimal("12375000.00"), currency="EUR"),
            concealment="mixed into banana cargo",
            cover_story="declared as fresh bananas",
            detection_method=DetectionMethod.XRAY_SCANNER,
            transport_mode=TransportMode.MARITIME,
            conveyance=Conveyance(imo_number="9321483", container_numbers=("MSKU9070323",)),
            place=Place(unlocode="NLRTM", customs_office="NL000396"),
            route=Route(origin_country="EC", transit_countries=("PA",), destination_country="NL"),
            persons=(
                Person(
                    category=DataSubjectCategory.SUSPECT,
                    role="consignee",
                    family_name="Quandry",
                    given_names="Testa Imaginé",
                    date_of_birth=date(1984, 2, 29),
                ),
            ),
            organisations=(
                Organisation(name="Fictive Fruit Imports BV", country="NL", role="importer"),
            ),
        ),
    )


# The secret the tests match persons under (a deployment sets LIAISON_PERSON_KEY).
PERSONS = PersonKeys(b"tests-only person key, 32 bytes")
