"""The CEN sink against the real broker and a real outbox directory."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time

import pytest

from connectors.cen.sink import CenSink
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT
from liaison.kafka.client import KafkaConsumer, KafkaProducer, consumer_config, producer_config
from liaison.kafka.topics import DEAD_LETTERS
from liaison.model import to_avro
from liaison.model.common import SourceSystem
from liaison.model.customs import Seizure
from liaison.policy import load_policy
from pipelines.route.decide import strip_personal
from stack.synthetic.generator import Label, TrafficGenerator

pytestmark = pytest.mark.integration


def _run(sink: CenSink, until, limit_s: float = 60.0) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + limit_s
        while not until() and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=30)


def test_outbox_files_with_manifests_and_personal_data_refused(declared_topics, tmp_path):
    settings = declared_topics
    cen = next(p for p in load_policy().partners if p.kind == "cen")
    topic = settings.topic_prefix + cen.topic
    codec = AvroCodec(EVENT)
    clean = []
    nominal = None
    cis_record = None
    for record in TrafficGenerator(seed=81).take(600):
        event = record.event
        if event is not None and event.envelope.source_system is SourceSystem.CIS_PLUS:
            cis_record = cis_record or strip_personal(event, frozenset())[0]
        if (
            event is None
            or not isinstance(event.payload, Seizure)
            or record.label is not Label.SEIZURE
        ):
            continue
        if event.envelope.source_system is SourceSystem.NCEN and nominal is None:
            nominal = event  # as routing must never send it: with its persons
        clean.append(strip_personal(event, frozenset())[0])
    assert nominal is not None
    assert cis_record is not None  # a policy error must not stop the sink either
    with KafkaProducer(producer_config(settings)) as producer:
        for event in [*clean, nominal, cis_record]:
            key = f"{event.envelope.source_system.value}:{event.envelope.source_record_id}"
            producer.produce(topic, codec.encode(to_avro(event)), key=key.encode())

    outbox = tmp_path / "outbox"

    def rows_written() -> int:
        return sum(json.loads(m.read_text())["rows"] for m in outbox.glob("*.manifest.json"))

    _run(CenSink(settings, topic=topic, outbox=outbox), lambda: rows_written() >= len(clean))

    written = set()
    for manifest_path in outbox.glob("*.manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        data = (outbox / manifest["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert len(rows) == manifest["rows"]
        written |= {(r["record_id"], int(r["version"])) for r in rows}
    assert written == {(e.envelope.source_record_id, e.envelope.version) for e in clean}
    assert not list(outbox.glob("*.part"))

    letters = AvroCodec(DEAD_LETTER_SCHEMA)
    with KafkaConsumer(
        consumer_config(settings, "check-cen-sink"),
        [DEAD_LETTERS.full_name(settings.topic_prefix)],
    ) as consumer:
        dead: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while len(dead) < 2 and time.monotonic() < deadline:
            dead += [letters.decode(m.value() or b"") for m in consumer.consume(10, 0.5)]
    assert sorted(str(d["error_class"]) for d in dead) == ["NotASeizure", "PersonalDataRefused"]

    # Offsets were committed: a second run writes nothing new.
    before = sorted(p.name for p in outbox.iterdir())
    _run(CenSink(settings, topic=topic, outbox=outbox), lambda: False, limit_s=5)
    assert sorted(p.name for p in outbox.iterdir()) == before
