"""Reading the broker and the processes during a benchmark run: records, timestamps,
arrivals, peak memory."""

from __future__ import annotations

import bisect
import subprocess
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import Consumer, Message, TopicPartition

from bench.options import System
from liaison.avro.codec import AvroCodec
from liaison.avro.store import EVENT
from liaison.errors import LiaisonError, SerdeError
from liaison.kafka.client import read_to_end
from liaison.kafka.topics import (
    INGEST_TOPICS,
)
from liaison.settings import load_settings

__all__ = [
    "arrivals",
    "check_alive",
    "created_by_event",
    "peak_rss",
    "read_all",
    "records_written",
    "sent_before",
    "stop",
    "timestamps",
]


def read_all(bootstrap: str, topics: Iterable[str]) -> Iterable[Message]:
    """Every record of these topics, from the start to the end as it is now."""
    return read_to_end(load_settings({}), list(topics), bootstrap)


def records_written(bootstrap: str, prefix: str) -> int:
    """Records in every topic of this run but its ingest topics (its own and Quix
    Streams' changelogs included)."""
    ingest = {spec.full_name(prefix) for spec in INGEST_TOPICS}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-counter"})
    try:
        topics = consumer.list_topics(timeout=10).topics
        total = 0
        for name, topic in topics.items():
            if name in ingest or not (name.startswith(prefix) or f"--{prefix}" in name):
                continue
            for partition in topic.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=10
                )
                total += high - low
        return total
    finally:
        consumer.close()


def timestamps(bootstrap: str, topics: list[str]) -> list[int]:
    stamps = [m.timestamp()[1] for m in read_all(bootstrap, topics)]
    if not stamps:
        raise LiaisonError(f"nothing was written to {', '.join(topics)}")
    return stamps


def created_by_event(bootstrap: str, topics: list[str]) -> dict[str, list[int]]:
    """Each event id's ingest records' timestamps, in order (a replay sends one again)."""
    codec = AvroCodec(EVENT)
    sent: dict[str, list[int]] = {}
    for message in read_all(bootstrap, topics):
        try:
            event_id = str(codec.decode(message.value() or b"")["envelope"]["event_id"])
        except SerdeError:
            continue
        sent.setdefault(event_id, []).append(message.timestamp()[1])
    for stamps in sent.values():
        stamps.sort()
    return sent


def sent_before(stamps: list[int], arrived: int) -> int:
    """The send an arrival answers: the last one before it (a copy of a replay is as new
    as the replay), or the first if the clocks disagree."""
    index = bisect.bisect_right(stamps, arrived) - 1
    return stamps[max(index, 0)]


def arrivals(bootstrap: str, topics: list[str]) -> list[tuple[str, int]]:
    codec = AvroCodec(EVENT)
    arrivals = []
    for message in read_all(bootstrap, topics):
        try:
            event_id = str(codec.decode(message.value() or b"")["envelope"]["event_id"])
        except SerdeError:
            continue
        arrivals.append((event_id, message.timestamp()[1]))
    return arrivals


# -- processes ----------------------------------------------------------------------------


def peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def check_alive(system: System, processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is not None:
            raise LiaisonError(f"{system.name}: a process exited with code {process.returncode}")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# -- the report -------------------------------------------------------------------------------
