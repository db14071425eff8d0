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


def test_demo_moves_events_and_ctrl_c_stops_everything(tmp_path, embedded_kafka):
    settings = load_settings(
        {}, state_dir=tmp_path / "state", cache_dir=embedded_kafka.cache_dir, kafka_heap_mb=256
    )
    env = liaison_env(settings)
    env.pop("LIAISON_BOOTSTRAP_SERVERS", None)
    # A terminal sends Ctrl-C to its foreground process group: give the demo its own.
    demo = subprocess.Popen(
        liaison_command("demo", "--rate", "300"),
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
        status = _wait_for(lines, r"in (\d+) .* out (\d+) ", seen, 120)
        while int(status[2]) == 0:
            status = _wait_for(lines, r"in (\d+) .* out (\d+) ", seen, 30)
        assert _process_alive(broker_pid)
        assert _process_alive(worker_pid)

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

    final = [line for line in seen if re.search(r"in \d+ .* out \d+ ", line)][-1]
    figures = re.search(r"in (\d+) .* out (\d+) ", final)
    assert figures is not None
    sent, received = int(figures[1]), int(figures[2])
    assert received > 0
    assert sent >= received
    assert re.search(r"\d+/s", final)  # a rate is printed
    assert not _process_alive(broker_pid), "the broker outlived the demo"
    assert not _process_alive(worker_pid), "the worker outlived the demo"
