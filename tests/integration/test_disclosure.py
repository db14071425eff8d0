"""Lawful disclosure on the running worker, read back as raw bytes from every partner topic:
corrections and amendments reach earlier recipients in full only where they may still have
the record, as a content-free notice otherwise; a hit goes only to partners allowed both
records; an amendment from another sender and a record past retention reach nobody; every
disclosure is audited and receipted, and explained under the policy that decided it."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

import pytest
from confluent_kafka import Consumer

from connectors.read_receipts import ReadReceipts
from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.identity import event_id_for, record_key
from liaison.kafka.client import KafkaConsumer, consumer_config, read_to_end
from liaison.kafka.topics import INGEST_CEN, INGEST_POLICE, STATE_WATCH_SEEN
from liaison.model import from_avro, to_avro
from liaison.model.common import (
    DocumentType,
    Event,
    HandlingConditions,
    Operation,
    Person,
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
from pipelines.window import group_of
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


def _open_alert(base: Event, record_id: str, ingest_time, imo: str = "9321483") -> Event:
    """An open (H0, TLP:GREEN) German alert on an IMO number (the sample seizure's)."""
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
            items=(WatchedItem(kind=IdentifierKind.IMO_NUMBER, identifier=imo),),
        ),
    )


TIGHT, WIDE, CARRIED, MATCHED, LATE = (
    "NL-NCEN-2026-004711",
    "NL-NCEN-2026-WIDE-1",
    "NL-NCEN-2026-DOC-1",
    "NL-NCEN-2026-HIT-1",
    "NL-NCEN-2026-LATE-0",
)
OWNER, FOREIGN = "NL-NCEN-GATEWAY", "DE-CUSTOMS-GATEWAY"
OTHER_IMO = "9074729"  # a valid IMO number of a vessel only the restricted seizure names


def _story() -> tuple[list[Event], list[Event], Person]:
    """The inputs of the whole story: what comes first, what follows once partners hold
    the first, and the suspect of the stolen passport."""
    seizure = dataclasses.replace(
        realistic_seizure(),
        envelope=dataclasses.replace(realistic_seizure().envelope, submitted_by=OWNER),
    )
    assert isinstance(seizure.payload, Seizure)
    (suspect,) = seizure.payload.persons
    tight = _version(seizure, 1, Operation.UPSERT, OPEN, 0)
    wide = _renamed(_version(seizure, 1, Operation.UPSERT, FOR_EUROPOL_ONLY, 0), WIDE)
    carrying = dataclasses.replace(
        suspect, document_type=DocumentType.PASSPORT, document_number="P 1234567"
    )
    carried = dataclasses.replace(
        _renamed(tight, CARRIED), payload=dataclasses.replace(seizure.payload, persons=(carrying,))
    )
    matched = dataclasses.replace(
        _renamed(_version(seizure, 1, Operation.UPSERT, FOR_EUROPOL_ONLY, 0), MATCHED),
        payload=dataclasses.replace(
            seizure.payload,
            conveyance=Conveyance(imo_number=OTHER_IMO),
            persons=(),
            organisations=(),
        ),
    )
    matched = _renamed(matched, MATCHED, data_subject_categories=())
    t0 = seizure.envelope.ingest_time
    open_alert = _open_alert(seizure, "DE-ALERT-77", t0 + timedelta(hours=2), imo=OTHER_IMO)
    sltd = _open_alert(seizure, "DE-SLTD-5", t0 + timedelta(hours=2))
    assert isinstance(sltd.payload, PoliceAlert)
    sltd = dataclasses.replace(
        sltd,
        payload=dataclasses.replace(
            sltd.payload,
            alert_type=AlertType.TRAVEL_DOCUMENT,
            items=(WatchedItem(kind=IdentifierKind.TRAVEL_DOCUMENT, identifier="P1234567"),),
        ),
    )
    foreign = _version(seizure, 4, Operation.CORRECTION, OPEN, 3)
    expired = dataclasses.replace(OPEN, retention_until=(t0 - timedelta(days=1)).date())
    then = [
        _version(seizure, 2, Operation.CORRECTION, FOR_EUROPOL_ONLY, 1),  # tightening
        _version(seizure, 3, Operation.UPSERT, FOR_EUROPOL_ONLY, 2),  # plain amendment
        _renamed(foreign, TIGHT, submitted_by=FOREIGN),  # not the owner's to amend
        _renamed(_version(wide, 2, Operation.CORRECTION, OPEN, 1), WIDE),  # widening
        open_alert,
        sltd,
        _renamed(tight, LATE, handling=expired),  # came in after its retention ended
    ]
    return [tight, wide, carried, matched], then, suspect


def _hits(o: Output, kind: IdentifierKind) -> dict[str, list[Event]]:
    """The hits on identifiers of ``kind`` each partner received."""
    found: dict[str, list[Event]] = {}
    for partner, events in o.deliveries.items():
        for e in events:
            if isinstance(e.payload, WatchlistHit) and e.payload.matched_kind is kind:
                found.setdefault(partner, []).append(e)
    return found


def test_the_whole_disclosure_story_on_the_running_worker(declared_topics, pipeline, as_principal):
    """Tightening and widening corrections, a plain amendment, a foreign sender's amendment,
    a restricted seizure matched by an open alert, a stolen passport matched, a record past
    its retention: asserted on every partner topic's bytes, the audit and the outcomes; then
    a partner that reads Kafka itself is receipted, and the trail and the explanation of a
    past delivery are read as an auditor would."""
    settings = declared_topics
    first, then, suspect = _story()
    send(settings, [_record(e, Label.SEIZURE) for e in first])
    out = collect(settings, "story-1", lambda o: all(_versions_of(o, r) for r in (TIGHT, WIDE)))
    earlier = set(_versions_of(out, TIGHT))
    assert {"EUROPOL", "WCO-CEN", "INTERPOL"} <= earlier  # H1/AMBER drugs: widely shared
    assert set(_versions_of(out, WIDE)) == {"EUROPOL"}  # H2 for Europol only
    assert set(_versions_of(out, MATCHED)) == {"EUROPOL"}

    labels = [Label.AMENDMENT] * 4 + [Label.ALERT] * 2 + [Label.SEIZURE]
    send(settings, [_record(e, label) for e, label in zip(then, labels, strict=True)])

    def done(o: Output) -> bool:
        tight = _versions_of(o, TIGHT)
        return (
            all({e.envelope.version for e in tight.get(p, [])} >= {2, 3} for p in earlier)
            and len(_versions_of(o, WIDE)) > 2
            and bool(_hits(o, IdentifierKind.IMO_NUMBER))
            and bool(_hits(o, IdentifierKind.TRAVEL_DOCUMENT))
            and {d["outcome"] for d in o.dropped.values()} >= {"not-owner", "no-recipient"}
        )

    out = collect(settings, "story-2", done)
    raw = _raw(settings, "story-raw")
    decoded = {p: [from_avro(Event, CODEC.decode(v)) for v in values] for p, values in raw.items()}
    _tightened(out, raw, decoded, earlier)
    _widened(out)
    _matched(out, raw, decoded, suspect)
    _refused_at_the_door_of_the_pipeline(out, decoded)
    sent = {(p, hashlib.sha256(v).hexdigest()) for p, values in raw.items() for v in values}
    for audit in out.audits:  # each names the policy and the hash of the very bytes sent
        assert audit["policy_digest"] == POLICY.digest
        assert (audit["partner_id"], audit["content_sha256"]) in sent
        if audit["source_system"] == "NCEN":
            assert audit["submitted_by"] == OWNER
    _receipted_and_explained(settings, as_principal("partner-europol"), earlier)


def _tightened(out: Output, raw, decoded, earlier: set[str]) -> None:
    """Corrected to H2 for Europol only, then amended: in full to Europol, as a content-free
    notice to every other earlier recipient; nobody new hears of it."""
    seizure = realistic_seizure()
    got = _versions_of(out, TIGHT)
    assert set(got) == earlier
    for partner, events in got.items():
        for event in (e for e in events if e.envelope.version in (2, 3)):
            if partner == "EUROPOL":
                assert event.payload == seizure.payload
                assert event.envelope.handling == FOR_EUROPOL_ONLY
            else:
                assert isinstance(event.payload, RestrictionNotice), partner
                assert event.payload.action is NoticeAction.RESTRICT
                assert event.envelope.handling.handling_code is SienaHandlingCode.H0
    secret = seizure.payload.concealment.encode()  # type: ignore[union-attr]
    for partner, values in raw.items():
        for value, event in zip(values, decoded[partner], strict=True):
            if event.envelope.source_record_id == TIGHT and event.envelope.version > 1:
                assert (secret in value) == (partner == "EUROPOL"), partner
    audits = [a for a in out.audits if a["source_record_id"] == TIGHT and a["event_version"] > 1]
    notices = {a["partner_id"] for a in audits if a["rule_id"].endswith("/restriction-notice")}
    assert notices == earlier - {"EUROPOL"}
    (refused,) = [o for o in out.refused if o["source_record_id"] == TIGHT and o["version"] == 2]
    assert refused["stage"] == "route"
    for partner in earlier - {"EUROPOL"}:
        assert f"{partner}: " in refused["reason"]
    assert "restriction notice" in refused["reason"]


def _widened(out: Output) -> None:
    """Corrected to open terms: the newly entitled get it in full, Europol the new version."""
    got = _versions_of(out, WIDE)
    assert {"EUROPOL", "INTERPOL", "WCO-CEN"} <= set(got)
    for partner, events in got.items():
        second = [e for e in events if e.envelope.version == 2]
        assert len(second) == 1, partner
        assert isinstance(second[0].payload, Seizure), partner  # in full, never a notice
        assert second[0].envelope.handling == OPEN


def _matched(out: Output, raw, decoded, suspect) -> None:
    # The open alert on the vessel of an H2 seizure for Europol only: a hit for Europol
    # alone (the open alert by itself would also have reached DE-BKA), under H2.
    vessel = _hits(out, IdentifierKind.IMO_NUMBER)
    assert set(vessel) == {"EUROPOL"}
    (hit,) = vessel["EUROPOL"]
    assert hit.envelope.handling.handling_code is SienaHandlingCode.H2
    assert hit.envelope.handling.releasable_to == ("EUROPOL",)
    # The stolen passport matched the suspect carrying it; no hit holds its number.
    passport = _hits(out, IdentifierKind.TRAVEL_DOCUMENT)
    assert passport
    for events in passport.values():
        for found in events:
            assert found.envelope.data_subject_categories == (suspect.category,)
    for partner, values in raw.items():
        for value, event in zip(values, decoded[partner], strict=True):
            if isinstance(event.payload, WatchlistHit):
                assert b"1234567" not in value, partner
                assert event.payload.matched_kind is not IdentifierKind.IMO_NUMBER or (
                    partner == "EUROPOL"
                )


def _refused_at_the_door_of_the_pipeline(out: Output, decoded) -> None:
    # The foreign sender's version 4 reached nobody; the late record neither.
    for events in decoded.values():
        for event in events:
            assert (event.envelope.source_record_id, event.envelope.version) != (TIGHT, 4)
            assert event.envelope.source_record_id != LATE
    (refusal,) = [o for o in out.dropped.values() if o["outcome"] == "not-owner"]
    assert (refusal["source_record_id"], refusal["version"]) == (TIGHT, 4)
    (late,) = [d for d in out.dropped.values() if d["source_record_id"] == LATE]
    assert late["outcome"] == "no-recipient"
    assert "past its retention date" in late["reason"]
    assert not [a for a in out.audits if a["source_record_id"] == LATE]


def _receipted_and_explained(settings, europol_kafka, earlier: set[str]) -> None:
    """Europol reads its topic itself, with its own certificate, and commits: receipts
    follow. Then the auditor's questions, answered from the topics: who got what of this
    record, when, and why."""
    europol = settings.topic_prefix + POLICY.partner("EUROPOL").topic
    reader = Consumer(
        {
            **europol_kafka.kafka_client_config(),
            "bootstrap.servers": europol_kafka.bootstrap_servers,
            "group.id": "partner-europol.analysis",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    reader.subscribe([europol])
    read, quiet = 0, 0
    while quiet < 6:
        batch = reader.consume(500, timeout=0.5)
        quiet = 0 if batch else quiet + 1
        read += len(batch)
        if batch:
            reader.commit(asynchronous=False)
    reader.close()
    receipts = ReadReceipts(settings, POLICY.partners)
    try:
        assert receipts.pass_once() == read > 0
    finally:
        receipts.close()

    env = liaison_env(settings)
    shown = run_liaison("audit", "trail", f"NCEN:{TIGHT}", env=env)
    assert shown.returncode == 0, shown.stderr
    print(shown.stdout)  # the README shows this output
    lines = shown.stdout.splitlines()
    assert lines[0] == f"NCEN:{TIGHT}"
    assert [line.split()[1] for line in lines if line.startswith("  version ")] == [
        "1",
        "2",
        "3",
        "4",
    ]
    for number in (2, 3):
        block = _block(lines, number)
        assert any("EUROPOL" in line and " in full " in line for line in block)
        assert any(
            "EUROPOL" in line and "receipt  DELIVERED by group:partner-europol.analysis" in line
            for line in block
        )
        for partner in earlier - {"EUROPOL"}:
            assert any(partner in line and " notice " in line for line in block), partner
            assert any(line.split()[:2] == ["refused", partner] for line in block), partner
    (foreign,) = _block(lines, 4)
    assert foreign.split()[0] == "not-owner:"
    assert POLICY.digest[:19] in shown.stdout

    explained = run_liaison(
        "route",
        "explain",
        "--past",
        f"NCEN:{TIGHT}",
        "--version",
        "2",
        "--partner",
        "WCO-CEN",
        env=env,
    )
    assert explained.returncode == 0, explained.stderr
    print(explained.stdout)  # the README shows this output
    text = explained.stdout
    assert "rule WCO-CEN/restriction-notice: WCO-CEN received an earlier version" in text
    assert f"policy {POLICY.digest} (version {POLICY.version}, today's policy)" in text
    wco = POLICY.partner("WCO-CEN")
    codes = ", ".join(sorted(c.value for c in wco.handling_codes))
    assert f"handling codes {codes};" in text  # H2 is not among them: hence the notice


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
        # An alert on the vessel all three name, raised then: only the record still held
        # may match it (the first is past its retention, the late one came in past it).
        alert = _open_alert(base, "DE-ALERT-RET", later)
        send(settings, [_record(late, Label.SEIZURE), _record(alert, Label.ALERT)])
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
                and any(isinstance(e.payload, WatchlistHit) for e in o.deliveries["EUROPOL"])
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
        # The alert matched the record still held, and neither of the others.
        matched = {
            e.payload.customs_event_id
            for events in out.deliveries.values()
            for e in events
            if isinstance(e.payload, WatchlistHit)
        }
        assert matched == {reviewed.envelope.event_id}
        # The watch table no longer holds the record past its retention, nor the late one:
        # the newest changelog value for the vessel names neither.
        changelog = STATE_WATCH_SEEN.full_name(settings.topic_prefix)
        newest: dict[bytes, bytes | None] = {}
        for message in read_to_end(settings, [changelog], idle_s=10):
            newest[message.key() or b""] = message.value()
        vessel = {
            group_of(key)[1].decode()
            for key, value in newest.items()
            if value is not None and group_of(key)[0] == b"IMO_NUMBER:9321483"
        }
        assert vessel == {record_key(reviewed)}
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
