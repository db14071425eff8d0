"""The running pipeline worker on a generated scenario: every accepted event accounted for."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, DELIVERY_AUDIT, EVENT, PIPELINE_OUTCOME
from liaison.identity import event_id_for, record_key
from liaison.kafka.client import (
    KafkaConsumer,
    KafkaProducer,
    consumer_config,
    group_is_stable,
    producer_config,
    read_to_end,
)
from liaison.kafka.embedded import free_port, read_log_tail
from liaison.kafka.topics import (
    AUDIT,
    DEAD_LETTERS,
    INGEST_CEN,
    INGEST_POLICE,
    PIPELINE_ENRICHED,
    PIPELINE_OUTCOMES,
    PIPELINE_VERSIONED,
    STATE_VERSIONS,
    STATE_WATCH_ALERTS,
    STATE_WATCH_HITS,
    STATE_WATCH_SEEN,
)
from liaison.model import from_avro, to_avro
from liaison.model.common import Event, Operation, SourceSystem
from liaison.model.customs import Conveyance, Seizure
from liaison.model.exchange import WatchlistHit
from liaison.model.police import IdentifierKind, PoliceAlert, WatchedItem
from liaison.policy import load_policy
from stack.synthetic.generator import Label, SyntheticRecord, TrafficGenerator
from tests.integration.conftest import liaison_command, liaison_env

pytestmark = pytest.mark.integration

POLICY = load_policy()
Origin = tuple[str | None, int | None, int | None]  # topic, partition, offset


class Worker:
    """The pipeline worker as its own process, started and stopped like a deployment's."""

    def __init__(self, settings, admin, log_path):
        self.settings, self.admin, self.log_path = settings, admin, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                liaison_command("worker"),
                env=liaison_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while not group_is_stable(self.admin, self.settings.pipeline_app_id):
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, "worker never joined its group"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=60) == 0, self.log()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def log(self) -> str:
        return read_log_tail(self.log_path, 60)


@pytest.fixture
def worker(declared_topics, admin, tmp_path):
    running = Worker(declared_topics, admin, tmp_path / "worker.log")
    running.start()
    try:
        yield running
    finally:
        running.kill()


def send(settings, records: list[SyntheticRecord]) -> dict[Origin, SyntheticRecord]:
    """Produce the records to their ingest topics; returns where each landed."""
    landed: dict[Origin, SyntheticRecord] = {}
    with KafkaProducer(producer_config(settings)) as producer:
        for record in records:

            def placed(error, message, record=record):
                assert error is None, error
                landed[(message.topic(), message.partition(), message.offset())] = record

            producer.produce(
                record.topic.full_name(settings.topic_prefix),
                record.value,
                key=record.key,
                on_delivery=placed,
            )
    assert len(landed) == len(records)
    return landed


@dataclass
class Output:
    deliveries: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    audits: list[dict[str, Any]] = field(default_factory=list)
    dead: dict[Origin, dict[str, Any]] = field(default_factory=dict)
    dropped: dict[Origin, dict[str, Any]] = field(default_factory=dict)
    refused: list[dict[str, Any]] = field(default_factory=list)
    # Outcomes of what Liaison did of itself, for no input (ends of retention, reminders).
    own: list[dict[str, Any]] = field(default_factory=list)

    def delivered_origins(self) -> set[Origin]:
        return {
            (
                e.envelope.lineage.source_topic,
                e.envelope.lineage.source_partition,
                e.envelope.lineage.source_offset,
            )
            for events in self.deliveries.values()
            for e in events
            if e.envelope.source_system is not SourceSystem.LIAISON
        }


def collect(settings, group: str, until, *, quiet_s: float = 8.0, limit_s: float = 180.0) -> Output:
    """Read every output topic until ``until(output)`` holds and nothing came for a while."""
    output = Output()
    prefix = settings.topic_prefix
    partners = {prefix + p.topic: p.id for p in POLICY.partners}
    events, audits = AvroCodec(EVENT), AvroCodec(DELIVERY_AUDIT)
    dead, outcomes = AvroCodec(DEAD_LETTER_SCHEMA), AvroCodec(PIPELINE_OUTCOME)
    topics = [
        *partners,
        AUDIT.full_name(prefix),
        DEAD_LETTERS.full_name(prefix),
        PIPELINE_OUTCOMES.full_name(prefix),
    ]
    started = last = time.monotonic()
    with KafkaConsumer(consumer_config(settings, group), topics) as consumer:
        while time.monotonic() - started < limit_s:
            batch = consumer.consume(500, timeout_s=0.5)
            for message in batch:
                topic, value = message.topic(), message.value() or b""
                if topic in partners:
                    output.deliveries[partners[topic]].append(
                        from_avro(Event, events.decode(value))
                    )
                elif topic == AUDIT.full_name(prefix):
                    output.audits.append(audits.decode(value))
                elif topic == DEAD_LETTERS.full_name(prefix):
                    letter = dead.decode(value)
                    origin = (
                        letter["source_topic"],
                        letter["source_partition"],
                        letter["source_offset"],
                    )
                    # At-least-once: a re-read input may be dead-lettered again, never
                    # handled differently.
                    output.dead[origin] = letter
                else:
                    outcome = outcomes.decode(value)
                    if outcome["outcome"] == "refused":  # refused to some, others received it
                        output.refused.append(outcome)
                        consumer.store(message)
                        continue
                    if outcome["source_topic"] is None:
                        output.own.append(outcome)
                        consumer.store(message)
                        continue
                    origin = (
                        outcome["source_topic"],
                        outcome["source_partition"],
                        outcome["source_offset"],
                    )
                    earlier = output.dropped.get(origin)
                    # At-least-once: an input read again after a restart is dropped the same
                    # way, or as a replay of itself (its version is known by then); never
                    # anything else. The first outcome is the one that counts.
                    if earlier is None:
                        output.dropped[origin] = outcome
                    else:
                        assert outcome["outcome"] in (earlier["outcome"], "replay"), (
                            earlier["outcome"],
                            outcome["outcome"],
                        )
                consumer.store(message)
            if batch:
                last = time.monotonic()
            elif until(output) and time.monotonic() - last > quiet_s:
                return output
    raise AssertionError("the pipeline did not finish the scenario in time")


def _probe(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()
    except OSError as exc:  # not listening yet
        return 0, type(exc).__name__


def test_the_worker_answers_its_probes_ready_once_it_holds_partitions(
    declared_topics, admin, tmp_path
):
    (port,) = free_port()
    settings = declared_topics.model_copy(update={"metrics_port": port})
    running = Worker(settings, admin, tmp_path / "worker.log")
    try:
        running.start()  # returns once the group is stable
        deadline, answers = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            answers.append(_probe(port, "/readyz"))
            if answers[-1][0] == 200:
                break
            time.sleep(0.5)
        assert answers[-1] == (200, "ok"), answers[-5:]
        assert _probe(port, "/healthz") == (200, "ok")
        # Before that, the only answers were "not listening yet" and 503 with a reason.
        assert all(code in (0, 503) for code, _ in answers[:-1]), answers
    finally:
        running.kill()
    assert _probe(port, "/readyz")[0] == 0, "the probes went with the process"


def test_a_generated_scenario_is_accounted_for_exactly(declared_topics, worker):
    settings = declared_topics
    records = TrafficGenerator(seed=31).take(500)
    landed = send(settings, records)

    def finished(out: Output) -> bool:
        return len(out.delivered_origins() | set(out.dead) | set(out.dropped)) >= len(landed)

    out = collect(settings, "check-scenario", finished)
    delivered, dead, dropped = out.delivered_origins(), set(out.dead), set(out.dropped)

    # Every input exactly once: delivered, dropped with a reason, or dead-lettered.
    assert delivered | dead | dropped == set(landed), worker.log()
    assert not delivered & dead
    assert not delivered & dropped
    assert not dead & dropped

    # What each input was made to be is what became of it.
    for origin, record in landed.items():
        if record.label in (Label.MALFORMED_BYTES, Label.INVALID_VALUES):
            assert origin in dead, record.label
            assert out.dead[origin]["original_value"] == record.value
        elif record.label is Label.REPLAY:
            assert out.dropped[origin]["outcome"] == "replay"
        elif record.label is Label.STALE:
            assert out.dropped[origin]["outcome"] == "stale"
        elif record.label is Label.CROSS_SOURCE_COPY:
            # One report of the pair is merged into the other: the one the pipeline
            # met first stands, and the two systems' topics are read in parallel.
            assert record.event is not None
            copy_id = str(record.event.envelope.event_id)
            merged_into_copy = any(
                o["outcome"] == "cross-source-duplicate" and str(o["related_event_id"]) == copy_id
                for o in out.dropped.values()
            )
            assert merged_into_copy or out.dropped[origin]["outcome"] == "cross-source-duplicate"
        elif record.label in (Label.SEIZURE, Label.CIS_RECORD, Label.ALERT):
            assert origin in delivered or out.dropped[origin]["outcome"] in (
                "no-recipient",
                "cross-source-duplicate",
            )

    # An audit record for every delivery, and nothing delivered without one.
    delivered_pairs = Counter(
        (str(e.envelope.event_id), partner)
        for partner, events in out.deliveries.items()
        for e in events
    )
    audited_pairs = Counter((str(a["event_id"]), a["partner_id"]) for a in out.audits)
    assert delivered_pairs == audited_pairs

    # No personal field reaches a partner without a basis for it.
    for partner_id, events in out.deliveries.items():
        partner = POLICY.partner(partner_id)
        for event in events:
            persons = getattr(event.payload, "persons", ())
            categories = {p.category for p in persons}
            assert categories <= partner.subject_categories, partner_id
            if not partner.personal_data:
                assert persons == (), partner_id
            if partner.kind == "cen":
                assert event.envelope.data_subject_categories == ()

    # Watchlist hits were found and delivered in both directions.
    directions = {
        e.payload.direction
        for events in out.deliveries.values()
        for e in events
        if isinstance(e.payload, WatchlistHit)
    }
    assert len(directions) == 2


def test_a_restarted_worker_still_knows_what_it_saw(declared_topics, worker):
    settings = declared_topics
    generator = TrafficGenerator(seed=44)
    before = [
        r for r in generator.take(300) if r.label in (Label.SEIZURE, Label.CIS_RECORD, Label.ALERT)
    ]
    first = send(settings, before)
    collect(
        settings,
        "check-restart-1",
        lambda out: len(out.delivered_origins() | set(out.dropped)) >= len(first),
    )

    worker.stop()
    worker.start()

    # The same records again, and a CEN copy of a CIS+ seizure sent before the restart.
    cis = next(r for r in before if r.label is Label.CIS_RECORD)
    copy = generator.cen_copy(cis)
    again = send(settings, [*before[:50], copy])
    out = collect(
        settings, "check-restart-2", lambda o: set(again) <= set(o.dropped) | o.delivered_origins()
    )
    outcomes = Counter(out.dropped[origin]["outcome"] for origin in again if origin in out.dropped)
    assert outcomes == {"replay": 50, "cross-source-duplicate": 1}, worker.log()


def _first_decisions(settings, group: str) -> Counter[Origin]:
    """How many times dedupe-versions decided each ingest record: forwarded (on
    pipeline.versioned, by lineage) or dropped (its outcome), read to the end."""
    events, outcomes = AvroCodec(EVENT), AvroCodec(PIPELINE_OUTCOME)
    versioned = PIPELINE_VERSIONED.full_name(settings.topic_prefix)
    dropped = PIPELINE_OUTCOMES.full_name(settings.topic_prefix)
    seen: Counter[Origin] = Counter()
    with KafkaConsumer(consumer_config(settings, group), [versioned, dropped]) as consumer:
        quiet = 0
        while quiet < 8:
            batch = consumer.consume(500, timeout_s=0.5)
            quiet = 0 if batch else quiet + 1
            for message in batch:
                if message.topic() == versioned:
                    lineage = events.decode(message.value() or b"")["envelope"]["lineage"]
                else:
                    lineage = outcomes.decode(message.value() or b"")
                    if lineage["stage"] != "dedupe-versions":
                        continue
                origin = (
                    lineage["source_topic"],
                    lineage["source_partition"],
                    lineage["source_offset"],
                )
                seen[origin] += 1
    return seen


def test_a_clean_stop_mid_stream_decides_nothing_twice(declared_topics, worker):
    """SIGTERM while input still flows: the stages finish what they hold and the stop
    commits every acknowledged offset, so the restarted worker decides no input again.
    (Faust's stop cancels the work in flight, and its final commit is skipped while a
    periodic one runs: both left inputs to be decided twice.)"""
    settings = declared_topics
    records = [r for r in TrafficGenerator(seed=46).take(3000) if r.event is not None]
    landed = send(settings, records)
    collect(
        settings,
        "check-mid-stream",
        lambda o: len(o.delivered_origins() | set(o.dropped) | set(o.dead)) >= 300,
        quiet_s=0.0,
    )
    worker.stop()
    log = worker.log()
    assert "final commit: every acknowledged offset committed" in log, log
    assert "left to read again" in log
    worker.start()
    collect(
        settings,
        "check-mid-stream-all",
        lambda o: len(o.delivered_origins() | set(o.dropped) | set(o.dead)) >= len(landed),
    )
    decided = _first_decisions(settings, "check-mid-stream-decisions")
    twice = {origin: n for origin, n in decided.items() if n > 1}
    assert not twice, (len(twice), worker.log())


def test_state_stays_within_its_windows(declared_topics, admin, tmp_path):
    settings = declared_topics.model_copy(
        update={
            "replay_window_s": 600.0,
            "dedupe_window_s": 600.0,
            "watch_window_s": 600.0,
            "state_sweep_every": 5,
        }
    )
    running = Worker(settings, admin, tmp_path / "worker.log")
    running.start()
    try:
        # The generator's clock moves 1 to 90 s per record: 400 records span hours.
        records = [r for r in TrafficGenerator(seed=52).take(400) if r.event is not None]
        landed = send(settings, records)
        collect(
            settings,
            "check-sweep",
            lambda o: len(o.delivered_origins() | set(o.dropped) | set(o.dead)) >= len(landed),
        )
    finally:
        running.kill()

    live: dict[bytes, bool] = {}
    deletes = 0
    changelog = STATE_VERSIONS.full_name(settings.topic_prefix)
    config = consumer_config(settings, "check-sweep-state")
    with KafkaConsumer(config, [changelog]) as consumer:
        quiet = 0
        while quiet < 6:
            batch = consumer.consume(500, timeout_s=0.5)
            quiet = 0 if batch else quiet + 1
            for message in batch:
                key = message.key() or b""
                live[key] = message.value() is not None
                deletes += message.value() is None
    records_seen = len({r.key for r in records})
    assert deletes > 0, running.log()
    assert sum(live.values()) < records_seen / 2


def test_erasing_a_watched_seizure_erases_its_hits_wherever_they_went(declared_topics, worker):
    settings = declared_topics
    generator = TrafficGenerator(seed=45)
    records = []
    for record in generator.take(2000):
        records.append(record)
        if record.label is Label.WATCHLIST_SEIZURE:
            break
    watched = records[-1]
    assert watched.label is Label.WATCHLIST_SEIZURE
    assert watched.event is not None
    seizure_id = watched.event.envelope.event_id

    def hits_of(out: Output, operation: Operation) -> dict[str, set[str]]:
        """Per hit record, the partners that received it with ``operation``."""
        found: dict[str, set[str]] = defaultdict(set)
        for partner, events in out.deliveries.items():
            for e in events:
                if (
                    isinstance(e.payload, WatchlistHit)
                    and e.payload.customs_event_id == seizure_id
                    and e.envelope.operation is operation
                ):
                    found[e.envelope.source_record_id].add(partner)
        return found

    send(settings, records)
    made = hits_of(
        collect(settings, "check-erase-1", lambda o: bool(hits_of(o, Operation.UPSERT))),
        Operation.UPSERT,
    )
    assert made, "the watched seizure made no hit"

    envelope = watched.event.envelope
    erasure = dataclasses.replace(
        watched.event,
        envelope=dataclasses.replace(
            envelope,
            event_id=event_id_for(
                envelope.source_system, envelope.source_record_id, envelope.version + 1
            ),
            version=envelope.version + 1,
            operation=Operation.ERASURE,
            report_time=envelope.report_time + timedelta(hours=1),
            ingest_time=envelope.ingest_time + timedelta(hours=1),
        ),
    )
    send(
        settings,
        [
            dataclasses.replace(
                watched,
                label=Label.ERASURE,
                value=AvroCodec(EVENT).encode(to_avro(erasure)),
                event=erasure,
            )
        ],
    )
    out = collect(settings, "check-erase-2", lambda o: hits_of(o, Operation.ERASURE) == made)
    # Every partner that received a hit about the seizure is told it is erased; nobody else.
    assert hits_of(out, Operation.ERASURE) == made


def _hits_made(settings) -> set[tuple[str, str]]:
    """(customs event id, alert event id) of every watchlist hit on pipeline.enriched."""
    codec = AvroCodec(EVENT)
    found = set()
    for message in read_to_end(settings, [PIPELINE_ENRICHED.full_name(settings.topic_prefix)]):
        event = from_avro(Event, codec.decode(message.value() or b""))
        if isinstance(event.payload, WatchlistHit):
            found.add((str(event.payload.customs_event_id), str(event.payload.alert_event_id)))
    return found


def test_a_busy_identifier_keeps_every_state_record_small(declared_topics, worker):
    # One container number on every seizure of a busy route: the watch stage's state for it
    # must not be one record that grows with each (it would pass Kafka's message limit and
    # the worker would crash on the send), and both sides must still be matched in full,
    # after a restart too.
    settings = declared_topics
    container = "MSKU9070323"
    generated = TrafficGenerator(seed=61).take(600)
    alert_basis = next(r.event for r in generated if r.label is Label.ALERT and r.event)
    seizures = [
        r.event
        for r in generated
        if r.label is Label.SEIZURE and r.event and isinstance(r.event.payload, Seizure)
    ][:120]
    assert len(seizures) == 120
    busy = []
    for event in seizures:
        payload = event.payload
        assert isinstance(payload, Seizure)
        conveyance = dataclasses.replace(
            payload.conveyance or Conveyance(), container_numbers=(container,)
        )
        busy.append(
            dataclasses.replace(event, payload=dataclasses.replace(payload, conveyance=conveyance))
        )
    start = min(e.envelope.ingest_time for e in busy)
    end = max(e.envelope.ingest_time for e in busy)

    def alert(number: int, at) -> Event:
        assert isinstance(alert_basis.payload, PoliceAlert)
        envelope = dataclasses.replace(
            alert_basis.envelope,
            source_record_id=f"DE-BUSY-{number}",
            event_id=event_id_for(SourceSystem.POLICE, f"DE-BUSY-{number}", 1),
            version=1,
            operation=Operation.UPSERT,
            ingest_time=at,
        )
        items = (WatchedItem(kind=IdentifierKind.CONTAINER_NUMBER, identifier=container),)
        payload = dataclasses.replace(alert_basis.payload, items=items)
        return Event(envelope=envelope, payload=payload)

    def records(events: list[Event]) -> list[SyntheticRecord]:
        codec = AvroCodec(EVENT)
        return [
            SyntheticRecord(
                Label.SEIZURE,
                INGEST_POLICE if isinstance(e.payload, PoliceAlert) else INGEST_CEN,
                record_key(e).encode(),
                codec.encode(to_avro(e)),
                e,
            )
            for e in events
        ]

    first, second = alert(1, start - timedelta(hours=1)), alert(2, end + timedelta(hours=1))
    wanted = {(str(s.envelope.event_id), str(first.envelope.event_id)) for s in busy}
    send(settings, records([first]))
    send(settings, records(busy))
    deadline = time.monotonic() + 180
    while not wanted <= _hits_made(settings):
        assert time.monotonic() < deadline, worker.log()
        time.sleep(2)

    worker.stop()  # the second alert meets what a restarted worker rebuilt
    worker.start()
    send(settings, records([second]))
    wanted |= {(str(s.envelope.event_id), str(second.envelope.event_id)) for s in busy}
    deadline = time.monotonic() + 180
    while not wanted <= _hits_made(settings):
        assert time.monotonic() < deadline, worker.log()
        time.sleep(2)
    assert _hits_made(settings) == wanted

    changelogs = [
        spec.full_name(settings.topic_prefix)
        for spec in (STATE_WATCH_SEEN, STATE_WATCH_ALERTS, STATE_WATCH_HITS)
    ]
    largest = max(len(m.value() or b"") for m in read_to_end(settings, changelogs))
    # One record's state is a few kilobytes; 120 of them under one key would be 100 times it.
    assert largest < 16 * 1024, largest
