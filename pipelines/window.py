"""Many events in flight per stage, with the guarantees of one at a time.

A stage decides each event as it comes and hands Kafka what the decision produces without
waiting for it; the :class:`InFlight` window then, in input order and in the background:

1. waits until Kafka confirmed the event's first sends (for route: its audit records);
2. makes its follow-up sends, if any (for route: the deliveries, only now that their audit
   records are on the record), and waits for those too;
3. writes the event's table updates;
4. waits until Kafka confirmed those updates in the tables' changelogs, then acknowledges
   the event.

Decisions must see the effect of earlier events still in flight, so table reads go through
the window (:meth:`InFlight.get`), which answers from the pending updates first. A table
update is written only after the sends it goes with were confirmed, and an event is
acknowledged only after that: a crash at any point leaves the input unacknowledged, and
its replay decides again from the table as it was. Faust itself only buffers a table's
changelog records and acknowledges on its own schedule: its commit flushes that buffer for
at most 0.1 s (``ProducerBuffer.flush_atmost`` gives up on a timeout), and a stop can end
with records still in it, so offsets could be committed past updates that never reached
the changelog; a restarted worker then rebuilt tables that missed what it had decided.
Hence step 4, with :class:`ConfirmedTable` handing the window each update's send. The
window holds at most ``limit`` events; a full window makes the stage wait (back-pressure).

A send that fails raises in the background task, which crashes the worker (as a failed
send did when each event waited for its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.tables.table import Table
from faust.types import EventT, TableT
from faust.types.tuples import FutureMessage

from pipelines.sweep import Expiry

__all__ = ["ConfirmedTable", "GroupedTable", "InFlight", "Pending", "group_of", "row_key"]

log = logging.getLogger(__name__)

Write = tuple[TableT[bytes, bytes], bytes, bytes | None]  # None deletes the key


@dataclass
class Pending:
    """One event's work, handed to the window once decided."""

    item: EventT[bytes]
    sends: Sequence[Awaitable[Any]] = ()
    # Sends to make once ``sends`` are confirmed; returns their futures.
    follow_up: Callable[[], Awaitable[Sequence[Awaitable[Any]]]] | None = None
    writes: list[Write] = field(default_factory=list)
    # Runs once the event is acknowledged (metrics).
    done: Callable[[], None] | None = None


_SENTINEL = object()


class ConfirmedTable(Table):  # type: ignore[type-arg] # Faust's Table is generic in stubs only
    """A Faust table that keeps each changelog send it makes until the window takes it, so
    that an event is acknowledged only once Kafka has its table updates."""

    def __init__(self, *args: Any, expiry: Expiry | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[FutureMessage] = []
        # When its keys fall due, per partition, for the stage's sweeps (pipelines.sweep).
        self.expiry = expiry

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        future = super().send_changelog(*args, **kwargs)
        self.sent.append(future)
        return future

    def on_key_set(self, key: Any, value: Any) -> None:
        super().on_key_set(key, value)
        self._written(key, cast(int, self.sent[-1].message.partition))

    def on_key_del(self, key: Any) -> None:
        super().on_key_del(key)
        partition = cast(int, self.sent[-1].message.partition)
        self._written(key, partition)
        owners = getattr(self.data, "_key_partition", None)
        if owners is not None:
            owners.pop(key, None)

    def _written(self, key: bytes, partition: int) -> None:
        # Faust's in-memory store drops a partition's keys once the partition has gone to
        # another worker, but only keys it read from the changelog (faust-streaming PR
        # #199 keeps their partitions): a key this worker wrote stayed, and came back
        # stale with the partition (its deletion elsewhere could be compacted away by
        # then). So the store is told the partition of each write too (the test is
        # tests/unit/test_window.py::test_a_rebalance_leaves_no_stale_key_...).
        owners = getattr(self.data, "_key_partition", None)
        if owners is not None:
            owners[key] = partition
        if self.expiry is not None:
            self.expiry.touched(key, partition)

    def apply_changelog_batch(self, batch: Any) -> None:
        batch = list(batch)
        super().apply_changelog_batch(batch)
        if self.expiry is not None:
            standby = self._standby()
            for event in batch:
                partition = event.message.partition
                if partition not in standby:  # a standby's keys are never swept here
                    self.expiry.touched(event.key, partition)

    def _standby(self) -> set[int]:
        """The changelog partitions this worker holds as a standby only."""
        recovery = getattr(self.app.tables, "_recovery", None)
        if recovery is None:
            return set()
        topic = self.changelog_topic.get_topic_name()
        return {
            tp.partition for tp in recovery.standby_tps - recovery.active_tps if tp.topic == topic
        }

    async def on_recovery_completed(self, active_tps: Any, standby_tps: Any) -> None:
        # Faust's store first drops what is no longer assigned (see _written).
        await super().on_recovery_completed(active_tps, standby_tps)
        if self.expiry is not None:
            topic = self.changelog_topic.get_topic_name()
            active = {tp.partition for tp in active_tps if tp.topic == topic}
            self.expiry.forget(set(range(self.partitions or 0)) - active)
            # What recovery brought, filed at once: the first sweeps see all that is due.
            self.expiry.file_all(active, self.get)

    def take_sent(self) -> list[FutureMessage]:
        sent, self.sent = self.sent, []
        return sent


SEPARATOR = b"\x00"


def row_key(group: bytes, member: bytes) -> bytes:
    """The key of ``member``'s row in ``group`` (neither holds the separator)."""
    return group + SEPARATOR + member


def group_of(key: bytes) -> tuple[bytes, bytes]:
    """``(group, member)`` of a row's key; a key without the separator is a group's row of
    the layout before rows (one value for the whole group), as member ``b""``."""
    group, _, member = key.partition(SEPARATOR)
    return group, member


class GroupedTable(ConfirmedTable):
    """A table of groups of rows, one row per member keyed ``group NUL member``, so that a
    group that grows (a busy identifier) never makes one record that grows with it.

    It knows each group's members, so a group is read without scanning the table: kept as
    the stage sets and deletes keys, and as the changelog is applied during recovery (active
    and standby partitions alike); rebuilt from the keys held once recovery ends, when
    Faust's store has dropped what is no longer assigned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._members: dict[bytes, set[bytes]] = {}

    def members(self, group: bytes) -> frozenset[bytes]:
        return frozenset(self._members.get(group, ()))

    def _add(self, key: bytes) -> None:
        group, member = group_of(key)
        self._members.setdefault(group, set()).add(member)

    def _discard(self, key: bytes) -> None:
        group, member = group_of(key)
        members = self._members.get(group)
        if members is not None:
            members.discard(member)
            if not members:
                del self._members[group]

    def on_key_set(self, key: Any, value: Any) -> None:
        super().on_key_set(key, value)
        self._add(key)

    def on_key_del(self, key: Any) -> None:
        super().on_key_del(key)
        self._discard(key)

    def apply_changelog_batch(self, batch: Any) -> None:
        batch = list(batch)
        super().apply_changelog_batch(batch)
        for event in batch:
            key = event.key
            if key in self.data:
                self._add(key)
            else:
                self._discard(key)

    async def on_recovery_completed(self, active_tps: Any, standby_tps: Any) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        self._members = {}
        for key in list(self.data.keys()):
            self._add(key)


class InFlight:
    def __init__(self, source: faust.Stream[bytes], limit: int = 1000, name: str = "") -> None:
        self.source = source
        self.name = name
        self._held = 0  # events submitted and not yet acknowledged
        self._empty = asyncio.Event()
        self._empty.set()
        self._confirming: asyncio.Queue[Pending] = asyncio.Queue(limit)
        self._writing: asyncio.Queue[tuple[Pending, Sequence[Awaitable[Any]]]] = asyncio.Queue(
            limit
        )
        self._acking: asyncio.Queue[tuple[Pending, Sequence[Awaitable[Any]]]] = asyncio.Queue(limit)
        self._overlay: dict[tuple[int, bytes], bytes | None] = {}
        # Per grouped table and group, the members with an update in the overlay.
        self._pending_members: dict[tuple[int, bytes], set[bytes]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._crash: asyncio.Future[None] | None = None
        self.stopped = False

    # -- what it holds (for the watchdog) --------------------------------------

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics its stage reads."""
        return tuple(getattr(self.source.channel, "topics", ()))

    def waiting(self) -> int:
        """The events its stage holds: queued for it by the consumer, or in flight here."""
        queue = getattr(self.source.channel, "_queue", None)  # made at the stage's first read
        return self._held + (queue.qsize() if queue is not None else 0)

    # -- the stage's side ----------------------------------------------------

    def get(self, table: TableT[bytes, bytes], key: bytes) -> bytes | None:
        """The table's value for ``key``, counting updates still in flight."""
        value = self._overlay.get((id(table), key), _SENTINEL)
        if value is _SENTINEL:
            return table.get(key)
        return value  # type: ignore[return-value]

    def group(self, table: GroupedTable, group: bytes) -> dict[bytes, bytes]:
        """The rows of ``group`` in ``table``, member to value, counting updates still in
        flight; a row of the layout before rows comes as member ``b""``."""
        members = table.members(group) | self._pending_members.get((id(table), group), set())
        rows = {}
        for member in members:
            value = self.get(table, row_key(group, member) if member else group)
            if value is not None:
                rows[member] = value
        return rows

    def set(
        self, pending: Pending, table: TableT[bytes, bytes], key: bytes, value: bytes | None
    ) -> None:
        """Update ``key`` for the decisions that follow; written once ``pending`` is
        confirmed."""
        self._overlay[(id(table), key)] = value
        if isinstance(table, GroupedTable):
            group, member = group_of(key)
            self._pending_members.setdefault((id(table), group), set()).add(member)
        pending.writes.append((table, key, value))

    async def submit(self, pending: Pending) -> None:
        self._check()
        self._held += 1
        self._empty.clear()
        await self._confirming.put(pending)

    # -- the background ------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._confirm()),
            asyncio.ensure_future(self._write()),
            asyncio.ensure_future(self._acknowledge()),
        ]
        for task in self._tasks:
            task.add_done_callback(self._failed)

    def _failed(self, task: asyncio.Task[None]) -> None:
        """A failed send or write crashes the worker even while the stage waits for input."""
        reason = None if task.cancelled() else task.exception()
        if reason is not None:
            self._crash = asyncio.ensure_future(self.source.app.crash(reason))

    async def stop(self, drain_s: float = 0.0) -> int:
        """End the background work; first, for up to ``drain_s``, let the events the window
        holds be confirmed, written and acknowledged (a clean stop then commits them).
        Returns how many were left unacknowledged: a restart reads those again."""
        self.stopped = True
        held = self._held
        if drain_s > 0 and held and not any(task.done() for task in self._tasks):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), timeout=drain_s)
        left = self._held
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if drain_s > 0:
            log.info(
                "%s: stopped; %d events in flight at the stop acknowledged, %d left to read again",
                self.name or "window",
                held - left,
                left,
            )
        return left

    def _check(self) -> None:
        """Raise here what failed in the background, so the agent crashes with it."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _confirm(self) -> None:
        while True:
            pending = await self._confirming.get()
            for send in pending.sends:  # already under way: awaited in turn, no task each
                await send
            follow_up = await pending.follow_up() if pending.follow_up else ()
            await self._writing.put((pending, follow_up))

    async def _write(self) -> None:
        while True:
            pending, follow_up = await self._writing.get()
            for send in follow_up:
                await send
            if pending.writes:
                # Faust picks a table update's changelog partition from the event being
                # processed; here that is the pending one, not whatever the stage reads now.
                token = _current_event.set(weakref.ref(pending.item))
                try:
                    for table, key, value in pending.writes:
                        if value is None:
                            table.pop(key, None)
                        else:
                            table[key] = value
                        slot = (id(table), key)
                        if self._overlay.get(slot, _SENTINEL) is value:
                            del self._overlay[slot]  # no later update in flight
                            if isinstance(table, GroupedTable):
                                self._settled(table, key)
                finally:
                    _current_event.reset(token)
            tables = {id(table): table for table, _, _ in pending.writes}.values()
            sent = [future for table in tables for future in _taken(table)]
            await self._acking.put((pending, sent))

    async def _acknowledge(self) -> None:
        while True:
            pending, sent = await self._acking.get()
            for future in sent:  # the changelog has the event's updates: it may be committed
                await future
            await self.source.ack(pending.item)
            self._held -= 1
            if not self._held:
                self._empty.set()
            if pending.done is not None:
                pending.done()

    def _settled(self, table: GroupedTable, key: bytes) -> None:
        """``key`` has no update in flight any more: the table's own members say it."""
        group, member = group_of(key)
        slot = (id(table), group)
        members = self._pending_members.get(slot)
        if members is not None:
            members.discard(member)
            if not members:
                del self._pending_members[slot]


def _taken(table: TableT[bytes, bytes]) -> list[FutureMessage]:
    """The changelog sends ``table`` made since last asked (none for a plain table)."""
    return table.take_sent() if isinstance(table, ConfirmedTable) else []
