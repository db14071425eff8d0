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

import codecs
import contextlib
import errno
import hashlib
import io
import itertools
import json
import logging
import os
import shutil
import stat
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from prometheus_client import CollectorRegistry

from connectors.catalogue import Running
from connectors.cen.format import CenDefaults, RowResult, read_export
from connectors.cen.xmlexport import read_xml_export
from connectors.contract import Checkpoint, Decision, SourceRecord, SourceRunner, SourceTask
from connectors.positions import Position, PositionStore
from liaison.errors import MappingError
from liaison.health import Health
from liaison.kafka.client import KafkaProducer, producer_config, resolve_bootstrap
from liaison.kafka.topics import DEAD_LETTERS, INGEST_CEN
from liaison.metrics import ConnectorMetrics
from liaison.settings import Settings
from liaison.timestamps import utc_now

__all__ = ["CenSource", "FileResult"]

log = logging.getLogger(__name__)
NAME = "cen-source"
_CSV, _XML = ".seizures.csv", ".seizures.xml"
# A dead letter keeps the rejected record's own text; a record (or a whole refused XML
# document) larger than this is cut, and the reason says so: the file is in the archive.
_MAX_ORIGINAL_BYTES = 512 * 1024
_REFUSED = "refused"  # the stored digest of a file refused whole (not taken in)
_TAKEN_BEFORE = "a batch of this name was taken in before{}: a duplicate batch is refused"


@dataclass
class FileResult:
    file: str
    accepted: int = 0
    rejected: list[dict[str, object]] = field(default_factory=list)


@dataclass
class _OpenFile:
    """The export being read, and the report of what became of its rows."""

    path: Path
    persons: Path | None
    result: FileResult
    # The last line the report has counted: a restart re-reads from the stored position,
    # which may lie before it, and must not count those rows twice.
    counted_through: int = 0


class CenInbox(SourceTask):
    """The rows of the inbox's finished exports, in name order, from each file's stored
    position on; a file is archived with its report once all its rows are in Kafka."""

    name = NAME

    def __init__(
        self,
        *,
        inbox: Path,
        archive: Path,
        positions: PositionStore,
        producer: KafkaProducer,
        defaults: CenDefaults,
        metrics: ConnectorMetrics,
        max_file_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.inbox, self.archive, self.positions = inbox, archive, positions
        self.producer, self.defaults, self.metrics = producer, defaults, metrics
        self.max_file_bytes = max_file_bytes
        self._open: dict[str, _OpenFile] = {}

    def poll(self, stop: threading.Event) -> Iterator[SourceRecord | Checkpoint]:
        exports = [*self.inbox.glob(f"*{_CSV}"), *self.inbox.glob(f"*{_XML}")]
        for path in sorted(exports, key=lambda p: p.name):
            if stop.is_set():
                return
            yield from self.file(path, stop)

    def file(self, path: Path, stop: threading.Event) -> Generator[SourceRecord | Checkpoint]:
        """One export's rows from its stored position, then the checkpoint that finishes
        it (none when stopped before its end). A file that may not be read (not a regular
        file, over the size cap, not UTF-8) or that repeats a batch already taken in is
        refused whole: one dead letter, and the file archived with the reason. The files
        are read as streams: a first pass for the digest and the UTF-8 check, then the rows
        (the persons of an nCEN export indexed in a private file beside the archive)."""
        self.archive.mkdir(parents=True, exist_ok=True)
        name = path.name
        position = self.positions.get(name)
        persons = _persons_path(path) if name.endswith(_CSV) else None
        with contextlib.ExitStack() as files:
            try:
                export = files.enter_context(_open_regular(path, self.max_file_bytes))
                digest = _scan(export, self.max_file_bytes)
                persons_file = None
                if persons is not None and os.path.lexists(persons):
                    persons_file = files.enter_context(_open_regular(persons, self.max_file_bytes))
                    _scan(persons_file, self.max_file_bytes)
            except _RefusedFileError as refused:
                yield from self._refuse(path, persons, refused.reason, refused.original, position)
                return
            reason = self._taken_before(name, position, digest)
            if reason is not None:
                yield from self._refuse(path, persons, reason, _beginning(export), position)
                return
            self._open[name] = _OpenFile(path, persons, *self._previous(name))
            text = files.enter_context(_text(export))
            persons_text = files.enter_context(_text(persons_file)) if persons_file else None
            rows: Iterator[RowResult]
            if name.endswith(_XML):
                rows = read_xml_export(text, ingest_time=utc_now(), defaults=self.defaults)
            else:
                rows = read_export(
                    text,
                    persons_text,
                    ingest_time=utc_now(),
                    defaults=self.defaults,
                    scratch=self.archive / f".{name}.persons.db",
                )
            last_line = position.line
            for row in rows:
                last_line = max(last_line, row.lines[1])
                if row.line <= position.line:
                    continue
                if stop.is_set():
                    return
                yield self._record(name, row, digest)
        # After the files are closed: the runner archives the file at this checkpoint.
        yield Checkpoint((name, Position(last_line, finished=True, digest=digest)))

    def _taken_before(self, name: str, position: Position, digest: str) -> str | None:
        """Why this file repeats a batch taken in before, if it does: other content under
        a name already finished, or under way (a replaced file would otherwise go on from
        the other one's position, its first rows never read), or the same content that is
        in the archive already. (The same content not archived yet is a run that stopped
        between finishing and archiving: it is finished now, not refused.)"""
        if position.digest == _REFUSED:
            return None  # refused whole before: it may be sent again
        if not position.finished:
            other = position.line > 0 and position.digest not in (None, digest)
            return _TAKEN_BEFORE.format(" in part, with other content") if other else None
        if position.digest is not None and position.digest != digest:
            return _TAKEN_BEFORE.format(" with other content")
        return _TAKEN_BEFORE.format("") if self._archived(name, position, digest) else None

    def _archived(self, name: str, position: Position, digest: str) -> bool:
        """Whether the archive holds this content under this name already."""
        if position.digest is None:  # a position kept before digests were
            return os.path.lexists(self.archive / name)
        for archived in _copies(self.archive / name):
            try:
                with _open_regular(archived, self.max_file_bytes) as file:
                    if _scan(file, self.max_file_bytes) == digest:
                        return True
            except _RefusedFileError:
                continue  # a link, an oversized file, not UTF-8: refused before, not that batch
        return False

    def _refuse(
        self,
        path: Path,
        persons: Path | None,
        reason: str,
        original: bytes,
        position: Position,
    ) -> Iterator[SourceRecord | Checkpoint]:
        """One dead letter for a file refused whole, then the checkpoint that archives it
        (the stored position of an earlier batch of the name is kept)."""
        name = path.name
        kept = persons if persons is not None and os.path.lexists(persons) else None
        self._open[name] = _OpenFile(path, kept, FileResult(name))
        note = ""
        if len(original) > _MAX_ORIGINAL_BYTES:
            original = original[:_MAX_ORIGINAL_BYTES]
            note = f" (text cut to {_MAX_ORIGINAL_BYTES} bytes; the file is in the archive)"
        log.warning("%s: refused: %s", name, reason)
        # Finished by this one record: a batch taken in before keeps its stored position.
        done = position if position.finished else Position(0, finished=True, digest=_REFUSED)
        yield SourceRecord(
            original=original,
            place=f"{NAME}:{name}",
            line=0,
            error=MappingError("file", reason),
            position=(name, done),
            note=note,
            letter_key=name.encode(),
            error_kind="FileRefused",
        )
        yield Checkpoint((name, done))

    @staticmethod
    def _record(name: str, row: RowResult, digest: str) -> SourceRecord:
        first, _last = row.lines
        original = row.text.encode()
        note = ""
        if row.cut or len(original) > _MAX_ORIGINAL_BYTES:
            original = original[:_MAX_ORIGINAL_BYTES]
            note = f" (text cut to {_MAX_ORIGINAL_BYTES} bytes; the file is in the archive)"
        return SourceRecord(
            original=original,
            place=f"{NAME}:{name}",
            line=first,
            event=row.event,
            error=row.error,
            record_id=row.record_id,
            position=(name, Position(row.line, finished=False, digest=digest)),
            note=note,
            letter_key=name.encode(),
        )

    def decided(self, decision: Decision) -> None:
        record = decision.record
        current = self._open[record.place.removeprefix(f"{NAME}:")]
        if record.line != 0 and record.position[1].line <= current.counted_through:
            return  # sent again after a restart: the report counted it before
        result = current.result
        if decision.accepted:
            result.accepted += 1
            return
        row = 0 if record.line == 0 else record.position[1].line  # 0: the whole file
        result.rejected.append(
            {"line": row, "record_id": record.record_id, "reason": decision.reason}
        )

    def commit(self, position: tuple[str, Position]) -> None:
        """Keep the position; the report first, so that a kill between the two leaves a
        report ahead of the position (its rows re-read, not counted again), never behind
        it (rows counted nowhere)."""
        name, at = position
        current = self._open.get(name)
        if current is not None and not at.finished:
            current.counted_through = max(current.counted_through, at.line)
            self._save_partial(name, current.result, current.counted_through)
        self.positions.put(self.producer, name, at)
        if current is not None and at.finished:
            self._archive(current.path, current.persons, current.result)
            del self._open[name]

    def result(self, name: str) -> FileResult | None:
        """The report of a file still being read."""
        current = self._open.get(name)
        return current.result if current else None

    def _partial_path(self, name: str) -> Path:
        return self.archive / f".{name}.partial.json"

    def _previous(self, name: str) -> tuple[FileResult, int]:
        """The counts of an interrupted earlier run over the same file, to go on from, and
        the last line they cover."""
        partial = self._partial_path(name)
        if partial.exists():
            raw = json.loads(partial.read_text())
            return FileResult(name, raw["accepted"], raw["rejected"]), int(raw.get("line", 0))
        return FileResult(name), 0

    def _save_partial(self, name: str, result: FileResult, line: int) -> None:
        partial = self._partial_path(name)
        tmp = partial.with_suffix(".tmp")
        counts = {"accepted": result.accepted, "rejected": result.rejected, "line": line}
        tmp.write_text(json.dumps(counts))
        tmp.replace(partial)

    def _archive(self, path: Path, persons: Path | None, result: FileResult) -> None:
        stem = path.name.removesuffix(_CSV).removesuffix(_XML)
        report = _unused(self.archive / f"{stem}.result.json")
        moves = [
            (source, _unused(self.archive / source.name))
            for source in (path, persons)
            if source is not None and os.path.lexists(source)
        ]
        report.write_text(
            json.dumps(
                {
                    "file": path.name,
                    # Where the file went: a name taken in the archive gets a ~N of its own.
                    "archived_as": [target.name for _, target in moves],
                    "accepted": result.accepted,
                    "rejected": result.rejected,
                },
                indent=2,
            )
            + "\n"
        )
        for source, target in moves:
            _move(source, target)
        self._partial_path(path.name).unlink(missing_ok=True)
        self.metrics.files.labels(NAME).inc()
        log.info("%s: %d accepted, %d rejected", path.name, result.accepted, len(result.rejected))


class CenSource:
    """Reads the inbox until stopped; one instance per inbox (the runner plus
    :class:`CenInbox`)."""

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
        self.inbox, self.archive = inbox, archive
        metrics = metrics or ConnectorMetrics.create(CollectorRegistry())
        bootstrap = resolve_bootstrap(settings)
        self.producer = KafkaProducer(producer_config(settings, bootstrap))
        prefix = settings.topic_prefix
        self.task = CenInbox(
            inbox=inbox,
            archive=archive,
            positions=PositionStore(settings, bootstrap, NAME),
            producer=self.producer,
            defaults=defaults or CenDefaults(),
            metrics=metrics,
            max_file_bytes=settings.cen_max_file_bytes,
        )
        self.runner = SourceRunner(
            self.task,
            ingest_topic=INGEST_CEN.full_name(prefix),
            dead_letter_topic=DEAD_LETTERS.full_name(prefix),
            producer=self.producer,
            checkpoint_every=checkpoint_rows,
            metrics=metrics,
            health=health,
        )

    def run(self, stop: threading.Event, poll_s: float = 1.0) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.archive.mkdir(parents=True, exist_ok=True)
        self.runner.run(stop, poll_s)

    def process(self, path: Path, stop: threading.Event | None = None) -> FileResult | None:
        """Send one file's rows from its stored position and archive it when done (what
        :meth:`run` does for each file). Returns None when stopped before its end."""
        stop = stop or threading.Event()
        since, last = 0, None
        with contextlib.closing(self.task.file(path, stop)) as items:  # its files closed
            for item in items:
                if isinstance(item, Checkpoint):
                    result = self.task.result(path.name)
                    self.runner.checkpoint(item.position)
                    return result
                self.runner.send(item)
                since, last = since + 1, item
                if since >= self.runner.checkpoint_every:
                    self.runner.checkpoint(item.position)
                    since, last = 0, None
        if last is not None:
            self.runner.checkpoint(last.position)  # stopped: what was sent is recorded
        return None


_ONLY_REGULAR = "{}: only regular files in the inbox are read"


class _RefusedFileError(Exception):
    def __init__(self, reason: str, original: bytes = b"") -> None:
        super().__init__(reason)
        self.reason, self.original = reason, original


@contextlib.contextmanager
def _open_regular(path: Path, cap: int) -> Iterator[BinaryIO]:
    """``path`` open for reading if it is a regular file of at most ``cap`` bytes, opened
    without following a link (a link to a secret elsewhere is never read)."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _RefusedFileError(
                "a symbolic link: only regular files in the inbox are read"
            ) from None
        raise
    with os.fdopen(handle, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise _RefusedFileError(_ONLY_REGULAR.format("not a regular file"))
        if status.st_size > cap:  # its dead letter keeps its beginning; the archive, all
            reason = f"{status.st_size} bytes, over the cap of {cap} bytes"
            raise _RefusedFileError(reason, _beginning(file))
        yield file


_CHUNK = 1024 * 1024


def _scan(file: BinaryIO, cap: int) -> str:
    """What a batch is known by, its content's digest (its persons file follows it), read
    a chunk at a time; the file must be UTF-8 and stay within the cap while read. Leaves
    the file at its start."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    while chunk := file.read(_CHUNK):
        digest.update(chunk)
        pending = len(decoder.getstate()[0])  # bytes of a character begun in the last chunk
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            where = offset - pending + exc.start
            raise _RefusedFileError(f"not UTF-8 text (byte {where})", _beginning(file)) from None
        offset += len(chunk)
        if offset > cap:
            raise _RefusedFileError(f"over the cap of {cap} bytes", _beginning(file))
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        pending = len(decoder.getstate()[0])
        where = offset - pending + exc.start
        raise _RefusedFileError(f"not UTF-8 text (byte {where})", _beginning(file)) from None
    file.seek(0)
    return digest.hexdigest()


def _beginning(file: BinaryIO) -> bytes:
    """The first bytes of a file refused whole, for its dead letter (cut to the limit)."""
    file.seek(0)
    return file.read(_MAX_ORIGINAL_BYTES + 1)


def _text(file: BinaryIO) -> TextIO:
    """The rows' reading of a file already checked to be UTF-8: lines as the CSV reader and
    the XML parser count them (LF, CRLF or CR), not translated."""
    return io.TextIOWrapper(file, encoding="utf-8", newline="")


def _copies(path: Path) -> Iterator[Path]:
    """``path`` and the ``<name>~N.<rest>`` beside it (see _unused), as far as they exist."""
    head, dot, rest = path.name.partition(".")
    candidates = itertools.chain(
        [path], (path.with_name(f"{head}~{n}{dot}{rest}") for n in itertools.count(2))
    )
    for candidate in candidates:
        if not os.path.lexists(candidate):
            return
        yield candidate


def _move(source: Path, target: Path) -> None:
    """Move ``source`` itself (a link stays a link, its target is never read) to
    ``target``, also when the archive is on another file system than the inbox."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(source), target)  # copies a link as a link, then removes it


def _unused(path: Path) -> Path:
    """``path``, or the first ``<name>~N.<rest>`` beside it that does not exist yet: the
    archive never overwrites."""
    if not os.path.lexists(path):
        return path
    head, dot, rest = path.name.partition(".")
    for number in itertools.count(2):
        candidate = path.with_name(f"{head}~{number}{dot}{rest}")
        if not os.path.lexists(candidate):
            return candidate
    raise AssertionError("unreachable")


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
