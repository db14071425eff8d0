"""The README's main command, run as a user would: started, left to run, stopped with Ctrl-C."""

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from liaison.policy import load_policy
from liaison.processes import catalogue
from liaison.settings import load_settings
from tests.integration.conftest import liaison_command, liaison_env

pytestmark = pytest.mark.integration


def _lines(process: subprocess.Popen[str]) -> tuple["queue.Queue[str | None]", threading.Thread]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return lines, reader


def _wait_for(lines, pattern: str, seen: list[str], timeout_s: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(seen))


def _process_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_demo_runs_every_connector_and_ctrl_c_stops_everything(tmp_path, embedded_kafka):
    settings = load_settings(
        {}, state_dir=tmp_path / "state", cache_dir=embedded_kafka.cache_dir, kafka_heap_mb=256
    )
    env = liaison_env(settings)
    env.pop("LIAISON_BOOTSTRAP_SERVERS", None)
    # A terminal sends Ctrl-C to its foreground process group: give the demo its own.
    demo = subprocess.Popen(
        liaison_command("demo", "--rate", "60"),
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seen: list[str] = []
    lines, reader = _lines(demo)
    try:
        broker_pid = int(
            _wait_for(lines, r"^Kafka \S+ on 127\.0\.0\.1:\d+ \(pid (\d+)\)", seen, 180)[1]
        )
        worker_pid = int(_wait_for(lines, r"^Pipeline worker started \(pid (\d+)\)", seen, 60)[1])
        started = _wait_for(lines, r"^Connectors started: (.*)$", seen, 30)[1]
        connector_pids = {
            name: int(pid) for name, pid in re.findall(r"([\w-]+) \(pid (\d+)\)", started)
        }
        # Every process of the catalogue runs, each its own process with its own log.
        processes = catalogue(load_settings({}), load_policy())
        listed = {p.name for p in processes if p.part == "connector"}
        assert set(connector_pids) == listed
        logs = Path(_wait_for(lines, r"^Logs in (.*)$", seen, 30)[1])
        assert {log.stem for log in logs.glob("*.log")} == {p.name for p in processes}
        assert listed >= {
            "cen-source",
            "cisplus-source",
            "police-source",
            "cen-sink",
            "nl-police-sink",
            "de-bka-sink",
            "cisplus-sink",
        }
        # Run until files went through the CEN inbox and out of the CEN outbox, and events
        # reached both partner endpoints over HTTP.
        pattern = (
            r"connectors: \d+ CEN files dropped, (\d+) archived; (\d+) HTTP records sent; "
            r"(\d+) CEN upload files; at partner endpoints: cisplus (\d+), de-bka (\d+), "
            r"nl-police (\d+)"
        )
        status = _wait_for(lines, pattern, seen, 180)
        deadline = time.monotonic() + 240
        while min(int(n) for n in status.groups()) == 0:
            assert time.monotonic() < deadline, "\n".join(seen)
            status = _wait_for(lines, pattern, seen, 30)
        for pid in (broker_pid, worker_pid, *connector_pids.values()):
            assert _process_alive(pid)

        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=120) == 0, "\n".join(seen)
        _wait_for(lines, r"^Stopped\.$", seen, 10)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        reader.join(timeout=10)
        assert demo.stdout is not None
        demo.stdout.close()

    output = "\n".join(seen)
    final = [line for line in seen if re.search(r"in \d+ .* out \d+ ", line)][-1]
    figures = re.search(r"in (\d+) \(\d+/s, (\d+) failed\)  out (\d+) ", final)
    assert figures is not None
    assert int(figures[1]) > 0
    assert int(figures[2]) == 0
    assert int(figures[3]) > 0
    # The final per-connector figures, as seen from the external side of each.
    accepted = re.search(r"cen-source .* archived \((\d+) CSV, (\d+) XML\): (\d+) rows", output)
    assert accepted is not None
    assert int(accepted[1]) > 0
    assert int(accepted[3]) > 0
    assert re.search(r"cisplus-source +\d+ POSTs: 202 x\d+", output)
    assert re.search(r"police-source +\d+ POSTs: .*watchlist bulk import: 40 lines", output)
    assert re.search(r"cen-sink +[1-9]\d* upload files", output)
    for endpoint in ("cisplus", "de-bka", "nl-police"):
        assert re.search(rf"http-sink +{endpoint}: [1-9]\d* events received once each", output)
    partner_file = tmp_path / "state" / "demo" / "partners" / "nl-police.jsonl"
    assert partner_file.read_text().count("\n") > 0

    for name, pid in {"broker": broker_pid, "worker": worker_pid, **connector_pids}.items():
        assert not _process_alive(pid), f"the {name} outlived the demo"
