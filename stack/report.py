"""What the local stack reports: the figures of a run, what comes out of the pipeline, and
each connector's work as seen from its external side."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Message

from liaison.avro.codec import AvroCodec
from liaison.avro.store import DELIVERY_AUDIT, EVENT, PIPELINE_OUTCOME
from liaison.kafka.topics import AUDIT, DEAD_LETTERS, PIPELINE_OUTCOMES
from liaison.policy import RoutingPolicy
from liaison.timestamps import utc_now
from stack.standins import NativeSender, PartnerIntake

__all__ = ["DemoReport", "Observer", "connector_lines", "connectors_line"]


@dataclass
class DemoReport:
    sent: int = 0
    failed: int = 0  # records the sources did not take (no answer, or a server error)
    deliveries: Counter[str] = field(default_factory=Counter)  # per partner
    audits: int = 0
    hits: set[str] = field(default_factory=set)
    dead_letters: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # per outcome
    refusals: int = 0  # events delivered to some partners and refused to others
    # The most recent latencies only, so a long run keeps a fixed footprint.
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    started: float = field(default_factory=time.monotonic)
    last_output: float = field(default_factory=time.monotonic)
    connectors: list[str] = field(default_factory=list)  # each connector's figures

    @property
    def received(self) -> int:
        return sum(self.deliveries.values()) + self.dead_letters + sum(self.dropped.values())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        latency = ""
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            p50 = statistics.median(ordered)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            latency = f"  ingest to partner topic p50 {p50:.0f} ms, p99 {p99:.0f} ms"
        delivered = sum(self.deliveries.values())
        return (
            f"[{elapsed:6.1f}s] in {self.sent} ({self.sent / elapsed:.0f}/s, "
            f"{self.failed} failed)  out {delivered} deliveries ({delivered / elapsed:.0f}/s), "
            f"{sum(self.dropped.values())} dropped, {self.dead_letters} dead letters, "
            f"{len(self.hits)} hits{latency}"
        )

    def summary(self) -> list[str]:
        lines = [
            "Deliveries per partner: "
            + (
                ", ".join(f"{partner} {n}" for partner, n in sorted(self.deliveries.items()))
                or "none"
            )
        ]
        lines.append(f"Audit records: {self.audits} (one per delivery)")
        lines.append(
            "Dropped by the pipeline: "
            + (", ".join(f"{outcome} {n}" for outcome, n in self.dropped.most_common()) or "none")
        )
        lines.append(f"Watchlist hits: {len(self.hits)}; dead letters: {self.dead_letters}")
        lines.append(
            f"Delivered to some partners and refused to others (reasons on pipeline.outcomes): "
            f"{self.refusals}"
        )
        if self.connectors:
            lines.append("Connectors:")
            lines.extend("  " + line for line in self.connectors)
        return lines


def connectors_line(
    sender: NativeSender, intake: PartnerIntake, archive: Path, outbox: Path
) -> str:
    """The connectors at a glance, for the running report."""
    posts = sum(sum(answers.values()) for answers in sender.figures.answers.values())
    archived = len(list(archive.glob("*.result.json")))
    uploads = len(list(outbox.glob("*.manifest.json")))
    partners = ", ".join(f"{e} {f.kept}" for e, f in sorted(intake.figures.items()))
    return (
        f"           connectors: {sender.figures.files} CEN files dropped, {archived} archived; "
        f"{posts} HTTP records sent; {uploads} CEN upload files; at partner endpoints: {partners}"
    )


def connector_lines(
    sender: NativeSender, intake: PartnerIntake, archive: Path, outbox: Path
) -> list[str]:
    """What each connector did, as seen from its external side."""
    figures = sender.figures
    results = [json.loads(p.read_text()) for p in sorted(archive.glob("*.result.json"))]
    xml = sum(1 for r in results if str(r["file"]).endswith(".xml"))
    lines = [
        f"cen-source      {figures.files} export files dropped, {len(results)} archived "
        f"({len(results) - xml} CSV, {xml} XML): "
        f"{sum(r['accepted'] for r in results)} rows accepted, "
        f"{sum(len(r['rejected']) for r in results)} rejected with line and reason"
    ]
    for system in ("cisplus", "police"):
        answers = figures.answers.get(system, Counter())
        line = f"{system + '-source':15} {sum(answers.values())} POSTs: " + (
            ", ".join(f"{status} x{n}" for status, n in sorted(answers.items())) or "none"
        )
        if system == "police" and figures.bulk:
            bulk = figures.bulk
            line += (
                f"; watchlist bulk import: {bulk['lines']} lines, {bulk['accepted']} accepted, "
                f"{bulk['rejected']} rejected"
            )
        lines.append(line)
    manifests = [json.loads(p.read_text()) for p in outbox.glob("*.manifest.json")]
    lines.append(
        f"cen-sink        {len(manifests)} upload files with manifests in {outbox}, "
        f"{sum(m['rows'] for m in manifests)} rows"
    )
    for endpoint, got in sorted(intake.figures.items()):
        latency = ""
        if got.latencies_ms:
            ordered = sorted(got.latencies_ms)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            latency = (
                f", ingest to partner p50 {statistics.median(ordered):.0f} ms, p99 {p99:.0f} ms"
            )
        lines.append(
            f"http-sink       {endpoint}: {got.kept} events received once each "
            f"({got.repeats} repeats answered, {got.refused} refused){latency}"
        )
    return lines


class Observer:
    """Counts what comes out of the pipeline: deliveries, audits, dead letters, drops."""

    def __init__(self, prefix: str, policy: RoutingPolicy, report: DemoReport) -> None:
        self.report = report
        self.partners = {prefix + p.topic: p.id for p in policy.partners}
        self.audit_topic = AUDIT.full_name(prefix)
        self.dead_topic = DEAD_LETTERS.full_name(prefix)
        self.outcome_topic = PIPELINE_OUTCOMES.full_name(prefix)
        self.audits, self.outcomes = AvroCodec(DELIVERY_AUDIT), AvroCodec(PIPELINE_OUTCOME)
        self.events = AvroCodec(EVENT)

    @property
    def topics(self) -> list[str]:
        return [*self.partners, self.audit_topic, self.dead_topic, self.outcome_topic]

    def __call__(self, message: Message) -> None:
        report = self.report
        topic = message.topic() or ""
        value = message.value() or b""
        report.last_output = time.monotonic()
        if topic in self.partners:
            report.deliveries[self.partners[topic]] += 1
            ingested = self.events.decode(value)["envelope"]["ingest_time"]
            report.latencies_ms.append((utc_now() - ingested).total_seconds() * 1000)
        elif topic == self.audit_topic:
            report.audits += 1
            audit = self.audits.decode(value)
            if audit["source_system"] == "LIAISON":
                report.hits.add(str(audit["event_id"]))
        elif topic == self.dead_topic:
            report.dead_letters += 1
        elif topic == self.outcome_topic:
            verdict = self.outcomes.decode(value)["outcome"]
            if verdict == "refused":  # some partners refused, others received: not a drop
                report.refusals += 1
            else:
                report.dropped[verdict] += 1
