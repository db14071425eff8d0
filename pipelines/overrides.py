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
"""

from __future__ import annotations

import logging
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
            f"Liaison{base.__name__}", (_FinalCommit, base), {}
        )
        return transport
