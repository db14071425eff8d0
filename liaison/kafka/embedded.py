"""A single-node Apache Kafka (KRaft, combined broker and controller) on loopback.

Used by the local stack (``liaison kafka start|stop|status``, ``liaison demo``)
and by the integration tests. The broker runs as its own JVM in its own session,
so it outlives the command that started it and a Ctrl-C in the terminal does
not reach it directly: whoever started it stops it, with SIGTERM first.

Layout of a data directory::

    broker.json        pid, ports and cluster id of the running broker
    config/            server.properties and log4j2.properties, written at start
    storage/           the KRaft log directory (formatted once)
    logs/server.log    the broker's own log; logs/stdout.log its console
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from confluent_kafka.admin import AdminClient

from liaison.errors import BrokerStartError, EmbeddedKafkaError
from liaison.kafka.jars import KAFKA_VERSION, ensure_jars, java_command
from liaison.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["BrokerAlreadyRunningError", "BrokerInfo", "EmbeddedKafka", "free_port", "read_log_tail"]

_NODE_ID = 1
_LOG4J2 = """\
status = warn
name = liaison-embedded-kafka
appender.server.type = File
appender.server.name = server
appender.server.fileName = ${sys:kafka.logs.dir}/server.log
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
"""


@dataclass(frozen=True)
class BrokerInfo:
    """Where a running embedded broker listens, as recorded in ``broker.json``."""

    pid: int
    bootstrap_servers: str
    controller: str
    cluster_id: str
    data_dir: str
    kafka_version: str
    started_at: str


class BrokerAlreadyRunningError(EmbeddedKafkaError):
    """A start found a live broker for this data directory; it was left as it is."""

    def __init__(self, info: BrokerInfo) -> None:
        self.info = info
        super().__init__(
            f"Kafka is already running for {info.data_dir} "
            f"at {info.bootstrap_servers} (pid {info.pid})"
        )


def free_port(count: int = 1) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def read_log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or an empty string if it is absent."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except FileNotFoundError:
        return ""


def _new_cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 random bytes, no padding,
    # never starting with '-' (it would read as a command-line flag).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _pid_runs_broker(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line contains ``marker``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return marker.encode() in cmdline


class EmbeddedKafka:
    """Start, inspect and stop one embedded broker bound to one data directory."""

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path,
        *,
        port: int = 0,
        controller_port: int = 0,
        heap_mb: int = 512,
        start_timeout_s: float = 90.0,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir
        self.port = port
        self.controller_port = controller_port
        self.heap_mb = heap_mb
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, data_dir: Path | None = None) -> EmbeddedKafka:
        return cls(
            data_dir or settings.kafka_data_dir,
            settings.cache_dir,
            port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            heap_mb=settings.kafka_heap_mb,
            start_timeout_s=settings.kafka_start_timeout_s,
        )

    # -- paths -------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.data_dir / "broker.json"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "config" / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    # -- status ------------------------------------------------------------

    def status(self) -> BrokerInfo | None:
        """The broker running for this data directory, or None (a stale record is removed)."""
        try:
            info = BrokerInfo(**json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise EmbeddedKafkaError(f"unreadable broker state {self.state_file}: {exc}") from exc
        if _pid_runs_broker(info.pid, str(self.config_file)):
            return info
        self.state_file.unlink(missing_ok=True)
        return None

    # -- start -------------------------------------------------------------

    def start(self) -> BrokerInfo:
        """Start the broker and wait until it serves requests.

        Raises :class:`BrokerAlreadyRunningError` if one runs for this data
        directory, and :class:`BrokerStartError` with the broker's last log
        lines if it exits or does not answer in time.
        """
        running = self.status()
        if running is not None:
            raise BrokerAlreadyRunningError(running)
        java = java_command()
        libs = ensure_jars(self.cache_dir)

        port, controller_port = self._choose_ports()
        cluster_id = self._prepare(java, libs, port, controller_port)

        self.log_dir.mkdir(parents=True, exist_ok=True)
        console = (self.log_dir / "stdout.log").open("wb")
        with console:
            self._process = subprocess.Popen(
                self._java_args(java, libs, "kafka.Kafka", str(self.config_file)),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        info = BrokerInfo(
            pid=self._process.pid,
            bootstrap_servers=f"127.0.0.1:{port}",
            controller=f"127.0.0.1:{controller_port}",
            cluster_id=cluster_id,
            data_dir=str(self.data_dir),
            kafka_version=KAFKA_VERSION,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        # Record the pid before waiting, so that `stop` can end a broker whose
        # start is still in progress.
        self._write_state(info)
        try:
            self._wait_ready(info)
        except BaseException:
            self._terminate(self._process.pid, timeout_s=15.0)
            self.state_file.unlink(missing_ok=True)
            raise
        return info

    def _choose_ports(self) -> tuple[int, int]:
        wanted = [self.port, self.controller_port]
        spare = iter(free_port(2))
        return (wanted[0] or next(spare), wanted[1] or next(spare))

    def _java_args(self, java: str, libs: Path, main_class: str, *args: str) -> list[str]:
        return [
            java,
            f"-Xms{self.heap_mb}m",
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'config' / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            f"{libs}/*",
            main_class,
            *args,
        ]

    def _prepare(self, java: str, libs: Path, port: int, controller_port: int) -> str:
        """Write the configs and format storage on first use; return the cluster id."""
        (self.data_dir / "config").mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "config" / "log4j2.properties").write_text(_LOG4J2)
        self.config_file.write_text(self.server_properties(port, controller_port))

        meta = self.storage_dir / "meta.properties"
        if meta.is_file():
            for line in meta.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id":
                    return value.strip()
            raise EmbeddedKafkaError(
                f"{meta} has no cluster.id: remove {self.data_dir} to start afresh"
            )

        cluster_id = _new_cluster_id()
        result = subprocess.run(
            self._java_args(
                java,
                libs,
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster_id,
                "--config",
                str(self.config_file),
            ),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting KRaft storage in {self.storage_dir} failed (exit {result.returncode})",
                (result.stdout + result.stderr).strip()[-4000:],
            )
        return cluster_id

    def server_properties(self, port: int, controller_port: int) -> str:
        """The broker configuration: one combined node, loopback only, no auto-created topics."""
        listener = f"127.0.0.1:{port}"
        controller = f"127.0.0.1:{controller_port}"
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(_NODE_ID),
            # A static voter set keeps the controller port out of the formatted
            # storage, so a restart may listen on other ports.
            "controller.quorum.voters": f"{_NODE_ID}@{controller}",
            "listeners": f"PLAINTEXT://{listener},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{listener}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.storage_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.check.interval.ms": "60000",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _write_state(self, info: BrokerInfo) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2) + "\n")
        tmp.replace(self.state_file)

    def _wait_ready(self, info: BrokerInfo) -> None:
        if self._process is None:
            raise EmbeddedKafkaError("no broker process to wait for")
        deadline = time.monotonic() + self.start_timeout_s
        host, _, port = info.bootstrap_servers.rpartition(":")
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise BrokerStartError(
                    f"Kafka exited with code {code} during start-up (data dir {self.data_dir})",
                    self.log_tail(),
                )
            if _accepts_connections(host, int(port)) and self._answers_as(info):
                return
            time.sleep(0.25)
        raise BrokerStartError(
            f"Kafka did not answer on {info.bootstrap_servers} within {self.start_timeout_s:.0f}s",
            self.log_tail(),
        )

    @staticmethod
    def _answers_as(info: BrokerInfo) -> bool:
        """True once the broker at the address is this one (same cluster id) and serves metadata."""
        # log_level 0: refused connections while the broker boots are expected.
        admin = AdminClient({"bootstrap.servers": info.bootstrap_servers, "log_level": 0})
        try:
            cluster = admin.describe_cluster(request_timeout=2).result(timeout=3)
        except Exception:  # noqa: BLE001 - not ready yet; the caller retries until its deadline
            return False
        return bool(cluster.cluster_id == info.cluster_id and cluster.nodes)

    def log_tail(self, lines: int = 20) -> str:
        """What the broker said before it failed: its errors and causes, then its last lines."""
        parts = []
        server = read_log_tail(self.log_dir / "server.log", 400)
        if server:
            causes = _error_lines(server.splitlines())
            if causes:
                parts.append("errors:\n" + "\n".join(causes))
            parts.append("last lines:\n" + "\n".join(server.splitlines()[-lines:]))
        console = read_log_tail(self.log_dir / "stdout.log", lines)
        if console:
            parts.append("console:\n" + console)
        return "\n".join(parts) or f"(no log lines in {self.log_dir})"

    # -- stop --------------------------------------------------------------

    def stop(self, timeout_s: float = 30.0) -> BrokerInfo | None:
        """Stop the running broker (SIGTERM, then SIGKILL after ``timeout_s``).

        Returns what was stopped, or None if nothing ran.
        """
        info = self.status()
        if info is None:
            return None
        # Kafka clients that only a reference cycle keeps alive would otherwise be freed
        # after the broker is gone, and librdkafka can block for ever destroying them.
        gc.collect()
        self._terminate(info.pid, timeout_s)
        self.state_file.unlink(missing_ok=True)
        return info

    def _terminate(self, pid: int, timeout_s: float) -> None:
        marker = str(self.config_file)
        if _pid_runs_broker(pid, marker):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while _pid_runs_broker(pid, marker) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_runs_broker(pid, marker):
                log.warning("Kafka (pid %d) ignored SIGTERM for %.0fs; killing it", pid, timeout_s)
                os.kill(pid, signal.SIGKILL)
        # A broker this object started is our child: collect its exit status.
        if self._process is not None and self._process.pid == pid:
            self._process.wait(timeout=30)
            self._process = None

    # -- context manager (tests) --------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _error_lines(lines: list[str], keep: int = 12) -> list[str]:
    """The ERROR and FATAL entries and the "Caused by" lines of a Java log, deduplicated."""
    picked: list[str] = []
    for line in lines:
        if ("] ERROR " in line or "] FATAL " in line or line.startswith("Caused by:")) and (
            line not in picked
        ):
            picked.append(line)
    return picked[-keep:]


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
