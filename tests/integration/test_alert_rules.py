"""The alert rules under deploy/prometheus, checked and unit-tested with Prometheus' promtool,
and a proof that those unit tests notice a broken threshold."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = sorted((DEPLOY / "rules").glob("*.yml"))
TESTS = sorted((DEPLOY / "tests").glob("*.test.yml"))


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/ensure-system-deps installs it (prometheus)"
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


def test_the_rule_files_are_valid():
    assert RULES
    result = _promtool("check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test():
    alerts = {
        line.split(":", 1)[1].strip()
        for path in RULES
        for line in path.read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    tested = {
        line.split(":", 1)[1].strip()
        for path in TESTS
        for line in path.read_text().splitlines()
        if line.strip().startswith("alertname:")
    }
    assert alerts
    assert alerts <= tested, f"alerts without a test: {sorted(alerts - tested)}"


def test_the_rules_pass_their_unit_tests():
    result = _promtool("test", "rules", *map(str, TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


# Each threshold, moved: the unit tests must notice every one.
BROKEN = [
    ("liaison-slo.yml", "> (14.4 * 0.01)", "> (28.8 * 0.01)"),
    ("liaison-slo.yml", "> (6 * 0.01)", "> (8 * 0.01)"),
    ("liaison-slo.yml", "> (3 * 0.01)", "> (6 * 0.01)"),
    ("liaison-slo.yml", 'le="10.0"', 'le="30.0"'),
    ("liaison-alerts.yml", "expr: vector(1800)", "expr: vector(3600)"),
    ("liaison-alerts.yml", "> 0.05", "> 0.15"),
    (
        "liaison-alerts.yml",
        "liaison_consumer_lag_seconds) > 60",
        "liaison_consumer_lag_seconds) > 600",
    ),
    ("liaison-alerts.yml", "> 900", "> 9000"),
    ("liaison-alerts.yml", "> 0.1", "> 0.3"),
    ("liaison-alerts.yml", 'up{job=~"liaison-.*"} == 0', 'up{job=~"liaison-worker"} == 0'),
    ("liaison-alerts.yml", '{reason=~"refused|gave-up"}', '{reason="refused"}'),
    ("liaison-alerts.yml", '{job="liaison-worker"}[10m]', '{job=~"liaison-.*"}[10m]'),
]


@pytest.mark.parametrize(("file", "good", "bad"), BROKEN, ids=[b[2] for b in BROKEN])
def test_a_broken_threshold_fails_the_unit_tests(tmp_path, file, good, bad):
    rules = tmp_path / "rules"
    shutil.copytree(DEPLOY / "rules", rules)
    shutil.copytree(DEPLOY / "tests", tmp_path / "tests")
    target = rules / file
    text = target.read_text()
    assert text.count(good) >= 1, f"{good!r} is no longer in {file}"
    target.write_text(text.replace(good, bad))
    assert _promtool("check", "rules", str(target)).returncode == 0  # still valid rules
    tests = sorted(str(p) for p in (tmp_path / "tests").glob("*.test.yml"))
    result = _promtool("test", "rules", *tests)
    assert result.returncode != 0, f"the tests did not notice {good!r} -> {bad!r}"
