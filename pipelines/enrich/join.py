"""The watchlist join's decision for one probe, apart from any framework.

A probe is an event (a police alert or a customs record) under one of its identifiers. Each
side keeps, per identifier, the records it has seen (when, and the encoded event). A probe
updates its own side and, the first time its record is seen, matches the other side's
records. An alert and a customs record match when the alert was raised no later than the
watch window after the customs record (an alert stands until erased; a new alert looks
back over the window). Erasing either record erases the hits it made: the same pairs, by
the same rule, as erasures of those hits. The rule, and a hit's direction (which of the two
came second), read event times only, so the answer does not depend on which of the two the
stage happens to see first: a replay, a second worker or another implementation decides the
same pairs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime, timedelta

from liaison.identity import record_key
from liaison.model.common import Event, Operation
from liaison.model.exchange import MatchDirection
from liaison.model.police import PoliceAlert
from pipelines.enrich.enrich import enrich
from pipelines.enrich.watchlist import PersonKeys, WatchKey, erased_hit, make_hit

__all__ = ["Entries", "join"]

Entries = dict[str, tuple[datetime, bytes]]  # source record -> (seen at, encoded event)


def _forever(_event: Event) -> date:
    return date.max


def join(  # noqa: PLR0917 - the probe, both sides and the codec
    event: Event,
    key: WatchKey,
    mine: Entries,
    others: Callable[[], Entries],
    window: timedelta,
    encode: Callable[[Event], bytes],
    decode: Callable[[bytes], Event],
    *,
    persons: PersonKeys,
    held_until: Callable[[Event], date] = _forever,
) -> tuple[Entries, list[Event]]:
    """This side's entries after ``event``, and the hits it makes (or, for an erasure, the
    erasures of the hits it made). ``others`` reads the other side's entries, only when there
    is something to match. ``held_until`` gives the last day a record may be held (see
    pipelines.route.decide.keep_until): a pair meets only while both are held."""
    is_alert = isinstance(event.payload, PoliceAlert)
    moment = event.envelope.ingest_time  # event time: a replay decides as it did
    record = record_key(event)
    known = record in mine
    erasure = event.envelope.operation is Operation.ERASURE
    after = dict(mine)
    if erasure:
        after.pop(record, None)
    elif held_until(event) < moment.date():
        after.pop(record, None)  # past its retention on arrival: neither kept nor matched
        return after, []
    else:
        after[record] = (moment, encode(event))
    if not is_alert:  # customs records are kept for the window only
        after = {k: v for k, v in after.items() if moment - v[0] <= window}
    if erasure:
        if not known:
            return after, []
        # The pairs the record made when it was first seen, from its time then.
        first_seen, encoded = mine[record]
        hits = _pairs(
            decode(encoded),
            first_seen,
            is_alert,
            key,
            others(),
            window,
            decode,
            persons,
            held_until,
        )
        return after, [erased_hit(hit, moment) for hit in hits]
    if known:
        return after, []  # a record matches once, when it is first seen
    return after, _pairs(
        event, moment, is_alert, key, others(), window, decode, persons, held_until
    )


def _expired(alert: Event, at: datetime) -> bool:
    """Whether ``alert`` was no longer valid at ``at`` (its ``valid_until`` day has passed)."""
    payload = alert.payload
    valid_until = payload.valid_until if isinstance(payload, PoliceAlert) else None
    return valid_until is not None and at.date() > valid_until


def _pairs(  # noqa: PLR0917 - one side's record, the other side, and the rule
    event: Event,
    moment: datetime,
    is_alert: bool,
    key: WatchKey,
    others: Entries,
    window: timedelta,
    decode: Callable[[bytes], Event],
    persons: PersonKeys,
    held_until: Callable[[Event], date],
) -> list[Event]:
    """The hits between ``event`` (seen at ``moment``) and the other side's records."""
    hits = []
    for seen_at, encoded in others.values():
        raised, customs_at = (moment, seen_at) if is_alert else (seen_at, moment)
        if raised - customs_at > window:
            continue  # the alert came too long after the customs record
        # Which of the two came second, in event time, is the one that found the other.
        direction = (
            MatchDirection.ALERT_MATCHED_SEIZURE
            if raised >= customs_at
            else MatchDirection.SEIZURE_MATCHED_ALERT
        )
        counterpart = decode(encoded)
        customs, alert = (counterpart, event) if is_alert else (event, counterpart)
        met = max(raised, customs_at)
        if _expired(alert, met):
            continue  # an alert stops matching after the day it is valid until
        if min(held_until(customs), held_until(alert)) < met.date():
            continue  # one of the two is past its retention: Liaison may not use it
        hit = make_hit(customs, alert, key, direction, persons)
        hits.append(dataclasses.replace(hit, enrichment=enrich(customs, hits=1).enrichment))
    return hits
