"""Lawful disclosure on the running worker, read back as raw bytes from every partner topic:
a tightening correction and a plain amendment reach earlier recipients in full only where
they may still have the record, as a content-free notice otherwise; a restricted seizure
matched by an open alert makes a hit that only partners allowed both records receive."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

import pytest

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.identity import event_id_for, record_key
from liaison.kafka.client import KafkaConsumer, consumer_config
from liaison.kafka.topics import INGEST_CEN, INGEST_POLICE
from liaison.model import from_avro, to_avro
from liaison.model.common import (
    DocumentType,
    Event,
    HandlingConditions,
    Operation,
    SienaHandlingCode,
    SourceSystem,
    TlpLevel,
)
from liaison.model.customs import Conveyance, Seizure
from liaison.model.exchange import NoticeAction, NoticeReason, RestrictionNotice, WatchlistHit
from liaison.model.police import AlertType, IdentifierKind, PoliceAlert, WatchedItem
from liaison.policy import DEFAULT_POLICY, load_policy
from liaison.validation import container_check_digit
from pipelines.sweep import partition_of
from stack.synthetic.generator import Label, SyntheticRecord
from tests.integration.conftest import liaison_env, run_liaison
from tests.integration.test_pipeline import Output, Worker, collect, send
from tests.samples import realistic_seizure

pytestmark = pytest.mark.integration

POLICY = load_policy()
CODEC = AvroCodec(EVENT)
OPEN = HandlingConditions(
    handling_code=SienaHandlingCode.H1,
    tlp=TlpLevel.AMBER,
    purpose="prevention and detection of drug trafficking",
    legal_basis="Regulation (EC) 515/97",
)
FOR_EUROPOL_ONLY = dataclasses.replace(
    OPEN, handling_code=SienaHandlingCode.H2, releasable_to=("EUROPOL",)
)


def _version(event: Event, version: int, operation: Operation, handling, hours: int) -> Event:
    envelope = event.envelope
    return dataclasses.replace(
        event,
        envelope=dataclasses.replace(
            envelope,
            event_id=event_id_for(envelope.source_system, envelope.source_record_id, version),
            version=version,
            operation=operation,
            handling=handling,
            report_time=envelope.report_time + timedelta(hours=hours),
            ingest_time=envelope.ingest_time + timedelta(hours=hours),
        ),
    )


def _record(event: Event, label: Label) -> SyntheticRecord:
    topic = INGEST_POLICE if isinstance(event.payload, PoliceAlert) else INGEST_CEN
    return SyntheticRecord(
        label, topic, record_key(event).encode(), CODEC.encode(to_avro(event)), event
    )


def _raw(settings, group: str) -> dict[str, list[bytes]]:
    """Every record on every partner topic, as bytes."""
    topics = {settings.topic_prefix + p.topic: p.id for p in POLICY.partners}
    found: dict[str, list[bytes]] = {}
    with KafkaConsumer(consumer_config(settings, group), list(topics)) as consumer:
        empty = 0
        while empty < 6:
            batch = consumer.consume(500, timeout_s=0.5)
            empty = 0 if batch else empty + 1
            for message in batch:
                found.setdefault(topics[message.topic() or ""], []).append(message.value() or b"")
    return found


def _block(lines: list[str], version: int) -> list[str]:
    """The lines of the trail under ``version N``."""
    start = next(n for n, line in enumerate(lines) if line.split()[:2] == ["version", str(version)])
    end = next(
        (n for n in range(start + 1, len(lines)) if lines[n].startswith("  version ")), len(lines)
    )
    return lines[start + 1 : end]


def _versions_of(out: Output, record_id: str) -> dict[str, list[Event]]:
    return {
        partner: [e for e in events if e.envelope.source_record_id == record_id]
        for partner, events in out.deliveries.items()
        if any(e.envelope.source_record_id == record_id for e in events)
    }


def _open_alert(base: Event, record_id: str, ingest_time) -> Event:
    """An open (H0, TLP:GREEN) German alert on the IMO number of the sample seizure."""
    return dataclasses.replace(
        base,
        envelope=dataclasses.replace(
            base.envelope,
            event_id=event_id_for(SourceSystem.POLICE, record_id, 1),
            source_system=SourceSystem.POLICE,
            source_record_id=record_id,
            version=1,
            operation=Operation.UPSERT,
            reporting_country="DE",
            reporting_agency="DE police",
            handling=dataclasses.replace(
                OPEN, handling_code=SienaHandlingCode.H0, tlp=TlpLevel.GREEN
            ),
            data_subject_categories=(),
            ingest_time=ingest_time or base.envelope.ingest_time + timedelta(hours=1),
        ),
        payload=PoliceAlert(
            alert_type=AlertType.NOTICE_BLUE,
            alert_reference=f"{record_id}-REF",
            issuing_country="DE",
            issuing_agency="DE police",
            items=(WatchedItem(kind=IdentifierKind.IMO_NUMBER, identifier="9321483"),),
        ),
    )


def test_a_tightening_correction_and_an_amendment_disclose_nothing_to_the_no_longer_entitled(
    declared_topics, pipeline
):
    settings = declared_topics
    seizure = realistic_seizure()
    first = _version(seizure, 1, Operation.UPSERT, OPEN, 0)
    record_id = first.envelope.source_record_id
    send(settings, [_record(first, Label.SEIZURE)])
    out = collect(settings, "disclose-1", lambda o: bool(_versions_of(o, record_id)))
    earlier = set(_versions_of(out, record_id))
    assert {"EUROPOL", "WCO-CEN", "INTERPOL"} <= earlier  # H1/AMBER drugs: widely shared

    # Corrected to H2 for Europol only, then amended (a plain UPSERT) under the same terms.
    correction = _version(seizure, 2, Operation.CORRECTION, FOR_EUROPOL_ONLY, 1)
    amendment = _version(seizure, 3, Operation.UPSERT, FOR_EUROPOL_ONLY, 2)
    send(settings, [_record(correction, Label.AMENDMENT), _record(amendment, Label.AMENDMENT)])

    def both_told(o: Output) -> bool:
        got = _versions_of(o, record_id)
        return all({e.envelope.version for e in got.get(p, [])} >= {2, 3} for p in earlier)

    out = collect(settings, "disclose-2", both_told)
    got = _versions_of(out, record_id)
    assert set(got) == earlier  # nobody new hears of it; every earlier recipient does
    for partner, events in got.items():
        for event in (e for e in events if e.envelope.version in (2, 3)):
            if partner == "EUROPOL":
                assert event.payload == seizure.payload  # the named recipient: in full
                assert event.envelope.handling == FOR_EUROPOL_ONLY
            else:
                assert isinstance(event.payload, RestrictionNotice), partner
                assert event.payload.action is NoticeAction.RESTRICT
                assert event.envelope.handling.handling_code is SienaHandlingCode.H0

    # The raw bytes at every partner but Europol hold nothing of the corrected versions.
    secret = seizure.payload.concealment.encode()  # type: ignore[union-attr]
    raw = _raw(settings, "disclose-raw")
    for partner, values in raw.items():
        versions = [from_avro(Event, CODEC.decode(v)) for v in values]
        for value, event in zip(values, versions, strict=True):
            if event.envelope.source_record_id == record_id and event.envelope.version > 1:
                assert (secret in value) == (partner == "EUROPOL"), partner
    audits = [
        a for a in out.audits if a["source_record_id"] == record_id and a["event_version"] > 1
    ]
    notices = {a["partner_id"] for a in audits if a["rule_id"].endswith("/restriction-notice")}
    assert notices == earlier - {"EUROPOL"}
    # Each audit names the policy that decided and the hash of the very bytes delivered.
    sent = {(p, hashlib.sha256(v).hexdigest()) for p, values in raw.items() for v in values}
    for audit in (a for a in out.audits if a["source_record_id"] == record_id):
        assert audit["policy_digest"] == POLICY.digest
        assert (audit["partner_id"], audit["content_sha256"]) in sent
    # The refusals are on the record though Europol received the correction.
    (refused,) = [
        o for o in out.refused if o["source_record_id"] == record_id and o["version"] == 2
    ]
    assert refused["stage"] == "route"
    for partner in earlier - {"EUROPOL"}:
        assert f"{partner}: " in refused["reason"]
    assert "restriction notice" in refused["reason"]

    # The auditor's question, answered from the topics: who got what of this record, when.
    shown = run_liaison("audit", "trail", f"NCEN:{record_id}", env=liaison_env(settings))
    assert shown.returncode == 0, shown.stderr
    print(shown.stdout)  # the README shows this output
    lines = shown.stdout.splitlines()
    assert lines[0] == f"NCEN:{record_id}"
    assert [line.split()[1] for line in lines if line.startswith("  version ")] == ["1", "2", "3"]
    for number in (2, 3):
        block = _block(lines, number)
        assert any("EUROPOL" in line and " in full " in line for line in block)
        for partner in earlier - {"EUROPOL"}:
            assert any(partner in line and " notice " in line for line in block), partner
            assert any(line.split()[:2] == ["refused", partner] for line in block), partner
    assert POLICY.digest[:19] in shown.stdout


def test_a_restricted_seizure_matched_by_an_open_alert_makes_a_hit_only_europol_receives(
    declared_topics, pipeline
):
    settings = declared_topics
    seizure = _version(realistic_seizure(), 1, Operation.UPSERT, FOR_EUROPOL_ONLY, 0)
    alert = _open_alert(realistic_seizure(), "DE-ALERT-77", None)
    send(settings, [_record(seizure, Label.SEIZURE)])
    send(settings, [_record(alert, Label.ALERT)])

    def hits(o: Output) -> dict[str, list[Event]]:
        return {
            partner: [e for e in events if isinstance(e.payload, WatchlistHit)]
            for partner, events in o.deliveries.items()
            if any(isinstance(e.payload, WatchlistHit) for e in events)
        }

    out = collect(settings, "disclose-hit", lambda o: bool(hits(o)))
    made = hits(out)
    assert set(made) == {"EUROPOL"}  # the open alert alone would have gone to DE-BKA too
    (hit,) = made["EUROPOL"]
    assert hit.envelope.handling.handling_code is SienaHandlingCode.H2
    assert hit.envelope.handling.releasable_to == ("EUROPOL",)


def test_a_widening_correction_reaches_the_newly_entitled_and_a_stolen_document_is_matched(
    declared_topics, pipeline
):
    settings = declared_topics
    base = _version(realistic_seizure(), 1, Operation.UPSERT, FOR_EUROPOL_ONLY, 0)
    narrow = _renamed(base, "NL-NCEN-2026-WIDE-1")
    # A suspect carrying a passport that an SLTD alert reports stolen.
    assert isinstance(base.payload, Seizure)
    (suspect,) = base.payload.persons
    carrying = dataclasses.replace(
        suspect, document_type=DocumentType.PASSPORT, document_number="P 1234567"
    )
    carried = dataclasses.replace(
        _renamed(_version(base, 1, Operation.UPSERT, OPEN, 0), "NL-NCEN-2026-DOC-1"),
        payload=dataclasses.replace(base.payload, persons=(carrying,)),
    )
    alert = _open_alert(base, "DE-SLTD-5", base.envelope.ingest_time + timedelta(hours=2))
    assert isinstance(alert.payload, PoliceAlert)
    alert = dataclasses.replace(
        alert,
        payload=dataclasses.replace(
            alert.payload,
            alert_type=AlertType.TRAVEL_DOCUMENT,
            items=(WatchedItem(kind=IdentifierKind.TRAVEL_DOCUMENT, identifier="P1234567"),),
        ),
    )
    send(settings, [_record(narrow, Label.SEIZURE), _record(carried, Label.SEIZURE)])
    out = collect(settings, "widen-1", lambda o: bool(_versions_of(o, "NL-NCEN-2026-WIDE-1")))
    assert set(_versions_of(out, "NL-NCEN-2026-WIDE-1")) == {"EUROPOL"}

    # Corrected to open terms: the newly entitled get it in full, Europol the new version.
    widened = _renamed(_version(base, 2, Operation.CORRECTION, OPEN, 1), "NL-NCEN-2026-WIDE-1")
    send(settings, [_record(widened, Label.AMENDMENT), _record(alert, Label.ALERT)])

    def hits(o: Output) -> list[tuple[str, Event]]:
        return [
            (partner, e)
            for partner, events in o.deliveries.items()
            for e in events
            if isinstance(e.payload, WatchlistHit)
        ]

    def done(o: Output) -> bool:
        got = _versions_of(o, "NL-NCEN-2026-WIDE-1")
        return len(got) > 2 and bool(hits(o))

    out = collect(settings, "widen-2", done)
    got = _versions_of(out, "NL-NCEN-2026-WIDE-1")
    assert {"EUROPOL", "INTERPOL", "WCO-CEN"} <= set(got)
    for partner, events in got.items():
        second = [e for e in events if e.envelope.version == 2]
        assert len(second) == 1, partner
        assert isinstance(second[0].payload, Seizure), partner  # in full, never a notice
        assert second[0].envelope.handling == OPEN
    # The stolen passport matched the suspect carrying it; the hit holds no document number.
    found = hits(out)
    assert found
    for _, hit in found:
        assert isinstance(hit.payload, WatchlistHit)
        assert hit.payload.matched_kind is IdentifierKind.TRAVEL_DOCUMENT
        assert hit.envelope.data_subject_categories == (suspect.category,)
    for partner, values in _raw(settings, "widen-raw").items():
        for value in values:
            event = from_avro(Event, CODEC.decode(value))
            if isinstance(event.payload, WatchlistHit):
                assert b"1234567" not in value, partner


def _renamed(event: Event, record_id: str, **envelope) -> Event:
    system = event.envelope.source_system
    return dataclasses.replace(
        event,
        envelope=dataclasses.replace(
            event.envelope,
            event_id=event_id_for(system, record_id, event.envelope.version),
            source_record_id=record_id,
            **envelope,
        ),
    )


def _in_partition(base: Event, prefix: str, partition: int, **envelope) -> Event:
    """``base`` renamed ``<prefix>-<n>`` for the first n whose route key is in ``partition``."""
    return next(
        candidate
        for n in range(500)
        for candidate in [_renamed(base, f"{prefix}-{n}", **envelope)]
        if partition_of(record_key(candidate).encode(), 12) == partition
    )


def test_retention_ends_at_every_recipient_a_late_record_goes_nowhere_and_owners_are_reminded(
    declared_topics, admin, tmp_path
):
    # The owner of a record sent by the CIS+ gateway hears of reviews through BE-CUSTOMS.
    policy = tmp_path / "routing.toml"
    text = DEFAULT_POLICY.read_text()
    bound = 'id = "CISPLUS-GATEWAY"\nsystems = ["CIS_PLUS"]\ncountries = ["*"]\n'
    assert bound in text
    policy.write_text(text.replace(bound, bound + 'notices_to = "BE-CUSTOMS"\n'))
    settings = declared_topics.model_copy(update={"state_sweep_every": 1, "routing_policy": policy})
    running = Worker(settings, admin, tmp_path / "worker.log")
    running.start()
    try:
        base = _version(realistic_seizure(), 1, Operation.UPSERT, OPEN, 0)
        t0 = base.envelope.ingest_time
        kept = dataclasses.replace(OPEN, retention_until=(t0 + timedelta(days=2)).date())
        record = _renamed(base, "NL-NCEN-2026-RET-1", handling=kept)
        partition = partition_of(record_key(record).encode(), 12)
        # Another, held for years but to be reviewed in six weeks, from the gateway.
        reviewed = _in_partition(
            base,
            "NL-NCEN-2026-REV",
            partition,
            handling=dataclasses.replace(OPEN, review_date=(t0 + timedelta(days=40)).date()),
            submitted_by="CISPLUS-GATEWAY",
        )
        review_id = reviewed.envelope.source_record_id
        send(settings, [_record(record, Label.SEIZURE), _record(reviewed, Label.SEIZURE)])
        out = collect(
            settings,
            "retain-1",
            lambda o: bool(_versions_of(o, "NL-NCEN-2026-RET-1") and _versions_of(o, review_id)),
        )
        holders = set(_versions_of(out, "NL-NCEN-2026-RET-1"))
        assert {"EUROPOL", "INTERPOL", "WCO-CEN"} <= holders
        assert not any(
            isinstance(e.payload, RestrictionNotice) for e in out.deliveries["BE-CUSTOMS"]
        )

        # Days later (event time), another record routed in the same partition: the sweep
        # ends the first one's retention. A record that comes in already past its own
        # retention date goes to nobody.
        later = t0 + timedelta(days=12)  # past the first's retention, near the other's review
        late = _in_partition(base, "NL-NCEN-2026-LATE", partition, handling=kept, ingest_time=later)
        send(settings, [_record(late, Label.SEIZURE)])
        late_id = late.envelope.source_record_id

        def erased(o: Output) -> bool:
            got = _versions_of(o, "NL-NCEN-2026-RET-1")
            notices = {
                p
                for p, events in got.items()
                for e in events
                if isinstance(e.payload, RestrictionNotice)
            }
            reminded = any(
                isinstance(e.payload, RestrictionNotice)
                for e in got_review(o).get("BE-CUSTOMS", [])
            )
            return (
                notices == holders
                and reminded
                and any(d["source_record_id"] == late_id for d in o.dropped.values())
            )

        def got_review(o: Output) -> dict[str, list[Event]]:
            return _versions_of(o, review_id)

        out = collect(settings, "retain-2", erased)
        for events in _versions_of(out, "NL-NCEN-2026-RET-1").values():
            (notice,) = [e for e in events if isinstance(e.payload, RestrictionNotice)]
            assert isinstance(notice.payload, RestrictionNotice)
            assert notice.payload.action is NoticeAction.ERASE
            assert notice.payload.reason is NoticeReason.RETENTION
            assert notice.envelope.operation is Operation.ERASURE
            assert notice.envelope.handling.handling_code is SienaHandlingCode.H0
        # Each notice is a disclosure on the record; the end of retention is an outcome.
        ends = [
            a
            for a in out.audits
            if a["source_record_id"] == "NL-NCEN-2026-RET-1"
            and a["rule_id"] == "retention/erasure-notice"
        ]
        assert {a["partner_id"] for a in ends} == holders
        assert not any(
            late_id in (e.envelope.source_record_id for e in events)
            for events in out.deliveries.values()
        )
        (dropped,) = [d for d in out.dropped.values() if d["source_record_id"] == late_id]
        assert dropped["outcome"] == "no-recipient"
        assert "past its retention date" in dropped["reason"]
        ended = [d for d in out.own if d["source_record_id"] == "NL-NCEN-2026-RET-1"]
        assert [d["outcome"] for d in ended] == ["retention-ended"]
        # The owner of the other record is reminded of its review, once, and nobody else.
        reminders = [
            (partner, e)
            for partner, events in out.deliveries.items()
            for e in events
            if e.envelope.source_record_id == review_id and isinstance(e.payload, RestrictionNotice)
        ]
        assert len(reminders) == 1
        ((partner, reminder),) = reminders
        assert partner == "BE-CUSTOMS"
        assert isinstance(reminder.payload, RestrictionNotice)
        assert reminder.payload.action is NoticeAction.REVIEW
        assert reminder.payload.reason is NoticeReason.REVIEW_DUE
        audits = [
            a
            for a in out.audits
            if a["source_record_id"] == review_id and a["rule_id"].startswith("review/")
        ]
        assert [(a["rule_id"], a["partner_id"]) for a in audits] == [
            ("review/owner-notice", "BE-CUSTOMS")
        ]
        (due,) = [d for d in out.own if d["source_record_id"] == review_id]
        assert due["outcome"] == "review-due"
    finally:
        running.kill()


def _container_in_partition(partition: int) -> str:
    """A valid ISO 6346 container number whose watch key lands in ``partition``."""
    for serial in range(100000, 200000):
        first_ten = f"TSTU{serial:06d}"
        number = first_ten + str(container_check_digit(first_ten))
        if partition_of(f"CONTAINER_NUMBER:{number}".encode(), 12) == partition:
            return number
    raise AssertionError("no container number for that partition")


def test_a_hit_is_erased_with_its_seizure_after_the_pair_left_the_watch_window(
    declared_topics, admin, tmp_path
):
    settings = declared_topics.model_copy(update={"watch_window_s": 3600.0, "state_sweep_every": 1})
    running = Worker(settings, admin, tmp_path / "worker.log")
    running.start()
    try:
        base = _version(realistic_seizure(), 1, Operation.UPSERT, OPEN, 0)
        seizure = _renamed(base, "NL-NCEN-2026-HIT-9")
        t0 = seizure.envelope.ingest_time
        alert = _open_alert(base, "DE-ALERT-91", t0 + timedelta(minutes=30))
        send(settings, [_record(seizure, Label.SEIZURE), _record(alert, Label.ALERT)])

        def hits(o: Output) -> dict[str, list[Event]]:
            return {
                partner: [e for e in events if isinstance(e.payload, WatchlistHit)]
                for partner, events in o.deliveries.items()
                if any(isinstance(e.payload, WatchlistHit) for e in events)
            }

        out = collect(settings, "hit-age-1", lambda o: bool(hits(o)))
        told = set(hits(out))
        (hit_id,) = {e.envelope.source_record_id for events in hits(out).values() for e in events}

        # Hours later (event time) a record on another identifier of the same watch
        # partition sweeps the seizure out of the join; then the seizure is erased.
        partition = partition_of(b"IMO_NUMBER:9321483", 12)
        assert isinstance(base.payload, Seizure)
        unrelated = dataclasses.replace(
            _renamed(base, "NL-NCEN-2026-HIT-10", ingest_time=t0 + timedelta(hours=3)),
            payload=dataclasses.replace(
                base.payload,
                conveyance=Conveyance(container_numbers=(_container_in_partition(partition),)),
                persons=(),
                organisations=(),
            ),
        )
        unrelated = dataclasses.replace(
            unrelated,
            envelope=dataclasses.replace(unrelated.envelope, data_subject_categories=()),
        )
        send(settings, [_record(unrelated, Label.SEIZURE)])
        collect(settings, "hit-age-2", lambda o: bool(_versions_of(o, "NL-NCEN-2026-HIT-10")))
        erasure = _version(seizure, 2, Operation.ERASURE, OPEN, 4)
        send(settings, [_record(erasure, Label.ERASURE)])

        def hit_erased(o: Output) -> bool:
            got = _versions_of(o, hit_id)
            return set(got) == told and all(
                any(e.envelope.operation is Operation.ERASURE for e in events)
                for events in got.values()
            )

        out = collect(settings, "hit-age-3", hit_erased)
        for events in _versions_of(out, hit_id).values():
            (gone,) = [e for e in events if e.envelope.operation is Operation.ERASURE]
            assert gone.envelope.version == 2
    finally:
        running.kill()
