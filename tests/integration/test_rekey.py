"""A new person key, and the alerts on persons still match: ``liaison watch rekey`` moves the
watch tables from the old key to the new one while the workers are stopped."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from liaison.kafka.client import KafkaProducer, producer_config, read_to_end
from liaison.kafka.topics import STATE_WATCH_ALERTS
from liaison.model.common import Operation
from liaison.model.customs import Seizure
from liaison.model.exchange import WatchlistHit
from liaison.model.police import IdentifierKind, PoliceAlert
from pipelines.enrich.watchlist import PersonKeys
from pipelines.sweep import partition_of
from pipelines.window import group_of
from stack.synthetic.generator import Label
from tests.integration.conftest import liaison_env, run_liaison
from tests.integration.test_disclosure import OPEN, _open_alert, _record, _renamed, _version
from tests.integration.test_pipeline import Output, Worker, collect, send
from tests.samples import realistic_seizure

pytestmark = pytest.mark.integration

OLD, NEW = "the person key of last year, 0001", "the person key of this year, 0002"


def _hits(o: Output) -> list[WatchlistHit]:
    return [
        e.payload
        for events in o.deliveries.values()
        for e in events
        if isinstance(e.payload, WatchlistHit)
    ]


def _rows(settings) -> dict[bytes, bytes | None]:
    """The newest value of each key of the alerts' changelog, each checked to be in the
    partition the worker keeps its watch key in."""
    newest: dict[bytes, bytes | None] = {}
    topic = STATE_WATCH_ALERTS.full_name(settings.topic_prefix)
    for message in read_to_end(settings, [topic], idle_s=10):
        key = message.key() or b""
        group, _ = group_of(key)
        assert message.partition() == partition_of(group, STATE_WATCH_ALERTS.partitions), key
        newest[key] = message.value()
    return newest


def _newest(settings) -> dict[bytes, bytes | None]:
    """Per watch key, a row of the alerts' changelog that is not deleted (None if none is
    left)."""
    live: dict[bytes, bytes | None] = {}
    for key, value in _rows(settings).items():
        group, _ = group_of(key)
        live[group] = live.get(group) or value
    return live


def test_alerts_on_persons_match_under_the_new_key_after_a_rekey(declared_topics, admin, tmp_path):
    seizure = _version(realistic_seizure(), 1, Operation.UPSERT, OPEN, 0)
    assert isinstance(seizure.payload, Seizure)
    (suspect,) = seizure.payload.persons
    base = _open_alert(seizure, "DE-PERSON-1", seizure.envelope.ingest_time)
    assert isinstance(base.payload, PoliceAlert)
    alert = dataclasses.replace(
        base,
        envelope=dataclasses.replace(base.envelope, data_subject_categories=(suspect.category,)),
        payload=dataclasses.replace(base.payload, items=(), persons=(suspect,)),
    )
    old_key = str(PersonKeys(OLD.encode())(suspect)).encode()
    new_key = str(PersonKeys(NEW.encode())(suspect)).encode()

    before = declared_topics.model_copy(update={"person_key": OLD})
    running = Worker(before, admin, tmp_path / "worker-1.log")
    running.start()
    try:
        send(before, [_record(alert, Label.ALERT)])
        collect(before, "rekey-1", lambda o: any(o.deliveries.values()))
    finally:
        running.stop()
    assert _newest(before).get(old_key)  # the alert is watched under the old key
    old_rows = {k: v for k, v in _rows(before).items() if v and group_of(k)[0] == old_key}

    env = {
        **liaison_env(declared_topics),
        "LIAISON_PERSON_KEY": NEW,
        "LIAISON_PREVIOUS_PERSON_KEY": OLD,
    }
    moved = run_liaison("watch", "rekey", env=env)
    assert moved.returncode == 0, moved.stderr
    assert "entries moved" in moved.stdout
    newest = _newest(before)
    assert newest.get(old_key) is None  # a tombstone: nothing left under the old key
    assert newest.get(new_key)

    # A run cut short between a row's new copy and its old one's tombstone: a rerun
    # finds both, keeps the new one and still deletes the old.
    topic = STATE_WATCH_ALERTS.full_name(declared_topics.topic_prefix)
    with KafkaProducer(producer_config(declared_topics)) as producer:
        for key, value in old_rows.items():
            partition = partition_of(old_key, STATE_WATCH_ALERTS.partitions)
            producer.produce(topic, value, key=key, partition=partition)
    assert _newest(before).get(old_key)
    again = run_liaison("watch", "rekey", env=env)
    assert again.returncode == 0, again.stderr
    newest = _newest(before)
    assert newest.get(old_key) is None
    assert newest.get(new_key)

    after = declared_topics.model_copy(update={"person_key": NEW})
    running = Worker(after, admin, tmp_path / "worker-2.log")
    running.start()
    try:
        later = _renamed(
            _version(seizure, 1, Operation.UPSERT, OPEN, 3),
            "NL-NCEN-2026-REKEY-1",
            ingest_time=seizure.envelope.ingest_time + timedelta(hours=3),
        )
        send(after, [_record(later, Label.SEIZURE)])
        out = collect(after, "rekey-2", lambda o: bool(_hits(o)))
    finally:
        running.kill()
    kinds = {hit.matched_kind for hit in _hits(out)}
    assert IdentifierKind.PERSON in kinds  # the old alert found the suspect, under the new key
    assert {hit.alert_event_id for hit in _hits(out)} == {alert.envelope.event_id}
