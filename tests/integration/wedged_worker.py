"""The pipeline worker with one fault injected into Faust's bookkeeping, for the watchdog's
test: the acknowledgements of two offsets of one partition are lost once, as when Faust
does not hand a record to its agent. Faust then commits that partition no further
(faust-streaming issues #596 and #606), which only the watchdog repairs.

Run as ``python -m tests.integration.wedged_worker`` with the worker's settings in the
environment and ``WEDGE_TOPIC`` naming the partition's topic (partition 0, offsets 5, 6).
"""

from __future__ import annotations

import os
from typing import Any

from faust.transport.consumer import Consumer

from liaison.settings import load_settings
from pipelines.worker import run_worker

WEDGED = (os.environ["WEDGE_TOPIC"], 0)
LOST = {5, 6}

_ack = Consumer.ack
_lost: set[int] = set()


def _losing_ack(self: Any, message: Any) -> bool:
    if (message.tp.topic, message.tp.partition) == WEDGED and message.offset in LOST - _lost:
        _lost.add(message.offset)
        message.acked = True
        return False
    return bool(_ack(self, message))


Consumer.ack = _losing_ack  # type: ignore[method-assign]

if __name__ == "__main__":
    run_worker(load_settings())
