"""The secured embedded broker refuses what the access table does not grant.

Each test connects as one user of the table (a partner with its certificate, a process with
its SCRAM password) and tries what the issue of partner isolation names; the expectations
are written out here, not derived from the table, so a grant that widens by mistake fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from liaison.kafka.client import make_admin
from liaison.kafka.topics import (
    AUDIT,
    CONNECT_POSITIONS,
    DEAD_LETTERS,
    INGEST_CEN,
    INGEST_CISPLUS,
    INGEST_POLICE,
    PIPELINE_ENRICHED,
    PIPELINE_OUTCOMES,
    RECEIPTS,
    STATE_RECIPIENTS,
    STATE_VERSIONS,
    STATE_WATCH_ALERTS,
)
from liaison.policy import load_policy
from liaison.settings import Settings

pytestmark = pytest.mark.integration

REFUSED = KafkaError.TOPIC_AUTHORIZATION_FAILED
EUROPOL, INTERPOL, NL_POLICE = "partner.europol", "partner.interpol", "partner.nl-police"


def _name(settings: Settings, topic: str) -> str:
    return settings.topic_prefix + topic


def _seed(admin_settings: Settings, topics: list[str]) -> None:
    """One record in partition 0 of each topic, written by the admin."""
    producer = Producer(
        {
            "bootstrap.servers": admin_settings.bootstrap_servers,
            **admin_settings.kafka_client_config(),
        }
    )
    for topic in topics:
        producer.produce(topic, b"a record", key=b"k", partition=0)
    assert producer.flush(30) == 0


def _reads(settings: Settings, topics: list[str], timeout_s: float = 20.0) -> dict[str, object]:
    """Per topic: the first record's value read from partition 0, or the error code the
    broker answered instead: to the metadata request (no Describe) or to the fetch (no
    Read)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            **settings.kafka_client_config(),
            "group.id": f"{settings.sasl_username or 'partner-europol'}-access-test",
            "enable.auto.commit": False,
        }
    )
    seen: dict[str, object] = {}
    for topic in topics:
        error = consumer.list_topics(topic, timeout=10).topics[topic].error
        if error is not None:
            seen[topic] = error.code()
    consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in topics if t not in seen])
    deadline = time.monotonic() + timeout_s
    try:
        while len(seen) < len(topics) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            where, error = message.topic(), message.error()
            if where is None or where in seen:
                continue
            seen[where] = error.code() if error is not None else message.value()
    finally:
        consumer.close()
    return seen


def _writes(settings: Settings, topics: list[str]) -> dict[str, object]:
    """Per topic: None when a record was acknowledged, else the error code."""
    producer = Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            **settings.kafka_client_config(),
            "message.timeout.ms": 15000,
        }
    )
    outcome: dict[str, object] = {}

    def delivered(error: KafkaError | None, message) -> None:
        outcome[message.topic()] = None if error is None else error.code()

    for topic in topics:
        producer.produce(topic, b"written", key=b"k", partition=0, on_delivery=delivered)
    producer.flush(30)
    return outcome


def test_a_partner_reads_its_own_topic_and_nothing_else(declared_topics, as_principal):
    settings = declared_topics
    own = _name(settings, EUROPOL)
    others = [
        _name(settings, topic)
        for topic in (
            INTERPOL,  # another partner's deliveries
            AUDIT.name,
            DEAD_LETTERS.name,
            INGEST_CISPLUS.name,
            PIPELINE_ENRICHED.name,
            RECEIPTS.name,
            CONNECT_POSITIONS.name,
            STATE_VERSIONS.name,
            STATE_WATCH_ALERTS.name,
        )
    ]
    _seed(settings, [own, *others])
    europol = as_principal("partner-europol")
    assert europol.security_protocol == "SSL"  # its certificate, on the partners' listener

    read = _reads(europol, [own, *others])
    assert read[own] == b"a record"
    assert {topic: read.get(topic) for topic in others} == dict.fromkeys(others, REFUSED)
    # It may write nowhere, its own topic included.
    assert _writes(europol, [own]) == {own: REFUSED}


def test_a_partner_without_a_certificate_is_not_let_in(declared_topics, kafka):
    anonymous = Consumer(
        {
            "bootstrap.servers": kafka.partner_bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": kafka.ca_file,
            "group.id": "partner-europol.anonymous",
        }
    )
    try:
        with pytest.raises(KafkaException) as caught:
            anonymous.list_topics(timeout=5)
        assert caught.value.args[0].code() in {KafkaError._TRANSPORT, KafkaError._TIMED_OUT}
    finally:
        anonymous.close()


def test_a_certificate_not_named_as_a_partner_is_nobody(declared_topics, embedded_kafka, kafka):
    """The partners' listener takes a certificate's CN for its principal only when it is a
    partner's name: one the CA issued under another (an operator's, ``admin``) gets no
    rights at all, not those of the super user of that name."""
    issued = embedded_kafka.ca.issue_client("admin")
    stranger = declared_topics.model_copy(
        update={
            "bootstrap_servers": kafka.partner_bootstrap,
            "security_protocol": "SSL",
            "sasl_mechanism": None,
            "sasl_username": None,
            "sasl_password": None,
            "ssl_ca_location": Path(kafka.ca_file),
            "ssl_certificate_location": issued.certificate,
            "ssl_key_location": issued.key,
        }
    )
    audit = _name(declared_topics, AUDIT.name)
    _seed(declared_topics, [audit])
    assert _reads(stranger, [audit]) == {audit: REFUSED}


def test_the_worker_writes_partner_topics_but_reads_none(declared_topics, as_principal):
    settings = declared_topics
    partners = [_name(settings, t) for t in (EUROPOL, NL_POLICE)]
    ingest = _name(settings, INGEST_CEN.name)
    _seed(settings, [*partners, ingest])
    worker = as_principal("liaison-pipeline")

    read = _reads(worker, [*partners, ingest])
    assert read[ingest] == b"a record"
    assert {t: read.get(t) for t in partners} == dict.fromkeys(partners, REFUSED)
    assert _writes(worker, partners) == dict.fromkeys(partners)


_SOURCE_TOPICS = {
    "liaison-cen-source": (INGEST_CEN, DEAD_LETTERS, CONNECT_POSITIONS),
    "liaison-cisplus-source": (INGEST_CISPLUS, DEAD_LETTERS),
    "liaison-police-source": (INGEST_POLICE, DEAD_LETTERS),
}


@pytest.mark.parametrize("source", sorted(_SOURCE_TOPICS))
def test_a_source_writes_its_ingest_topic_dead_letters_and_positions_only(
    declared_topics, as_principal, source
):
    settings = declared_topics
    user = as_principal(source)
    mine = _SOURCE_TOPICS[source]
    allowed = [_name(settings, t.name) for t in mine]
    others = (INGEST_CEN, INGEST_CISPLUS, INGEST_POLICE, CONNECT_POSITIONS)
    forbidden = [
        _name(settings, name)
        for name in (
            *(t.name for t in others if t not in mine),
            EUROPOL,
            AUDIT.name,
            PIPELINE_OUTCOMES.name,
            STATE_RECIPIENTS.name,
        )
    ]
    written = _writes(user, [*allowed, *forbidden])
    assert {t: written[t] for t in allowed} == dict.fromkeys(allowed)
    assert {t: written[t] for t in forbidden} == dict.fromkeys(forbidden, REFUSED)


def _delete_audit(user: Settings, topic: str) -> int | None:
    """None when records were deleted, else the broker's refusal: to the DeleteRecords
    request, or (a principal that may not even describe the topic) to the metadata request
    the client needs first."""
    admin = make_admin(user)
    futures = admin.delete_records([TopicPartition(topic, 0, 1)], request_timeout=15)
    error = next(iter(futures.values())).exception(timeout=20)
    if error is None:
        return None
    assert isinstance(error, KafkaException), error
    code: int = error.args[0].code()
    if code == KafkaError._NOENT:  # the client found no such topic: was it hidden?
        hidden = admin.list_topics(topic, timeout=10).topics[topic].error
        assert hidden is not None, "the topic was visible, yet the client found none"
        code = hidden.code()
    return code


def test_no_process_and_no_partner_can_delete_audit_records(
    declared_topics, as_principal, embedded_kafka
):
    settings = declared_topics
    audit = _name(settings, AUDIT.name)
    _seed(settings, [audit, audit])
    users = [u.name for u in embedded_kafka.grant(settings, load_policy())]
    refused = {user: _delete_audit(as_principal(user), audit) for user in users}
    assert refused == dict.fromkeys(users, REFUSED)
    # Nor delete the topic, nor shorten its retention.
    dropped = {user: _drop_or_shorten(as_principal(user), audit) for user in users}
    assert dropped == dict.fromkeys(users, (False, False))
    assert audit in make_admin(settings).list_topics(timeout=10).topics
    # The admin (the operator, a super user) could: the refusal is the ACLs' doing.
    assert _delete_audit(settings, audit) is None


def _drop_or_shorten(user: Settings, topic: str) -> tuple[bool, bool]:
    """Whether ``user`` could delete ``topic``, and whether it could set its retention to
    one millisecond (each attempt answered by the broker; a refusal is False)."""
    admin = make_admin(user)
    deleted = admin.delete_topics([topic], request_timeout=15)[topic]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entry = ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)
    resource.add_incremental_config(entry)
    altered = admin.incremental_alter_configs([resource], request_timeout=15)[resource]
    outcome = []
    for future in (deleted, altered):
        error = future.exception(timeout=20)
        outcome.append(error is None)
    return outcome[0], outcome[1]


def test_the_lag_exporter_sees_offsets_and_times_but_no_record(declared_topics, as_principal):
    settings = declared_topics
    topic = _name(settings, INGEST_POLICE.name)
    before = int(time.time() * 1000) - 1000
    _seed(settings, [topic])
    exporter = as_principal("liaison-lag-exporter")
    consumer = Consumer(
        {
            "bootstrap.servers": exporter.bootstrap_servers,
            **exporter.kafka_client_config(),
            "group.id": f"{exporter.client_id}-lag-exporter",
        }
    )
    try:
        place = TopicPartition(topic, 0)
        assert consumer.get_watermark_offsets(place, timeout=10) == (0, 1)
        (found,) = consumer.offsets_for_times([TopicPartition(topic, 0, before)], timeout=10)
        assert found.offset == 0
    finally:
        consumer.close()
    assert _reads(exporter, [topic]) == {topic: REFUSED}
