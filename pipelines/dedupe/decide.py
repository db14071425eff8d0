"""The dedupe decisions, as plain functions over typed values and the remembered state.

Dedupe runs in two steps, because what must meet differs:

1. **Versions**, keyed by source record (``SOURCE:record_id``, the ingest key):
   the same source, record id and version again is a replay; a lower or equal
   version after a higher one is stale; a higher version is an amendment
   (corrections and erasures are amendments too). See :func:`decide_version`.
2. **Cross-source**, keyed by the content fingerprint
   (:mod:`pipelines.dedupe.fingerprint`): the first version of a seizure whose
   fingerprint matches a report from another system, seen within the window,
   is the same seizure reported twice. The first report stands (as CIS+ rules
   say of conflicting reports); the later one is not sent on, and the first
   one's later versions carry the later one's event id in their lineage and are
   held under the strictest conditions of both (derived data, as a hit is).
   Amendments of the later report are not sent on either. See :func:`decide_cross_source`.

State is bounded by the window: :func:`expire` drops what is older.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from liaison.handling import strictest
from liaison.identity import record_key
from liaison.model.common import Event, HandlingConditions, SourceSystem
from pipelines.dedupe.fingerprint import BaseQuantity, SeizureView, quantities_agree

__all__ = [
    "Candidate",
    "Decision",
    "Outcome",
    "RecordState",
    "decide_cross_source",
    "decide_version",
    "expire",
]


class Outcome(StrEnum):
    NEW = "new"
    AMENDMENT = "amendment"
    REPLAY = "replay"
    STALE = "stale"
    CROSS_SOURCE_DUPLICATE = "cross-source-duplicate"
    NOT_OWNER = "not-owner"

    @property
    def forwarded(self) -> bool:
        return self in (Outcome.NEW, Outcome.AMENDMENT)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str  # for counting and explaining; names ids, never content
    duplicate_of: str | None = None  # event id of the report that stands


@dataclass(frozen=True)
class RecordState:
    """What the version step remembers of one source record."""

    version: int  # the highest seen
    event_id: str  # of that version
    seen_at: datetime
    # Every version seen, so that a resent old version is told from a late one.
    seen_versions: tuple[int, ...] = ()
    owner: str | None = None  # who submitted the first version (None: not known)


def decide_version(state: RecordState | None, event: Event) -> tuple[Decision, RecordState | None]:
    """The version decision for ``event`` and the record's state afterwards."""
    envelope = event.envelope
    version = envelope.version
    if state is None:
        first = RecordState(
            version, str(envelope.event_id), envelope.ingest_time, (version,), envelope.submitted_by
        )
        return Decision(Outcome.NEW, "first version seen"), first
    if version in state.seen_versions or version == state.version:
        return Decision(Outcome.REPLAY, f"version {version} already seen"), state
    if state.owner and envelope.submitted_by and envelope.submitted_by != state.owner:
        # Only the owner amends (the CIS rule): another sender's version changes nothing.
        return Decision(Outcome.NOT_OWNER, "submitted by another sender than the record's"), state
    seen = tuple(sorted((*state.seen_versions, version)))
    if version < state.version:
        return Decision(
            Outcome.STALE, f"version {version} after version {state.version}"
        ), dataclasses.replace(state, seen_versions=seen)
    return Decision(
        Outcome.AMENDMENT, f"version {version} replaces version {state.version}"
    ), RecordState(version, str(envelope.event_id), envelope.ingest_time, seen, state.owner)


@dataclass(frozen=True)
class Candidate:
    """A report remembered under a fingerprint key."""

    source: SourceSystem
    record_key: str  # SOURCE:record_id
    event_id: str  # of its first version
    quantity: BaseQuantity | None
    seen_at: datetime
    duplicate_of: str | None = None  # set when this report is the later one of a pair
    merged_event_ids: tuple[str, ...] = ()  # set on the report that stands
    # On the report that stands: the strictest conditions of the reports merged into it.
    merged_handling: HandlingConditions | None = None


def decide_cross_source(
    event: Event,
    view: SeizureView,
    candidates: Sequence[Candidate],
    window: timedelta,
) -> tuple[Decision, tuple[Candidate, ...], Event]:
    """The cross-source decision for a forwarded event, the candidates afterwards, and the
    event to send on (with merged lineage when it is the report that stands)."""
    key = record_key(event)
    now = event.envelope.ingest_time
    own = next((c for c in candidates if c.record_key == key), None)
    if own is not None:
        if own.duplicate_of is not None:
            return (
                Decision(
                    Outcome.CROSS_SOURCE_DUPLICATE,
                    f"amends a report merged into event {own.duplicate_of}",
                    own.duplicate_of,
                ),
                tuple(candidates),
                event,
            )
        return (
            Decision(Outcome.AMENDMENT, "amends the report that stands"),
            tuple(candidates),
            _with_merged(event, own.merged_event_ids, own.merged_handling),
        )

    first = next(
        (
            c
            for c in candidates
            if c.source is not view.source
            and c.duplicate_of is None
            and now - c.seen_at <= window
            and c.quantity is not None
            and view.quantity is not None
            and quantities_agree(c.quantity, view.quantity)
        ),
        None,
    )
    this = Candidate(view.source, key, str(event.envelope.event_id), view.quantity, now)
    if first is None:
        return (
            Decision(Outcome.NEW, "no matching report from another system"),
            (
                *candidates,
                this,
            ),
            event,
        )
    handling = event.envelope.handling
    merged = dataclasses.replace(
        first,
        merged_event_ids=(*first.merged_event_ids, this.event_id),
        merged_handling=handling
        if first.merged_handling is None
        else strictest(first.merged_handling, handling),
    )
    later = dataclasses.replace(this, duplicate_of=first.event_id)
    updated = tuple(merged if c is first else c for c in candidates)
    return (
        Decision(
            Outcome.CROSS_SOURCE_DUPLICATE,
            f"same seizure as event {first.event_id} from {first.source.value}",
            first.event_id,
        ),
        (*updated, later),
        event,
    )


def _with_merged(
    event: Event, merged: tuple[str, ...], handling: HandlingConditions | None
) -> Event:
    """A version of the report that stands, as derived from every report merged into it: it
    names them, and is held under the strictest conditions of them all."""
    if not merged:
        return event
    envelope = event.envelope
    lineage = envelope.lineage
    ids = tuple(dict.fromkeys((*lineage.merged_event_ids, *merged)))
    return dataclasses.replace(
        event,
        envelope=dataclasses.replace(
            envelope,
            lineage=dataclasses.replace(lineage, merged_event_ids=ids),
            handling=envelope.handling
            if handling is None
            else strictest(envelope.handling, handling),
        ),
    )


def expire(
    candidates: Sequence[Candidate], now: datetime, window: timedelta
) -> tuple[Candidate, ...]:
    """The candidates still inside the window: state never grows past it."""
    return tuple(c for c in candidates if now - c.seen_at <= window)
