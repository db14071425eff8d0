"""The fault-injection suite's short form: a few faults under load on a three-node cluster,
and every accepted input accounted for (the full run is ``make chaos``)."""

from __future__ import annotations

import json
import os

import pytest

from tests.integration.conftest import run_liaison

pytestmark = pytest.mark.integration


def test_a_short_chaos_run_loses_nothing_and_leaves_no_partition_unread(tmp_path):
    report = tmp_path / "chaos.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")},
        "LIAISON_STATE_DIR": str(tmp_path / "state"),
    }
    done = run_liaison(
        "chaos",
        "--short",
        "--faults",
        "3",
        "--kinds",
        "worker-kill,leader-kill,partner-outage",
        "--rate",
        "10",
        "--json",
        str(report),
        env=env,
        timeout=900,
    )
    figures = json.loads(report.read_text()) if report.is_file() else {}
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert figures["faults"] == 3
    assert sorted(figures["faults_by_kind"]) == ["leader-kill", "partner-outage", "worker-kill"]
    assert figures["accepted"] > 100
    assert figures["lost"] == 0
    assert figures["unread_partitions"] == []
    assert figures["duplicates_over_bound"] == 0
    assert figures["copies_with_another_audit_id"] == 0
    assert all(kind["unrecovered"] == 0 for kind in figures["recovery_by_kind"].values())
