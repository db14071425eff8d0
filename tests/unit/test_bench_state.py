"""The short form of ``make bench-state``: the benchmark runs, and what it reports holds
where it does not depend on the machine (no time is asserted)."""

from __future__ import annotations

import json

from bench.state import run


def test_the_state_benchmark_reports_small_rows_and_complete_matches(tmp_path):
    out = tmp_path / "state.json"
    lines: list[str] = []
    result = run([50, 400], 3_000, out, say=lines.append)
    assert json.loads(out.read_text()) == result
    assert len(lines) == 3
    small, large = result["identifiers"]
    probes = 200  # new records probed on the busy identifier, besides those it held
    for figures, size in ((small, 50), (large, 400)):
        assert figures["records_under_identifier"] == size
        # The alert meets every record the identifier holds, and each hit is remembered.
        assert figures["alert_hits_remembered"] == size + probes
    # Before rows, one value held every record of the identifier; a row holds one.
    assert large["largest_changelog_value_bytes"] * 20 < large["before_rows_value_bytes"]
    # The largest record written is one record's, whatever the identifier holds.
    assert small["largest_changelog_value_bytes"] < 4096
    assert large["largest_changelog_value_bytes"] < 4096
    versions = result["versions"]
    # The sweeps of the index delete what a scan of the whole table finds due.
    assert versions["deleted_by_them"] == versions["before_index_found"] > 0
