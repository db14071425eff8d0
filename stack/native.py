"""Synthetic traffic written in each connector's native input format.

What ``liaison generate --native DIR`` writes, for the connectors to read as a
national system would send it:

- ``cen/inbox/batch-NNNN.seizures.csv`` and ``batch-NNNN.persons.csv``: CEN and
  nCEN seizures in the CEN export layout (:mod:`connectors.cen.format`), or with
  ``cen_format="xml"`` ``batch-NNNN.seizures.xml`` (:mod:`connectors.cen.xmlexport`);
- ``cisplus/records.jsonl``: one CIS+ JSON body per line, as POSTed
  (:mod:`connectors.cisplus.format`);
- ``police/alerts.jsonl``: one police alert body per line, also the watchlist
  bulk-import layout (:mod:`connectors.police.format`).

Records broken on purpose stay broken: malformed ones become a row or a line
that does not map (a quantity that is not a number, a truncated JSON line);
ones with invalid values map, and fail validation.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from connectors.cen.format import PERSON_COLUMNS, SEIZURE_COLUMNS, person_rows, seizure_row
from connectors.cen.xmlexport import xml_of_rows
from connectors.cisplus.format import body_of as cis_body
from connectors.police.format import body_of as police_body
from liaison.model.common import Event, SourceSystem
from stack.synthetic.generator import Label, SyntheticRecord

__all__ = ["CenExports", "NativeRecord", "native_form", "write_native"]


class _CenBatches:
    """Export files of at most ``size`` seizures each: CSV pairs, or one XML message."""

    def __init__(self, inbox: Path, size: int, file_format: str, prefix: str = "batch") -> None:
        self.inbox, self.size, self.format, self.prefix = inbox, size, file_format, prefix
        self.records: list[tuple[dict[str, str], list[dict[str, str]]]] = []
        self.batch = 0

    def add(self, row: dict[str, str], persons: list[dict[str, str]]) -> None:
        self.records.append((row, persons))
        if len(self.records) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.records:
            return
        self.batch += 1
        stem = self.inbox / f"{self.prefix}-{self.batch:04d}"
        if self.format == "xml":
            _publish(Path(f"{stem}.seizures.xml"), xml_of_rows(self.records))
        else:
            seizures, persons = _csv_pair(self.records)
            # Persons first: the source starts on the seizures file and expects its persons.
            _publish(Path(f"{stem}.persons.csv"), persons)
            _publish(Path(f"{stem}.seizures.csv"), seizures)
        self.records = []


def _csv_pair(records: list[tuple[dict[str, str], list[dict[str, str]]]]) -> tuple[str, str]:
    seizures, persons = io.StringIO(), io.StringIO()
    seizure_writer = csv.DictWriter(seizures, SEIZURE_COLUMNS, lineterminator="\n")
    person_writer = csv.DictWriter(persons, PERSON_COLUMNS, lineterminator="\n")
    seizure_writer.writeheader()
    person_writer.writeheader()
    seen: set[tuple[str, str]] = set()
    for row, person_cells in records:
        seizure_writer.writerow(row)
        key = (row["record_id"], row["version"])
        if key not in seen:  # a resent record's persons are in the file already
            seen.add(key)
            person_writer.writerows(person_cells)
    return seizures.getvalue(), persons.getvalue()


def _publish(path: Path, text: str) -> None:
    """Written whole under a temporary name, then renamed: a watcher never sees half a file."""
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    partial.rename(path)


@dataclass(frozen=True)
class NativeRecord:
    """One synthetic record as its system sends it."""

    system: str  # "cen", "cisplus" or "police"
    cen_row: tuple[dict[str, str], list[dict[str, str]]] | None = None  # seizure and persons
    body: str = ""  # the JSON body, for the HTTP sources


def native_form(record: SyntheticRecord) -> NativeRecord | None:
    """The record in its source system's format; records broken on purpose stay broken.
    None for a record with nothing to send."""
    event = record.event or record.basis
    if event is None:
        return None
    broken = record.label is Label.MALFORMED_BYTES
    source = event.envelope.source_system
    if source in (SourceSystem.CEN, SourceSystem.NCEN):
        row = seizure_row(event)
        if broken:
            row["quantity"] = "twelve"
        return NativeRecord("cen", cen_row=(row, person_rows(event)))
    system = "cisplus" if source is SourceSystem.CIS_PLUS else "police"
    return NativeRecord(system, body=_json_line(event, broken))


class CenExports:
    """CEN export files in an inbox, ``size`` seizures at most each, as the source reads them."""

    def __init__(
        self, inbox: Path, size: int = 500, file_format: str = "csv", prefix: str = "batch"
    ) -> None:
        inbox.mkdir(parents=True, exist_ok=True)
        self._batches = _CenBatches(inbox, size, file_format, prefix)

    def add(self, row: dict[str, str], persons: list[dict[str, str]]) -> None:
        self._batches.add(row, persons)

    @property
    def pending(self) -> int:
        return len(self._batches.records)

    @property
    def files(self) -> int:
        return self._batches.batch

    def flush(self, file_format: str | None = None) -> None:
        """Write what is pending, in ``file_format`` if given."""
        if file_format is not None:
            self._batches.format = file_format
        self._batches.flush()


def write_native(
    records: Iterable[SyntheticRecord],
    directory: Path,
    batch_size: int = 500,
    cen_format: str = "csv",
) -> Counter[str]:
    """Write the records under ``directory``; returns how many went to each file kind.

    ``cen_format`` is ``csv`` (the seizures and persons pair) or ``xml`` (one message)."""
    inbox = directory / "cen" / "inbox"
    for folder in (inbox, directory / "cisplus", directory / "police"):
        folder.mkdir(parents=True, exist_ok=True)
    written: Counter[str] = Counter()
    cen = CenExports(inbox, batch_size, cen_format)
    with (
        (directory / "cisplus" / "records.jsonl").open("w", encoding="utf-8") as cis,
        (directory / "police" / "alerts.jsonl").open("w", encoding="utf-8") as police,
    ):
        for record in records:
            native = native_form(record)
            if native is None:
                continue
            written[native.system] += 1
            if native.cen_row is not None:
                cen.add(*native.cen_row)
            else:
                (cis if native.system == "cisplus" else police).write(native.body + "\n")
    cen.flush()
    return written


def _json_line(event: Event, broken: bool) -> str:
    body = (
        cis_body(event)
        if event.envelope.source_system is SourceSystem.CIS_PLUS
        else (police_body(event))
    )
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return text[: len(text) // 2] if broken else text
