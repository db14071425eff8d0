"""``python -m bench.cen_memory``: the CEN source's memory against the size of an export.

For each size and format it writes an export of about that many megabytes (an nCEN CSV
with its persons file, or the same seizures as one XML document, indented or on one
line), then reads it in a
fresh process the way the source does (:meth:`CenInbox.file`: the digest and UTF-8 pass,
then every row made into the record the source would send, dead letters included) and
prints the process's peak resident memory beside the baseline of a process that read
nothing. The Kafka producer is left out: what it holds is bounded by its own queue
settings, whatever the file's size. Flat memory means the peak stays near the baseline
as the file grows tenfold.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from connectors.cen.format import PERSON_COLUMNS, SEIZURE_COLUMNS, person_rows, seizure_row
from connectors.cen.xmlexport import NAMESPACE, xml_of_rows
from liaison.model.common import Event, SourceSystem
from stack.synthetic.generator import Label, TrafficGenerator

_BASE_EVENTS = 400
_MB = 1024 * 1024


def _base() -> list[Event]:
    """Distinct nCEN and CEN seizures to repeat, under new record ids, up to the size."""
    events: list[Event] = []
    for record in TrafficGenerator(seed=7).take(_BASE_EVENTS * 6):
        event = record.event
        if (
            event is not None
            and record.label is not Label.REPLAY
            and event.envelope.source_system in (SourceSystem.CEN, SourceSystem.NCEN)
        ):
            events.append(event)
    return events[:_BASE_EVENTS]


def _copies(events: list[Event]) -> Iterator[tuple[dict[str, str], list[dict[str, str]]]]:
    """The rows of the events, again and again, each round under record ids of its own."""
    for round_ in range(10**9):
        for event in events:
            envelope = event.envelope
            renamed = dataclasses.replace(
                event,
                envelope=dataclasses.replace(
                    envelope, source_record_id=f"{envelope.source_record_id}-{round_}"
                ),
            )
            yield seizure_row(renamed), person_rows(renamed)


def write_csv(folder: Path, size_mb: int) -> tuple[Path, int]:
    """``<batch>.seizures.csv`` and its persons file, the seizures about ``size_mb`` MB."""
    seizures_path = folder / f"bench-{size_mb}.seizures.csv"
    persons_path = folder / f"bench-{size_mb}.persons.csv"
    rows = 0
    with (
        seizures_path.open("w", newline="", encoding="utf-8") as seizures_file,
        persons_path.open("w", newline="", encoding="utf-8") as persons_file,
    ):
        seizures = csv.DictWriter(seizures_file, SEIZURE_COLUMNS, lineterminator="\n")
        persons = csv.DictWriter(persons_file, PERSON_COLUMNS, lineterminator="\n")
        seizures.writeheader()
        persons.writeheader()
        for cells, person_cells in _copies(_base()):
            seizures.writerow(cells)
            persons.writerows(person_cells)
            rows += 1
            if rows % 1000 == 0 and seizures_file.tell() >= size_mb * _MB:
                break
    return seizures_path, rows


def write_xml(folder: Path, size_mb: int, *, one_line: bool = False) -> tuple[Path, int]:
    """``<batch>.seizures.xml`` of about ``size_mb`` MB, written a chunk at a time; with
    ``one_line``, without a single line break (as some systems write XML)."""
    path = folder / f"bench-{size_mb}.seizures.xml"
    rows = 0
    records = _copies(_base())
    end = "" if one_line else "\n"
    with path.open("w", encoding="utf-8") as file:
        file.write(
            f'<?xml version="1.0" encoding="UTF-8"?>{end}<cen-export xmlns="{NAMESPACE}">{end}'
        )
        while file.tell() < size_mb * _MB:
            chunk = [next(records) for _ in range(500)]
            text = xml_of_rows(chunk)
            body = text.split(">\n", 2)[2].rsplit("</cen-export>", 1)[0]
            if one_line:
                body = "".join(part.strip() for part in body.splitlines())
            file.write(body)
            rows += len(chunk)
        file.write(f"</cen-export>{end}")
    return path, rows


_WRITERS: dict[str, Callable[[Path, int], tuple[Path, int]]] = {
    "csv": write_csv,
    "xml": write_xml,
    "xml-one-line": functools.partial(write_xml, one_line=True),
}


@dataclasses.dataclass
class _NoPositions:
    """A source that has never seen the file (the benchmark sends nothing to Kafka)."""

    def get(self, _name: str) -> object:
        from connectors.positions import Position  # noqa: PLC0415

        return Position(0, finished=False)


def _read(path: Path | None) -> dict[str, float]:
    """In this process: the file through the source's reading, every record built (with
    no file, only the imports: the baseline)."""
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from connectors.cen.format import CenDefaults  # noqa: PLC0415
    from connectors.cen.source import CenInbox  # noqa: PLC0415
    from connectors.contract import Checkpoint  # noqa: PLC0415
    from liaison.metrics import ConnectorMetrics  # noqa: PLC0415

    if path is None:
        return {"records": 0, "events": 0, "seconds": 0.0}
    archive = path.parent / "archive"
    inbox = CenInbox(
        inbox=path.parent,
        archive=archive,
        positions=_NoPositions(),  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        defaults=CenDefaults(),
        metrics=ConnectorMetrics.create(CollectorRegistry()),
        max_file_bytes=4096 * _MB,
    )
    records = events = 0
    started = time.monotonic()
    for item in inbox.file(path, threading.Event()):
        if isinstance(item, Checkpoint):
            break
        records += 1
        events += item.event is not None
    seconds = time.monotonic() - started
    return {"records": records, "events": events, "seconds": seconds}


def _child(path: str | None) -> None:
    reading = _read(Path(path) if path else None)
    reading["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(reading))


def _measure(path: Path | None) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.cen_memory", "--child", str(path or "")]
    done = subprocess.run(  # noqa: S603 - this interpreter, this module, a path we made
        command, check=True, capture_output=True, text=True, timeout=3600
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(sizes: list[int], formats: list[str], out: TextIO | None = None) -> list[dict[str, Any]]:
    """Every size in every format; prints a table and returns its rows."""
    write = (out or sys.stdout).write
    baseline = _measure(None)["peak_mb"]
    write(f"baseline (imports, nothing read): {baseline:.0f} MB peak\n")
    columns = ("file MB", "rows", "rows/s", "peak MB", "over base")
    write(f"{'format':12} " + " ".join(f"{c:>9}" for c in columns) + "\n")
    table: list[dict[str, Any]] = []
    for fmt in formats:
        for size in sizes:
            folder = Path(tempfile.mkdtemp(prefix="liaison-cen-bench-"))
            try:
                path, rows = _WRITERS[fmt](folder, size)
                file_mb = path.stat().st_size / _MB
                reading = _measure(path)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            row = {
                "format": fmt,
                "file_mb": file_mb,
                "rows": rows,
                "records": reading["records"],
                "events": reading["events"],
                "rows_per_s": reading["records"] / max(reading["seconds"], 1e-9),
                "peak_mb": reading["peak_mb"],
                "over_baseline_mb": reading["peak_mb"] - baseline,
            }
            table.append(row)
            write(
                f"{fmt:12} {file_mb:9.0f} {rows:9d} {row['rows_per_s']:9.0f} "
                f"{row['peak_mb']:9.0f} {row['over_baseline_mb']:9.0f}\n"
            )
    for fmt in formats:
        by_size = sorted((r for r in table if r["format"] == fmt), key=lambda r: r["file_mb"])
        small, large = by_size[0], by_size[-1]
        growth = large["file_mb"] / max(small["file_mb"], 1e-9)
        memory = large["over_baseline_mb"] / max(small["over_baseline_mb"], 1.0)
        write(
            f"{fmt}: a file {growth:.1f} times larger took {memory:.2f} times the memory "
            "over the baseline\n"
        )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cen_memory")
    parser.add_argument("--sizes", default="50,500", help="export sizes in MB, comma-separated")
    parser.add_argument("--formats", default=",".join(_WRITERS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child or None)
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    if len(sizes) < 2:
        parser.error("give at least two sizes to compare")
    run(sizes, args.formats.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
