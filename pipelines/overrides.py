"""Where Liaison does not leave a guarantee to faust-streaming (0.15.3): each override says
what Faust does, why it matters here, and where upstream tracks it.

- **The final commit at a clean stop.** Faust's consumer commits once when it stops, with
  ``Consumer.commit``, which returns at once without committing when another commit is
  running (it waits for that one, whose offsets were taken before the last
  acknowledgements). The worker could then stop with acknowledged offsets uncommitted,
  and the restart read again input it had decided well before the stop. Here the stop
  commits until nothing acknowledged is left uncommitted, and says so in the log.
  Upstream: ``Consumer.commit`` and ``maybe_wait_for_commit_to_finish`` in
  ``faust/transport/consumer.py``; the gap-related commit problems beside it are
  faust-streaming issues #596 and #606 (PR #707, unmerged).
- **Reads in offset order after a seek.** After a rebalance Faust resumes the stream
  partitions and then seeks them to their committed offsets, while its fetcher keeps
  running; a batch fetched before the seek is handed over after it. Faust's drain loop
  takes the jump from the committed offset to that batch for a gap in the topic and
  counts every offset in between as done (``Consumer._add_gap``), and drops the records
  the seek then reads again as already read: those inputs were committed and never
  processed (seen after a clean restart mid-stream: whole runs of records, on many
  partitions). Here the consumer hands each input partition to its stream strictly in
  offset order from where it was sought: a record past the one due is dropped and the
  partition sought back to the one due, a record before it dropped; only records that
  retention deleted are skipped, with a warning (and recorded as a gap for the commit).
  Faust's drain loop never records a gap of its own on these topics (``_add_gap``): a jump
  there is its read offset lagging this order, never a hole in the log; and it is told each
  record handed over, so it does not drop one the seek back reads again. Upstream:
  ``_drain_messages`` and ``_add_gap`` in ``faust/transport/consumer.py``;
  ``Recovery.on_recovery_completed`` resumes the stream partitions before it seeks them.
  faust-streaming issue #221 (prefetched records out of order after a rebalance) and #216
  (PR #217, the same order fixed for apps without tables) are closed, and 0.15.3 still
  does it on this path.
- **Standby seeks across a rebalance.** A rebalance that lands while a recovery is under
  way adds its standby changelog partitions with no offset yet (``None``, built by the
  next recovery round), and the recovery under way goes on to seek the standbys it has
  (``Recovery._restart_recovery`` does not look for the new rebalance first):
  ``Recovery._seek_offsets`` hands the ``None`` to aiokafka, whose ``ValueError`` ends the
  worker (seen scaling 1 -> 3 -> 1 under load). Here a partition with no offset yet is
  left to the recovery the rebalance restarts. Upstream: ``_seek_offsets`` in
  ``faust/tables/recovery.py`` (its own FIXME there names the offset discrepancy).
- **A commit past an offset never done.** Faust's ``Consumer._new_offset`` lets the
  acknowledgements start one past the committed offset (``min(acked) - committed > 1``
  wedges, a difference of one commits): the record at the committed offset itself, never
  acknowledged, is committed over, and a crash skips it for good (faust-streaming issue
  #606). Here a commit waits until the committed offset's own record is acknowledged or
  lies in a gap of the log (what retention deleted, as the read-order guard records it);
  the watchdog repairs a commit that waits too long (a seek back to the committed offset
  reads that record again).
- **"No commit" from a coordinator that cannot say yet.** aiokafka reads only the
  partitions' error codes of an OffsetFetch response, not the group's: a coordinator still
  loading the group after it moved (a node killed) answers with no offsets and the error
  for the whole group, which aiokafka takes for "never committed", and Faust reads the
  partition again from the log's start (seen after a leader kill: 2,485 inputs delivered
  twice). Here a partition given no commit is asked again, reading the group's error too
  (:func:`checked_committed`). Upstream: ``GroupCoordinator._do_fetch_commit_offsets`` in
  aiokafka's ``consumer/group_coordinator.py``.
- **A commit while no committed offset is known.** A revoke empties Faust's bookkeeping of
  a partition (``_committed_offset`` becomes ``None``) until the seek after the assignment
  refills it, while the in-flight windows still acknowledge events read before the
  rebalance and the commit timer keeps running. With no committed offset Faust commits
  whatever run the acknowledgements start: over inputs never done (seen scaling 1 -> 3
  under load: six inputs of one partition committed over). Here nothing is committed
  before that seek, and after it nothing from before where reading began, nor past an
  offset not done from there. Upstream: ``on_partitions_revoked`` and ``_new_offset`` in
  ``faust/transport/consumer.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import faust
from aiokafka import errors as kafka_errors
from aiokafka.errors import KafkaError
from aiokafka.protocol.commit import OffsetFetchRequest
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP, Message

__all__ = [
    "LiaisonApp",
    "ReadOrder",
    "Verdict",
    "checked_committed",
    "final_commit",
    "uncommitted",
]

log = logging.getLogger(__name__)

# Commits tried at a stop before giving up (each waits for the one running, if any).
_FINAL_COMMIT_TRIES = 5


async def final_commit(consumer: Any) -> dict[TP, int]:
    """Commit every offset the consumer holds acknowledged and not yet committed, also
    when a periodic commit is running at the moment; returns what is still uncommitted
    (empty unless Kafka refused, or a gap in the acknowledgements holds it back)."""
    left: dict[TP, int] = {}
    for _ in range(_FINAL_COMMIT_TRIES):
        await consumer.commit(start_new_transaction=False)
        left = uncommitted(consumer)
        if not left:
            break
    return left


def uncommitted(consumer: Any) -> dict[TP, int]:
    """Per assigned partition, the offset past the highest acknowledgement not committed
    yet (looked at, not taken: Faust's own ``_filter_committable_offsets`` consumes them).
    A partition revoked since is not this worker's to commit, whatever was acknowledged."""
    assigned = consumer.assignment()
    return {tp: max(acked) + 1 for tp, acked in consumer._acked.items() if acked and tp in assigned}


# How long a seek to the commits asks the coordinator again while it answers that it cannot
# say yet (loading the group after it moved, or not the coordinator any more).
_COMMITTED_PATIENCE_S = 60.0


async def checked_committed(
    coordinator: Any, tps: Collection[TP], pause_s: float = 0.5
) -> dict[TP, int | None]:
    """The committed offsets of ``tps`` (None: no commit), as the group's coordinator has
    them, asked again while it answers with an error for the whole group.

    aiokafka (0.14, ``GroupCoordinator._do_fetch_commit_offsets``) reads only the
    partitions' error codes of an OffsetFetch response, not the group's (versions 2 and
    up): a coordinator still loading the group after it moved answers
    COORDINATOR_LOAD_IN_PROGRESS there, with no offsets, and aiokafka takes that for "never
    committed". Faust then starts the partition from the log's start and reads all of it
    again (seen right after a node leading ``__consumer_offsets`` was killed: 2,485 inputs
    delivered twice). Runs on the consumer's thread, with aiokafka's coordinator."""
    by_topic: dict[str, list[int]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    deadline = time.monotonic() + _COMMITTED_PATIENCE_S
    while True:
        try:
            await coordinator.ensure_coordinator_known()
            response = await coordinator._send_req(
                OffsetFetchRequest(coordinator.group_id, list(by_topic.items()))
            )
            _raise_for(getattr(response, "error_code", 0), coordinator)
            found: dict[TP, int | None] = dict.fromkeys(tps)
            for topic, partitions in response.topics:
                for partition, offset, _metadata, code in partitions:
                    _raise_for(code, coordinator)
                    found[TP(topic, partition)] = None if offset < 0 else offset
            return found
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            log.info("committed offsets not known yet (%s); asking again", type(exc).__name__)
            await asyncio.sleep(pause_s)


def _raise_for(code: int, coordinator: Any) -> None:
    if code:
        error = kafka_errors.for_code(code)
        if error is kafka_errors.NotCoordinatorForGroupError:
            coordinator.coordinator_dead()
        raise error()


class _FinalCommit:
    """Mixed into the transport's consumer class: the stop commits everything acknowledged
    (see the module) before Faust's own stop runs."""

    async def on_stop(self) -> None:
        before = dict(self._committed_offset)  # type: ignore[attr-defined] # Faust's consumer
        left = await final_commit(self)
        after = self._committed_offset.items()  # type: ignore[attr-defined]
        moved = sum(1 for tp, offset in after if before.get(tp) != offset)
        if left:
            log.warning(
                "final commit: %d partitions left uncommitted (read again after the restart): %s",
                len(left),
                ", ".join(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in left.items()),
            )
        else:
            log.info(
                "final commit: every acknowledged offset committed (%d partitions moved)", moved
            )
        await super().on_stop()  # type: ignore[misc]


class _NoSkippedCommits:
    """Mixed into the transport's consumer class: nothing is committed over an offset that
    was neither acknowledged nor a gap in the log (see the module)."""

    def _new_offset(self, tp: TP) -> int | None:
        if tp.topic not in self._guarded():  # type: ignore[attr-defined] # read without holes
            return super()._new_offset(tp)  # type: ignore[misc,no-any-return]
        acked = self._acked[tp]  # type: ignore[attr-defined]
        committed = self._committed_offset[tp]  # type: ignore[attr-defined]
        if committed is None:
            # Faust knows no committed offset: none was ever made (its 0 is None too), or a
            # rebalance emptied its bookkeeping while events read before it are still being
            # acknowledged; Faust would commit whatever run those start. Until the seek says
            # where reading began, nothing is committed; then nothing before there.
            base = self._read_order().base.get(tp)  # type: ignore[attr-defined]
            if base is None:
                return None
            stale = [offset for offset in acked if offset < base]
            if stale:
                acked[:] = [offset for offset in acked if offset >= base]
                self._acked_index[tp].difference_update(stale)  # type: ignore[attr-defined]
            committed = base
        if (
            acked
            and max(acked) > committed
            and committed not in self._acked_index[tp]  # type: ignore[attr-defined]
            and committed not in acked  # Faust folds its gaps into this list alone
            and not self._gap[tp].at(committed)  # type: ignore[attr-defined]
        ):
            waits = self.__dict__.setdefault("_commit_waits", {})
            if waits.get(tp) != committed:  # once per offset waited for
                waits[tp] = committed
                log.info(
                    "%s[%d]: commit waits at offset %d, not acknowledged (acknowledged: %d to %d)",
                    tp.topic,
                    tp.partition,
                    committed,
                    min(acked),
                    max(acked),
                )
            return None
        new: int | None = super()._new_offset(tp)  # type: ignore[misc]
        return new


class Verdict(Enum):
    HAND_OVER = "hand over"  # the record due: to the stream
    BEHIND = "behind"  # before the one due: read already, or from before a seek back
    AHEAD = "ahead"  # past the one due: look at the partition's log start first


@dataclass
class ReadOrder:
    """Which offset each guarded partition must hand to its stream next.

    A partition with nothing due yet (not sought since it was assigned) takes what comes.
    The caller seeks a partition back to the offset due when a record comes ``AHEAD``
    and that offset still exists; :meth:`resought` says whether it did so already."""

    due: dict[TP, int] = field(default_factory=dict)
    # Where reading began since the partition was assigned: its committed offset, or the
    # log's start without one (what a commit may not pass before it is done).
    base: dict[TP, int] = field(default_factory=dict)
    _resought: dict[TP, int] = field(default_factory=dict)

    def sought(self, tp: TP, offset: int) -> None:
        self.due[tp] = offset
        self._resought.pop(tp, None)

    def began(self, tp: TP, offset: int) -> None:
        self.base[tp] = offset
        self.sought(tp, offset)

    def forget(self, tps: Collection[TP]) -> None:
        for tp in tps:
            self.due.pop(tp, None)
            self.base.pop(tp, None)
            self._resought.pop(tp, None)

    def verdict(self, tp: TP, offset: int) -> Verdict:
        due = self.due.get(tp)
        if due is None or offset == due:
            self.due[tp] = offset + 1
            return Verdict.HAND_OVER
        return Verdict.BEHIND if offset < due else Verdict.AHEAD

    def resought(self, tp: TP) -> bool:
        """Whether the partition was sought back to the offset due already: once is
        enough, while the rest of a batch fetched before the seek keeps coming."""
        return self._resought.get(tp) == self.due.get(tp)

    def mark_resought(self, tp: TP) -> None:
        self._resought[tp] = self.due[tp]


class _InOrderReads:
    """Mixed into the transport's consumer class: each guarded partition is handed to its
    stream in offset order from where it was last sought (see the module)."""

    _order: ReadOrder

    def _read_order(self) -> ReadOrder:
        try:
            return self._order
        except AttributeError:
            self._order = ReadOrder()
            return self._order

    def _guarded(self) -> Collection[str]:
        return getattr(self.app, "in_order_topics", ())  # type: ignore[attr-defined]

    async def seek_to_committed(self) -> Mapping[TP, int]:
        guarded = self._guarded()
        tps = [tp for tp in self.assignment() if tp.topic in guarded]  # type: ignore[attr-defined]
        # Where a partition without a commit starts (auto.offset.reset is earliest), asked
        # before the seek: nothing may be read between the seek and its due offsets.
        starts = await self.earliest_offsets(*tps) if tps else {}  # type: ignore[attr-defined]
        committed: dict[TP, int] = dict(await super().seek_to_committed())  # type: ignore[misc]
        unsure = [tp for tp in tps if not committed.get(tp)]
        if unsure:
            # "No commit" from aiokafka can be a coordinator that could not say yet: asked
            # again, reading the group's error too (see checked_committed).
            thread = self._thread  # type: ignore[attr-defined] # Faust's consumer thread
            checked = await thread.call_thread(
                checked_committed, thread._ensure_consumer()._coordinator, unsure
            )
            for tp, offset in checked.items():
                if offset:
                    log.warning(
                        "%s[%d]: committed offset %d, not the 'none' first given: reading "
                        "from there",
                        tp.topic,
                        tp.partition,
                        offset,
                    )
                    committed[tp] = offset
                    await self.seek(tp, offset)
        order = self._read_order()
        for tp in tps:
            offset = committed.get(tp)
            if offset:
                order.began(tp, offset)
                continue
            # No commit (aiokafka answers None; Faust takes 0 for none too): aiokafka leaves
            # the position where a fetch before the stream read anything left it, so seek
            # to the start.
            start = starts.get(tp)
            start = start if start is not None and start >= 0 else 0
            order.began(tp, start)
            await self.seek(tp, start)
        return committed

    async def seek(self, partition: TP, offset: int) -> None:
        if partition.topic in self._guarded():
            self._read_order().sought(partition, offset)
        # On the consumer's own thread: Faust's seek calls aiokafka from this one, where it
        # races the fetch under way (aiokafka is not thread-safe) and can be undone by it.
        await self.seek_wait({partition: offset})  # type: ignore[attr-defined]

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._read_order().forget(revoked)
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Faust's drain loop takes a jump between the offsets it handed over for a gap in
        the log and lets commits pass over it. On a guarded topic a jump is never one:
        retention's gaps are recorded by :meth:`_ahead`, and any other jump is Faust's own
        read offset lagging the order kept here (offsets never processed)."""
        if tp.topic in self._guarded():
            return
        await super()._add_gap(tp, offset_from, offset_to)  # type: ignore[misc]

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109 # Faust's signature
        guarded, order = self._guarded(), self._read_order()
        async for tp, message in super().getmany(timeout):  # type: ignore[misc]
            if tp.topic not in guarded:
                yield tp, message
                continue
            verdict = order.verdict(tp, message.offset)
            if verdict is Verdict.AHEAD:
                verdict = await self._ahead(tp, message.offset)
            if verdict is Verdict.HAND_OVER:
                # Faust's drain loop drops a record behind its own read offset (the last
                # it handed over, which can be past a seek back): the order here decides.
                self._read_offset[tp] = message.offset  # type: ignore[attr-defined]
                yield tp, message

    async def _ahead(self, tp: TP, offset: int) -> Verdict:
        """A record past the one due: handed over only when retention deleted the ones
        between; otherwise the partition is sought back to the one due (once)."""
        order = self._read_order()
        if order.resought(tp):
            return Verdict.AHEAD
        due = order.due[tp]
        start = (await self.earliest_offsets(tp)).get(tp)  # type: ignore[attr-defined]
        if start is not None and start > due:
            log.warning(
                "%s[%d]: offsets %d to %d were deleted by retention before they were read",
                tp.topic,
                tp.partition,
                due,
                start - 1,
            )
            # A gap for the commit to pass over (the drain loop's own starts one late, at
            # the offset after the one it read last, and sees none for a single offset).
            gap = self._gap[tp]  # type: ignore[attr-defined]
            gap.addi(due, start)
            gap.merge_overlaps()
            order.sought(tp, start)
            if order.verdict(tp, offset) is Verdict.HAND_OVER:
                return Verdict.HAND_OVER
            due = start
        log.info(
            "%s[%d]: offset %d came where %d was due (fetched before a seek); "
            "reading again from %d",
            tp.topic,
            tp.partition,
            offset,
            due,
            due,
        )
        await self.seek(tp, due)
        order.mark_resought(tp)
        return Verdict.AHEAD


class _StandbySafeRecovery(Recovery):
    """Faust's recovery, seeking only partitions whose offset is known (see the module)."""

    async def _seek_offsets(self, consumer: Any, tps: set[TP], offsets: Any, title: str) -> None:
        due: dict[TP, int] = {}
        for tp in tps:
            offset = offsets.get(tp)
            if offset is None:  # added by a rebalance after this round built its offsets
                log.info("%s %s: no offset yet, left to the recovery that follows", title, tp)
                continue
            due[tp] = max(offset, 0)  # -1: nothing read yet, read from the start
        if due:
            await consumer.seek_wait(due)


class _LiaisonTableManager(TableManager):
    """Faust's table manager with the recovery above."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = _StandbySafeRecovery(
                self.app, self, beacon=self.beacon, loop=self.loop
            )
        return self._recovery


class LiaisonApp(faust.App):
    """The Faust app with the overrides above built into its consumer.

    ``in_order_topics`` names the topics whose partitions are read strictly in offset
    order (the stages' inputs; never compacted, never written in transactions, so the
    only offsets missing from them are those retention deleted)."""

    in_order_topics: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("TableManager", _LiaisonTableManager)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        transport = super()._new_transport()
        base = transport.Consumer
        # This transport's own consumer class (``create_consumer`` builds ``self.Consumer``).
        transport.Consumer = type(  # type: ignore[misc]
            f"Liaison{base.__name__}", (_FinalCommit, _NoSkippedCommits, _InOrderReads, base), {}
        )
        return transport
