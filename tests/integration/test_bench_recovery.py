"""The recovery benchmark's short form: a worker restarted on filled tables gets ready."""

from __future__ import annotations

import json

import pytest

from bench.recovery import run

pytestmark = pytest.mark.integration


def test_a_worker_restarted_on_filled_tables_gets_ready_and_the_figures_are_written(
    tmp_path, capsys
):
    out = tmp_path / "recovery.json"
    rows = run([3000], out)
    assert [row["keys"] for row in rows] == [0, 3000]
    assert all(row["ready_s"] > 0 and row["rss_mb"] > 0 for row in rows)
    assert json.loads(out.read_text())["runs"] == rows
    printed = capsys.readouterr().out
    assert "3,000 keys: ready in" in printed
