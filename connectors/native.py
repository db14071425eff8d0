"""Synthetic traffic written in each connector's native input format.

What ``liaison generate --native DIR`` writes, for the connectors to read as a
national system would send it:

- ``cen/inbox/batch-NNNN.seizures.csv`` and ``batch-NNNN.persons.csv``: CEN and
  nCEN seizures in the CEN export layout (:mod:`connectors.cen.format`);
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
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from connectors.cen.format import PERSON_COLUMNS, SEIZURE_COLUMNS, person_rows, seizure_row
from connectors.cisplus.format import body_of as cis_body
from connectors.police.format import body_of as police_body
from liaison.model.common import Event, SourceSystem
from liaison.synthetic.generator import Label, SyntheticRecord

__all__ = ["write_native"]


class _CenBatches:
    """CSV files of at most ``size`` seizures each, persons alongside."""

    def __init__(self, inbox: Path, size: int) -> None:
        self.inbox, self.size = inbox, size
        self.rows: list[dict[str, str]] = []
        self.persons: list[dict[str, str]] = []
        self.keys: set[tuple[str, str]] = set()
        self.batch = 0

    def add(self, row: dict[str, str], persons: list[dict[str, str]]) -> None:
        self.rows.append(row)
        key = (row["record_id"], row["version"])
        if key not in self.keys:  # a resent record's persons are in the file already
            self.keys.add(key)
            self.persons.extend(persons)
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        self.batch += 1
        stem = self.inbox / f"batch-{self.batch:04d}"
        for suffix, columns, rows in (
            (".seizures.csv", SEIZURE_COLUMNS, self.rows),
            (".persons.csv", PERSON_COLUMNS, self.persons),
        ):
            # Written whole under a temporary name, then renamed: a watcher never
            # sees half a file.
            partial = stem.with_suffix(suffix + ".part")
            with partial.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, columns, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
            partial.rename(Path(f"{stem}{suffix}"))
        self.rows, self.persons, self.keys = [], [], set()


def write_native(
    records: Iterable[SyntheticRecord], directory: Path, batch_size: int = 500
) -> Counter[str]:
    """Write the records under ``directory``; returns how many went to each file kind."""
    inbox = directory / "cen" / "inbox"
    for folder in (inbox, directory / "cisplus", directory / "police"):
        folder.mkdir(parents=True, exist_ok=True)
    written: Counter[str] = Counter()
    cen = _CenBatches(inbox, batch_size)
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
