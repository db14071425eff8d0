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
- **A failed commit counts as done.** ``Consumer._commit_offsets`` records the offsets as
  committed whether Kafka took the commit or not (a coordinator moving to another broker,
  a rebalance), and the acknowledgements it took them from are gone: those offsets are
  never committed until later ones are, a quiet partition's commit stays behind its work
  for good, and the final commit believes there is nothing left. Here a failed commit
  leaves the committed offsets as they were and keeps its offsets to commit the next time.
  Upstream: faust-streaming issue #316.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import faust
from faust.types import TP

__all__ = ["LiaisonApp", "final_commit", "uncommitted"]

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
    """Per partition, the offset past the highest acknowledgement not committed yet
    (looked at, not taken: Faust's own ``_filter_committable_offsets`` consumes them)."""
    return {tp: max(acked) + 1 for tp, acked in consumer._acked.items() if acked}


class _CommitsThatFailStayToDo:
    """Mixed into the transport's consumer class: see the module (issue #316).

    A failed commit's offsets go back where Faust took them from, its acknowledgements:
    the next commit finds them again, and a partition revoked meanwhile drops them with
    the rest of its bookkeeping (Faust clears a revoked partition's acknowledgements), so
    nothing is ever committed for a partition this worker no longer reads."""

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        committed = self._committed_offset  # type: ignore[attr-defined] # Faust's consumer
        before = {tp: committed.get(tp) for tp in offsets}
        done: bool = await super()._commit_offsets(  # type: ignore[misc]
            offsets, start_new_transaction=start_new_transaction
        )
        if done or not offsets:
            return done
        assigned = set(self.assignment())  # type: ignore[attr-defined]
        acked, index = self._acked, self._acked_index  # type: ignore[attr-defined]
        for tp, offset in offsets.items():
            if tp not in assigned:
                continue  # revoked: its new owner reads it from the last commit
            # Faust moved its record of the commit although Kafka has none (#316): put it
            # back, and the offsets up to this one back among the acknowledged.
            committed[tp] = before[tp]
            first = before[tp] if before[tp] is not None else offset - 1
            restored = [o for o in range(first, offset) if o not in index[tp]]
            acked[tp].extend(restored)
            acked[tp].sort()
            index[tp].update(restored)
        log.warning(
            "commit of %d partitions failed; their offsets stay to commit next time",
            len(offsets),
        )
        return done


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


class LiaisonApp(faust.App):
    """The Faust app with the overrides above built into its consumer."""

    def _new_transport(self) -> Any:
        transport = super()._new_transport()
        base = transport.Consumer
        # This transport's own consumer class (``create_consumer`` builds ``self.Consumer``).
        transport.Consumer = type(  # type: ignore[misc]
            f"Liaison{base.__name__}", (_FinalCommit, _CommitsThatFailStayToDo, base), {}
        )
        return transport
