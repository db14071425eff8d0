"""Ownership at the door and in the pipeline: a sender reports only what it is bound to, and
only the sender of a record's first version may amend it."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest

from connectors.police import format as police
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT
from liaison.identity import event_id_for
from liaison.kafka.client import KafkaConsumer, consumer_config
from liaison.kafka.topics import DEAD_LETTERS, INGEST_POLICE
from liaison.model import from_avro
from liaison.model.common import Event, Operation
from liaison.policy import DEFAULT_POLICY
from stack.synthetic.generator import Label, TrafficGenerator
from tests.integration.test_disclosure import _record, _version
from tests.integration.test_http_source import _serve, post
from tests.integration.test_pipeline import collect, send
from tests.samples import realistic_seizure

pytestmark = pytest.mark.integration

BOUND = """
[[senders]]
id = "NL-POLICE"
systems = ["POLICE"]
countries = ["NL"]
"""


def test_a_sender_reports_only_for_what_it_is_bound_to(declared_topics, tmp_path):
    policy = tmp_path / "routing.toml"
    policy.write_text(DEFAULT_POLICY.read_text() + BOUND)
    serving = _serve(declared_topics, tmp_path, "police", routing_policy=policy)
    settings, url = next(serving)
    try:
        alert = next(
            r.event
            for r in TrafficGenerator(seed=72).take(200)
            if r.event is not None and r.label is Label.ALERT
        )
        ours = dataclasses.replace(
            alert, envelope=dataclasses.replace(alert.envelope, reporting_country="NL")
        )
        theirs = dataclasses.replace(
            alert,
            envelope=dataclasses.replace(
                alert.envelope, reporting_country="DE", source_record_id="DE-ALERT-CLAIMED"
            ),
        )
        token = "tok-nl-police-456-for-tests-only-0000"
        accepted = post(url, json.dumps(police.body_of(ours)).encode(), token, "alerts")
        assert accepted[0] == 202
        status, answer = post(url, json.dumps(police.body_of(theirs)).encode(), token, "alerts")
        assert status == 403
        assert answer["errors"][0]["field"] == "reporting_country"
    finally:
        next(serving, None)  # stops the source

    prefix = settings.topic_prefix
    topics = [INGEST_POLICE.full_name(prefix), DEAD_LETTERS.full_name(prefix)]
    events, letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER_SCHEMA)
    got: list[Event] = []
    dead: list[dict[str, Any]] = []
    with KafkaConsumer(consumer_config(settings, "check-owners"), topics) as consumer:
        deadline = time.monotonic() + 60
        while (not got or not dead) and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout_s=0.5):
                if message.topic() == topics[0]:
                    got.append(from_avro(Event, events.decode(message.value() or b"")))
                else:
                    dead.append(letters.decode(message.value() or b""))
    (event,) = got
    assert event.envelope.submitted_by == "NL-POLICE"  # the sender travels with the record
    (letter,) = dead
    assert letter["error_class"] == "OwnerMismatch"
    assert b"DE-ALERT-CLAIMED" in letter["original_value"]


def test_only_the_sender_of_the_first_version_amends_a_record(declared_topics, pipeline):
    settings = declared_topics
    seizure = realistic_seizure()
    base = _version(seizure, 1, Operation.UPSERT, seizure.envelope.handling, 0)
    first = dataclasses.replace(
        base, envelope=dataclasses.replace(base.envelope, submitted_by="NL-CUSTOMS")
    )
    record_id = first.envelope.source_record_id

    def version(number: int, sender: str) -> Event:
        later = _version(seizure, number, Operation.CORRECTION, seizure.envelope.handling, number)
        return dataclasses.replace(
            later, envelope=dataclasses.replace(later.envelope, submitted_by=sender)
        )

    foreign, own = version(2, "DE-CUSTOMS"), version(3, "NL-CUSTOMS")
    send(settings, [_record(first, Label.SEIZURE)])
    send(settings, [_record(foreign, Label.AMENDMENT), _record(own, Label.AMENDMENT)])

    def done(out) -> bool:
        versions = {
            e.envelope.version
            for events in out.deliveries.values()
            for e in events
            if e.envelope.source_record_id == record_id
        }
        refused = any(o["outcome"] == "not-owner" for o in out.dropped.values())
        return 3 in versions and refused

    out = collect(settings, "check-owner-amend", done)
    versions = {
        e.envelope.version
        for events in out.deliveries.values()
        for e in events
        if e.envelope.source_record_id == record_id
    }
    assert versions == {1, 3}  # the foreign version reached no partner
    (refusal,) = [o for o in out.dropped.values() if o["outcome"] == "not-owner"]
    assert refusal["version"] == 2
    assert refusal["event_id"] == event_id_for(seizure.envelope.source_system, record_id, 2)
    audits = [a for a in out.audits if a["source_record_id"] == record_id]
    assert {a["submitted_by"] for a in audits} == {"NL-CUSTOMS"}
