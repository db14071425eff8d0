"""Keeping the stages' tables bounded: entries past their window are deleted.

A Faust table may be changed only while an agent handles an event, and the
change is written to the changelog partition of that event. Every topic here
is partitioned by murmur2 of the key (aiokafka, and Liaison's producers), so a
key's entries live in the partition murmur2 gives it. A sweep therefore
deletes, while handling an event of partition P, only expired keys of P: the
delete lands where the key lives. A partition that receives no events keeps
its expired keys until it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiokafka.partitioner import murmur2

__all__ = ["Sweeper", "expired_keys", "partition_of"]


def partition_of(key: bytes, partitions: int) -> int:
    """The partition murmur2 gives ``key``, as aiokafka and the Java client compute it."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def expired_keys(
    items: Iterable[tuple[bytes, bytes]],
    partition: int,
    partitions: int,
    expired: Callable[[bytes], bool],
) -> list[bytes]:
    """The keys of ``partition`` whose value ``expired`` judges past its window."""
    return [
        key
        for key, value in items
        if value is not None and partition_of(key, partitions) == partition and expired(value)
    ]


class Sweeper:
    """Says when a sweep is due: every ``every`` events handled, per partition."""

    def __init__(self, every: int = 1000) -> None:
        self.every = every
        self._counts: dict[int, int] = {}

    def due(self, partition: int) -> bool:
        count = self._counts.get(partition, 0) + 1
        self._counts[partition] = count % self.every
        return count >= self.every
