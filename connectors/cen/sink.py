"""The CEN sink: what routing sends to CEN becomes upload files in CEN's export layout.

It gathers records for up to ``max_age_s`` seconds or ``max_rows`` rows, then for each
partition of the CEN partner topic among them writes
``upload-p<partition>-<first offset>-<last offset>.seizures.csv`` to the outbox, under a
temporary name and then renamed, with a ``.manifest.json`` beside it (rows, SHA-256 of the
file, the offsets it covers). Offsets are stored only after both are in place, so a sink
stopped at any moment writes those rows again when it restarts (perhaps cut into other
files: CEN recognises a record by id and version), and never leaves a gap. An event that
still carries personal data is refused, whatever routing did: it goes to the dead-letter
topic, because CEN is non-nominal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from connectors.catalogue import Running
from connectors.cen.format import write_export
from connectors.contract import SinkRunner, SinkTask
from liaison.errors import DeliveryRefusedError
from liaison.health import Health
from liaison.metrics import ConnectorMetrics
from liaison.model.common import Event
from liaison.model.customs import Seizure
from liaison.model.exchange import RestrictionNotice
from liaison.settings import Settings

__all__ = ["CenOutbox", "CenSink"]

log = logging.getLogger(__name__)
NAME = "cen-sink"


class CenOutbox(SinkTask):
    """Keeps seizures per partition and writes them as upload files with manifests."""

    name = NAME

    def __init__(
        self,
        *,
        topic: str,
        outbox: Path,
        max_rows: int,
        max_age_s: float,
        metrics: ConnectorMetrics,
    ) -> None:
        self.topic, self.outbox, self.metrics = topic, outbox, metrics
        self.max_rows, self.max_age_s = max_rows, max_age_s
        self._rows: dict[int, list[tuple[int, Event]]] = defaultdict(list)
        self._count = 0
        self._oldest = 0.0
        outbox.mkdir(parents=True, exist_ok=True)

    def put(self, event: Event, message: Message) -> None:
        if isinstance(event.payload, RestrictionNotice):
            # Loud, not lost: the dead letter says which record WCO-CEN must restrict or erase.
            raise DeliveryRefusedError(
                "the CEN upload layout has no restriction notice: tell WCO-CEN by hand to "
                f"{event.payload.action.value.lower()} its copy",
                "RestrictionNoticeUndeliverable",
            )
        if not isinstance(event.payload, Seizure):
            raise DeliveryRefusedError("the CEN upload layout carries seizures only", "NotASeizure")
        if event.payload.persons or event.envelope.data_subject_categories:
            raise DeliveryRefusedError(
                "CEN is non-nominal: the event carries personal data", "PersonalDataRefused"
            )
        if not self._count:
            self._oldest = time.monotonic()
        self._rows[message.partition() or 0].append((message.offset() or 0, event))
        self._count += 1

    def flush_due(self) -> bool:
        return self._count >= self.max_rows or time.monotonic() - self._oldest >= self.max_age_s

    def flush(self) -> None:
        for partition, rows in sorted(self._rows.items()):
            self._write(partition, rows[0][0], rows[-1][0], [event for _, event in rows])
        self._rows.clear()
        self._count = 0

    def _write(self, partition: int, first: int, last: int, events: list[Event]) -> None:
        stem = f"upload-p{partition:02d}-{first:012d}-{last:012d}"
        seizures, _persons = write_export(events)
        data = seizures.encode("utf-8")
        target = self.outbox / f"{stem}.seizures.csv"
        partial = target.with_suffix(".csv.part")
        partial.write_bytes(data)
        partial.replace(target)
        manifest = {
            "file": target.name,
            "rows": len(events),
            "sha256": hashlib.sha256(data).hexdigest(),
            "topic": self.topic,
            "partition": partition,
            "first_offset": first,
            "last_offset": last,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        manifest_path = self.outbox / f"{stem}.manifest.json"
        tmp = manifest_path.with_suffix(".json.part")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(manifest_path)
        self.metrics.files.labels(NAME).inc()
        log.info("%s: %d rows", target.name, len(events))


class CenSink:
    """The CEN partner topic written to the outbox (the runner plus :class:`CenOutbox`)."""

    name = NAME

    def __init__(
        self,
        settings: Settings,
        *,
        topic: str,
        outbox: Path,
        partner: str = "WCO-CEN",
        max_rows: int = 1000,
        max_age_s: float = 5.0,
        metrics: ConnectorMetrics | None = None,
        health: Health | None = None,
    ) -> None:
        self.outbox = outbox
        metrics = metrics or ConnectorMetrics.create(CollectorRegistry())
        task = CenOutbox(
            topic=topic, outbox=outbox, max_rows=max_rows, max_age_s=max_age_s, metrics=metrics
        )
        self.runner = SinkRunner(
            settings, task, topic=topic, partner=partner, metrics=metrics, health=health
        )

    def run(self, stop: threading.Event) -> None:
        self.runner.run(stop)


def run(running: Running) -> None:
    """``liaison connector run cen-sink``: the CEN partner's topic into the outbox."""
    settings = running.settings
    cen = next(p for p in running.policy.partners if p.kind == "cen")
    topic = settings.topic_prefix + cen.topic
    outbox = settings.cen_outbox or settings.state_dir / "cen" / "outbox"
    running.say(f"cen-sink: writing {topic} to {outbox}")
    CenSink(
        settings,
        topic=topic,
        outbox=outbox,
        partner=cen.id,
        metrics=running.metrics,
        health=running.health,
    ).run(running.stop)
