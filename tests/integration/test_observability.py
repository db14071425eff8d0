"""The metrics as an SRE meets them: a real Prometheus scraping the local stack on generated
traffic, queried with every panel of the dashboard."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
from pathlib import Path

import pytest

from liaison.settings import load_settings
from stack.monitoring import LocalPrometheus
from tests.integration.conftest import liaison_command, liaison_env
from tests.integration.test_demo import _lines, _wait_for

pytestmark = pytest.mark.integration

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "liaison-dashboard.json"


def _panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", "1m"))
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def _total(prometheus: LocalPrometheus, expr: str) -> float:
    result = prometheus.query(expr)
    return sum(float(sample["value"][1]) for sample in result)


def test_every_dashboard_query_has_data_and_latency_counts_every_delivery(tmp_path, embedded_kafka):
    settings = load_settings(
        {}, state_dir=tmp_path / "state", cache_dir=embedded_kafka.cache_dir, kafka_heap_mb=256
    )
    env = liaison_env(settings)
    env.pop("LIAISON_BOOTSTRAP_SERVERS", None)
    demo = subprocess.Popen(
        liaison_command("demo", "--count", "400", "--rate", "40", "--stay"),
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seen: list[str] = []
    lines, reader = _lines(demo)
    try:
        url = _wait_for(lines, r"^Prometheus on (http://127\.0\.0\.1:\d+) ", seen, 300)[1]
        prometheus = LocalPrometheus(tmp_path, {})
        prometheus.port = int(url.rsplit(":", 1)[1])
        _wait_for(lines, r"^All 400 records sent and the pipeline is quiet", seen, 300)
        final = [line for line in seen if re.search(r" out \d+ deliveries", line)][-1]
        delivered = int(re.search(r" out (\d+) deliveries", final)[1])  # type: ignore[index]
        assert delivered > 100

        # The worker's counters, once scraped after the pipeline went quiet, equal what the
        # demo counted on the partner topics (a different reader: Kafka itself).
        deadline = time.monotonic() + 60
        while _total(prometheus, "sum(liaison_deliveries_total)") != delivered:
            assert time.monotonic() < deadline, "\n".join(seen[-20:])
            time.sleep(1)
        observations = _total(prometheus, "sum(liaison_end_to_end_latency_seconds_count)")
        assert observations == delivered
        in_inf = _total(prometheus, 'sum(liaison_end_to_end_latency_seconds_bucket{le="+Inf"})')
        assert in_inf == delivered
        per_partner = prometheus.query(
            "sum by (partner) (liaison_end_to_end_latency_seconds_count)"
            " - sum by (partner) (liaison_deliveries_total)"
        )
        assert {float(s["value"][1]) for s in per_partner} == {0.0}
        assert _total(prometheus, "sum(liaison_end_to_end_latency_seconds_sum)") > 0

        # Every panel of the dashboard shows something (queries needing a few scrapes or
        # the lag exporter's first reading get a minute).
        missing = dict(_panel_queries())
        deadline = time.monotonic() + 90
        while missing:
            missing = {t: q for t, q in missing.items() if not prometheus.query(q)}
            if missing:
                assert time.monotonic() < deadline, f"panels without data: {sorted(missing)}"
                time.sleep(2)
        # Faust's own sensor beside Liaison's metrics, in the worker's registry.
        assert prometheus.query('faust_messages_received_total{job="liaison-worker"} > 0')
        ups = prometheus.query('up{job=~"liaison-.*"}')
        assert len(ups) == 10  # worker, seven connectors, the read receipts, lag exporter
        assert {s["value"][1] for s in ups} == {"1"}

        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=120) == 0, "\n".join(seen)
    finally:
        if demo.poll() is None:  # a failure above: stop the stack as Ctrl-C does, then kill
            os.killpg(demo.pid, signal.SIGINT)
            try:
                demo.wait(timeout=120)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        reader.join(timeout=10)
        assert demo.stdout is not None
        demo.stdout.close()
    with pytest.raises(urllib.error.URLError, match="refused"):
        prometheus.query("up")  # Prometheus stopped with the stack
