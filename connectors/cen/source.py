"""The CEN source: CEN exports dropped in an inbox become seizure events on ``ingest.cen``.

A national system writes ``<batch>.seizures.csv`` (and for nCEN ``<batch>.persons.csv``),
or the same data as one ``<batch>.seizures.xml`` (:mod:`connectors.cen.xmlexport`), each
complete before it appears (write elsewhere or as ``.part``, then rename). The source
takes finished files in name order. Each row becomes an event, or a dead letter carrying the
row's own text and the reason. Its position (the last line whose event Kafka confirmed) is
kept in Kafka every ``checkpoint_rows`` rows and at the end of the file, so a source killed
mid-file resumes there: rows after the last checkpoint may be sent twice, none is skipped.
A finished file moves to the archive with ``<batch>.result.json``: rows accepted, and each
rejected row's line and reason.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry

from connectors.catalogue import Running
from connectors.cen.format import CenDefaults, RowResult, read_export
from connectors.cen.xmlexport import read_xml_export
from connectors.positions import Position, PositionStore
from liaison.avro.codec import AvroCodec
from liaison.avro.store import DEAD_LETTER_SCHEMA, EVENT
from liaison.deadletters import dead_letter
from liaison.health import Health
from liaison.identity import record_key
from liaison.kafka.client import KafkaProducer, producer_config, resolve_bootstrap
from liaison.kafka.topics import DEAD_LETTERS, INGEST_CEN
from liaison.metrics import ConnectorMetrics
from liaison.model import to_avro
from liaison.settings import Settings
from liaison.timestamps import utc_now
from liaison.validation import validate

__all__ = ["CenSource", "FileResult"]

log = logging.getLogger(__name__)
NAME = "cen-source"
_CSV, _XML = ".seizures.csv", ".seizures.xml"
# A dead letter keeps the rejected record's own text; a record (or a whole refused XML
# document) larger than this is cut, and the reason says so: the file is in the archive.
_MAX_ORIGINAL_BYTES = 512 * 1024


@dataclass
class FileResult:
    file: str
    accepted: int = 0
    rejected: list[dict[str, object]] = field(default_factory=list)


class CenSource:
    """Reads the inbox until stopped; one instance per inbox."""

    name = NAME

    def __init__(
        self,
        settings: Settings,
        *,
        inbox: Path,
        archive: Path,
        checkpoint_rows: int = 100,
        defaults: CenDefaults | None = None,
        metrics: ConnectorMetrics | None = None,
        health: Health | None = None,
    ) -> None:
        self.settings = settings
        self.health = health or Health()
        self.metrics = metrics or ConnectorMetrics.create(CollectorRegistry())
        self.inbox, self.archive = inbox, archive
        self.checkpoint_rows = checkpoint_rows
        self.defaults = defaults or CenDefaults()
        bootstrap = resolve_bootstrap(settings)
        self.producer = KafkaProducer(producer_config(settings, bootstrap))
        self.positions = PositionStore(settings, bootstrap, NAME)
        self.events, self.letters = AvroCodec(EVENT), AvroCodec(DEAD_LETTER_SCHEMA)
        prefix = settings.topic_prefix
        self.ingest_topic = INGEST_CEN.full_name(prefix)
        self.dead_topic = DEAD_LETTERS.full_name(prefix)

    def run(self, stop: threading.Event, poll_s: float = 1.0) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.archive.mkdir(parents=True, exist_ok=True)
        try:
            while not stop.is_set():
                self.health.beat()
                exports = [*self.inbox.glob(f"*{_CSV}"), *self.inbox.glob(f"*{_XML}")]
                for path in sorted(exports, key=lambda p: p.name):
                    if stop.is_set():
                        break
                    self.process(path, stop)
                stop.wait(poll_s)
        finally:
            self.producer.close()

    def process(self, path: Path, stop: threading.Event | None = None) -> FileResult | None:
        """Send one file's rows from its stored position; archive it when done.
        Returns None when stopped before the end of the file."""
        self.archive.mkdir(parents=True, exist_ok=True)
        name = path.name
        position = self.positions.get(name)
        result = self._previous(name)
        persons = _persons_path(path) if name.endswith(_CSV) else None
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        rows: Iterator[RowResult]
        if name.endswith(_XML):
            rows = read_xml_export(text, ingest_time=utc_now(), defaults=self.defaults)
        else:
            rows = read_export(
                text,
                persons.read_text(encoding="utf-8") if persons and persons.exists() else None,
                ingest_time=utc_now(),
                defaults=self.defaults,
            )
        since_checkpoint = 0
        last_line = position.line
        for row in rows:
            if row.line <= position.line:
                continue
            if stop is not None and stop.is_set():
                self._checkpoint(name, last_line, result, finished=False)
                return None
            problems = validate(row.event) if row.event is not None else []
            if row.event is not None and not problems:
                key = record_key(row.event).encode()
                self.producer.produce(
                    self.ingest_topic, self.events.encode(to_avro(row.event)), key=key
                )
                result.accepted += 1
                self.metrics.records.labels(NAME, "accepted").inc()
            else:
                reason = str(row.error) if row.error else "; ".join(map(str, problems))
                kind = "MappingError" if row.error else "ValidationError"
                self._dead_letter(name, row, lines, kind, reason)
                self.metrics.records.labels(NAME, "rejected").inc()
                self.metrics.dead_letters.labels(NAME, kind).inc()
                result.rejected.append(
                    {"line": row.line, "record_id": row.record_id, "reason": reason}
                )
            last_line = row.line
            since_checkpoint += 1
            if since_checkpoint >= self.checkpoint_rows:
                self._checkpoint(name, last_line, result, finished=False)
                self.health.beat()
                since_checkpoint = 0
        self._checkpoint(name, max(last_line, len(lines)), result, finished=True)
        self._archive(path, persons, result)
        return result

    def _dead_letter(
        self, name: str, row: RowResult, lines: list[str], kind: str, reason: str
    ) -> None:
        first, last = row.lines
        original = "\n".join(lines[first - 1 : last]).encode()
        if len(original) > _MAX_ORIGINAL_BYTES:
            original = original[:_MAX_ORIGINAL_BYTES]
            reason += f" (text cut to {_MAX_ORIGINAL_BYTES} bytes; the file is in the archive)"
        letter = dead_letter(
            value=original,
            stage=NAME,
            kind=kind,
            reason=reason,
            source=f"{NAME}:{name}",
            offset=first,
        )
        self.producer.produce(
            self.dead_topic, self.letters.encode(to_avro(letter)), key=name.encode()
        )

    def _checkpoint(self, name: str, line: int, result: FileResult, *, finished: bool) -> None:
        self.producer.flush()  # the events up to ``line`` are in Kafka before we say so
        self.positions.put(self.producer, name, Position(line, finished))
        self._save_partial(name, result)

    def _partial_path(self, name: str) -> Path:
        return self.archive / f".{name}.partial.json"

    def _previous(self, name: str) -> FileResult:
        """The counts of an interrupted earlier run over the same file, to go on from."""
        partial = self._partial_path(name)
        if partial.exists():
            raw = json.loads(partial.read_text())
            return FileResult(name, raw["accepted"], raw["rejected"])
        return FileResult(name)

    def _save_partial(self, name: str, result: FileResult) -> None:
        partial = self._partial_path(name)
        tmp = partial.with_suffix(".tmp")
        tmp.write_text(json.dumps({"accepted": result.accepted, "rejected": result.rejected}))
        tmp.replace(partial)

    def _archive(self, path: Path, persons: Path | None, result: FileResult) -> None:
        stem = path.name.removesuffix(_CSV).removesuffix(_XML)
        report = self.archive / f"{stem}.result.json"
        report.write_text(
            json.dumps(
                {
                    "file": path.name,
                    "accepted": result.accepted,
                    "rejected": result.rejected,
                },
                indent=2,
            )
            + "\n"
        )
        for source in (path, persons):
            if source is not None and source.exists():
                shutil.move(str(source), self.archive / source.name)
        self._partial_path(path.name).unlink(missing_ok=True)
        self.metrics.files.labels(NAME).inc()
        log.info("%s: %d accepted, %d rejected", path.name, result.accepted, len(result.rejected))


def _persons_path(path: Path) -> Path:
    """The persons file of a CSV export (an XML export nests its persons)."""
    return path.with_name(path.name.removesuffix(_CSV) + ".persons.csv")


def run(running: Running) -> None:
    """``liaison connector run cen-source``: the inbox until stopped."""
    settings = running.settings
    inbox = settings.cen_inbox or settings.state_dir / "cen" / "inbox"
    archive = settings.cen_archive or settings.state_dir / "cen" / "archive"
    running.say(f"cen-source: watching {inbox}, archiving to {archive}")
    CenSource(
        settings, inbox=inbox, archive=archive, metrics=running.metrics, health=running.health
    ).run(running.stop)
