"""The stages' inputs reach their streams in offset order from where they were sought,
whatever a seek races with (pipelines.overrides, "Reads in offset order after a seek").

The consumer under the override is a stand-in for Faust's, over one partition's log, that
behaves as aiokafka does: a seek moves the position and drops what was fetched from the
old one, but a batch already handed back before the seek still arrives after it."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from hypothesis import given, settings
from hypothesis import strategies as st
from intervaltree import IntervalTree

from pipelines.overrides import ReadOrder, Verdict, _InOrderReads
from tests.unit.test_upstream import committed_at

TOPIC = "liaison.pipeline.deduped"
TP0 = TP(TOPIC, 0)
BATCH = 7


class _FaustLike:
    """Faust's consumer as the override sees it, over offsets ``start``..``end - 1``."""

    def __init__(self, committed: int | None, end: int, start: int = 0) -> None:
        self.app = SimpleNamespace(in_order_topics=frozenset({TOPIC}))
        self.committed, self.end, self.start = committed, end, start
        self.coordinator_has = committed  # what the group's coordinator holds
        self.position = start  # where aiokafka would fetch before any seek
        self.in_transit: list[int] = []  # a batch fetched before the next seek
        self.seeks: list[int] = []
        self._moved = 0
        self._gap: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)  # Faust's
        # Faust's read offset: the last record its drain loop handed over (set by it).
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)

    def assignment(self) -> set[TP]:
        return {TP0}

    @property
    def _thread(self) -> Any:
        """Faust's consumer thread, running a call on aiokafka's coordinator, which has the
        commit the answer to ``seek_to_committed`` gave as none (see test_upstream)."""
        outer = self

        class Coordinator:
            group_id = "read-order"

            async def ensure_coordinator_known(self) -> None:
                return None

            async def _send_req(self, request: Any) -> Any:
                offset = -1 if outer.coordinator_has is None else outer.coordinator_has
                return committed_at(offset, TP0)

        async def call_thread(fun: Any, *args: Any) -> Any:
            return await fun(*args)

        coordinator = Coordinator()
        return SimpleNamespace(
            call_thread=call_thread,
            _ensure_consumer=lambda: SimpleNamespace(_coordinator=coordinator),
        )

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, self.start)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        if self.committed:  # aiokafka does not seek a partition without a commit
            self._seek(self.committed)
        return {TP0: self.committed} if self.committed is not None else {}

    async def seek(self, tp: TP, offset: int) -> None:
        raise AssertionError("seeks go through seek_wait, on the consumer's thread")

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        for offset in partitions.values():
            self._seek(offset)

    def _seek(self, offset: int) -> None:
        self.seeks.append(offset)
        self.position, self._moved = offset, self._moved + 1

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        return None

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # noqa: ASYNC109
        stale, self.in_transit = self.in_transit, []
        for offset in stale:
            yield TP0, SimpleNamespace(offset=offset)
        moved, first = self._moved, max(self.position, self.start)  # out of range: the start
        for offset in range(first, min(first + BATCH, self.end)):
            if self._moved != moved:  # sought: the rest of this fetch is dropped
                return
            self.position = offset + 1
            yield TP0, SimpleNamespace(offset=offset)


class _Guarded(_InOrderReads, _FaustLike):
    pass


def _read_all(consumer: _FaustLike) -> list[int]:
    """What reaches the stream: the guard's records, through Faust's drain loop, which
    drops a record behind the last one it handed over."""

    async def run() -> list[int]:
        await consumer.seek_to_committed()
        handed: list[int] = []
        for _ in range(200):  # bounded: every test log is far shorter
            async for tp, message in consumer.getmany(timeout=0):
                last = consumer._read_offset[tp]
                if last is not None and message.offset < last:
                    continue  # Faust's "DROPPED MESSAGE"
                handed.append(message.offset)
                consumer._read_offset[tp] = message.offset
            if consumer.position >= consumer.end and not consumer.in_transit:
                break
        return handed

    return asyncio.run(run())


@settings(max_examples=200, deadline=None)
@given(
    committed=st.integers(0, 40),
    length=st.integers(0, 60),
    stale_from=st.integers(-30, 40),
    stale_count=st.integers(1, 30),
)
def test_a_batch_fetched_before_the_seek_never_skips_or_repeats_an_offset(
    committed, length, stale_from, stale_count
):
    """The race after a rebalance: the stream partition is sought to its commit while a
    batch from elsewhere in the log is on its way. Faust took the jump for a gap and
    counted the offsets between as done; the stream must get every offset from the commit
    on, once each, in order."""
    end = committed + length
    consumer = _Guarded(committed, end)
    first = max(0, committed + stale_from)
    consumer.in_transit = [o for o in range(first, first + stale_count) if o < end]
    assert _read_all(consumer) == list(range(committed, end))


@settings(max_examples=50, deadline=None)
@given(fetched=st.integers(1, 30), length=st.integers(1, 60))
def test_a_partition_never_committed_starts_at_its_first_offset(fetched, length):
    """No commit: aiokafka does not seek, and what it fetched before (for a stream that
    was not yet reading) is behind it. The stream still starts at the log's start."""
    consumer = _Guarded(None, length)
    consumer.position = min(fetched, length)
    assert _read_all(consumer) == list(range(length))


def test_offsets_deleted_by_retention_are_skipped_with_a_warning(caplog):
    consumer = _Guarded(5, 40, start=12)  # the commit points at records retention deleted
    with caplog.at_level(logging.WARNING, logger="pipelines.overrides"):
        assert _read_all(consumer) == list(range(12, 40))
    assert "offsets 5 to 11 were deleted by retention" in caplog.text


def test_other_topics_pass_untouched():
    """Tables' changelogs are compacted: their gaps are real and Faust's to handle."""
    consumer = _Guarded(5, 20)
    consumer.app.in_order_topics = frozenset()
    consumer.in_transit = [30, 31]
    assert _read_all(consumer)[:2] == [30, 31]


def test_a_forgotten_partition_takes_what_comes():
    order = ReadOrder()
    order.sought(TP0, 10)
    assert order.verdict(TP0, 12) is Verdict.AHEAD
    assert order.verdict(TP0, 9) is Verdict.BEHIND
    assert order.verdict(TP0, 10) is Verdict.HAND_OVER
    order.forget({TP0})
    assert order.verdict(TP0, 500) is Verdict.HAND_OVER  # nothing due: takes what comes


@settings(max_examples=100, deadline=None)
@given(committed=st.integers(0, 40), ahead=st.integers(1, 30), length=st.integers(1, 40))
def test_a_record_sought_back_to_is_not_dropped_for_what_faust_read_before(
    committed, ahead, length
):
    """Faust's read offset still says it handed over a record past the commit (read before
    a rebalance, its event never done): its drain loop would drop everything the seek back
    reads again up to there. The guard's order decides what the stream gets."""
    consumer = _Guarded(committed, committed + ahead + length)
    consumer._read_offset[TP0] = committed + ahead
    assert _read_all(consumer) == list(range(committed, committed + ahead + length))


@settings(max_examples=50, deadline=None)
@given(committed=st.integers(1, 40), length=st.integers(1, 40))
def test_a_commit_the_first_answer_missed_is_where_reading_starts(committed, length):
    """aiokafka answered "no commit" while the coordinator was loading the group: asked
    again, the commit is where the partition is read from, not the log's start."""
    consumer = _Guarded(None, committed + length)
    consumer.coordinator_has = committed
    assert _read_all(consumer) == list(range(committed, committed + length))
