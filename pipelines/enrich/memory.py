"""What the watch stage remembers of the hits it made, so that they can be erased later.

The join finds a hit's pair again from the two sides' entries, but a customs record is kept
only for the watch window and an alert only while it is valid: erasing either record after
that would leave its hit standing at every partner. So each hit made is also remembered
under its identifier: the two records it is about and the hit as delivered (which holds no
person, only the keyed digest the match was on). The memory of a hit lasts until the last
day the hit itself may be held (its retention, the earlier of its two records'), when route
erases it at its recipients anyway. An erasure of either record, at any age, erases every
hit it remembers for that record.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date

from liaison.identity import record_key
from liaison.model.common import Event, Operation
from liaison.model.exchange import WatchlistHit
from liaison.model.police import PoliceAlert
from pipelines.enrich.watchlist import erased_hit, hit_record_id

__all__ = ["Memory", "Remembered", "dump_memory", "expired", "load_memory", "recall", "remember"]


@dataclass(frozen=True)
class Remembered:
    records: tuple[str, str]  # the customs record and the alert (their record keys)
    keep_until: date
    hit: bytes  # the hit event, encoded


Memory = dict[str, Remembered]  # hit record id -> what is remembered of it


def remember(  # noqa: PLR0917 - the memory, the probe, the hits and how to keep them
    memory: Memory,
    probe: Event,
    candidates: Collection[str],
    hits: list[Event],
    encode: Callable[[Event], bytes],
    keep_until: Callable[[Event], date],
) -> Memory:
    """``memory`` with the hits ``probe`` made; ``candidates`` are the other side's records,
    among which each hit's counterpart is found by the hit's name."""
    made = [h for h in hits if h.envelope.operation is not Operation.ERASURE]
    if not made:
        return memory
    mine = record_key(probe)
    is_customs = not isinstance(probe.payload, PoliceAlert)
    today = probe.envelope.ingest_time.date()
    after = {hit_id: r for hit_id, r in memory.items() if r.keep_until >= today}
    # Each hit's name, per identifier kind, to the pair it names: one pass over the
    # candidates, not one per hit (an alert on a busy identifier makes many hits).
    pairs: dict[str, tuple[str, str]] = {}
    for kind in {h.payload.matched_kind for h in made if isinstance(h.payload, WatchlistHit)}:
        for other in candidates:
            pair = (mine, other) if is_customs else (other, mine)
            pairs.setdefault(hit_record_id(*pair, kind), pair)
    for hit in made:
        if not isinstance(hit.payload, WatchlistHit):
            continue
        found = pairs.get(hit.envelope.source_record_id)
        if found is not None:
            after[hit.envelope.source_record_id] = Remembered(found, keep_until(hit), encode(hit))
    return after


def recall(
    memory: Memory,
    erasure: Event,
    already: list[Event],
    decode: Callable[[bytes], Event],
) -> tuple[Memory, list[Event]]:
    """``memory`` without the hits about ``erasure``'s record, and the erasures of those the
    join did not already erase (``already``)."""
    record = record_key(erasure)
    erased = {h.envelope.source_record_id for h in already}
    after: Memory = {}
    found: list[Event] = []
    for hit_id, remembered in memory.items():
        if record not in remembered.records:
            after[hit_id] = remembered
        elif hit_id not in erased:
            found.append(erased_hit(decode(remembered.hit), erasure.envelope.ingest_time))
    return after, found


def expired(memory: Memory, today: date) -> bool:
    """Whether every hit remembered here is past its last day."""
    return all(r.keep_until < today for r in memory.values())


def dump_memory(memory: Memory) -> bytes:
    return json.dumps(
        {
            hit_id: [list(r.records), r.keep_until.isoformat(), base64.b64encode(r.hit).decode()]
            for hit_id, r in memory.items()
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def load_memory(data: bytes | None) -> Memory:
    if data is None:
        return {}
    return {
        hit_id: Remembered(
            (records[0], records[1]), date.fromisoformat(until), base64.b64decode(hit)
        )
        for hit_id, (records, until, hit) in json.loads(data).items()
    }
