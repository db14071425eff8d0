"""The stages as Faust agents: dedupe (versions, then cross-source), enrich, the watchlist
join, and route. Each is thin wiring around the plain functions of its package; the
order of work in each is the one :mod:`pipelines.io` describes.

::

    ingest.*  --dedupe-versions-->  pipeline.versioned  (keyed by fingerprint)
              --dedupe-cross-source-->  pipeline.deduped  (keyed by source record)
              --enrich-->  pipeline.enriched  +  pipeline.watch (one probe per identifier)
    pipeline.watch  --watch-->  pipeline.enriched (watchlist hits)
    pipeline.enriched  --route-->  partner.* , audit
    every stage  -->  deadletter (what it cannot read), pipeline.outcomes (what it drops)
"""

from __future__ import annotations

import dataclasses
import functools
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import faust
from faust.types import EventT, StreamT

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DELIVERY_AUDIT
from liaison.errors import BadEventError
from liaison.identity import delivery_headers, record_key
from liaison.kafka.topics import (
    AUDIT,
    INGEST_TOPICS,
    PIPELINE_DEDUPED,
    PIPELINE_ENRICHED,
    PIPELINE_VERSIONED,
    PIPELINE_WATCH,
    STATE_FINGERPRINTS,
    STATE_RECIPIENTS,
    STATE_VERSIONS,
    TopicSpec,
)
from liaison.metrics import PipelineMetrics
from liaison.model import to_avro
from liaison.model.common import Event, Operation
from liaison.model.exchange import MatchDirection, WatchlistHit
from liaison.model.police import IdentifierKind, PoliceAlert
from liaison.policy import RoutingPolicy
from liaison.settings import Settings
from liaison.timestamps import utc_now
from pipelines.dedupe.decide import decide_cross_source, decide_version, expire
from pipelines.dedupe.fingerprint import seizure_view
from pipelines.enrich.enrich import enrich
from pipelines.enrich.join import join
from pipelines.enrich.memory import recall, remember
from pipelines.enrich.tables import WatchTables
from pipelines.enrich.watchlist import PersonKeys, WatchKey, alert_keys, customs_keys
from pipelines.io import StageIO, manual
from pipelines.route.audit import audit_record
from pipelines.route.decide import RouteDecision, keep_until, refusal_reasons, route_decision
from pipelines.route.retention import (
    erasure,
    held_after,
    reminder,
    retention_decision,
    review_decision,
)
from pipelines.state import (
    dump_candidates,
    dump_held,
    dump_record_state,
    load_candidates,
    load_held,
    load_record_state,
)
from pipelines.sweep import Deadline, Expiry, Sweeper
from pipelines.window import ConfirmedTable, GroupedTable, InFlight, Pending

__all__ = ["register_stages"]

# Outcomes that are duplicates, counted by kind as well.
_DUPLICATE_KINDS = frozenset({"replay", "stale", "cross-source-duplicate"})
# Events each stage keeps in flight (decided, sends not yet confirmed).
WINDOW = 1000
# How long a stopping stage lets its window finish what it holds (then the rest is read
# again after the restart); well inside the pod's termination grace period.
STOP_DRAIN_S = 10.0
_STAGES = ("dedupe-versions", "dedupe-cross-source", "enrich", "watch", "route")


def _table(
    app: faust.App,
    settings: Settings,
    spec: TopicSpec,
    deadline: Deadline,
    kind: type[ConfirmedTable] = ConfirmedTable,
) -> Any:
    name = spec.full_name(settings.topic_prefix)
    changelog = app.topic(
        name, partitions=spec.partitions, key_serializer="raw", value_serializer="raw"
    )
    # A ConfirmedTable: the window acknowledges an event only once its updates are in the
    # changelog (see pipelines.window).
    table = kind(
        app,
        name=spec.name.replace(".", "-"),
        default=None,
        beacon=app.tables.beacon,
        partitions=spec.partitions,
        changelog_topic=changelog,
        key_type=bytes,
        value_type=bytes,
        expiry=Expiry(deadline),
    )
    return app.tables.add(table)


def register_stages(
    app: faust.App, settings: Settings, policy: RoutingPolicy, metrics: PipelineMetrics
) -> Stages:
    """Add every stage's agent and table to ``app``; returns them."""
    return Stages(app, settings, policy, metrics)


class Stages:
    """The topics, tables and agents of the pipeline."""

    def __init__(
        self, app: faust.App, settings: Settings, policy: RoutingPolicy, metrics: PipelineMetrics
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.metrics = metrics
        self.io = io = StageIO(app, settings)
        self.versioned = io.topic(PIPELINE_VERSIONED.name)
        self.deduped = io.topic(PIPELINE_DEDUPED.name)
        self.watch_topic = io.topic(PIPELINE_WATCH.name)
        self.enriched = io.topic(PIPELINE_ENRICHED.name)
        self.audit_topic = io.topic(AUDIT.name)
        self.partner_topics = {p.id: io.topic(p.topic) for p in policy.partners}
        self.audits = AvroCodec(DELIVERY_AUDIT)
        self.dedupe_window = timedelta(seconds=settings.dedupe_window_s)
        self.watch_window = timedelta(seconds=settings.watch_window_s)
        self.persons = PersonKeys.from_settings(settings)
        self.replay_window = timedelta(seconds=settings.replay_window_s)
        self.versions: ConfirmedTable = _table(app, settings, STATE_VERSIONS, self._version_due)
        self.fingerprints: ConfirmedTable = _table(
            app, settings, STATE_FINGERPRINTS, self._fingerprint_due
        )
        self.watch_tables = WatchTables(
            policy,
            self._decode,
            self.watch_window,
            lambda spec, deadline: _table(app, settings, spec, deadline, GroupedTable),
        )
        self.recipients: ConfirmedTable = _table(
            app, settings, STATE_RECIPIENTS, self._retention_due
        )
        # Event time: the newest ingest time seen; windows are measured back from it.
        self.watermark = datetime.min.replace(tzinfo=UTC)
        self._windows: weakref.WeakSet[InFlight] = weakref.WeakSet()
        self.sweepers = {
            name: Sweeper(settings.state_sweep_every)
            for name in ("versions", "fingerprints", "watch", "route")
        }
        # Each label set's child looked up once (a lookup per event shows in the profile).
        self._events_in = functools.cache(metrics.stage_events_in.labels)
        self._events_out = functools.cache(metrics.stage_events_out.labels)
        self._duration = functools.cache(metrics.stage_duration.labels)
        self._duplicates = functools.cache(metrics.duplicates.labels)
        # Every known label set from the start, at zero: a rate is 0, not missing.
        for stage in _STAGES:
            metrics.stage_events_in.labels(stage)
            metrics.stage_duration.labels(stage)
        for kind in _DUPLICATE_KINDS:
            metrics.duplicates.labels(kind)
        for direction in MatchDirection:
            metrics.watchlist_hits.labels(direction.value)
        for partner in policy.partners:
            metrics.deliveries.labels(partner.id)
            metrics.end_to_end_latency.labels(partner.id)
        # One agent per ingest topic: Faust's agents over several topics at once can be left
        # without some of their partitions' records after a rebalance between workers
        # (seen with two workers; faust-streaming issue 471), while single-topic ones
        # were not. Keys name their source system, so the agents never share a key.
        for spec in INGEST_TOPICS:
            ingest = app.topic(spec.full_name(settings.topic_prefix))
            name = "dedupe-versions-" + spec.name.rsplit(".", 1)[-1]
            app.agent(ingest, name=name)(self.dedupe_versions)
        app.agent(self.versioned, name="dedupe-cross-source")(self.dedupe_cross_source)
        app.agent(self.deduped, name="enrich")(self.enrich)
        app.agent(self.watch_topic, name="watch")(self.watch)
        app.agent(self.enriched, name="route")(self.route)

    async def _read(
        self, window: InFlight, item: EventT[bytes], stage: str, *, check: bool = False
    ) -> Event | None:
        """The event of ``item``, or None once its dead letter is handed to the window:
        acknowledged in input order like every other result, never ahead of the events
        still in flight before it (a commit must not pass them)."""
        started = time.perf_counter()
        self._events_in(stage).inc()
        try:
            if stage == "dedupe-versions" and not item.message.key:
                raise BadEventError("MissingKey", "an ingest record needs its source record key")
            return self.io.read(item.message, check=check)
        except BadEventError as exc:
            letter = await self.io.dead_letter(item, stage, exc)
            self.metrics.dead_letters.labels(stage, exc.kind).inc()
            done = self._counted(stage, started, "dead-letter")
            await window.submit(Pending(item, sends=[letter], done=done))
            return None

    def _count(self, stage: str, started: float, outcome: str) -> None:
        self._events_out(stage, outcome).inc()
        self._duration(stage).observe(time.perf_counter() - started)
        if outcome in _DUPLICATE_KINDS:
            self._duplicates(outcome).inc()

    def _counted(self, stage: str, started: float, outcome: str) -> Callable[[], None]:
        """What to count once the event is acknowledged."""
        return lambda: self._count(stage, started, outcome)

    def _window(self, source: faust.Stream[bytes], name: str) -> InFlight:
        window = InFlight(source, limit=WINDOW, name=name)
        window.start()
        self._windows.add(window)
        return window

    def waiting(self) -> dict[str, int]:
        """Per input topic, the events its stage holds (queued or in flight)."""
        held: dict[str, int] = {}
        for window in list(self._windows):
            if window.stopped:
                continue
            count = window.waiting()
            for topic in window.topics:
                held[topic] = held.get(topic, 0) + count
        return held

    async def dedupe_versions(self, stream: StreamT[bytes]) -> None:
        io, source = self.io, manual(stream)
        window = self._window(source, "dedupe-versions")
        try:
            async for item in source.events():
                started = time.perf_counter()
                event = await self._read(window, item, "dedupe-versions", check=True)
                if event is None:
                    continue
                self.metrics.source_last_event.labels(event.envelope.source_system.value).set(
                    time.time()
                )
                message = item.message
                key = message.key or b""  # never empty here: _read dead-letters keyless ones
                state = load_record_state(window.get(self.versions, key))
                decision, after = decide_version(state, event)
                pending = Pending(item)
                if decision.outcome.forwarded:
                    lineage = dataclasses.replace(
                        event.envelope.lineage,
                        source_topic=message.topic,
                        source_partition=message.partition,
                        source_offset=message.offset,
                    )
                    event = dataclasses.replace(
                        event, envelope=dataclasses.replace(event.envelope, lineage=lineage)
                    )
                    view = seizure_view(event)
                    out_key = view.key.encode() if view else key
                    pending.sends = [
                        await io.send(self.versioned, out_key, io.encode(event), message.headers)
                    ]
                else:
                    pending.sends = [
                        await io.outcome(
                            event,
                            "dedupe-versions",
                            decision.outcome.value,
                            decision.reason,
                            source=message,
                        )
                    ]
                if after is not None and after != state:
                    window.set(pending, self.versions, key, dump_record_state(after))
                self._advance(event)
                if self.sweepers["versions"].due(message.partition):
                    horizon = self.watermark - self.replay_window
                    self._sweep(
                        self.versions,
                        message.partition,
                        _versions_expired,
                        horizon,
                        window,
                        pending,
                    )
                outcome = "forwarded" if decision.outcome.forwarded else decision.outcome.value
                pending.done = self._counted("dedupe-versions", started, outcome)
                await window.submit(pending)
        finally:
            await window.stop(drain_s=STOP_DRAIN_S)

    async def dedupe_cross_source(self, stream: StreamT[bytes]) -> None:
        io, source = self.io, manual(stream)
        window = self._window(source, "dedupe-cross-source")
        try:
            async for item in source.events():
                started = time.perf_counter()
                event = await self._read(window, item, "dedupe-cross-source")
                if event is None:
                    continue
                view = seizure_view(event)
                own_key = record_key(event).encode()
                headers = item.message.headers
                pending = Pending(item)
                if view is None:
                    pending.sends = [
                        await io.send(self.deduped, own_key, io.encode(event), headers)
                    ]
                    pending.done = self._counted("dedupe-cross-source", started, "forwarded")
                    await window.submit(pending)
                    continue
                key = item.message.key or view.key.encode()
                span = self.dedupe_window
                # Event time, not the wall clock: a replay of old input decides as it did.
                moment = event.envelope.ingest_time
                known = load_candidates(window.get(self.fingerprints, key))
                candidates = expire(known, moment, span)
                decision, after, sent = decide_cross_source(event, view, candidates, span)
                if decision.outcome.forwarded:
                    pending.sends = [await io.send(self.deduped, own_key, io.encode(sent), headers)]
                else:
                    pending.sends = [
                        await io.outcome(
                            event,
                            "dedupe-cross-source",
                            decision.outcome.value,
                            decision.reason,
                            related=decision.duplicate_of,
                        )
                    ]
                window.set(pending, self.fingerprints, key, dump_candidates(after))
                self._advance(event)
                partition = item.message.partition
                if self.sweepers["fingerprints"].due(partition):
                    horizon = self.watermark - self.dedupe_window
                    self._sweep(
                        self.fingerprints,
                        partition,
                        _fingerprints_expired,
                        horizon,
                        window,
                        pending,
                    )
                outcome = "forwarded" if decision.outcome.forwarded else decision.outcome.value
                pending.done = self._counted("dedupe-cross-source", started, outcome)
                await window.submit(pending)
        finally:
            await window.stop(drain_s=STOP_DRAIN_S)

    async def enrich(self, stream: StreamT[bytes]) -> None:
        io, source = self.io, manual(stream)
        window = self._window(source, "enrich")
        try:
            async for item in source.events():
                started = time.perf_counter()
                event = await self._read(window, item, "enrich")
                if event is None:
                    continue
                value = io.encode(event)
                keys = (
                    alert_keys(event.payload, self.persons)
                    if isinstance(event.payload, PoliceAlert)
                    else customs_keys(event, self.persons)
                )
                own_key = record_key(event).encode()
                headers = item.message.headers
                sends = [await io.send(self.enriched, own_key, io.encode(enrich(event)), headers)]
                sends += [
                    await io.send(self.watch_topic, str(k).encode(), value, headers)
                    for k in sorted(keys)
                ]
                done = self._counted("enrich", started, "forwarded")
                await window.submit(Pending(item, sends=sends, done=done))
        finally:
            await window.stop(drain_s=STOP_DRAIN_S)

    async def watch(self, stream: StreamT[bytes]) -> None:
        io, source = self.io, manual(stream)
        window = self._window(source, "watch")
        try:
            async for item in source.events():
                started = time.perf_counter()
                event = await self._read(window, item, "watch")
                if event is None:
                    continue
                key = item.message.key or b""
                kind, _, identifier = key.decode().partition(":")
                pending = Pending(item)
                watch_key = WatchKey(IdentifierKind(kind), identifier)
                self.watch_tables.split(window, pending, key)
                hits = self._join(event, watch_key, key, window, pending)
                hits = self._remember(event, key, hits, window, pending)
                self._advance(event)
                partition = item.message.partition
                if self.sweepers["watch"].due(partition):
                    # Deleted rows stay in the changelogs as tombstones.
                    self.watch_tables.sweep(window, pending, partition, self.watermark)
                pending.sends = [
                    await io.send(
                        self.enriched,
                        record_key(hit).encode(),
                        io.encode(hit),
                        item.message.headers,
                    )
                    for hit in hits
                ]
                pending.done = self._hits_counted(hits, started)
                await window.submit(pending)
        finally:
            await window.stop(drain_s=STOP_DRAIN_S)

    def _hits_counted(self, hits: list[Event], started: float) -> Callable[[], None]:
        made = [h for h in hits if h.envelope.operation is not Operation.ERASURE]
        outcome = "hit" if made else ("hit-erased" if hits else "no-hit")

        def count() -> None:
            for hit in made:
                if isinstance(hit.payload, WatchlistHit):
                    self.metrics.watchlist_hits.labels(hit.payload.direction.value).inc()
            self._count("watch", started, outcome)

        return count

    def _join(
        self,
        event: Event,
        watch_key: WatchKey,
        key: bytes,
        window: InFlight,
        pending: Pending,
    ) -> list[Event]:
        """Remember ``event`` under ``watch_key`` and return the hits it makes. The join
        sees this record's own entry alone, and the other side's group only when it has
        something to match (see pipelines.enrich.tables)."""
        tables = self.watch_tables
        own, other = tables.sides(event)
        after, hits = join(
            event,
            watch_key,
            tables.entry(window, own, key, record_key(event)),
            lambda: tables.entries(window, other, key),
            self.watch_window,
            self.io.encode,
            self._decode,
            persons=self.persons,
            held_until=self._held_until,
        )
        tables.keep(window, pending, event, key, after)
        return hits

    def _held_until(self, event: Event) -> date:
        return keep_until(event, self.policy)

    def _remember(
        self, event: Event, key: bytes, hits: list[Event], window: InFlight, pending: Pending
    ) -> list[Event]:
        """Keep the hits ``event`` made under its identifier; for an erasure, add the
        erasures of the hits remembered for its record (see pipelines.enrich.memory)."""
        tables = self.watch_tables
        if event.envelope.operation is Operation.ERASURE:
            memory = tables.memory(window, key)
            if not memory:
                return hits
            after, recalled = recall(memory, event, hits, self._decode)
            tables.forget(window, pending, key, set(memory) - set(after))
            return [*hits, *recalled]
        if not hits:
            return hits
        _, other = tables.sides(event)
        made = remember(
            {},
            event,
            tables.records(window, other, key),
            hits,
            self.io.encode,
            lambda h: keep_until(h, self.policy),
        )
        tables.remember(window, pending, key, made)
        return hits

    def _decode(self, encoded: bytes) -> Event:
        return self.io.read(_Message(encoded), check=False)

    def _advance(self, event: Event) -> None:
        self.watermark = max(self.watermark, event.envelope.ingest_time)

    def _sweep(  # noqa: PLR0917 - where, what and how old, and the event it goes with
        self,
        table: ConfirmedTable,
        partition: int,
        expired: Callable[[bytes, datetime], bool],
        horizon: datetime,
        window: InFlight,
        pending: Pending,
    ) -> None:
        """Delete this partition's entries older than ``horizon``, of those its expiry says
        have fallen due (see pipelines.sweep), each judged by its value counting updates
        still in flight, in order with the updates before them: a delete written ahead of an
        earlier update would be undone by it."""
        for key in _due(table, partition, self.watermark):
            value = window.get(table, key)
            if value is not None and expired(value, horizon):
                window.set(pending, table, key, None)

    # When an entry may fall due, from its value (see pipelines.sweep.Expiry).

    def _version_due(self, _key: bytes, value: bytes) -> datetime | None:
        state = load_record_state(value)
        return None if state is None else state.seen_at + self.replay_window

    def _fingerprint_due(self, _key: bytes, value: bytes) -> datetime | None:
        seen = [candidate.seen_at for candidate in load_candidates(value)]
        return max(seen) + self.dedupe_window if seen else datetime.min.replace(tzinfo=UTC)

    def _retention_due(self, _key: bytes, value: bytes) -> datetime | None:
        day = load_held(value).due_from(self.policy)
        return None if day is None else datetime.combine(day, datetime.min.time(), UTC)

    async def route(self, stream: StreamT[bytes]) -> None:
        io, source = self.io, manual(stream)
        window = self._window(source, "route")
        try:
            async for item in source.events():
                started = time.perf_counter()
                event = await self._read(window, item, "route")
                if event is None:
                    continue
                key = item.message.key or record_key(event).encode()
                held = load_held(window.get(self.recipients, key))
                decision = route_decision(event, self.policy, held.recipients)
                pending = Pending(item)
                if not decision.deliveries:
                    reasons = refusal_reasons(decision)
                    pending.sends = [await io.outcome(event, "route", "no-recipient", reasons)]
                    pending.done = self._counted("route", started, "no-recipient")
                else:
                    # Every audit record is on the record before any delivery is made: the
                    # deliveries are sent once the window saw the audits confirmed.
                    forms = [self.io.encode(d.event) for d in decision.deliveries]
                    pending.sends = await self._audits(event, decision, key, forms)
                    if decision.refusals:  # kept, though others receive it
                        reasons = refusal_reasons(decision)
                        pending.sends.append(await io.outcome(event, "route", "refused", reasons))
                    pending.follow_up = self._deliveries(decision, key, item, forms)
                    pending.done = self._delivered(decision, started)
                after = held_after(held, event, decision, self.policy)
                if after != held:
                    window.set(pending, self.recipients, key, dump_held(after))
                self._advance(event)
                if self.sweepers["route"].due(item.message.partition):
                    await self._retention_sweep(item, window, pending)
                await window.submit(pending)
        finally:
            await window.stop(drain_s=STOP_DRAIN_S)

    async def _retention_sweep(
        self, item: EventT[bytes], window: InFlight, pending: Pending
    ) -> None:
        """End the retention of this partition's records past their last day (event time),
        and remind owners of review dates that are near: each an audited notice, with its
        outcome, all with ``pending`` (see pipelines.route.retention). An ended record's
        entry is deleted."""
        today, partition, at = self.watermark.date(), item.message.partition, self.watermark
        due = [
            key
            for key in _due(self.recipients, partition, at)
            if load_held(window.get(self.recipients, key)).due(today, self.policy)
        ]
        if not due:
            return
        follow_ups = [pending.follow_up] if pending.follow_up else []
        sends = list(pending.sends)
        for key in due:
            held = load_held(window.get(self.recipients, key))
            if held.expired(today):
                decision, named = retention_decision(held, self.policy, at), erasure(held, at)
                verdict, after = "retention-ended", None
            else:
                decision, named = review_decision(held, self.policy, at), reminder(held, at)
                verdict = "review-due"
                after = dump_held(dataclasses.replace(held, reminded_for=held.review_date))
            forms = [self.io.encode(d.event) for d in decision.deliveries]
            if decision.deliveries:
                sends += await self._audits(decision.deliveries[0].event, decision, key, forms)
                follow_ups.append(self._deliveries(decision, key, item, forms))
            if named is not None:
                reasons = refusal_reasons(decision) or "notice sent"
                sends.append(await self.io.outcome(named, "route", verdict, reasons))
            window.set(pending, self.recipients, key, after)
        pending.sends = sends

        async def follow_up() -> list[Awaitable[Any]]:
            return [send for step in follow_ups for send in await step()]

        pending.follow_up = follow_up

    async def _audits(
        self, event: Event, decision: RouteDecision, key: bytes, forms: list[bytes]
    ) -> list[Awaitable[Any]]:
        decided_at = utc_now()
        return [
            await self.io.send(
                self.audit_topic,
                key,
                self.audits.encode(
                    to_avro(
                        audit_record(
                            event,
                            delivery,
                            channel=delivery.partner.topic,
                            decided_at=decided_at,
                            disclosed_by=self.settings.pipeline_app_id,
                            policy_digest=self.policy.digest,
                            content=form,
                        )
                    )
                ),
            )
            for delivery, form in zip(decision.deliveries, forms, strict=True)
        ]

    def _deliveries(
        self, decision: RouteDecision, key: bytes, item: EventT[bytes], forms: list[bytes]
    ) -> Callable[[], Awaitable[list[Awaitable[Any]]]]:
        async def deliver() -> list[Awaitable[Any]]:
            return [
                await self.io.send(
                    self.partner_topics[d.partner.id],
                    key,
                    form,
                    _with_delivery_headers(item.message.headers, d.event),
                )
                for d, form in zip(decision.deliveries, forms, strict=True)
            ]

        return deliver

    def _delivered(self, decision: RouteDecision, started: float) -> Callable[[], None]:
        def count() -> None:
            delivered_at = utc_now()
            for d in decision.deliveries:
                self.metrics.deliveries.labels(d.partner.id).inc()
                self.metrics.end_to_end_latency.labels(d.partner.id).observe(
                    (delivered_at - d.event.envelope.ingest_time).total_seconds()
                )
            self._count("route", started, "delivered")

        return count


def _with_delivery_headers(headers: Any, event: Event) -> list[tuple[str, bytes]]:
    """The input's headers (tracing) and the ones naming the delivered event."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    named = delivery_headers(event)
    names = {name for name, _ in named}
    return [*(pair for pair in pairs if pair[0] not in names), *named]


def _versions_expired(value: bytes, horizon: datetime) -> bool:
    state = load_record_state(value)
    return state is not None and state.seen_at < horizon


def _fingerprints_expired(value: bytes, horizon: datetime) -> bool:
    return all(candidate.seen_at < horizon for candidate in load_candidates(value))


def _due(table: ConfirmedTable, partition: int, now: datetime) -> list[bytes]:
    """The keys of ``partition`` that ``table``'s expiry says have fallen due at ``now``."""
    if table.expiry is None:
        return []
    return table.expiry.due(partition, now, table.get)


@dataclasses.dataclass(frozen=True)
class _Message:
    """Just enough of a Kafka message for StageIO.read: its value."""

    value: Any
