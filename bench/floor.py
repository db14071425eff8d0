"""The floor: the least a Python process can do with these events on this broker.

A hand-written confluent-kafka loop that consumes the ingest topics, decodes each record
(Avro single-object encoding, the same codec as Liaison), encodes it again and produces it
to one output topic, idempotently with ``acks=all`` as Liaison does, with offsets stored
after the produce. No dedupe, no enrichment, no routing, no state. Run as its own process
(``python -m bench.floor``) so its memory is measured alone.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from confluent_kafka import Consumer, Producer

from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.errors import SerdeError

__all__ = ["run_floor"]


def run_floor(
    bootstrap: str, topics: list[str], group: str, out_topic: str, stop: threading.Event
) -> int:
    """Copy until stopped; returns how many records it copied."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.offset.store": False,
            "enable.auto.commit": True,
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
        }
    )
    codec = AvroCodec(EVENT)
    copied = 0
    consumer.subscribe(topics)
    try:
        while not stop.is_set():
            # A short wait: consume() holds a batch until it is full or the wait is over,
            # which under a light load would be latency the loop adds itself.
            for message in consumer.consume(500, timeout=0.01):
                if message.error() is not None:
                    continue
                raw = message.value() or b""
                try:
                    value = codec.encode(codec.decode(raw))
                except SerdeError:
                    value = raw  # undecodable on purpose: passed on as it came
                while True:
                    try:
                        producer.produce(out_topic, value, key=message.key())
                        break
                    except BufferError:
                        producer.poll(0.1)
                producer.poll(0)
                consumer.store_offsets(message)
                copied += 1
    finally:
        producer.flush(30)
        consumer.close()
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--out-topic", required=True)
    parser.add_argument("topics", nargs="+")
    args = parser.parse_args()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    copied = run_floor(args.bootstrap, args.topics, args.group, args.out_topic, stop)
    sys.stdout.write(f"floor: {copied} records copied\n")


if __name__ == "__main__":
    main()
