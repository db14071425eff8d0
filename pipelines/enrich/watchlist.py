"""The watchlist join: identifiers that police alerts watch for, found in customs records.

Both directions: a seizure or CIS+ record that involves a watched identifier
yields a hit, and so does a new alert on an identifier seen in a customs
record within the window. Identifiers are compared normalised (upper case,
without spaces, dashes, dots or slashes). Persons are matched on name and date
of birth, and kept only as a keyed digest (:class:`PersonKeys`): the watchlist
tables, and the hits, never hold a name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from liaison.errors import ConfigurationError
from liaison.handling import CODE_ORDER, strictest, weaker_evaluation
from liaison.identity import event_id_for, record_key
from liaison.model.common import (
    DataSubjectCategory,
    Envelope,
    Event,
    Lineage,
    Operation,
    Person,
    SienaHandlingCode,
    SourceSystem,
)
from liaison.model.customs import CisItem, CisRecord, Conveyance, Seizure
from liaison.model.exchange import MatchDirection, WatchlistHit
from liaison.model.police import IdentifierKind, PoliceAlert
from liaison.settings import Settings, env_name

__all__ = [
    "PersonKeys",
    "WatchKey",
    "alert_keys",
    "customs_keys",
    "erased_hit",
    "hit_record_id",
    "make_hit",
    "normalise",
]

_NOISE = re.compile(r"[\s\-./]")


@dataclass(frozen=True, order=True)
class WatchKey:
    kind: IdentifierKind
    identifier: str  # normalised; a digest for persons

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.identifier}"


def normalise(identifier: str) -> str:
    return _NOISE.sub("", identifier).upper()


class PersonKeys:
    """Persons as watch keys: an HMAC-SHA-256, under a secret of the deployment's
    (``LIAISON_PERSON_KEY``), of the normalised family and given names and the birth date.
    Whoever reads the watch topic or a table's changelog learns nothing of who is watched
    without the secret, and cannot test a guess."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ConfigurationError(f"{env_name('person_key')} must be at least 16 characters")
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> PersonKeys:
        if settings.person_key is None:
            raise ConfigurationError(
                f"set {env_name('person_key')}: the secret persons are matched under "
                "(the same in every worker; see the README on changing it)"
            )
        return cls(settings.person_key.get_secret_value().encode())

    def __repr__(self) -> str:
        return "PersonKeys(<secret>)"

    def document(self, number: str) -> WatchKey:
        """A travel document as a watch key: its number, normalised, under the same HMAC (a
        document number identifies a person, so it is never a key in the clear)."""
        message = f"DOCUMENT|{normalise(number)}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]
        return WatchKey(IdentifierKind.TRAVEL_DOCUMENT, digest)

    def __call__(self, person: Person) -> WatchKey | None:
        if not person.family_name or person.date_of_birth is None:
            return None
        text = unicodedata.normalize("NFKD", f"{person.family_name}|{person.given_names or ''}")
        plain = "".join(c for c in text if not unicodedata.combining(c)).upper()
        message = f"{' '.join(plain.split())}|{person.date_of_birth.isoformat()}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]
        return WatchKey(IdentifierKind.PERSON, digest)


def _documents(people: tuple[Person, ...], persons: PersonKeys) -> set[WatchKey]:
    return {persons.document(p.document_number) for p in people if p.document_number}


def alert_keys(alert: PoliceAlert, persons: PersonKeys) -> set[WatchKey]:
    """What an alert watches for."""
    keys = {
        persons.document(item.identifier)
        if item.kind is IdentifierKind.TRAVEL_DOCUMENT
        else WatchKey(item.kind, normalise(item.identifier))
        for item in alert.items
    }
    keys |= {k for k in map(persons, alert.persons) if k is not None}
    keys |= _documents(alert.persons, persons)
    keys |= {WatchKey(IdentifierKind.ORGANISATION, normalise(o.name)) for o in alert.organisations}
    return keys


def _conveyance_keys(conveyance: Conveyance | None) -> set[WatchKey]:
    if conveyance is None:
        return set()
    keys = {
        WatchKey(IdentifierKind.CONTAINER_NUMBER, normalise(c))
        for c in conveyance.container_numbers
    }
    for kind, value in (
        (IdentifierKind.VIN, conveyance.vin),
        (IdentifierKind.VEHICLE_REGISTRATION, conveyance.vehicle_registration),
        (IdentifierKind.IMO_NUMBER, conveyance.imo_number),
    ):
        if value:
            keys.add(WatchKey(kind, normalise(value)))
    return keys


def _object_keys(holders: tuple[Seizure, ...] | tuple[CisItem, ...]) -> set[WatchKey]:
    """Firearm serials and object ids. An object id is sought under both kinds an alert may
    give it: a work of art's (WORK_OF_ART_ID) and any other unique object's (OBJECT_ID)."""
    keys: set[WatchKey] = set()
    for holder in holders:
        keys |= {
            WatchKey(IdentifierKind.FIREARM_SERIAL, normalise(s)) for s in holder.firearm_serials
        }
        for object_id in map(normalise, holder.object_ids):
            keys.add(WatchKey(IdentifierKind.WORK_OF_ART_ID, object_id))
            keys.add(WatchKey(IdentifierKind.OBJECT_ID, object_id))
    return keys


def customs_keys(event: Event, persons: PersonKeys) -> set[WatchKey]:
    """The identifiers a seizure or a CIS+ record involves."""
    payload = event.payload
    if not isinstance(payload, Seizure | CisRecord):
        return set()
    keys = _conveyance_keys(payload.conveyance)
    keys |= _object_keys((payload,) if isinstance(payload, Seizure) else payload.items)
    keys |= {k for k in map(persons, payload.persons) if k is not None}
    keys |= _documents(payload.persons, persons)
    keys |= {
        WatchKey(IdentifierKind.ORGANISATION, normalise(o.name)) for o in payload.organisations
    }
    return keys


_HIT_NAMESPACE = uuid.UUID("5b0f3d52-94c1-5e7a-8a2b-6c4d1e9f7a30")


def _record(event: Event) -> str:
    return record_key(event)


def hit_record_id(customs_record: str, alert_record: str, kind: IdentifierKind) -> str:
    """The record id of the hit between two records (their :func:`record_key`) on ``kind``.
    A hit is about two records, not two versions of them: named by the records, it keeps
    its identity whichever versions met first (an amendment does not make a second hit)."""
    return f"HIT:{uuid.uuid5(_HIT_NAMESPACE, f'{customs_record}:{alert_record}')}:{kind.value}"


def _matched_categories(
    events: tuple[Event, ...], key: WatchKey, persons: PersonKeys
) -> tuple[DataSubjectCategory, ...]:
    """The data-subject categories of the persons a person match is about, on both sides."""
    if key.kind not in (IdentifierKind.PERSON, IdentifierKind.TRAVEL_DOCUMENT):
        return ()
    found = {
        person.category
        for event in events
        for person in getattr(event.payload, "persons", ())
        if key in (persons(person), persons.document(person.document_number or ""))
    }
    return tuple(sorted(found))


def make_hit(
    customs: Event, alert: Event, key: WatchKey, direction: MatchDirection, persons: PersonKeys
) -> Event:
    """The watchlist-hit event for one match, reported by Liaison itself. A hit tells of
    both records, so it takes the strictest conditions of both (:mod:`liaison.handling`),
    the weaker evaluation, and, for a person match, the data-subject categories of that
    person on either side."""
    if not isinstance(alert.payload, PoliceAlert):
        raise TypeError("the second event must be a police alert")
    record_id = hit_record_id(_record(customs), _record(alert), key.kind)
    newer = max(customs.envelope.ingest_time, alert.envelope.ingest_time)
    envelope = Envelope(
        event_id=event_id_for(SourceSystem.LIAISON, record_id, 1),
        source_system=SourceSystem.LIAISON,
        source_record_id=record_id,
        version=1,
        operation=Operation.UPSERT,
        reporting_country=alert.envelope.reporting_country,
        reporting_agency="Liaison watchlist join",
        event_time=newer,
        report_time=newer,
        ingest_time=newer,
        handling=strictest(customs.envelope.handling, alert.envelope.handling),
        evaluation=weaker_evaluation(customs.envelope.evaluation, alert.envelope.evaluation),
        data_subject_categories=_matched_categories((customs, alert), key, persons),
        lineage=Lineage(),
    )
    hit = WatchlistHit(
        direction=direction,
        customs_event_id=customs.envelope.event_id,
        alert_event_id=alert.envelope.event_id,
        alert_reference=alert.payload.alert_reference,
        alert_type=alert.payload.alert_type,
        matched_kind=key.kind,
        matched_identifier=key.identifier,
        rule=f"exact-{key.kind.value.lower().replace('_', '-')}",
        customs_reporting_country=customs.envelope.reporting_country,
        # An alert under H3 restrictions is not shown to the administration that seized.
        seizing_side_excluded=alert.envelope.handling.handling_code is SienaHandlingCode.H3,
        input_handling_codes=tuple(
            sorted(
                {customs.envelope.handling.handling_code, alert.envelope.handling.handling_code},
                key=CODE_ORDER.index,
            )
        ),
    )
    return Event(envelope=envelope, payload=hit)


def erased_hit(hit: Event, at: datetime) -> Event:
    """The erasure of ``hit`` (made by :func:`make_hit` for the same two records), at ``at``:
    once the customs record or the alert is erased, the hit about them goes too, to every
    partner that received it."""
    record_id = hit.envelope.source_record_id
    envelope = dataclasses.replace(
        hit.envelope,
        event_id=event_id_for(SourceSystem.LIAISON, record_id, 2),
        version=2,
        operation=Operation.ERASURE,
        event_time=at,
        report_time=at,
        ingest_time=at,
    )
    return dataclasses.replace(hit, envelope=envelope)
