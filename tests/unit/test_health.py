"""liaison.health and the probes on the metrics server: alive while the loop beats,
ready only when the loop says so."""

import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry

from liaison.health import Health
from liaison.metrics import serve
from liaison.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_process_is_alive_while_its_loop_beats_and_dead_once_it_stops():
    clock = Clock()
    health = Health(stale_after_s=60, start_grace_s=300, clock=clock)
    health.beat()
    clock.now += 59
    assert health.alive()[0]
    clock.now += 2
    alive, why = health.alive()
    assert not alive
    assert "silent for 61s" in why
    health.beat()
    assert health.alive()[0]


def test_start_up_has_a_grace_period_but_not_forever():
    clock = Clock()
    health = Health(stale_after_s=60, start_grace_s=300, clock=clock)
    clock.now += 299
    assert health.alive() == (True, "starting")
    assert health.ready() == (False, "starting")
    clock.now += 2
    assert not health.alive()[0]


def test_ready_only_when_the_loop_says_so_and_only_while_alive():
    clock = Clock()
    health = Health(stale_after_s=60, clock=clock)
    health.beat(ready=False, reason="no partitions assigned")
    assert health.ready() == (False, "no partitions assigned")
    health.beat(ready=True)
    assert health.ready() == (True, "ok")
    clock.now += 61
    assert not health.ready()[0]


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_metrics_server_answers_the_probes_from_the_process_health():
    clock = Clock()
    health = Health(stale_after_s=60, clock=clock)
    server = serve(load_settings({}, metrics_port=0), CollectorRegistry(), health)
    port = server.server_port
    try:
        health.beat(ready=False, reason="tables recovering")
        assert _get(port, "/healthz") == (200, "ok\n")
        assert _get(port, "/readyz") == (503, "tables recovering\n")
        health.beat(ready=True)
        assert _get(port, "/readyz") == (200, "ok\n")
        clock.now += 120
        status, body = _get(port, "/healthz")
        assert status == 503
        assert "silent" in body
        assert _get(port, "/nothing")[0] == 404
        assert _get(port, "/metrics")[0] == 200
    finally:
        server.shutdown()
        server.server_close()
