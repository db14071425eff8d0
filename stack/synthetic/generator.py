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
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.identity import record_key
from liaison.kafka.topics import INGEST_CEN, INGEST_CISPLUS, INGEST_POLICE, TopicSpec
from liaison.model import to_avro
from liaison.model.common import (
    Event,
    Operation,
    SourceSystem,
)
from liaison.model.customs import (
    CisRecord,
)
from liaison.model.police import PoliceAlert
from stack.synthetic.reports import History, ReportMaker, identifiers, key_of, seizure_with

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


class TrafficGenerator(ReportMaker):
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
        self._history = History()
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
            # Police may later raise an alert on what the record carries.
            self._remember_identifiers(record.event, key_of(record.event))
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
                    or key_of(e) in history.paired
                    or identifiers(e) & history.alerted  # a match by chance
                )
            )
        ]
        if not live:
            return None
        picked = self.rng.choice(live)
        history.changed.add(key_of(picked))
        history.changed_identifiers |= identifiers(picked)
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
        seizure = seizure_with(seizure, item)
        event = Event(envelope=envelope, payload=seizure)
        self._history.paired.add(key_of(event))
        return self._emit(Label.WATCHLIST_SEIZURE, event)

    def _alert_on_seen(self) -> SyntheticRecord | None:
        history = self._history
        seen = [
            (item, key)
            for item, key in history.seen_identifiers
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
