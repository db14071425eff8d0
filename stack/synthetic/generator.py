"""A reproducible stream of ingest records with the messiness the pipeline must absorb.

Base reports (CEN and nCEN seizures, CIS+ records, police alerts) are mixed with
what real exchanges produce around them, each in a configurable share:

- the CEN copy of a CIS+ seizure (the automated CIS+ to CEN link): another id,
  no personal data, the quantity in kilograms rounded where CIS+ gave grams;
- exact replays of a record already sent;
- amendments (a higher version) and, behind some of them, a late stale version;
- erasures of a record already sent;
- seizures whose vehicle, vessel or container is on a police watchlist, and
  alerts on an identifier seen in a recent seizure;
- malformed records: bytes that do not decode, and events with invalid values.

Every record says what it is (its :class:`Label`), so tests can check what the
pipeline made of it. The same seed gives the same records, byte for byte.
"""

from __future__ import annotations

import dataclasses
import random
import string
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.identity import event_id_for, record_key
from liaison.kafka.topics import INGEST_CEN, INGEST_CISPLUS, INGEST_POLICE, TopicSpec
from liaison.model import to_avro
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

__all__ = ["Label", "SyntheticRecord", "TrafficGenerator", "TrafficMix"]


class Label(StrEnum):
    """What a synthetic record is, for checking what the pipeline made of it."""

    SEIZURE = "seizure"
    CIS_RECORD = "cis-record"
    ALERT = "alert"
    CROSS_SOURCE_COPY = "cross-source-copy"
    REPLAY = "replay"
    AMENDMENT = "amendment"
    STALE = "stale"
    ERASURE = "erasure"
    WATCHLIST_SEIZURE = "watchlist-seizure"
    ALERT_ON_SEEN = "alert-on-seen"
    MALFORMED_BYTES = "malformed-bytes"
    INVALID_VALUES = "invalid-values"


@dataclass(frozen=True)
class TrafficMix:
    """Shares of each kind of record, as fractions of all records made.

    A stale version always comes behind an amendment made for it, so the
    amendments counted include one per stale version.
    """

    cross_source: float = 0.08
    replay: float = 0.04
    amendment: float = 0.05
    stale: float = 0.02
    erasure: float = 0.01
    watchlist: float = 0.04
    alert_on_seen: float = 0.02
    malformed: float = 0.01
    invalid: float = 0.01
    # Among base reports: the share of police alerts and of CIS+ records.
    alerts: float = 0.15
    cis_records: float = 0.25
    # Whether amendments and erasures may touch the records of a watchlist match: police
    # alerts, and the customs records a match is made for. Off, a change to either side
    # never races the match it takes part in, so the hits do not depend on processing
    # order (what a benchmark comparing implementations needs).
    amend_watch_parties: bool = True

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool):
                continue
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"share {item.name} must be between 0 and 1")
        if self.cross_source + self.stale >= 0.5 or self.derived_total() > 0.9:
            raise ValueError("derived shares add up to more than 0.9: no room for base reports")

    @property
    def draw_scale(self) -> float:
        """Cross-source pairs and stale versions add a record to a draw: draw more often."""
        return 1.0 / (1.0 - self.cross_source - self.stale)

    def derived_total(self) -> float:
        """The chance that one draw makes a derived record."""
        return self.draw_scale * sum(
            float(getattr(self, name))
            for name in (
                "cross_source",
                "replay",
                "amendment",
                "stale",
                "erasure",
                "watchlist",
                "alert_on_seen",
                "malformed",
                "invalid",
            )
        )


@dataclass(frozen=True)
class SyntheticRecord:
    label: Label
    topic: TopicSpec
    key: bytes
    value: bytes
    event: Event | None  # None when the bytes are malformed on purpose
    basis: Event | None = None  # for malformed bytes: the event they were broken from


_TOPICS = {
    SourceSystem.CEN: INGEST_CEN,
    SourceSystem.NCEN: INGEST_CEN,
    SourceSystem.CIS_PLUS: INGEST_CISPLUS,
    SourceSystem.POLICE: INGEST_POLICE,
}
# Records that later ones never amend, erase or replay: broken ones, and versions
# that are not the newest.
_NOT_REFERRED_TO = {Label.INVALID_VALUES, Label.MALFORMED_BYTES, Label.STALE, Label.REPLAY}
_PARTNERS = ("EUROPOL", "INTERPOL", "OLAF", "WCO-RILO-WE", "NL-POLICE", "BE-CUSTOMS", "DE-BKA")


Key = tuple[SourceSystem, str]


def _key(event: Event) -> Key:
    return (event.envelope.source_system, event.envelope.source_record_id)


def _identifiers(event: Event) -> set[str]:
    """The conveyance identifiers a customs record carries (what alerts can watch)."""
    conveyance = getattr(event.payload, "conveyance", None)
    if conveyance is None:
        return set()
    found = {conveyance.vin, conveyance.imo_number, *conveyance.container_numbers}
    return {identifier for identifier in found if identifier}


@dataclass
class _History:
    """What has been sent, so that derived records can refer back to it."""

    latest: dict[tuple[SourceSystem, str], Event] = field(default_factory=dict)
    sent: deque[SyntheticRecord] = field(default_factory=lambda: deque(maxlen=5000))
    watched: deque[WatchedItem] = field(default_factory=lambda: deque(maxlen=500))
    # Identifiers seized, with the record that carried them.
    seen_conveyances: deque[tuple[WatchedItem, Key]] = field(
        default_factory=lambda: deque(maxlen=500)
    )
    paired: set[Key] = field(default_factory=set)  # records a match was made for
    changed: set[Key] = field(default_factory=set)  # records amended or erased
    alerted: set[str] = field(default_factory=set)  # identifiers police alerts watch
    changed_identifiers: set[str] = field(default_factory=set)  # those of changed records
    pending: deque[tuple[int, SyntheticRecord]] = field(default_factory=deque)


class TrafficGenerator:
    """An endless, seeded stream of :class:`SyntheticRecord`; ``counts`` tells what it made."""

    def __init__(
        self,
        seed: int = 7,
        mix: TrafficMix | None = None,
        start: datetime = datetime(2026, 11, 2, 6, 0, tzinfo=UTC),
        codec: AvroCodec | None = None,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.mix = mix or TrafficMix()
        self.codec = codec or AvroCodec(EVENT)
        self.clock = start
        self.counts: Counter[Label] = Counter()
        self._history = _History()
        self._step = 0
        self._serial = 0

    def __iter__(self) -> Iterator[SyntheticRecord]:
        while True:
            yield self.next()

    def take(self, count: int) -> list[SyntheticRecord]:
        return [self.next() for _ in range(count)]

    def cen_copy(self, record: SyntheticRecord) -> SyntheticRecord:
        """The CEN copy of a CIS+ seizure record made earlier, as the CIS+ to CEN link would
        send it; for scenarios that need the copy at a moment of their choosing."""
        event = record.event
        if event is None or not isinstance(event.payload, CisRecord):
            raise ValueError("a CEN copy is made of a CIS+ record")
        return self._emit(Label.CROSS_SOURCE_COPY, self._cen_copy_of(event.envelope, event.payload))

    def report(self) -> dict[str, float]:
        """Records made so far by label, with each label's share."""
        total = sum(self.counts.values()) or 1
        return {label.value: self.counts[label] / total for label in Label}

    # -- the stream -------------------------------------------------------

    def next(self) -> SyntheticRecord:
        self._step += 1
        # Whole milliseconds: the schemas' timestamps keep no finer time.
        self.clock += timedelta(milliseconds=self.rng.randint(1_000, 90_000))
        history = self._history
        if history.pending and history.pending[0][0] <= self._step:
            record = history.pending.popleft()[1]
        else:
            record = self._draw()
        self.counts[record.label] += 1
        if record.event is not None and record.label not in _NOT_REFERRED_TO:
            envelope = record.event.envelope
            history.latest[(envelope.source_system, envelope.source_record_id)] = record.event
            history.sent.append(record)
            conveyance = getattr(record.event.payload, "conveyance", None)
            if conveyance is not None:  # police may later raise an alert on it
                self._remember_conveyance(conveyance, _key(record.event))
        return record

    def _draw(self) -> SyntheticRecord:
        mix, roll = self.mix, self.rng.random() / self.mix.draw_scale
        choices = (
            (mix.cross_source, self._cross_source_pair),
            (mix.replay, self._replay),
            (mix.amendment, self._amendment),
            (mix.stale, self._amendment_with_stale),
            (mix.erasure, self._erasure),
            (mix.watchlist, self._watchlist_seizure),
            (mix.alert_on_seen, self._alert_on_seen),
            (mix.malformed, self._malformed),
            (mix.invalid, self._invalid),
        )
        for share, make in choices:
            if roll < share:
                record = make()
                if record is not None:
                    return record
                break  # nothing to refer back to yet: send a base report instead
            roll -= share
        return self._base()

    def _base(self) -> SyntheticRecord:
        roll = self.rng.random()
        if roll < self.mix.alerts:
            return self._emit(Label.ALERT, self._alert())
        if roll < self.mix.alerts + self.mix.cis_records:
            return self._emit(Label.CIS_RECORD, self._cis_record())
        return self._emit(Label.SEIZURE, self._seizure())

    def _emit(self, label: Label, event: Event) -> SyntheticRecord:
        """The record for ``event``; it counts as sent only once ``next`` returns it."""
        envelope = event.envelope
        return SyntheticRecord(
            label,
            _TOPICS[envelope.source_system],
            record_key(event).encode(),
            self.codec.encode(to_avro(event)),
            event,
        )

    # -- derived records --------------------------------------------------

    def _cross_source_pair(self) -> SyntheticRecord:
        envelope, cis = self._cis_parts(cross_border_goods=True)
        record = self._emit(Label.CIS_RECORD, Event(envelope=envelope, payload=cis))
        # The CEN copy follows within the day, through the automated link.
        copy = self._cen_copy_of(envelope, cis)
        self._history.pending.append(
            (self._step + self.rng.randint(1, 20), self._emit(Label.CROSS_SOURCE_COPY, copy))
        )
        return record

    def _replay(self) -> SyntheticRecord | None:
        if not self._history.sent:
            return None
        original = self.rng.choice(self._history.sent)
        return dataclasses.replace(original, label=Label.REPLAY)

    def _pick_latest(self) -> Event | None:
        history = self._history
        live = [
            e
            for e in history.latest.values()
            if e.envelope.operation is not Operation.ERASURE
            and (
                self.mix.amend_watch_parties
                or not (
                    isinstance(e.payload, PoliceAlert)
                    or _key(e) in history.paired
                    or _identifiers(e) & history.alerted  # a match by chance
                )
            )
        ]
        if not live:
            return None
        picked = self.rng.choice(live)
        history.changed.add(_key(picked))
        history.changed_identifiers |= _identifiers(picked)
        return picked

    def _amendment(self) -> SyntheticRecord | None:
        previous = self._pick_latest()
        if previous is None:
            return None
        return self._emit(Label.AMENDMENT, self._next_version(previous, Operation.CORRECTION))

    def _amendment_with_stale(self) -> SyntheticRecord | None:
        previous = self._pick_latest()
        if previous is None:
            return None
        middle = self._next_version(previous, Operation.UPSERT)
        newest = self._next_version(middle, Operation.UPSERT)
        record = self._emit(Label.AMENDMENT, newest)
        # The middle version arrives late, after the newest: stale.
        stale = SyntheticRecord(
            Label.STALE, record.topic, record.key, self.codec.encode(to_avro(middle)), middle
        )
        self._history.pending.append((self._step + self.rng.randint(1, 10), stale))
        return record

    def _erasure(self) -> SyntheticRecord | None:
        previous = self._pick_latest()
        if previous is None:
            return None
        return self._emit(Label.ERASURE, self._next_version(previous, Operation.ERASURE))

    def _watchlist_seizure(self) -> SyntheticRecord | None:
        if not self._history.watched:
            return None
        item = self.rng.choice(self._history.watched)
        envelope, seizure = self._seizure_parts()
        seizure = dataclasses.replace(
            seizure, conveyance=_conveyance_with(seizure.conveyance, item)
        )
        event = Event(envelope=envelope, payload=seizure)
        self._history.paired.add(_key(event))
        return self._emit(Label.WATCHLIST_SEIZURE, event)

    def _alert_on_seen(self) -> SyntheticRecord | None:
        history = self._history
        seen = [
            (item, key)
            for item, key in history.seen_conveyances
            if self.mix.amend_watch_parties or key not in history.changed
        ]
        if not seen:
            return None
        item, key = self.rng.choice(seen)
        history.paired.add(key)
        alert = self._alert(item=item)
        return self._emit(Label.ALERT_ON_SEEN, alert)

    def _malformed(self) -> SyntheticRecord:
        envelope, seizure = self._seizure_parts()
        good = self._emit(Label.SEIZURE, Event(envelope=envelope, payload=seizure))
        damage = self.rng.choice(("truncate", "marker", "json"))
        if damage == "truncate":
            value = good.value[: self.rng.randint(11, len(good.value) - 1)]
        elif damage == "marker":
            value = b"\x00\x00" + good.value[2:]
        else:
            value = b'{"source_system": "CEN", "note": "sent as JSON by mistake"}'
        return SyntheticRecord(Label.MALFORMED_BYTES, good.topic, good.key, value, None, good.event)

    def _invalid(self) -> SyntheticRecord:
        envelope, seizure = self._seizure_parts()
        broken_route = dataclasses.replace(seizure.route, origin_country="ZZ")
        seizure = dataclasses.replace(seizure, route=broken_route)
        return self._emit(Label.INVALID_VALUES, Event(envelope=envelope, payload=seizure))

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

    def _remember_conveyance(self, conveyance: Conveyance, key: Key) -> None:
        seen = self._history.seen_conveyances
        if conveyance.vin:
            seen.append((WatchedItem(kind=IdentifierKind.VIN, identifier=conveyance.vin), key))
        for number in conveyance.container_numbers:
            item = WatchedItem(kind=IdentifierKind.CONTAINER_NUMBER, identifier=number)
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
                )
            )
            make = {
                IdentifierKind.VIN: self._vin,
                IdentifierKind.CONTAINER_NUMBER: self._container,
                IdentifierKind.IMO_NUMBER: self._imo,
                IdentifierKind.FIREARM_SERIAL: self._firearm_serial,
            }[kind]
            identifier = make()
            # Without changes to watch parties, no alert by chance on a record already
            # changed either: that match would race the change.
            while not self.mix.amend_watch_parties and (
                identifier in self._history.changed_identifiers
            ):
                identifier = make()
            item = WatchedItem(kind=kind, identifier=identifier)
            if kind is not IdentifierKind.FIREARM_SERIAL:  # seizures can carry the others
                self._history.watched.append(item)
        self._history.alerted.add(item.identifier)
        alert_type = {
            IdentifierKind.VIN: AlertType.STOLEN_VEHICLE,
            IdentifierKind.FIREARM_SERIAL: AlertType.FIREARM,
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
