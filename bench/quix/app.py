"""The benchmark's peer: Liaison's dedupe, enrich and route built with Quix Streams.

What a Python team would write with Quix Streams instead of Faust: the same stages over the
same topics, calling the same decision functions (``pipelines.dedupe``, ``pipelines.enrich``,
``pipelines.route``), so that both give the same deliveries and the benchmark compares the
frameworks, not two readings of the rules. State lives in Quix's RocksDB stores (with their
changelog topics), one value per message key, as JSON text.

It is the peer, not a product: no metrics, no state sweeps, and a weaker guarantee than
Liaison's on one point that favours it: a delivery is produced together with its audit
record instead of after Kafka confirmed the audit.

Run by ``python -m bench --peer-python`` in its own environment (``make bench-peer``),
with the repository on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple

from quixstreams import Application, message_context
from quixstreams.models.serializers import Serializer

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, DELIVERY_AUDIT, EVENT, PIPELINE_OUTCOME
from liaison.errors import BadEventError
from liaison.identity import record_key
from liaison.kafka.topics import (
    AUDIT,
    DEAD_LETTERS,
    INGEST_TOPICS,
    PIPELINE_DEDUPED,
    PIPELINE_ENRICHED,
    PIPELINE_OUTCOMES,
    PIPELINE_VERSIONED,
    PIPELINE_WATCH,
)
from liaison.model import to_avro
from liaison.model.common import Event
from liaison.model.police import IdentifierKind, PoliceAlert
from liaison.policy import policy_of
from liaison.settings import Settings, load_settings
from liaison.timestamps import utc_now
from pipelines import records
from pipelines.dedupe.decide import decide_cross_source, decide_version, expire
from pipelines.dedupe.fingerprint import seizure_view
from pipelines.enrich.enrich import enrich
from pipelines.enrich.join import join
from pipelines.enrich.watchlist import PersonKeys, WatchKey, alert_keys, customs_keys
from pipelines.records import read_event
from pipelines.route.audit import audit_record
from pipelines.route.decide import refusal_reasons, route_decision
from pipelines.route.retention import held_after
from pipelines.state import (
    dump_candidates,
    dump_entries,
    dump_held,
    dump_record_state,
    load_candidates,
    load_entries,
    load_held,
    load_record_state,
)


class Out(NamedTuple):
    """One record a stage produces."""

    topic: str  # without the prefix
    key: bytes
    value: bytes


class _OutValue(Serializer):
    def __call__(self, value: Out, ctx: Any) -> bytes:
        return value.value


class Peer:
    def __init__(self, prefix: str, settings: Settings) -> None:
        self.prefix = prefix
        self.settings = settings
        self.policy = policy_of(settings)
        self.events = AvroCodec(EVENT)
        self.outcomes = AvroCodec(PIPELINE_OUTCOME)
        self.dead_letters = AvroCodec(DEAD_LETTER_SCHEMA)
        self.audits = AvroCodec(DELIVERY_AUDIT)
        self.dedupe_window = timedelta(seconds=settings.dedupe_window_s)
        self.watch_window = timedelta(seconds=settings.watch_window_s)
        self.persons = PersonKeys.from_settings(settings)

    # -- shared ---------------------------------------------------------------

    def read(self, value: bytes, *, check: bool = False) -> Event:
        return read_event(self.events, value, check=check)

    def encode(self, event: Event) -> bytes:
        return self.events.encode(to_avro(event))

    def dead_letter(self, value: bytes, key: bytes | None, stage: str, error: BadEventError) -> Out:
        context = message_context()
        place = (context.topic, context.partition, context.offset)
        letter = records.dead_letter(value, key, (), place, stage, error)
        encoded = self.dead_letters.encode(to_avro(letter))
        return Out(DEAD_LETTERS.name, key or b"", encoded)

    def outcome(
        self, event: Event, stage: str, outcome: str, reason: str, related: str | None = None
    ) -> Out:
        record = records.outcome(event, stage, outcome, reason, related)
        value = self.outcomes.encode(to_avro(record))
        return Out(PIPELINE_OUTCOMES.name, records.outcome_key(event), value)

    # -- the stages -----------------------------------------------------------

    def dedupe_versions(self, value: bytes, key: bytes | None, state: Any) -> list[Out]:
        try:
            if not key:
                raise BadEventError("MissingKey", "an ingest record needs its source record key")
            event = self.read(value, check=True)
        except BadEventError as exc:
            return [self.dead_letter(value, key, "dedupe-versions", exc)]
        context = message_context()
        lineage = dataclasses.replace(
            event.envelope.lineage,
            source_topic=context.topic,
            source_partition=context.partition,
            source_offset=context.offset,
        )
        event = dataclasses.replace(
            event, envelope=dataclasses.replace(event.envelope, lineage=lineage)
        )
        before = load_record_state(_bytes(state.get("versions")))
        decision, after = decide_version(before, event)
        if after is not None and after != before:
            state.set("versions", dump_record_state(after).decode())
        if not decision.outcome.forwarded:
            return [self.outcome(event, "dedupe-versions", decision.outcome.value, decision.reason)]
        view = seizure_view(event)
        out_key = view.key.encode() if view else key
        return [Out(PIPELINE_VERSIONED.name, out_key, self.encode(event))]

    def dedupe_cross_source(self, value: bytes, key: bytes | None, state: Any) -> list[Out]:
        try:
            event = self.read(value)
        except BadEventError as exc:
            return [self.dead_letter(value, key, "dedupe-cross-source", exc)]
        view = seizure_view(event)
        own_key = record_key(event).encode()
        if view is None:
            return [Out(PIPELINE_DEDUPED.name, own_key, self.encode(event))]
        moment = event.envelope.ingest_time
        known = load_candidates(_bytes(state.get("fingerprints")))
        candidates = expire(known, moment, self.dedupe_window)
        decision, after, sent = decide_cross_source(event, view, candidates, self.dedupe_window)
        state.set("fingerprints", dump_candidates(after).decode())
        if decision.outcome.forwarded:
            return [Out(PIPELINE_DEDUPED.name, own_key, self.encode(sent))]
        return [
            self.outcome(
                event,
                "dedupe-cross-source",
                decision.outcome.value,
                decision.reason,
                related=decision.duplicate_of,
            )
        ]

    def enrich(self, value: bytes, key: bytes | None) -> list[Out]:
        try:
            event = self.read(value)
        except BadEventError as exc:
            return [self.dead_letter(value, key, "enrich", exc)]
        keys = (
            alert_keys(event.payload, self.persons)
            if isinstance(event.payload, PoliceAlert)
            else customs_keys(event, self.persons)
        )
        own_key = record_key(event).encode()
        outs = [Out(PIPELINE_ENRICHED.name, own_key, self.encode(enrich(event)))]
        outs += [Out(PIPELINE_WATCH.name, str(k).encode(), value) for k in sorted(keys)]
        return outs

    def watch(self, value: bytes, key: bytes | None, state: Any) -> list[Out]:
        try:
            event = self.read(value)
        except BadEventError as exc:
            return [self.dead_letter(value, key, "watch", exc)]
        kind, _, identifier = (key or b"").decode().partition(":")
        own, other = (
            ("alerts", "seen") if isinstance(event.payload, PoliceAlert) else ("seen", "alerts")
        )
        after, hits = join(
            event,
            WatchKey(IdentifierKind(kind), identifier),
            load_entries(_bytes(state.get(own))),
            lambda: load_entries(_bytes(state.get(other))),
            self.watch_window,
            self.encode,
            self.read,
            persons=self.persons,
        )
        state.set(own, dump_entries(after).decode())
        return [
            Out(PIPELINE_ENRICHED.name, record_key(hit).encode(), self.encode(hit)) for hit in hits
        ]

    def route(self, value: bytes, key: bytes | None, state: Any) -> list[Out]:
        try:
            event = self.read(value)
        except BadEventError as exc:
            return [self.dead_letter(value, key, "route", exc)]
        key = key or record_key(event).encode()
        held = load_held(_bytes(state.get("recipients")))
        decision = route_decision(event, self.policy, held.recipients)
        after = held_after(held, event, decision, self.policy)
        if after != held:
            state.set("recipients", dump_held(after).decode())
        if not decision.deliveries:
            return [self.outcome(event, "route", "no-recipient", refusal_reasons(decision))]
        decided_at = utc_now()
        outs = []
        if decision.refusals:  # kept, though others receive it
            outs.append(self.outcome(event, "route", "refused", refusal_reasons(decision)))
        forms = [self.encode(d.event) for d in decision.deliveries]
        for delivery, form in zip(decision.deliveries, forms, strict=True):
            audit = audit_record(
                event,
                delivery,
                channel=delivery.partner.topic,
                decided_at=decided_at,
                disclosed_by=self.settings.pipeline_app_id,
                policy_digest=self.policy.digest,
                content=form,
            )
            outs.append(Out(AUDIT.name, key, self.audits.encode(to_avro(audit))))
        outs += [
            Out(d.partner.topic, key, form)
            for d, form in zip(decision.deliveries, forms, strict=True)
        ]
        return outs


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()
    settings = load_settings()
    peer = Peer(args.prefix, settings)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        processing_guarantee="at-least-once",
        loglevel="WARNING",
        producer_extra_config={"enable.idempotence": True, "acks": "all", "linger.ms": 5},
    )
    prefix = args.prefix
    outputs: dict[str, Any] = {}

    def output(value: Out, _key: Any, _timestamp: int, _headers: Any) -> Any:
        topic = outputs.get(value.topic)
        if topic is None:
            topic = outputs[value.topic] = app.topic(
                prefix + value.topic, value_serializer=_OutValue(), key_serializer="bytes"
            )
        return topic

    def stage(topic: str, step: Callable[..., list[Out]], *, stateful: bool) -> None:
        source = app.topic(prefix + topic, value_deserializer="bytes", key_deserializer="bytes")
        frame = app.dataframe(source)
        if stateful:
            frame = frame.apply(
                lambda value, key, _ts, _headers, state: step(value, key, state),
                stateful=True,
                expand=True,
                metadata=True,
            )
        else:
            frame = frame.apply(
                lambda value, key, _ts, _headers: step(value, key), expand=True, metadata=True
            )
        # Produced records carry the time they are made, as Liaison's do (Quix would
        # otherwise pass the input's timestamp on, hiding the time spent).
        frame = frame.set_timestamp(lambda *_: int(time.time() * 1000))
        frame.to_topic(output, key=lambda value: value.key)

    for spec in INGEST_TOPICS:
        stage(spec.name, peer.dedupe_versions, stateful=True)
    stage(PIPELINE_VERSIONED.name, peer.dedupe_cross_source, stateful=True)
    stage(PIPELINE_DEDUPED.name, peer.enrich, stateful=False)
    stage(PIPELINE_WATCH.name, peer.watch, stateful=True)
    stage(PIPELINE_ENRICHED.name, peer.route, stateful=True)
    app.run()


if __name__ == "__main__":
    main()
