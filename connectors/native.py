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
from pathlib import Path

from connectors.cen.format import PERSON_COLUMNS, SEIZURE_COLUMNS, person_rows, seizure_row
from connectors.cen.xmlexport import xml_of_rows
from connectors.cisplus.format import body_of as cis_body
from connectors.police.format import body_of as police_body
from liaison.model.common import Event, SourceSystem
from liaison.synthetic.generator import Label, SyntheticRecord

__all__ = ["write_native"]


class _CenBatches:
    """Export files of at most ``size`` seizures each: CSV pairs, or one XML message."""

    def __init__(self, inbox: Path, size: int, file_format: str) -> None:
        self.inbox, self.size, self.format = inbox, size, file_format
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
        stem = self.inbox / f"batch-{self.batch:04d}"
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
    cen = _CenBatches(inbox, batch_size, cen_format)
    with (
        (directory / "cisplus" / "records.jsonl").open("w", encoding="utf-8") as cis,
        (directory / "police" / "alerts.jsonl").open("w", encoding="utf-8") as police,
    ):
        for record in records:
            event = record.event or record.basis
            if event is None:
                continue
            broken = record.label is Label.MALFORMED_BYTES
            source = event.envelope.source_system
            if source in (SourceSystem.CEN, SourceSystem.NCEN):
                row = seizure_row(event)
                if broken:
                    row["quantity"] = "twelve"
                cen.add(row, person_rows(event))
                written["cen"] += 1
            else:
                handle = cis if source is SourceSystem.CIS_PLUS else police
                handle.write(_json_line(event, broken) + "\n")
                written["cisplus" if source is SourceSystem.CIS_PLUS else "police"] += 1
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
