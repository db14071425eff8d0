"""Keeping the stages' tables bounded: entries past their window are deleted.

A Faust table may be changed only while an agent handles an event, and the
change is written to the changelog partition of that event. A sweep therefore
deletes, while handling an event of partition P, only expired keys of P: the
delete lands where the key lives. A partition that receives no events keeps
its expired keys until it does.

A sweep must not cost what the table holds: at a million keys, reading every
value (or hashing every key to find its partition) blocks the stage's loop for
seconds. :class:`Expiry` keeps, per partition, the keys by the minute they fall
due, so a sweep reads only what is due (at most ``due_limit`` keys each time).
A key written is only noted at first; the sweeps of its partition read its
value and file it by its deadline, at most ``index_limit`` keys each, oldest
first, so a write does not pay for the index. What recovery brings is filed
once it has ended (one pass over the partition's values), so the first sweeps
after a restart see everything due.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime

from aiokafka.partitioner import murmur2

__all__ = ["Deadline", "Expiry", "Sweeper", "partition_of"]

Deadline = Callable[[bytes, bytes], datetime | None]  # (key, value) -> when it may be due


def partition_of(key: bytes, partitions: int) -> int:
    """The partition murmur2 gives ``key``, as aiokafka and the Java client compute it."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


class Sweeper:
    """Says when a sweep is due: every ``every`` events handled, per partition."""

    def __init__(self, every: int = 1000) -> None:
        self.every = every
        self._counts: dict[int, int] = {}

    def due(self, partition: int) -> bool:
        count = self._counts.get(partition, 0) + 1
        self._counts[partition] = count % self.every
        return count >= self.every


class Expiry:
    """Per partition, a table's keys by the minute they fall due (see the module).

    ``deadline(key, value)`` gives the earliest time the entry may be expired, or None if
    it never is; the sweep still judges each due key by its own rule, so a deadline may
    come early (the key is judged, kept, and filed again by its value) but never late.
    """

    def __init__(
        self, deadline: Deadline, *, index_limit: int = 4_000, due_limit: int = 2_000
    ) -> None:
        self.deadline = deadline
        self.index_limit = index_limit
        self.due_limit = due_limit
        # Keys written since last filed, oldest first (an ordered set).
        self._unfiled: dict[int, OrderedDict[bytes, None]] = {}
        # Per partition: minute -> keys filed under it, and a heap of those minutes. A key
        # written again is filed again; its earlier filings are found stale when due.
        self._minutes: dict[int, dict[int, list[bytes]]] = {}
        self._heap: dict[int, list[int]] = {}

    def touched(self, key: bytes, partition: int) -> None:
        """``key`` of ``partition`` was written (or recovered): file it by its new value."""
        unfiled = self._unfiled.setdefault(partition, OrderedDict())
        unfiled[key] = None
        unfiled.move_to_end(key)

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop what is known of ``partitions`` (no longer this worker's)."""
        for partition in partitions:
            self._unfiled.pop(partition, None)
            self._minutes.pop(partition, None)
            self._heap.pop(partition, None)

    def file_all(
        self, partitions: Iterable[int], value_of: Callable[[bytes], bytes | None]
    ) -> None:
        """File every unfiled key of ``partitions`` now (once recovery has brought a
        partition's keys: the first sweeps must see all that is due, not wait for them)."""
        for partition in partitions:
            unfiled = self._unfiled.pop(partition, None)
            for key in unfiled or ():
                self._file_value(partition, key, value_of)

    def pending(self, partition: int) -> int:
        """Keys of ``partition`` not filed yet."""
        return len(self._unfiled.get(partition, ()))

    def _file_value(
        self, partition: int, key: bytes, value_of: Callable[[bytes], bytes | None]
    ) -> None:
        value = value_of(key)
        if value is not None:
            deadline = self.deadline(key, value)
            if deadline is not None:
                self._file(partition, key, deadline)

    def _file(self, partition: int, key: bytes, due: datetime) -> None:
        minute = int(due.timestamp() // 60)
        minutes = self._minutes.setdefault(partition, {})
        keys = minutes.get(minute)
        if keys is None:
            keys = minutes[minute] = []
            heapq.heappush(self._heap.setdefault(partition, []), minute)
        keys.append(key)

    def due(
        self, partition: int, now: datetime, value_of: Callable[[bytes], bytes | None]
    ) -> list[bytes]:
        """Keys of ``partition`` whose deadline has passed at ``now``, judged by their
        current value (``value_of``), at most ``due_limit``; files up to ``index_limit``
        unfiled keys first."""
        unfiled = self._unfiled.get(partition)
        if unfiled:
            for _ in range(min(self.index_limit, len(unfiled))):
                key, _ = unfiled.popitem(last=False)
                self._file_value(partition, key, value_of)
        found: dict[bytes, None] = {}  # a key filed twice under one minute comes once
        heap = self._heap.get(partition)
        minutes = self._minutes.get(partition, {})
        unfiled = self._unfiled.setdefault(partition, OrderedDict())
        current = now.timestamp()
        # Only minutes wholly past: every deadline filed under one is before ``now``.
        while heap and len(found) < self.due_limit and (heap[0] + 1) * 60 <= current:
            minute = heap[0]
            keys = minutes[minute]
            while keys and len(found) < self.due_limit:
                key = keys.pop()
                value = value_of(key)
                if value is None:
                    continue  # deleted
                deadline = self.deadline(key, value)
                if deadline is None or int(deadline.timestamp() // 60) != minute:
                    continue  # a stale filing: the key is under the minute its value gives
                found[key] = None
            if not keys:
                heapq.heappop(heap)
                del minutes[minute]
        for key in found:  # judged by the caller: kept ones are filed again by their value
            unfiled[key] = None
        return list(found)
