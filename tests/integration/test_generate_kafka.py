import base64
import json
from collections import Counter

import pytest

from liaison.kafka.client import KafkaConsumer, consumer_config
from liaison.kafka.topics import INGEST_TOPICS
from stack.synthetic.output import LABEL_HEADER
from tests.integration.conftest import liaison_env, run_liaison

pytestmark = pytest.mark.integration


def test_generate_to_kafka_sends_what_the_file_holds(declared_topics, tmp_path):
    settings = declared_topics
    env = liaison_env(settings)
    to_file = run_liaison(
        "generate", "--count", "250", "--seed", "4", "--out", str(tmp_path / "g.jsonl"), env=env
    )
    assert to_file.returncode == 0, to_file.stderr
    # Counters, not sets: a record may be replayed more than once.
    expected = Counter(
        (line["topic"], line["key"], base64.b64decode(line["value"]), line["label"])
        for line in map(json.loads, (tmp_path / "g.jsonl").read_text().splitlines())
    )
    to_kafka = run_liaison(
        "generate", "--count", "250", "--seed", "4", "--kafka", "--rate", "500", env=env
    )
    assert to_kafka.returncode == 0, to_kafka.stderr

    received: Counter[tuple[str | None, str, bytes | None, str]] = Counter()
    topics = [spec.full_name(settings.topic_prefix) for spec in INGEST_TOPICS]
    with KafkaConsumer(consumer_config(settings, "check-generate"), topics) as consumer:
        for _ in range(120):
            for message in consumer.consume(500, timeout_s=0.5):
                label = dict(message.headers() or [])[LABEL_HEADER]
                assert isinstance(label, bytes)
                key = (message.key() or b"").decode()
                received[(message.topic(), key, message.value(), label.decode())] += 1
            if all(received[item] >= n for item, n in expected.items()):
                break
    # Every record as often as it was made; a reader may see one twice (at-least-once),
    # never one that was not made.
    assert set(received) == set(expected), to_kafka.stderr
    assert all(received[item] >= n for item, n in expected.items())
