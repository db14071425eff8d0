"""The watch stage's tables: one small row per record or hit, grouped under its identifier.

Each of the three tables (alerts, recent customs records, hits made) groups its rows by
watch key, the key of the stage's input: ``CONTAINER_NUMBER:MSKU9070323`` NUL the record
(or hit) the row is about. A probe reads and writes its own record's row alone, and reads
the other side's group only when it is matched; so a busy identifier (a common container,
vessel or company) costs a probe what a quiet one does, and no record in a changelog grows
with the number of records under one identifier (one value per identifier did, until it
passed Kafka's message size and the send crashed the worker).

Rows are written while the stage handles an event of the identifier's partition, so they
land in that partition's changelog as every table update does; the sweep finds a group's
partition from the group (its watch key), not from the row's key.

State written before rows (one value per identifier: every record, or every hit, in one
JSON document) is split into rows the first time its identifier is probed or swept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from liaison.identity import record_key
from liaison.kafka.topics import (
    STATE_WATCH_ALERTS,
    STATE_WATCH_HITS,
    STATE_WATCH_SEEN,
    TopicSpec,
)
from liaison.model.common import Event
from liaison.model.police import PoliceAlert
from liaison.policy import RoutingPolicy
from pipelines.enrich.join import Entries
from pipelines.enrich.memory import Memory, dump_memory, load_memory
from pipelines.enrich.memory import expired as memory_expired
from pipelines.route.decide import keep_until
from pipelines.state import WatchRow, dump_watch_row, load_entries, load_watch_row
from pipelines.sweep import Deadline
from pipelines.window import GroupedTable, InFlight, Pending, group_of, row_key

__all__ = ["WatchTables"]


class WatchTables:
    """Reads and writes of the watch stage's tables, through the stage's in-flight window."""

    def __init__(
        self,
        policy: RoutingPolicy,
        decode: Callable[[bytes], Event],
        watch_window: timedelta,
        make: Callable[[TopicSpec, Deadline], GroupedTable],
    ) -> None:
        """``make`` makes a table of the spec given, whose rows fall due by the deadline
        given (see pipelines.sweep.Expiry)."""
        self.policy = policy
        self.decode = decode
        self.watch_window = watch_window
        self.alerts = make(STATE_WATCH_ALERTS, self.alert_due)
        self.seen = make(STATE_WATCH_SEEN, self.seen_due)
        self.hits = make(STATE_WATCH_HITS, self.hit_due)

    def sides(self, event: Event) -> tuple[GroupedTable, GroupedTable]:
        """``(own, other)``: the table ``event``'s record belongs in, and the one it meets."""
        if isinstance(event.payload, PoliceAlert):
            return self.alerts, self.seen
        return self.seen, self.alerts

    # -- records -------------------------------------------------------------

    def entry(self, window: InFlight, table: GroupedTable, group: bytes, record: str) -> Entries:
        """``record``'s entry under ``group``, alone (empty when it has none)."""
        value = window.get(table, row_key(group, record.encode()))
        if value is None:
            return {}
        row = load_watch_row(value)
        return {record: (row.seen_at, row.encoded)}

    def entries(self, window: InFlight, table: GroupedTable, group: bytes) -> Entries:
        """Every record's entry under ``group``."""
        entries: Entries = {}
        for member, value in window.group(table, group).items():
            row = load_watch_row(value)
            entries[member.decode()] = (row.seen_at, row.encoded)
        return entries

    def records(self, window: InFlight, table: GroupedTable, group: bytes) -> list[str]:
        return [member.decode() for member in window.group(table, group)]

    def keep(
        self,
        window: InFlight,
        pending: Pending,
        event: Event,
        group: bytes,
        after: Entries,
    ) -> None:
        """Write what the join left of ``event``'s record: its entry, or its deletion."""
        own, _ = self.sides(event)
        record = record_key(event)
        key = row_key(group, record.encode())
        entry = after.get(record)
        if entry is None:
            if window.get(own, key) is not None:
                window.set(pending, own, key, None)
            return
        seen_at, encoded = entry
        row = WatchRow(seen_at, encoded, self._until(event), self.policy.digest)
        window.set(pending, own, key, dump_watch_row(row))

    def _until(self, event: Event) -> date:
        """The last day ``event``'s record may stay: its retention, and for an alert the
        day it is valid until (it matches nothing after)."""
        last = keep_until(event, self.policy)
        valid = getattr(event.payload, "valid_until", None)
        return min(last, valid) if isinstance(valid, date) else last

    # -- hits ----------------------------------------------------------------

    def memory(self, window: InFlight, group: bytes) -> Memory:
        """Every hit remembered under ``group``."""
        memory: Memory = {}
        for value in window.group(self.hits, group).values():
            memory.update(load_memory(value))
        return memory

    def remember(self, window: InFlight, pending: Pending, group: bytes, made: Memory) -> None:
        for hit_id, remembered in made.items():
            value = dump_memory({hit_id: remembered})
            window.set(pending, self.hits, row_key(group, hit_id.encode()), value)

    def forget(self, window: InFlight, pending: Pending, group: bytes, hit_ids: set[str]) -> None:
        for hit_id in hit_ids:
            window.set(pending, self.hits, row_key(group, hit_id.encode()), None)

    # -- the layout before rows, and the sweep -----------------------------------

    def split(self, window: InFlight, pending: Pending, group: bytes) -> None:
        """Write ``group``'s value of the layout before rows, if it has one, as rows."""
        for table in (self.alerts, self.seen):
            legacy = window.get(table, group)
            if legacy is None:
                continue
            for record, (seen_at, encoded) in load_entries(legacy).items():
                until = self._until(self.decode(encoded))
                row = WatchRow(seen_at, encoded, until, self.policy.digest)
                window.set(pending, table, row_key(group, record.encode()), dump_watch_row(row))
            window.set(pending, table, group, None)
        legacy = window.get(self.hits, group)
        if legacy is not None:
            self.remember(window, pending, group, load_memory(legacy))
            window.set(pending, self.hits, group, None)

    def sweep(
        self, window: InFlight, pending: Pending, partition: int, watermark: datetime
    ) -> None:
        """Delete this partition's rows past their time: customs records past the watch
        window or their retention, alerts no longer valid or past their retention, and the
        memory of hits past theirs. A row judged under another policy is judged again, and
        kept with its new last day if it stays. Only rows that have fallen due are read
        (see pipelines.sweep.Expiry)."""
        today = watermark.date()
        for table in (self.alerts, self.seen):
            oldest = watermark - self.watch_window if table is self.seen else None
            for key in _due(table, partition, watermark):
                group, member = group_of(key)
                if not member:
                    self.split(window, pending, group)
                    continue
                value = window.get(table, key)
                if value is None:
                    continue
                row = load_watch_row(value)
                if oldest is not None and row.seen_at < oldest:
                    window.set(pending, table, key, None)
                    continue
                if row.policy != self.policy.digest:
                    until = self._until(self.decode(row.encoded))
                    row = WatchRow(row.seen_at, row.encoded, until, self.policy.digest)
                    if row.until >= today:
                        window.set(pending, table, key, dump_watch_row(row))
                if row.until < today:
                    window.set(pending, table, key, None)
        for key in _due(self.hits, partition, watermark):
            group, member = group_of(key)
            if not member:
                self.split(window, pending, group)
                continue
            value = window.get(self.hits, key)
            if value is not None and memory_expired(load_memory(value), today):
                window.set(pending, self.hits, key, None)

    # When a row may fall due, from its value (see pipelines.sweep.Expiry). A value of
    # the layout before rows, and a row judged under another policy, are due at once.

    def seen_due(self, key: bytes, value: bytes) -> datetime | None:
        row = self._current(key, value)
        if row is None:
            return _AT_ONCE
        window_ends = row.seen_at + self.watch_window
        retention_ends = _day_after(row.until)
        return window_ends if retention_ends is None else min(window_ends, retention_ends)

    def alert_due(self, key: bytes, value: bytes) -> datetime | None:
        row = self._current(key, value)
        return _AT_ONCE if row is None else _day_after(row.until)

    def hit_due(self, key: bytes, value: bytes) -> datetime | None:
        if not group_of(key)[1]:
            return _AT_ONCE
        last = max((r.keep_until for r in load_memory(value).values()), default=None)
        return _AT_ONCE if last is None else _day_after(last)

    def _current(self, key: bytes, value: bytes) -> WatchRow | None:
        """``value``'s row, if it is one judged under the policy in force."""
        if not group_of(key)[1]:
            return None
        row = load_watch_row(value)
        return row if row.policy == self.policy.digest else None


_AT_ONCE = datetime.min.replace(tzinfo=UTC)


def _day_after(day: date) -> datetime | None:
    """The start of the day after ``day`` (UTC), when a last day has passed; None for the
    last day there is (never)."""
    if day >= date.max:
        return None
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)


def _due(table: GroupedTable, partition: int, now: datetime) -> list[bytes]:
    return [] if table.expiry is None else table.expiry.due(partition, now, table.get)
