"""Liaison's overrides of faust-streaming, on Faust's own consumer code (no broker: the
consumer is built, never started, and its call to Kafka is replaced)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liaison.settings import load_settings
from pipelines.app import create_app
from pipelines.overrides import Verdict, checked_committed, uncommitted
from tests.unit.test_upstream import TP0 as UP0
from tests.unit.test_upstream import _Coordinator, committed_at
from tests.unit.test_upstream import loading as loading_answer

TP0 = TP("liaison.ingest.cen", 0)


@pytest.fixture
def consumer(tmp_path) -> Iterator[Any]:
    loop = asyncio.new_event_loop()  # the app takes the thread's loop: one per test
    asyncio.set_event_loop(loop)
    settings = load_settings({}, state_dir=tmp_path, person_key="unit tests person key")
    app = create_app(settings, bootstrap="127.0.0.1:9")
    built = app.consumer

    async def flush() -> None:
        return None

    app._producer = SimpleNamespace(flush=flush)  # type: ignore[assignment] # flushed first
    built.assignment = lambda: {TP0}  # type: ignore[method-assign]
    yield built
    built._thread.thread_loop.close()  # type: ignore[attr-defined] # its thread never ran
    asyncio.set_event_loop(None)
    loop.close()


def _commit(consumer: Any) -> bool:
    """Faust's own commit path for the partition (``Consumer.commit`` minus its locks)."""
    done = consumer._commit_tps([TP0], start_new_transaction=False)
    return bool(consumer.app.loop.run_until_complete(done))


def _acknowledge(consumer: Any, offsets: range) -> None:
    consumer._acked[TP0].extend(offsets)
    consumer._acked_index[TP0].update(offsets)


def _kafka_answers(consumer: Any, ok: bool) -> list[dict[TP, int]]:
    asked: list[dict[TP, int]] = []

    async def commit(offsets: dict[TP, int]) -> bool:
        asked.append(dict(offsets))
        return ok

    consumer._commit = commit
    return asked


def test_looking_at_what_is_uncommitted_takes_nothing(consumer):
    consumer._read_order().began(TP0, 0)  # sought to the log's start: no commit yet
    _acknowledge(consumer, range(7))
    consumer._acked[TP("liaison.ingest.cen", 5)].append(3)  # revoked: not ours to commit
    assert uncommitted(consumer) == {TP0: 7}
    assert uncommitted(consumer) == {TP0: 7}
    taken = _kafka_answers(consumer, ok=True)
    assert _commit(consumer)
    assert taken == [{TP0: 7}]


class _SeekingConsumer:
    """Takes seeks as aiokafka's consumer does: an offset that is not an int of at least
    zero is refused with ``ValueError`` (``AIOKafkaConsumer.seek``)."""

    def __init__(self) -> None:
        self.sought: dict[TP, int] = {}

    async def seek_wait(self, partitions: dict[TP, Any]) -> None:
        for tp, offset in partitions.items():
            if not isinstance(offset, int) or offset < 0:
                raise ValueError("Offset must be a positive integer")
            self.sought[tp] = offset


_CHANGELOGS = [TP("liaison-pipeline-versions-changelog", p) for p in range(4)]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(known=st.lists(st.one_of(st.none(), st.integers(-1, 10**6)), min_size=1, max_size=4))
def test_a_standby_seek_never_stops_the_worker_on_an_offset_not_built_yet(consumer, known):
    # A rebalance during recovery adds its standby partitions with no offset (None) while
    # the recovery under way goes on to seek the standbys it had: Faust passed the None to
    # aiokafka, whose ValueError ended the worker (seen scaling 1 -> 3 -> 1 under load).
    recovery = consumer.app.tables.recovery
    offsets = Counter(dict(zip(_CHANGELOGS, known, strict=False)))
    seeking = _SeekingConsumer()
    run = recovery._seek_offsets(seeking, set(offsets), offsets, "standby")
    consumer.app.loop.run_until_complete(run)
    # What is known is sought (-1, "nothing read yet", from the start); a partition with no
    # offset yet is left to the recovery the rebalance restarts, which builds its offset.
    expected = {tp: max(offset, 0) for tp, offset in offsets.items() if offset is not None}
    assert seeking.sought == expected


def _covered(offsets: set[int], gaps: list[tuple[int, int]]) -> set[int]:
    return offsets | {o for begin, end in gaps for o in range(begin, end)}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    committed=st.integers(1, 500),
    acked=st.sets(st.integers(0, 40), min_size=1, max_size=30),
    gaps=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 6)), max_size=3),
)
def test_a_commit_never_passes_an_offset_neither_acknowledged_nor_a_gap(
    consumer, committed, acked, gaps
):
    # Faust (#606) commits past the committed offset itself when the one after it is
    # acknowledged: that record was never done, and a crash then skips it for good.
    consumer._acked.clear()
    consumer._acked_index.clear()
    consumer._gap.clear()
    consumer._committed_offset[TP0] = committed
    offsets = {committed - 5 + a for a in acked}
    intervals = [(committed + b, committed + b + n) for b, n in gaps]
    _acknowledge(consumer, sorted(offsets))  # type: ignore[arg-type]
    for begin, end in intervals:  # gaps the drain loop saw in the log
        consumer._gap[TP0].addi(begin, end)
    consumer._gap[TP0].merge_overlaps()
    done = _covered(offsets, intervals)
    asked = _kafka_answers(consumer, ok=True)
    for _ in range(8):  # commit until nothing moves (stale acknowledgements go first)
        _commit(consumer)
    highest = max((a[TP0] for a in asked), default=committed)
    assert set(range(committed, highest)) <= done
    # and not wedged where the committed offset's own record is done
    if committed in offsets:
        assert highest > committed


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(committed=st.integers(1, 10**6), deleted=st.integers(1, 40), read=st.integers(1, 20))
def test_a_commit_passes_over_what_retention_deleted_before_it_was_read(
    consumer, committed, deleted, read
):
    # The log starts past the committed offset (retention deleted the records between):
    # the read-order guard hands over the first record left, and the commit must follow.
    assert TP0.topic in consumer.app.in_order_topics
    consumer._acked.clear()
    consumer._acked_index.clear()
    consumer._gap.clear()
    consumer._committed_offset[TP0] = committed
    start = committed + deleted

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, start)

    consumer.earliest_offsets = earliest_offsets
    consumer._read_order().sought(TP0, committed)

    async def arrive() -> None:
        assert consumer._read_order().verdict(TP0, start) is Verdict.AHEAD
        assert await consumer._ahead(TP0, start) is Verdict.HAND_OVER
        if deleted > 1:  # what Faust's drain loop records itself for the jump it sees
            await consumer._add_gap(TP0, committed + 1, start)

    consumer.app.loop.run_until_complete(arrive())
    _acknowledge(consumer, range(start, start + read))
    asked = _kafka_answers(consumer, ok=True)
    for _ in range(4):
        _commit(consumer)
    assert max(a[TP0] for a in asked) == start + read


def test_a_gap_over_acknowledged_offsets_does_not_wedge_the_commit(consumer):
    # Faust folds a gap into the acknowledged list (not into its index), so an offset it
    # folded in twice ends one run early: the commit stops on an offset known done only
    # from the gap, which the wait must still count as done.
    consumer._acked.clear()
    consumer._acked_index.clear()
    consumer._gap.clear()
    consumer._committed_offset[TP0] = 10
    _acknowledge(consumer, [12, 20])  # type: ignore[arg-type]
    consumer._gap[TP0].addi(10, 15)
    asked = _kafka_answers(consumer, ok=True)
    for _ in range(4):
        _commit(consumer)
    assert max(a[TP0] for a in asked) == 15  # 15 to 19 are neither done nor a gap


def test_a_jump_in_offsets_is_never_taken_for_a_gap_on_an_input(consumer):
    # Faust's drain loop, handed 143 after 136 (its own read offset lagging the order
    # the guard keeps), records 137 to 142 as a gap in the log and commits over them:
    # six inputs never processed (seen after a scale 1 -> 3 under load). On the stages'
    # inputs only retention leaves gaps, and the read-order guard records those itself.
    consumer._acked.clear()
    consumer._acked_index.clear()
    consumer._gap.clear()
    consumer._committed_offset[TP0] = 136
    _acknowledge(consumer, [136, 143])  # type: ignore[arg-type]
    consumer.app.loop.run_until_complete(consumer._add_gap(TP0, 137, 143))
    asked = _kafka_answers(consumer, ok=True)
    for _ in range(4):
        _commit(consumer)
    assert max(a[TP0] for a in asked) == 137


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    base=st.one_of(st.none(), st.integers(0, 500)),
    acked=st.sets(st.integers(0, 40), min_size=1, max_size=30),
)
def test_a_commit_with_no_committed_offset_known_never_passes_where_reading_began(
    consumer, base, acked
):
    # A rebalance empties Faust's bookkeeping of a partition (its committed offset None)
    # while events read before it are still acknowledged: Faust then commits whatever run
    # those acknowledgements start, over what was never done. A commit waits for the seek
    # to the committed offset (``base``: where reading began), and passes nothing not done
    # from there.
    consumer._acked.clear()
    consumer._acked_index.clear()
    consumer._gap.clear()
    consumer._committed_offset[TP0] = None
    order = consumer._read_order()
    order.forget([TP0])
    if base is not None:
        order.began(TP0, base)
    offsets = {(base or 0) - 5 + a for a in acked}
    _acknowledge(consumer, sorted(offsets))  # type: ignore[arg-type]
    asked = _kafka_answers(consumer, ok=True)
    for _ in range(8):
        _commit(consumer)
    if base is None:
        assert asked == []
        return
    highest = max((a[TP0] for a in asked), default=base)
    assert highest >= base  # never behind where reading began
    assert set(range(base, highest)) <= offsets


@given(
    loading=st.integers(0, 4),
    offset=st.one_of(st.just(-1), st.integers(0, 10**9)),
)
def test_the_committed_offset_is_what_the_coordinator_has_once_it_can_say(loading, offset):
    # A coordinator loading the group after it moved says so for the whole group, with no
    # offsets; aiokafka took that for "never committed" (tests/unit/test_upstream.py).
    coordinator = _Coordinator(*[loading_answer() for _ in range(loading)], committed_at(offset))
    found = asyncio.run(checked_committed(coordinator, [UP0], pause_s=0.0))
    assert found == {UP0: None if offset < 0 else offset}
    assert coordinator.asked == loading + 1
