"""The in-flight window acknowledges an event only once Kafka has its table updates.

Faust hands a table's changelog record to its producer buffer and moves on; before the
window waited for those sends, an event could be acknowledged (and its offset committed)
with its updates still in the buffer, and a stop could end there. This drives the window
with a real Faust table whose producer never runs, so no changelog send is ever confirmed
until the test confirms it by hand. No broker is needed: nothing is sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.types.tuples import TP, RecordMetadata
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.io import manual
from pipelines.sweep import Expiry
from pipelines.window import ConfirmedTable, GroupedTable, InFlight, Pending, row_key


class _Message:
    def __init__(self, partition: int) -> None:
        self.topic, self.partition, self.offset = "window-test-input", partition, 0


class _Item:
    """Just what the window and the table read of an event: where its message is."""

    def __init__(self, partition: int) -> None:
        self.message = _Message(partition)


class _Source:
    """The stream side of the window: it records what was acknowledged."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.acked: list[Any] = []

    async def ack(self, item: Any) -> None:
        self.acked.append(item)


def _table(
    app: faust.App,
    name: str = "window-test",
    kind: type[ConfirmedTable] = ConfirmedTable,
    expiry: Expiry | None = None,
    partitions: int = 1,
) -> Any:
    changelog = app.topic(
        f"{name}-changelog", partitions=partitions, key_serializer="raw", value_serializer="raw"
    )
    return kind(
        app,
        name=name,
        default=None,
        beacon=app.tables.beacon,
        partitions=partitions,
        changelog_topic=changelog,
        key_type=bytes,
        value_type=bytes,
        expiry=expiry,
    )


async def _scenario(app: faust.App) -> None:
    table = _table(app)
    # Faust checks once that input and changelog have as many partitions by asking its
    # consumer, which would start a thread of its own; this test has no input topic.
    table._verified_source_topics_for_partitions.add("window-test-input")
    source = _Source(app)
    window = InFlight(source)  # type: ignore[arg-type] # the window uses .app and .ack only
    window.start()
    try:
        first, second = Pending(_Item(0)), Pending(_Item(0))  # type: ignore[arg-type]
        window.set(first, table, b"record-1", b"seen")
        window.set(second, table, b"record-1", None)  # then deleted: a tombstone to confirm
        await window.submit(first)
        await window.submit(second)
        await asyncio.sleep(0.3)
        assert table.get(b"record-1") is None  # both written to the table...
        assert source.acked == []  # ...but not acknowledged while its changelog send waits

        buffer = app.producer.buffer
        sent = [buffer.pending.get_nowait() for _ in range(buffer.pending.qsize())]
        assert [(s.message.key, s.message.value) for s in sent] == [
            (b"record-1", b"seen"),
            (b"record-1", None),
        ]
        metadata = RecordMetadata(
            topic="window-test-changelog",
            partition=0,
            topic_partition=TP("window-test-changelog", 0),
            offset=0,
        )
        sent[0].set_result(metadata)
        await asyncio.sleep(0.1)
        assert source.acked == [first.item]  # in order: the second still waits
        sent[1].set_result(metadata)
        await asyncio.sleep(0.1)
        assert source.acked == [first.item, second.item]
    finally:
        await window.stop()


def test_an_event_is_acknowledged_only_once_its_changelog_writes_are_confirmed():
    # A loop of the test's own, handed to Faust explicitly and never made the thread's
    # current one: whatever loop another test left current stays as it was.
    loop = asyncio.new_event_loop()
    try:
        # The broker address is never dialled: the producer is never started.
        app = faust.App("window-test", broker="kafka://127.0.0.1:9", store="memory://", loop=loop)
        loop.run_until_complete(_scenario(app))
    finally:
        loop.close()


async def _stopping(app: faust.App) -> tuple[int, int, list[Any], list[Any]]:
    """Two stops of a window holding one event each: one whose changelog send is
    confirmed while the stop waits, one never confirmed."""
    table = _table(app)
    table._verified_source_topics_for_partitions.add("window-test-input")
    buffer = app.producer.buffer
    metadata = RecordMetadata(
        topic="window-test-changelog",
        partition=0,
        topic_partition=TP("window-test-changelog", 0),
        offset=0,
    )
    outcomes = []
    for confirm in (True, False):
        source = _Source(app)
        window = InFlight(source)  # type: ignore[arg-type]
        window.start()
        pending = Pending(_Item(0))  # type: ignore[arg-type]
        window.set(pending, table, b"record-1", b"seen")
        await window.submit(pending)
        await asyncio.sleep(0.1)
        (sent,) = [buffer.pending.get_nowait() for _ in range(buffer.pending.qsize())]
        if confirm:
            asyncio.get_running_loop().call_later(0.2, sent.set_result, metadata)
        left = await window.stop(drain_s=1.0)
        outcomes.append((left, source.acked))
    (drained, drained_acked), (stuck, stuck_acked) = outcomes
    return drained, stuck, drained_acked, stuck_acked


def test_a_stopping_window_first_lets_what_it_holds_be_acknowledged():
    """A stop waits (up to its bound) for the events in flight to be confirmed and
    acknowledged, so that the final commit covers them; what is still unconfirmed at the
    bound is left, and counted, for the restart to read again."""
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("window-stop", broker="kafka://127.0.0.1:9", store="memory://", loop=loop)
        drained, stuck, drained_acked, stuck_acked = loop.run_until_complete(_stopping(app))
    finally:
        loop.close()
    assert (drained, len(drained_acked)) == (0, 1)
    assert (stuck, stuck_acked) == (1, [])


async def _holding(app: faust.App) -> tuple[tuple[str, ...], list[int]]:
    """What a window says its stage holds: records queued on the stage's own channel by
    the consumer, then events submitted and not yet acknowledged."""
    table = _table(app)
    table._verified_source_topics_for_partitions.add("window-test-input")
    channel = app.topic("window-test-input").clone(is_iterator=True)
    stream = manual(app.stream(channel))  # as the stages read: acknowledged by the window
    window = InFlight(stream)
    window.start()
    counts = [window.waiting()]  # nothing read yet: the channel has no queue
    for n in range(3):
        channel.queue.put_nowait(n)  # as the consumer hands records over
    counts.append(window.waiting())
    pending = Pending(_Item(0))  # type: ignore[arg-type]
    window.set(pending, table, b"record-1", b"seen")  # its changelog send never confirmed
    await window.submit(pending)
    await asyncio.sleep(0.1)
    counts.append(window.waiting())
    await window.stop()
    return window.topics, counts


def test_a_window_counts_what_its_stage_holds_queued_and_in_flight():
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("window-test", broker="kafka://127.0.0.1:9", store="memory://", loop=loop)
        topics, counts = loop.run_until_complete(_holding(app))
    finally:
        loop.close()
    assert topics == ("window-test-input",)
    assert counts == [0, 3, 4]


def _grouped(app: faust.App, name: str, expiry: Expiry | None = None) -> GroupedTable:
    table: GroupedTable = _table(app, name, GroupedTable, expiry)
    table._verified_source_topics_for_partitions.add("window-test-input")
    return table


@dataclass
class _ChangelogMessage:
    key: bytes
    value: bytes | None
    partition: int = 0


@dataclass
class _ChangelogEvent:
    """What Faust's in-memory store reads of a changelog record during recovery."""

    key: bytes
    value: bytes | None
    message: _ChangelogMessage


_ROW_UPDATES = st.lists(
    st.tuples(
        st.sampled_from([b"CONTAINER:A", b"IMO:B"]),
        st.sampled_from([b"r1", b"r2", b"r3"]),
        st.one_of(st.none(), st.binary(min_size=1, max_size=3)),
    ),
    max_size=12,
)


async def _groups(app: faust.App, updates: list[tuple[bytes, bytes, bytes | None]]) -> None:
    table = _grouped(app, "grouped-test")
    source = _Source(app)
    window = InFlight(source)  # type: ignore[arg-type]
    window.start()
    model: dict[bytes, dict[bytes, bytes]] = {}

    def agrees() -> None:
        for group in (b"CONTAINER:A", b"IMO:B"):
            assert window.group(table, group) == model.get(group, {})

    try:
        half = len(updates) // 2
        for n, (group, member, value) in enumerate(updates):
            pending = Pending(_Item(0))  # type: ignore[arg-type]
            window.set(pending, table, row_key(group, member), value)
            if value is None:
                model.get(group, {}).pop(member, None)
            else:
                model.setdefault(group, {})[member] = value
            await window.submit(pending)
            if n == half:
                await asyncio.sleep(0.05)  # the first half written to the table, unconfirmed
            agrees()  # in flight or written, the group reads the same
        await asyncio.sleep(0.1)
        agrees()
        assert {g: dict.fromkeys(table.members(g)) for g in model if model[g]} == {
            g: dict.fromkeys(m) for g, m in model.items() if m
        }

        # A worker that rebuilds the table from its changelog knows the same groups.
        buffer = app.producer.buffer
        sent = [buffer.pending.get_nowait() for _ in range(buffer.pending.qsize())]
        rebuilt = _grouped(app, "grouped-test-rebuilt")
        rebuilt.apply_changelog_batch(
            [
                _ChangelogEvent(
                    s.message.key,
                    s.message.value,
                    _ChangelogMessage(s.message.key, s.message.value),
                )
                for s in sent
            ]
        )
        for group in (b"CONTAINER:A", b"IMO:B"):
            assert rebuilt.members(group) == frozenset(model.get(group, {}))
            assert {m: rebuilt[row_key(group, m)] for m in rebuilt.members(group)} == model.get(
                group, {}
            )
        await rebuilt.on_recovery_completed({TP("grouped-test-rebuilt-changelog", 0)}, set())
        for group in (b"CONTAINER:A", b"IMO:B"):
            assert rebuilt.members(group) == frozenset(model.get(group, {}))
    finally:
        await window.stop()


@settings(max_examples=40, deadline=None)
@given(_ROW_UPDATES)
def test_a_group_reads_the_same_in_flight_written_and_rebuilt_from_its_changelog(updates):
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("grouped-test", broker="kafka://127.0.0.1:9", store="memory://", loop=loop)
        loop.run_until_complete(_groups(app, updates))
    finally:
        loop.close()


_LATER = datetime(2027, 1, 1, tzinfo=UTC)


def _due_at_once(_key: bytes, _value: bytes) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


async def _handover(app: faust.App) -> dict[str, Any]:
    """Keys written, recovered and held as a standby, then a rebalance that keeps
    partition 0 only."""
    table = _table(app, "handover", expiry=Expiry(_due_at_once, index_limit=1), partitions=3)
    table._verified_source_topics_for_partitions.add("window-test-input")
    changelog = "handover-changelog"
    app.tables.recovery.standby_tps.add(TP(changelog, 2))  # type: ignore[attr-defined]
    window = InFlight(_Source(app))  # type: ignore[arg-type]
    window.start()
    try:
        for partition, key in ((0, b"stays"), (1, b"written-in-1")):
            pending = Pending(_Item(partition))  # type: ignore[arg-type]
            window.set(pending, table, key, b"value")
            await window.submit(pending)
        await asyncio.sleep(0.05)  # written to the table (their sends never confirmed)
        recovered = [
            _ChangelogEvent(k, b"value", _ChangelogMessage(k, b"value", p))
            for p, k in ((0, b"recovered-0"), (0, b"recovered-1"), (2, b"standby"))
        ]
        table.apply_changelog_batch(recovered)
        standby_pending = table.expiry.pending(2)
        await table.on_recovery_completed({TP(changelog, 0)}, {TP(changelog, 2)})
        return {
            "keys": set(table.data.keys()),
            "standby_pending": standby_pending,
            "pending": table.expiry.pending(0),
            "due": set(table.expiry.due(0, _LATER, table.get)),
        }
    finally:
        await window.stop()


def test_a_rebalance_leaves_no_stale_key_and_files_what_recovery_brought():
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("handover", broker="kafka://127.0.0.1:9", store="memory://", loop=loop)
        seen = loop.run_until_complete(_handover(app))
    finally:
        loop.close()
    # A key this worker wrote in a partition it no longer holds is gone with it: it would
    # come back stale if the partition did (its deletion elsewhere compacted away).
    assert b"written-in-1" not in seen["keys"]
    assert {b"stays", b"recovered-0", b"recovered-1"} <= seen["keys"]
    # A standby's keys are never swept here, so they are not kept for it.
    assert seen["standby_pending"] == 0
    # What recovery brought is filed at once, not a few keys a sweep.
    assert seen["pending"] == 0
    assert seen["due"] == {b"stays", b"recovered-0", b"recovered-1"}
