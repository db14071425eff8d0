"""liaison.metrics: bounded labels, buckets that keep a backlog visible, a served registry."""

import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Histogram

from liaison.metrics import (
    LATENCY_BUCKETS_S,
    SLO_LATENCY_S,
    ConnectorMetrics,
    LagMetrics,
    PipelineMetrics,
    serve,
)
from liaison.settings import load_settings

# Every label Liaison may use: each takes its values from a bounded set.
BOUNDED = {
    "stage",
    "source_system",
    "partner",
    "connector",
    "outcome",
    "reason",
    "kind",
    "direction",
    "result",
    "status",
    "group",
    "topic",
    "action",  # the watchdog's repair: seek or restart
}


@pytest.mark.parametrize("family", [PipelineMetrics, ConnectorMetrics, LagMetrics])
def test_labels_come_from_bounded_sets_only(family):
    registry = CollectorRegistry()
    metrics = family.create(registry)
    for metric in vars(metrics).values():
        names = set(metric._labelnames)
        assert names <= BOUNDED, f"{metric}: {names - BOUNDED}"
        assert not any("id" in name.split("_") for name in names)


def test_latency_buckets_hold_the_objective_and_reach_hours():
    assert SLO_LATENCY_S in LATENCY_BUCKETS_S
    assert {1.0, 5.0} <= set(LATENCY_BUCKETS_S)
    finite = [b for b in LATENCY_BUCKETS_S if b != float("inf")]
    assert finite == sorted(finite)
    assert finite[0] <= 0.01
    assert finite[-1] >= 4 * 3600  # a backlog of hours still lands in a bucket


def test_a_slow_delivery_lands_in_a_bucket_not_only_in_inf():
    registry = CollectorRegistry()
    metrics = PipelineMetrics.create(registry)
    histogram: Histogram = metrics.end_to_end_latency
    histogram.labels("EUROPOL").observe(3 * 3600.0)
    get = registry.get_sample_value
    labels = {"partner": "EUROPOL"}
    assert get("liaison_end_to_end_latency_seconds_bucket", {**labels, "le": "10.0"}) == 0
    assert get("liaison_end_to_end_latency_seconds_bucket", {**labels, "le": "14400.0"}) == 1
    assert get("liaison_end_to_end_latency_seconds_count", labels) == 1


def test_a_process_serves_its_registry_on_metrics():
    registry = CollectorRegistry()
    ConnectorMetrics.create(registry).records.labels("cen-source", "accepted").inc(3)
    server = serve(load_settings({}, metrics_port=0), registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'liaison_connector_records_total{connector="cen-source",result="accepted"} 3.0' in text
