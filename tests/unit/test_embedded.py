import json
import os
import re
import socket
from pathlib import Path

import pytest

from liaison.kafka.embedded import (
    EmbeddedKafka,
    _error_lines,
    free_port,
    new_cluster_id,
    read_log_tail,
)


@pytest.fixture
def broker(tmp_path: Path) -> EmbeddedKafka:
    return EmbeddedKafka(tmp_path / "kafka", tmp_path / "cache")


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_plaintext_properties_bind_loopback_and_forbid_auto_creation(tmp_path):
    broker = EmbeddedKafka(tmp_path / "kafka", tmp_path / "cache", secure=False)
    props = _properties(broker.server_properties(19092, 19094, 19093))
    assert props["auto.create.topics.enable"] == "false"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["process.roles"] == "broker,controller"
    assert "authorizer.class.name" not in props
    assert Path(props["log.dirs"]).is_relative_to(broker.data_dir)


def test_the_default_broker_authenticates_every_listener_and_enforces_acls(broker):
    props = _properties(broker.server_properties(19092, 19094, 19093))
    listeners = dict(
        entry.split(":", 1) for entry in props["listener.security.protocol.map"].split(",")
    )
    assert listeners == {
        "INTERNAL": "SASL_SSL",
        "PARTNER": "SSL",
        "CONTROLLER": "SASL_PLAINTEXT",
    }
    assert props["listeners"] == (
        "INTERNAL://127.0.0.1:19092,PARTNER://127.0.0.1:19094,CONTROLLER://127.0.0.1:19093"
    )
    assert props["listener.name.partner.ssl.client.auth"] == "required"
    assert props["listener.name.internal.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "User:ANONYMOUS" not in props["super.users"]
    # It holds passwords: only its owner may read it once written.
    assert (broker.secrets_file.stat().st_mode & 0o077) == 0


def test_free_ports_are_distinct_and_bindable():
    ports = free_port(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_cluster_ids_have_kafkas_text_form():
    for _ in range(200):
        cluster_id = new_cluster_id()
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
        assert not cluster_id.startswith("-")


def test_status_is_none_without_state(broker):
    assert broker.status() is None
    assert broker.stop() is None


def _write_state(broker: EmbeddedKafka, pid: int) -> None:
    broker.data_dir.mkdir(parents=True)
    broker.state_file.write_text(
        json.dumps(
            {
                "pid": pid,
                "bootstrap_servers": "127.0.0.1:1",
                "controller": "127.0.0.1:2",
                "cluster_id": "x",
                "data_dir": str(broker.data_dir),
                "kafka_version": "4",
                "started_at": "2026-01-01T00:00:00+00:00",
            }
        )
    )


def test_stale_state_of_a_dead_process_is_cleared(broker):
    _write_state(broker, pid=2**22 + 12345)  # above the kernel's pid range
    assert broker.status() is None
    assert not broker.state_file.exists()


def test_a_live_pid_that_is_not_this_broker_is_not_mistaken_for_it(broker):
    _write_state(broker, pid=os.getpid())  # pid reuse: alive, but not a broker
    assert broker.status() is None


def test_log_tail_reads_the_last_lines(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert read_log_tail(log, 3) == "line 97\nline 98\nline 99"
    assert read_log_tail(tmp_path / "absent.log") == ""


def test_error_lines_pick_errors_and_causes_once():
    lines = [
        "[t] INFO starting (x)",
        "[t] ERROR Unable to start acceptor (y)",
        "\tat some.Frame(Frame.java:1)",
        "Caused by: java.net.BindException: Address already in use",
        "[t] ERROR Unable to start acceptor (y)",
        "[t] FATAL giving up (z)",
    ]
    assert _error_lines(lines) == [
        "[t] ERROR Unable to start acceptor (y)",
        "Caused by: java.net.BindException: Address already in use",
        "[t] FATAL giving up (z)",
    ]


def test_failure_report_puts_errors_before_the_tail(broker):
    broker.log_dir.mkdir(parents=True)
    (broker.log_dir / "server.log").write_text(
        "[t] ERROR bind failed (k)\n" + "".join(f"[t] INFO noise {i} (k)\n" for i in range(50))
    )
    report = broker.log_tail(lines=5)
    assert report.index("ERROR bind failed") < report.index("noise 49")
    assert "noise 10 " not in report
