"""The short form of ``make bench-cen``: two small exports of each format through the
source's reading, in processes of their own; the figures printed, every row accounted."""

from __future__ import annotations

import io

from bench import cen_memory


def test_every_row_of_each_export_becomes_a_record_and_the_figures_are_printed():
    out = io.StringIO()
    formats = ["csv", "xml", "xml-one-line"]
    table = cen_memory.run([1, 2], formats, out=out)
    assert [r["format"] for r in table] == [f for f in formats for _ in (1, 2)]
    for row, size in zip(table, [1, 2] * len(formats), strict=True):
        assert size <= row["file_mb"] < size + 1
        assert row["records"] == row["rows"]  # an event or a dead letter for each row
        assert 0 < row["events"] <= row["rows"]
        assert row["peak_mb"] > 0
    printed = out.getvalue()
    assert "baseline" in printed
    assert "csv: a file" in printed
    assert "xml: a file" in printed
    assert "xml-one-line: a file" in printed
