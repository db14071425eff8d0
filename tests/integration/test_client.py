import pytest

from liaison.errors import DeliveryError
from liaison.kafka.client import KafkaConsumer, KafkaProducer, consumer_config, producer_config
from liaison.kafka.topics import INGEST_CEN, ensure_topics

pytestmark = pytest.mark.integration


def test_failed_delivery_reaches_the_callback(settings):
    errors = []
    config = {**producer_config(settings), "message.timeout.ms": 2000}
    producer = KafkaProducer(config)
    producer.produce(
        settings.topic_prefix + "no-such-topic",
        b"x",
        on_delivery=lambda error, _msg: errors.append(error),
    )
    with pytest.raises(DeliveryError):
        producer.close()
    assert producer.failed == 1
    assert producer.delivered == 0
    assert len(errors) == 1
    assert errors[0] is not None


def test_offsets_move_only_past_stored_records(settings, admin):
    ensure_topics(admin, [INGEST_CEN], prefix=settings.topic_prefix, replication_override=1)
    topic = INGEST_CEN.full_name(settings.topic_prefix)
    with KafkaProducer(producer_config(settings)) as producer:
        for i in range(10):
            producer.produce(topic, str(i).encode(), key=b"same-partition")

    group = settings.pipeline_app_id
    seen: list[int] = []
    with KafkaConsumer(consumer_config(settings, group), [topic]) as consumer:
        while len(seen) < 10:
            for message in consumer.consume(10, timeout_s=1.0):
                seen.append(int(message.value() or b""))
                if int(message.value() or b"") < 4:  # the work for 0..3 is done; 4..9 is not
                    consumer.store(message)
        consumer.commit()
    assert seen == list(range(10))

    with KafkaConsumer(consumer_config(settings, group), [topic]) as again:
        first = None
        for _ in range(30):
            batch = again.consume(1, timeout_s=1.0)
            if batch:
                first = int(batch[0].value() or b"")
                break
    assert first == 4


def test_a_key_lands_where_aiokafka_and_java_would_put_it(settings, admin):
    from aiokafka.partitioner import DefaultPartitioner  # noqa: PLC0415 - only this test

    ensure_topics(admin, [INGEST_CEN], prefix=settings.topic_prefix, replication_override=1)
    topic = INGEST_CEN.full_name(settings.topic_prefix)
    placed: dict[bytes, int] = {}

    def record(_error, message) -> None:
        placed[message.key()] = message.partition()

    with KafkaProducer(producer_config(settings)) as producer:
        for i in range(40):
            producer.produce(topic, b"x", key=f"CEN:CEN-2026-{i:07d}".encode(), on_delivery=record)
    partitions = list(range(INGEST_CEN.partitions))
    expected = {key: DefaultPartitioner()(key, partitions, partitions) for key in placed}
    assert placed == expected


def test_flush_raises_when_a_record_was_not_delivered(settings):
    config = {**producer_config(settings), "message.timeout.ms": 2000}
    producer = KafkaProducer(config)
    producer.produce(settings.topic_prefix + "missing-topic", b"x")
    with pytest.raises(DeliveryError, match="1 record"):
        producer.flush()
    producer.flush()  # reported once; nothing pending since
