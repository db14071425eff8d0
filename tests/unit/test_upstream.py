"""Minimal reproductions, on the installed faust-streaming (0.15.3) itself, of the behaviours
Liaison works around in ``pipelines/overrides.py`` (and of #316, which it leaves): a plain
``faust.App``, its consumer built and never started, its call to Kafka replaced. Each test
shows the behaviour as it is upstream; when one fails after an upgrade, upstream changed,
and the override it names is to be looked at again (kept, if its own regression test in
``test_overrides.py`` or ``test_read_order.py`` still fails without it; removed otherwise)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.protocol.commit import OffsetFetchResponse_v3
from faust.types import TP

TP0 = TP("repro.input", 0)
CHANGELOG0 = TP("repro-table-changelog", 0)


@pytest.fixture
def app() -> Iterator[faust.App]:
    loop = asyncio.new_event_loop()  # the app takes the thread's loop: one per test
    asyncio.set_event_loop(loop)
    plain = faust.App("repro", broker="kafka://127.0.0.1:9", store="memory://", web_enabled=False)

    async def flush() -> None:
        return None

    plain._producer = SimpleNamespace(flush=flush)  # type: ignore[assignment]
    plain.consumer.assignment = lambda: {TP0}  # type: ignore[method-assign]
    yield plain
    plain.consumer._thread.thread_loop.close()  # type: ignore[attr-defined] # never ran
    asyncio.set_event_loop(None)
    loop.close()


def _committing(consumer: Any, ok: bool = True) -> list[int]:
    """What the consumer asks Kafka to commit for ``TP0``, Kafka answering ``ok``."""
    asked: list[int] = []

    async def commit(offsets: dict[TP, int]) -> bool:
        asked.append(offsets[TP0])
        return ok

    consumer._commit = commit
    return asked


def _commit(app: faust.App) -> None:
    done = app.consumer._commit_tps([TP0], start_new_transaction=False)  # type: ignore[attr-defined]
    app.loop.run_until_complete(done)


def _ack(consumer: Any, offsets: range) -> None:
    consumer._acked[TP0].extend(offsets)
    consumer._acked_index[TP0].update(offsets)


def test_606_a_commit_passes_the_committed_offset_never_acknowledged(app):
    # Committed 100 (the next record to do is 100); 101 to 105 are done, 100 is not.
    consumer = app.consumer
    consumer._committed_offset[TP0] = 100
    _ack(consumer, range(101, 106))
    asked = _committing(consumer)
    _commit(app)
    assert asked == [106]  # 100 is committed over: after a crash it is never read again


def test_a_jump_in_offsets_is_taken_for_a_gap_and_committed_over(app):
    # Read up to 100 after a seek; a batch fetched before the seek hands over 140 next.
    # The drain loop records 101..140 as a gap (``_add_gap``), so acknowledging 140 lets
    # the commit pass over the forty records the seek reads again, which the drain loop
    # then drops as read already (offset below its read offset).
    consumer = app.consumer
    consumer._committed_offset[TP0] = 100
    app.loop.run_until_complete(consumer._add_gap(TP0, 101, 140))
    _ack(consumer, range(140, 141))
    asked = _committing(consumer)
    _commit(app)
    assert asked == [141]


def test_a_revoke_forgets_the_commit_and_a_late_acknowledgement_is_committed_over_it(app):
    # Committed 136 (136 done, not yet committed), then a rebalance: the revoke empties
    # the partition's bookkeeping. The partition comes back (or another worker takes it),
    # and before the seek to the committed offset refills it, an event read before the
    # rebalance is acknowledged: the commit timer (it runs through rebalances) commits the
    # run that acknowledgement starts, over 137 to 142, never done.
    consumer = app.consumer
    consumer._committed_offset[TP0] = 136
    _ack(consumer, range(136, 137))
    app.loop.run_until_complete(consumer.on_partitions_revoked({TP0}))
    assert consumer._committed_offset[TP0] is None
    _ack(consumer, range(143, 144))
    asked = _committing(consumer)
    _commit(app)
    assert asked == [144]


class _Coordinator:
    """aiokafka's group coordinator as far as fetching commits goes, its request to Kafka
    replaced: the broker's answers, in turn."""

    group_id = "repro"

    def __init__(self, *answers: Any) -> None:
        self.answers, self.asked, self.dead = list(answers), 0, 0

    async def ensure_coordinator_known(self) -> None:
        return None

    async def _send_req(self, request: Any) -> Any:
        self.asked += 1
        return self.answers.pop(0)

    def coordinator_dead(self) -> None:
        self.dead += 1


def loading() -> Any:
    """A coordinator that has the group but is still loading it (after it moved): the
    group's error, COORDINATOR_LOAD_IN_PROGRESS, and no offsets."""
    return OffsetFetchResponse_v3(throttle_time_ms=0, topics=[], error_code=14)


def committed_at(offset: int, tp: TP = TP0) -> Any:
    """The coordinator's answer: ``tp`` committed at ``offset`` (-1: never)."""
    partitions = [(tp.partition, offset, "", 0)]
    return OffsetFetchResponse_v3(throttle_time_ms=0, topics=[(tp.topic, partitions)], error_code=0)


def test_aiokafka_takes_a_coordinator_still_loading_the_group_for_no_commit():
    # Worked around by pipelines.overrides.checked_committed: Faust would read the
    # partition again from the log's start.
    coordinator = _Coordinator(loading(), committed_at(1034))
    fetch = GroupCoordinator._do_fetch_commit_offsets(coordinator, [TP0])
    assert asyncio.run(fetch) == {}  # "never committed", no error to retry on
    assert coordinator.asked == 1


def test_316_the_committed_offset_moves_although_kafka_refused_the_commit(app):
    # Not worked around: a later commit takes the offsets along, and a stop or crash before
    # one reads them again (copies, never a gap). The final commit at a stop cannot retry
    # them, as the acknowledgements are gone.
    consumer = app.consumer
    consumer._committed_offset[TP0] = 10
    _ack(consumer, range(10, 20))
    asked = _committing(consumer, ok=False)
    _commit(app)
    assert asked == [20]
    assert consumer._committed_offset[TP0] == 20  # as if committed
    assert not consumer._acked[TP0]  # and the acknowledgements are gone with it


def test_a_standby_added_by_a_rebalance_is_sought_with_no_offset(app):
    # ``Recovery._add`` gives a new changelog partition the offset None until the next
    # round builds it; a round under way seeks it as it is, and aiokafka refuses a None.
    recovery = app.tables.recovery
    assert type(recovery) is faust.tables.recovery.Recovery
    sought: list[Any] = []

    async def seek_wait(partitions: dict[TP, Any]) -> None:
        sought.extend(partitions.values())

    offsets: Counter[TP] = Counter()
    offsets[CHANGELOG0] = None  # type: ignore[assignment] # as Recovery._add leaves it
    consumer: Any = SimpleNamespace(seek_wait=seek_wait)
    app.loop.run_until_complete(recovery._seek_offsets(consumer, {CHANGELOG0}, offsets, "s"))
    assert sought == [None]
