"""The worker's watchdog over its own consumer: a partition whose commits stand still while
acknowledged work waits past them, or that is assigned but no longer read, is repaired.

faust-streaming (0.15.3) can leave a partition in either state without a word:

- **commits wedged on a gap.** Faust commits a partition up to the first gap in its
  acknowledged offsets, and commits nothing while the lowest acknowledged offset is more
  than one past the committed one (``Consumer._new_offset``; faust-streaming issues #596
  and #606, PR #707 unmerged). An offset that is never acknowledged (a record Faust did not
  hand to the agent) wedges the partition for good: its work is done, its commit never
  moves, and a restart does it all again.
- **a partition no longer fetched.** After some rebalances a partition stays assigned but
  nothing is read from it until a restart (faust-streaming issue #629).

Every ``CHECK_S`` the watchdog looks at each assigned partition of the stages' input topics
(never during a rebalance or a table recovery, which stop both on purpose). A partition is
stalled when for ``stall_s``, while its stage holds none of the topic's events:

- ``commit``: its committed offset has not moved while an acknowledged offset lies past it;
- ``fetch``: the last offset handed to its stream has not moved while records wait past it
  (how far its log goes as the last fetch said, or as the broker says when no fetch has).

A stage that holds events (queued for it or in flight) reaches each partition's records in
their turn: a backlog or back-pressure, which a seek would only make longer and a restart
worse, so its partitions' clocks start over at each check. A wedge behind a backlog is found
once the stage has worked through it. A stage that holds events and commits or acknowledges
nothing on any partition of a topic for ``STAGE_PATIENCE`` stall times is stuck as a whole
(``stage``): the worker ends.

The first repair is a seek to the committed offset, where a restart would read from: for a
wedged commit the record at the gap is read again and acknowledged, for a partition not
fetched the fetcher starts over for it; what was done past the commit is done again
(at-least-once). A partition that stalls again after its seek ends the worker with an
error (a loud restart from its commits, by Kubernetes or whoever runs it).
``liaison_worker_stall_repairs`` counts the repairs by kind and action; the alert rule
``LiaisonWorkerPartitionStalled`` fires on the first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.types import TP

from liaison.metrics import PipelineMetrics
from liaison.settings import Settings
from pipelines.catalogue import input_topics

__all__ = [
    "CHECK_S",
    "FETCH_PATIENCE",
    "STAGE_PATIENCE",
    "PartitionStalledError",
    "Repair",
    "Stall",
    "View",
    "Watchdog",
    "register",
    "view_of",
    "views_of",
]

log = logging.getLogger(__name__)

CHECK_S = 5.0
# A partition still not read after its seek is restarted only after this many stall times
# (a commit still stalled, after one): a backlogged worker leaves partitions unread while
# it works through the others, a seek does not change that, and a restart makes it worse.
FETCH_PATIENCE = 3
# A stage holding work (queued or in flight) that acknowledges nothing on any partition of
# a topic for this many stall times is stuck as a whole: the worker ends.
STAGE_PATIENCE = 4


class Repair(StrEnum):
    SEEK = "seek"
    RESTART = "restart"


@dataclass(frozen=True)
class View:
    """One partition as the consumer sees it (Kafka offsets: the next one to read)."""

    committed: int | None  # the committed offset (the next to read after a restart)
    acked: int | None  # the highest acknowledged offset not yet committed
    read: int | None  # the last offset handed to the stream
    highwater: int | None  # the offset the next record written there will get


@dataclass(frozen=True)
class Stall:
    tp: TP
    kind: str  # "commit" or "fetch"
    for_s: float
    repair: Repair
    seek_to: int  # for a seek
    view: View  # what the consumer held at the time


@dataclass
class _Track:
    committed: int | None
    committed_since: float
    read: int | None
    read_since: float
    seeks: int = 0


@dataclass
class _Stage:
    """What a topic's partitions had committed and acknowledged, and since when."""

    done: tuple[tuple[int, int | None, int | None], ...]
    since: float


class Watchdog:
    """Decides, from what the consumer holds, which partitions stall and how to repair them.

    It keeps only when each partition's committed and read offsets last moved; the caller
    applies the repairs (see :func:`pipelines.worker`)."""

    def __init__(self, stall_s: float = 30.0) -> None:
        self.stall_s = stall_s
        self._tracks: dict[TP, _Track] = {}
        self._stages: dict[str, _Stage] = {}

    def pause(self, now: float) -> None:
        """A rebalance or a recovery: nothing moves on purpose, so the clocks start over."""
        for track in self._tracks.values():
            track.committed_since = track.read_since = now
        for stage in self._stages.values():
            stage.since = now

    def check(
        self, views: Mapping[TP, View], now: float, waiting: Mapping[str, int] | None = None
    ) -> list[Stall]:
        """The stalls in ``views``; ``waiting`` says, per topic, how many of its events the
        worker holds (queued for its stage or in flight there)."""
        waiting = waiting or {}
        for gone in set(self._tracks) - set(views):
            del self._tracks[gone]
        stalls = self._stuck_stages(views, waiting, now)
        for tp, view in views.items():
            track = self._tracks.get(tp)
            if track is None:
                self._tracks[tp] = _Track(view.committed, now, view.read, now)
                continue
            if view.committed != track.committed:
                # Progress that lasts: a later stall is a new one, repaired by a seek again.
                track.committed, track.committed_since, track.seeks = view.committed, now, 0
            if view.read != track.read:
                track.read, track.read_since = view.read, now
            if waiting.get(tp.topic, 0) > 0:
                # The stage has work in hand and reaches this partition's records in their
                # turn: a backlog (or back-pressure), which a seek would only make longer.
                # A wedge behind it is found once the stage has worked through it.
                track.committed_since = track.read_since = now
                continue
            stall = self._stall(tp, view, track, now)
            if stall is None:
                continue
            stalls.append(stall)
            # The clocks start over after a repair: the seek gets its own stall_s to work.
            track.committed_since = track.read_since = now
            track.seeks += 1
        return stalls

    def _stuck_stages(
        self, views: Mapping[TP, View], waiting: Mapping[str, int], now: float
    ) -> list[Stall]:
        """One ``stage`` stall per topic whose stage holds work and has committed and
        acknowledged nothing on any of its partitions for ``STAGE_PATIENCE`` stall times."""
        by_topic: dict[str, list[tuple[TP, View]]] = {}
        for tp, view in sorted(views.items()):
            by_topic.setdefault(tp.topic, []).append((tp, view))
        for gone in set(self._stages) - set(by_topic):
            del self._stages[gone]
        stalls = []
        for topic, held in by_topic.items():
            done = tuple((tp.partition, view.committed, view.acked) for tp, view in held)
            stage = self._stages.get(topic)
            if stage is None or stage.done != done or waiting.get(topic, 0) <= 0:
                self._stages[topic] = _Stage(done, now)
                continue
            if now - stage.since >= STAGE_PATIENCE * self.stall_s:
                tp, view = held[0]
                stalls.append(
                    Stall(tp, "stage", now - stage.since, Repair.RESTART, view.committed or 0, view)
                )
                stage.since = now
        return stalls

    def _stall(self, tp: TP, view: View, track: _Track, now: float) -> Stall | None:
        committed = view.committed or 0
        repair = Repair.SEEK if track.seeks == 0 else Repair.RESTART
        waiting_acked = view.acked is not None and view.acked >= committed
        if waiting_acked and now - track.committed_since >= self.stall_s:
            return Stall(tp, "commit", now - track.committed_since, repair, committed, view)
        next_read = committed if view.read is None else view.read + 1
        waiting_records = view.highwater is not None and view.highwater > next_read
        patience = self.stall_s * (FETCH_PATIENCE if track.seeks else 1)
        if waiting_records and now - track.read_since >= patience:
            # From the commit, as a restart would: "read + 1" can be one past a committed
            # record never done (Faust's read offset is the next to read after its seek to
            # the commits, the last handed over elsewhere), where the commit then waits.
            return Stall(tp, "fetch", now - track.read_since, repair, committed, view)
        return None


def view_of(consumer: Any, topics: Collection[str]) -> dict[TP, View]:
    """What Faust's consumer holds for each assigned partition of ``topics``. It reads the
    consumer's own bookkeeping (``_committed_offset``, ``_acked``, ``_read_offset``): the
    state the wedge lives in, which no public call shows."""
    views = {}
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue  # table changelogs: read at recovery only, and never committed
        acked = consumer._acked.get(tp)
        try:
            highwater = consumer.highwater(tp)
        except (KeyError, AssertionError, ValueError):  # not fetched yet: nothing known
            highwater = None
        views[tp] = View(
            committed=consumer._committed_offset.get(tp),
            acked=max(acked) if acked else None,
            read=consumer._read_offset.get(tp),
            highwater=highwater if isinstance(highwater, int) and highwater >= 0 else None,
        )
    return views


async def views_of(consumer: Any, topics: Collection[str]) -> dict[TP, View]:
    """:func:`view_of`, with the broker asked how far the log goes for each partition no
    fetch has told the consumer of: one never fetched since it was assigned is otherwise
    never seen to have records waiting."""
    views = view_of(consumer, topics)
    unknown = [tp for tp, view in views.items() if view.highwater is None]
    if not unknown:
        return views
    try:
        ends = await asyncio.wait_for(consumer.highwaters(*unknown), CHECK_S)
    except (KafkaError, TimeoutError, OSError) as exc:  # asked again at the next check
        log.debug("watchdog: end offsets not known (%s)", type(exc).__name__)
        return views
    for tp in unknown:
        end = ends.get(tp)
        if isinstance(end, int) and end >= 0:
            views[tp] = dataclasses.replace(views[tp], highwater=end)
    return views


def _offsets(view: View) -> str:
    return (
        f"committed {view.committed}, acknowledged up to {view.acked}, read {view.read}, "
        f"log end {view.highwater}"
    )


class PartitionStalledError(RuntimeError):
    """A partition stalled again after its seek: the worker ends, to start over."""


def register(
    app: faust.App,
    settings: Settings,
    metrics: PipelineMetrics,
    waiting: Callable[[], Mapping[str, int]] = dict,
) -> Watchdog:
    """Run a watchdog over ``app``'s consumer every ``CHECK_S``; returns it. ``waiting``
    says, per input topic, how many events its stage holds (see :meth:`Watchdog.check`)."""
    watchdog = Watchdog(settings.watchdog_stall_s)
    topics = input_topics(settings)

    async def watch() -> None:
        now = time.monotonic()
        recovery = app.tables.recovery  # type: ignore[attr-defined] # the concrete manager
        if app.rebalancing or app.in_recovery or not recovery.completed.is_set():
            watchdog.pause(now)
            return
        views = await views_of(app.consumer, topics)
        held = waiting()
        for stall in watchdog.check(views, now, held):
            if stall.tp not in app.consumer.assignment():
                continue  # revoked while the end offsets were asked for: not ours to repair
            metrics.stall_repairs.labels(stall.kind, stall.repair.value).inc()
            where = f"{stall.tp.topic}[{stall.tp.partition}]"
            if stall.kind == "stage":
                log.error(
                    "watchdog: the stage reading %s holds %d events and has acknowledged "
                    "nothing for %.0f s; the worker stops to start over from its commits",
                    stall.tp.topic,
                    held.get(stall.tp.topic, 0),
                    stall.for_s,
                )
                await app.crash(PartitionStalledError(f"{stall.tp.topic} stuck (stage)"))
                return
            if stall.repair is Repair.SEEK:
                log.warning(
                    "watchdog: %s stalled (%s) for %.0f s with work waiting (%s); seeking to %d",
                    where,
                    stall.kind,
                    stall.for_s,
                    _offsets(stall.view),
                    stall.seek_to,
                )
                await app.consumer.seek(stall.tp, stall.seek_to)
                continue
            log.error(
                "watchdog: %s stalled (%s) again after a seek (%s); the worker stops to start "
                "over from its commits",
                where,
                stall.kind,
                _offsets(stall.view),
            )
            await app.crash(PartitionStalledError(f"{where} stalled ({stall.kind})"))
            return

    app.timer(interval=CHECK_S, name="liaison.watchdog")(watch)
    return watchdog
