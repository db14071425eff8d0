"""The base reports of the synthetic traffic: seizures, CIS+ records, police alerts and the
CEN copies of CIS+ seizures, with their envelopes, handling and persons; and what the
generator remembers of what it sent, so that later records can refer back to it.

:class:`~stack.synthetic.generator.TrafficGenerator` builds on these; the order of the
random draws is part of the output (the same seed gives the same bytes).
"""

from __future__ import annotations

import dataclasses
import random
import string
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from liaison.identity import event_id_for
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
    CisCategory,
    CisItem,
    CisLegalFramework,
    CisRecord,
    CommodityArea,
    Conveyance,
    MonetaryAmount,
    Place,
    Quantity,
    QuantityUnit,
    Route,
    Seizure,
    SuggestedAction,
    TransportMode,
)
from liaison.model.police import AlertType, IdentifierKind, PoliceAlert, WatchedItem
from liaison.validation import container_check_digit, imo_check_digit
from stack.synthetic import world

if TYPE_CHECKING:
    from stack.synthetic.generator import SyntheticRecord, TrafficMix

__all__ = ["History", "Key", "ReportMaker", "identifiers", "key_of", "seizure_with"]

_PARTNERS = ("EUROPOL", "INTERPOL", "OLAF", "WCO-RILO-WE", "NL-POLICE", "BE-CUSTOMS", "DE-BKA")


Key = tuple[SourceSystem, str]


def key_of(event: Event) -> Key:
    return (event.envelope.source_system, event.envelope.source_record_id)


def _watchable(event: Event) -> Iterator[WatchedItem]:
    """The identifiers a customs record carries that police alerts can watch."""
    payload = event.payload
    if not isinstance(payload, Seizure | CisRecord):
        return
    conveyance = payload.conveyance
    if conveyance is not None:
        if conveyance.vin:
            yield WatchedItem(kind=IdentifierKind.VIN, identifier=conveyance.vin)
        if conveyance.imo_number:
            yield WatchedItem(kind=IdentifierKind.IMO_NUMBER, identifier=conveyance.imo_number)
        for number in conveyance.container_numbers:
            yield WatchedItem(kind=IdentifierKind.CONTAINER_NUMBER, identifier=number)
    holders = (payload,) if isinstance(payload, Seizure) else payload.items
    for holder in holders:
        for serial in holder.firearm_serials:
            yield WatchedItem(kind=IdentifierKind.FIREARM_SERIAL, identifier=serial)
        for object_id in holder.object_ids:
            yield WatchedItem(kind=IdentifierKind.WORK_OF_ART_ID, identifier=object_id)


def identifiers(event: Event) -> set[str]:
    """The identifiers a customs record carries (what alerts can watch)."""
    return {item.identifier for item in _watchable(event)}


@dataclass
class History:
    """What has been sent, so that derived records can refer back to it."""

    latest: dict[tuple[SourceSystem, str], Event] = field(default_factory=dict)
    sent: deque[SyntheticRecord] = field(default_factory=lambda: deque(maxlen=5000))
    watched: deque[WatchedItem] = field(default_factory=lambda: deque(maxlen=500))
    # Identifiers seized, with the record that carried them.
    seen_identifiers: deque[tuple[WatchedItem, Key]] = field(
        default_factory=lambda: deque(maxlen=500)
    )
    paired: set[Key] = field(default_factory=set)  # records a match was made for
    changed: set[Key] = field(default_factory=set)  # records amended or erased
    alerted: set[str] = field(default_factory=set)  # identifiers police alerts watch
    changed_identifiers: set[str] = field(default_factory=set)  # those of changed records
    pending: deque[tuple[int, SyntheticRecord]] = field(default_factory=deque)


class ReportMaker:
    """Makes base reports from a seeded random source, a clock and a history."""

    rng: random.Random
    clock: datetime
    mix: TrafficMix
    _history: History
    _serial: int

    def _next_version(self, previous: Event, operation: Operation) -> Event:
        envelope = dataclasses.replace(
            previous.envelope,
            event_id=event_id_for(
                previous.envelope.source_system,
                previous.envelope.source_record_id,
                previous.envelope.version + 1,
            ),
            version=previous.envelope.version + 1,
            operation=operation,
            report_time=self.clock,
            ingest_time=self.clock + timedelta(seconds=1),
        )
        payload = previous.payload
        if isinstance(payload, Seizure) and operation is not Operation.ERASURE:
            corrected = Quantity(
                amount=round(payload.quantity.amount * self.rng.uniform(0.9, 1.1), 1),
                unit=payload.quantity.unit,
            )
            payload = dataclasses.replace(payload, quantity=corrected)
        return Event(envelope=envelope, payload=payload)

    # -- base reports -----------------------------------------------------

    def _record_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-{self.clock.year}-{self._serial:07d}"

    def _envelope(
        self,
        *,
        source: SourceSystem,
        record_id: str,
        country: str,
        agency: str,
        handling: HandlingConditions,
        categories: tuple[DataSubjectCategory, ...],
        event_time: datetime | None = None,
    ) -> Envelope:
        return Envelope(
            event_id=event_id_for(source, record_id, 1),
            source_system=source,
            source_record_id=record_id,
            version=1,
            operation=Operation.UPSERT,
            reporting_country=country,
            reporting_agency=agency,
            event_time=event_time or self.clock - timedelta(minutes=self.rng.randint(60, 1800)),
            report_time=self.clock,
            ingest_time=self.clock + timedelta(seconds=1),
            handling=handling,
            evaluation=EvaluationCodes(
                source_reliability=self.rng.choice(list(SourceReliability)),
                information_accuracy=self.rng.choice(list(InformationAccuracy)),
            )
            if source is not SourceSystem.CEN
            else None,
            data_subject_categories=categories,
            lineage=Lineage(),
        )

    def _handling(self, nominal: bool) -> HandlingConditions:
        roll = self.rng.random()
        if not nominal:
            code, tlp = SienaHandlingCode.H0, TlpLevel.GREEN
        elif roll < 0.1:
            code, tlp = SienaHandlingCode.H2, TlpLevel.RED
        elif roll < 0.25:
            code, tlp = SienaHandlingCode.H3, TlpLevel.AMBER_STRICT
        else:
            code, tlp = SienaHandlingCode.H1, TlpLevel.AMBER
        named = code is SienaHandlingCode.H2 or tlp is TlpLevel.RED
        return HandlingConditions(
            handling_code=code,
            restrictions="not to be used in court without prior consent"
            if code is SienaHandlingCode.H3
            else None,
            tlp=tlp,
            releasable_to=tuple(self.rng.sample(_PARTNERS, 2)) if named else (),
            purpose="prevention and detection of serious cross-border crime",
            legal_basis="Regulation (EC) 515/97" if nominal else "WCO CEN data-sharing agreement",
            review_date=(self.clock + timedelta(days=365)).date() if nominal else None,
        )

    def _persons(self, count: int) -> tuple[Person, ...]:
        persons = []
        for _ in range(count):
            family, given = world.invented_person_name(self.rng)
            persons.append(
                Person(
                    category=self.rng.choice(
                        (
                            DataSubjectCategory.SUSPECT,
                            DataSubjectCategory.SUSPECT,
                            DataSubjectCategory.WITNESS_OR_CONTACT,
                        )
                    ),
                    role=self.rng.choice(("driver", "consignee", "passenger", "shipper")),
                    family_name=family,
                    given_names=given,
                    date_of_birth=date(1960, 1, 1) + timedelta(days=self.rng.randint(0, 15000)),
                    nationality=self.rng.choice(world.ORIGINS),
                )
            )
        return tuple(persons)

    def _container(self) -> str:
        owner = "".join(self.rng.choice(string.ascii_uppercase) for _ in range(3)) + "U"
        first_ten = owner + f"{self.rng.randint(0, 999999):06d}"
        return first_ten + str(container_check_digit(first_ten))

    def _imo(self) -> str:
        first_six = str(self.rng.randint(900000, 999999))
        return first_six + str(imo_check_digit(first_six))

    def _firearm_serial(self) -> str:
        return f"SN{self.rng.randint(100000, 999999)}"

    def _object_id(self) -> str:
        return f"WOA-{self.rng.randint(1000000, 9999999)}"

    def _unique_items(
        self, commodity: world.Commodity, amount: float
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Serials of firearms and ids of works of art seized, a few per seizure."""
        if commodity.hs_code == "930200":
            return tuple(self._firearm_serial() for _ in range(min(3, int(amount)))), ()
        if commodity.hs_code.startswith("9701"):
            return (), tuple(self._object_id() for _ in range(min(2, int(amount))))
        return (), ()

    def _vin(self) -> str:
        # European manufacturer codes carry no mandatory check digit.
        alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
        return self.rng.choice(("WVW", "WBA", "VF1", "ZFA", "SAL")) + "".join(
            self.rng.choice(alphabet) for _ in range(14)
        )

    def _route_and_place(self) -> tuple[TransportMode, Conveyance, Place, Route, str]:
        origin = self.rng.choice(world.ORIGINS)
        if self.rng.random() < 0.7:
            unlocode, country = self.rng.choice(world.PORTS)
            conveyance = Conveyance(imo_number=self._imo(), container_numbers=(self._container(),))
            mode = TransportMode.MARITIME
        elif self.rng.random() < 0.5:
            unlocode, country, airline = self.rng.choice(world.AIRPORTS)
            conveyance = Conveyance(flight_number=f"{airline}{self.rng.randint(100, 1999)}")
            mode = TransportMode.AIR
        else:
            unlocode, country = self.rng.choice(world.PORTS)
            conveyance = Conveyance(
                vehicle_registration=f"{self.rng.randint(10, 99)}-"
                f"{self.rng.choice(string.ascii_uppercase)}{self.rng.choice(string.ascii_uppercase)}-"
                f"{self.rng.randint(100, 999)}",
                vin=self._vin(),
            )
            mode = TransportMode.ROAD
        route = Route(origin_country=origin, destination_country=country)
        return mode, conveyance, Place(unlocode=unlocode), route, country

    def _remember_identifiers(self, event: Event, key: Key) -> None:
        seen = self._history.seen_identifiers
        for item in _watchable(event):
            if item.kind is not IdentifierKind.IMO_NUMBER:  # a vessel carries many cargoes
                seen.append((item, key))

    def _seizure(self) -> Event:
        envelope, seizure = self._seizure_parts()
        return Event(envelope=envelope, payload=seizure)

    def _seizure_parts(self) -> tuple[Envelope, Seizure]:
        commodity = self.rng.choice(world.COMMODITIES)
        mode, conveyance, place, route, country = self._route_and_place()
        nominal = self.rng.random() < 0.4
        persons = self._persons(self.rng.randint(1, 2)) if nominal else ()
        source = SourceSystem.NCEN if nominal else SourceSystem.CEN
        amount = round(self.rng.uniform(commodity.low, commodity.high), 1)
        serials, object_ids = self._unique_items(commodity, amount)
        seizure = Seizure(
            commodity_description=commodity.description,
            hs_code=commodity.hs_code,
            commodity_area=commodity.area,
            quantity=Quantity(amount=amount, unit=commodity.unit),
            estimated_value=MonetaryAmount(
                amount=Decimal(self.rng.randint(1_000, 50_000_000)).scaleb(-2) * 100, currency="EUR"
            ),
            concealment=self.rng.choice(world.CONCEALMENTS),
            detection_method=self.rng.choice(world.DETECTIONS),
            transport_mode=mode,
            conveyance=conveyance,
            place=place,
            route=route,
            persons=persons,
            organisations=(
                Organisation(
                    name=world.invented_company(self.rng), country=country, role="importer"
                ),
            )
            if self.rng.random() < 0.5
            else (),
            firearm_serials=serials,
            object_ids=object_ids,
        )
        envelope = self._envelope(
            source=source,
            record_id=self._record_id("NCEN" if nominal else "CEN"),
            country=country,
            agency=world.AGENCIES[country],
            handling=self._handling(nominal),
            categories=tuple(sorted({p.category for p in persons})),
        )
        return envelope, seizure

    def _cis_record(self) -> Event:
        envelope, record = self._cis_parts()
        return Event(envelope=envelope, payload=record)

    def _cis_parts(self, *, cross_border_goods: bool = False) -> tuple[Envelope, CisRecord]:
        commodity = (
            next(c for c in world.COMMODITIES if c.area is CommodityArea.TOBACCO)
            if cross_border_goods
            else self.rng.choice(world.COMMODITIES)
        )
        mode, conveyance, place, route, country = self._route_and_place()
        # CIS+ reports goods in grams where CEN will say kilograms.
        grams = commodity.unit is QuantityUnit.KGM
        amount = round(self.rng.uniform(commodity.low, commodity.high), 3)
        quantity = Quantity(
            amount=float(round(amount * 1000)) if grams else amount,
            unit=QuantityUnit.GRM if grams else commodity.unit,
        )
        persons = self._persons(self.rng.randint(0, 2))
        serials, object_ids = self._unique_items(commodity, amount)
        record = CisRecord(
            case_reference=f"CIS-{country}-{self.clock.year}-{self.rng.randint(10000, 99999)}",
            category=CisCategory.GOODS_DETAINED_SEIZED_CONFISCATED,
            suggested_action=self.rng.choice(list(SuggestedAction)),
            legal_framework=CisLegalFramework.REGULATION_515_97,
            items=(
                CisItem(
                    description=commodity.description,
                    hs_code=commodity.hs_code,
                    commodity_area=commodity.area,
                    quantity=quantity,
                    firearm_serials=serials,
                    object_ids=object_ids,
                ),
            ),
            transport_mode=mode,
            conveyance=conveyance,
            place=place,
            route=route,
            persons=persons,
        )
        envelope = self._envelope(
            source=SourceSystem.CIS_PLUS,
            record_id=self._record_id(f"CISP-{country}"),
            country=country,
            agency=world.AGENCIES[country],
            handling=self._handling(True),
            categories=tuple(sorted({p.category for p in persons})),
        )
        return envelope, record

    def _cen_copy_of(self, cis: Envelope, record: CisRecord) -> Event:
        """The same seizure as CEN receives it from CIS+: another id, no persons, kilograms."""
        item = record.items[0]
        quantity = item.quantity or Quantity(amount=0.0, unit=QuantityUnit.KGM)
        grams = quantity.unit is QuantityUnit.GRM
        kilograms = quantity.amount / 1000 if grams else quantity.amount
        seizure = Seizure(
            commodity_description=item.description.upper(),  # CEN's own spelling
            hs_code=item.hs_code[:6] if item.hs_code else None,
            commodity_area=item.commodity_area,
            quantity=Quantity(amount=round(kilograms, 1), unit=QuantityUnit.KGM),
            detection_method=self.rng.choice(world.DETECTIONS),
            transport_mode=record.transport_mode or TransportMode.NOT_SPECIFIED,
            conveyance=record.conveyance or Conveyance(),
            place=record.place or Place(),
            route=record.route or Route(),
        )
        envelope = self._envelope(
            source=SourceSystem.CEN,
            record_id=self._record_id("CEN"),
            country=cis.reporting_country,
            agency=cis.reporting_agency,
            handling=self._handling(False),
            categories=(),
            # CEN keeps the day of the seizure, not its hour.
            event_time=datetime.combine(cis.event_time.date(), datetime.min.time(), UTC),
        )
        return Event(envelope=envelope, payload=seizure)

    def _alert(self, item: WatchedItem | None = None) -> Event:
        if item is None:
            kind = self.rng.choice(
                (
                    IdentifierKind.VIN,
                    IdentifierKind.CONTAINER_NUMBER,
                    IdentifierKind.IMO_NUMBER,
                    IdentifierKind.FIREARM_SERIAL,
                    IdentifierKind.WORK_OF_ART_ID,
                )
            )
            make = {
                IdentifierKind.VIN: self._vin,
                IdentifierKind.CONTAINER_NUMBER: self._container,
                IdentifierKind.IMO_NUMBER: self._imo,
                IdentifierKind.FIREARM_SERIAL: self._firearm_serial,
                IdentifierKind.WORK_OF_ART_ID: self._object_id,
            }[kind]
            identifier = make()
            # Without changes to watch parties, no alert by chance on a record already
            # changed either: that match would race the change.
            while not self.mix.amend_watch_parties and (
                identifier in self._history.changed_identifiers
            ):
                identifier = make()
            item = WatchedItem(kind=kind, identifier=identifier)
            self._history.watched.append(item)
        self._history.alerted.add(item.identifier)
        alert_type = {
            IdentifierKind.VIN: AlertType.STOLEN_VEHICLE,
            IdentifierKind.FIREARM_SERIAL: AlertType.FIREARM,
            IdentifierKind.WORK_OF_ART_ID: AlertType.WORK_OF_ART,
        }.get(item.kind, AlertType.DIFFUSION)
        country = self.rng.choice(("DE", "NL", "FR", "ES", "IT", "BE"))
        persons = self._persons(1) if alert_type is AlertType.DIFFUSION else ()
        alert = PoliceAlert(
            alert_type=alert_type,
            alert_reference=f"{alert_type.value[:3]}-{country}-{self.rng.randint(100000, 999999)}",
            issuing_country=country,
            issuing_agency=f"{country} national police",
            offence=self.rng.choice(("drug trafficking", "theft", "smuggling", "arms trafficking")),
            valid_until=(self.clock + timedelta(days=730)).date(),
            items=(item,),
            persons=persons,
        )
        envelope = self._envelope(
            source=SourceSystem.POLICE,
            record_id=self._record_id(f"POL-{country}"),
            country=country,
            agency=f"{country} national police",
            handling=self._handling(True),
            categories=tuple(sorted({p.category for p in persons})),
        )
        return Event(envelope=envelope, payload=alert)


def seizure_with(seizure: Seizure, item: WatchedItem) -> Seizure:
    """``seizure`` made to carry the watched ``item``: a firearm or a work of art becomes
    what was seized, a conveyance identifier what it was found in."""
    if item.kind is IdentifierKind.FIREARM_SERIAL:
        one = _as_commodity(seizure, "930200")
        return dataclasses.replace(one, firearm_serials=(item.identifier,), object_ids=())
    if item.kind is IdentifierKind.WORK_OF_ART_ID:
        one = _as_commodity(seizure, "970110")
        return dataclasses.replace(one, firearm_serials=(), object_ids=(item.identifier,))
    return dataclasses.replace(seizure, conveyance=_conveyance_with(seizure.conveyance, item))


def _as_commodity(seizure: Seizure, hs_code: str) -> Seizure:
    commodity = next(c for c in world.COMMODITIES if c.hs_code == hs_code)
    return dataclasses.replace(
        seizure,
        commodity_description=commodity.description,
        hs_code=commodity.hs_code,
        commodity_area=commodity.area,
        quantity=Quantity(amount=1.0, unit=commodity.unit),
    )


def _conveyance_with(conveyance: Conveyance, item: WatchedItem) -> Conveyance:
    if item.kind is IdentifierKind.VIN:
        return dataclasses.replace(conveyance, vin=item.identifier)
    if item.kind is IdentifierKind.IMO_NUMBER:
        return dataclasses.replace(conveyance, imo_number=item.identifier)
    if item.kind is IdentifierKind.CONTAINER_NUMBER:
        return dataclasses.replace(
            conveyance, container_numbers=(*conveyance.container_numbers, item.identifier)
        )
    return conveyance
