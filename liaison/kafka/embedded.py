"""A single-node Apache Kafka (KRaft, combined broker and controller) on loopback.

Used by the local stack (``liaison kafka start|stop|status``, ``liaison demo``)
and by the integration tests. The broker runs as its own JVM in its own session,
so it outlives the command that started it and a Ctrl-C in the terminal does
not reach it directly: whoever started it stops it, with SIGTERM first.

Secured by default, as production is: a SASL_SSL listener where Liaison's processes log
in with SCRAM-SHA-512, a mutual-TLS listener where partners present a client certificate
(its CN is their principal), a SASL_PLAINTEXT controller listener on loopback (PLAIN; SCRAM
cannot secure it), and the StandardAuthorizer refusing whatever no ACL allows. The users
and ACLs come from :mod:`liaison.kafka.access` (:meth:`EmbeddedKafka.grant`). ``secure=False``
(``liaison kafka start --plaintext``) gives one PLAINTEXT listener and no authorizer, for
debugging only.

Layout of a data directory::

    broker.json        pid, listeners and cluster id of the running broker
    secrets.json       (0600) the admin's, the controller's and each process's password
    tls/               the local CA, the broker's and the partners' certificates (liaison.kafka.tls)
    config/            server.properties (0600) and log4j2.properties, written at start
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
from pydantic import SecretStr

from liaison.errors import BrokerStartError, EmbeddedKafkaError
from liaison.kafka.access import SCRAM, Principal, apply_access, new_password, principals
from liaison.kafka.jars import KAFKA_VERSION, ensure_jars, java_command
from liaison.kafka.tls import LocalCA, write_private
from liaison.policy import RoutingPolicy
from liaison.settings import Settings, env_name

log = logging.getLogger(__name__)

__all__ = [
    "CONNECTION_FIELDS",
    "BrokerAlreadyRunningError",
    "BrokerInfo",
    "ClusterNode",
    "EmbeddedKafka",
    "connection_env",
    "free_port",
    "read_log_tail",
]

_NODE_ID = 1
ADMIN = "admin"  # the operator's super user (the launcher, the tests, `liaison kafka env`)
_CONTROLLER = "controller"  # the broker's own login on its controller listener
_SCRAM_MECHANISM = "SCRAM-SHA-512"
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
    # Secured brokers only: where partners connect with their certificate, and the CA.
    secure: bool = False
    partner_bootstrap: str = ""
    ca_file: str = ""

    @property
    def listeners(self) -> str:
        """What listens where, in a line for people."""
        if not self.secure:
            return f"PLAINTEXT {self.bootstrap_servers} (no authentication, no ACLs)"
        return (
            f"SASL_SSL/SCRAM-SHA-512 {self.bootstrap_servers} (Liaison's processes), "
            f"mutual TLS {self.partner_bootstrap} (partners), ACLs enforced"
        )


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


# The settings that say where Kafka is and who logs in: what `liaison kafka env` prints and
# what the local stack hands each process.
CONNECTION_FIELDS = (
    "bootstrap_servers",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_ca_location",
    "ssl_certificate_location",
    "ssl_key_location",
)


def connection_env(settings: Settings) -> dict[str, str | None]:
    """The connection settings as environment variables; None for one to unset."""
    values: dict[str, str | None] = {}
    for field in CONNECTION_FIELDS:
        value = getattr(settings, field)
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        values[env_name(field)] = None if secret is None else str(secret)
    return values


def _jaas(module: str, username: str, password: str, *users: tuple[str, str]) -> str:
    accounts = "".join(f' user_{name}="{secret}"' for name, secret in users)
    return (
        f"org.apache.kafka.common.security.{module} required "
        f'username="{username}" password="{password}"{accounts};'
    )


def new_cluster_id() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 random bytes, no padding,
    # never starting with '-' (it would read as a command-line flag).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


@dataclass(frozen=True)
class ClusterNode:
    """One node's place in a cluster of combined broker-controllers on loopback."""

    node_id: int
    controller_ports: dict[int, int]  # every voter's controller port, by node id
    home: Path  # the cluster's directory: its secrets and CA
    listener_ports: tuple[int, int] = (0, 0)  # this node's own (internal, partner)
    cluster_id: str = ""  # the cluster's, for formatting its storage ("": a new one)

    @property
    def ports(self) -> tuple[int, int, int]:
        internal, partner = self.listener_ports
        return internal, partner, self.controller_ports[self.node_id]

    @property
    def voters(self) -> str:
        return ",".join(f"{n}@127.0.0.1:{p}" for n, p in sorted(self.controller_ports.items()))

    @property
    def replication(self) -> int:
        return min(3, len(self.controller_ports))

    @property
    def min_insync(self) -> int:
        return 2 if self.replication >= 3 else 1

    @property
    def durability(self) -> dict[str, str]:
        """What a cluster adds: an acknowledged write is on two replicas, an out-of-sync
        replica never becomes leader, and a hung broker leaves the ISR and is fenced
        within seconds rather than the defaults' half minute."""
        if self.replication < 3:
            return {}
        return {
            "default.replication.factor": "3",
            "min.insync.replicas": "2",
            "unclean.leader.election.enable": "false",
            "replica.lag.time.max.ms": "10000",
            "broker.session.timeout.ms": "9000",
            "broker.heartbeat.interval.ms": "2000",
        }


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
        partner_port: int = 0,
        controller_port: int = 0,
        heap_mb: int = 512,
        start_timeout_s: float = 90.0,
        secure: bool = True,
        node: ClusterNode | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        # A node of a cluster (liaison.kafka.cluster) shares its secrets and CA with the
        # others and knows the controller quorum; alone, it is node 1 of a quorum of one.
        self.node = node
        self.cache_dir = cache_dir
        self.port = port
        self.partner_port = partner_port
        self.controller_port = controller_port
        self.secure = secure
        self.heap_mb = heap_mb
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, data_dir: Path | None = None, *, secure: bool = True
    ) -> EmbeddedKafka:
        return cls(
            data_dir or settings.kafka_data_dir,
            settings.cache_dir,
            port=settings.kafka_port,
            partner_port=settings.kafka_partner_port,
            controller_port=settings.kafka_controller_port,
            heap_mb=settings.kafka_heap_mb,
            start_timeout_s=settings.kafka_start_timeout_s,
            secure=secure,
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

    @property
    def home(self) -> Path:
        """Where the secrets and the CA live: the node's own directory, or its cluster's."""
        return self.node.home.resolve() if self.node is not None else self.data_dir

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.json"

    @property
    def ca(self) -> LocalCA:
        return LocalCA(self.home / "tls")

    # -- secrets -------------------------------------------------------------

    def _secrets(self) -> dict[str, str]:
        """Every password of this broker, by user; made (and kept) on first use."""
        try:
            stored = json.loads(self.secrets_file.read_text())
        except FileNotFoundError:
            stored = {}
        except ValueError as exc:
            raise EmbeddedKafkaError(f"unreadable {self.secrets_file}: {exc}") from exc
        if not isinstance(stored, dict):
            raise EmbeddedKafkaError(f"unreadable {self.secrets_file}: not an object")
        return {str(k): str(v) for k, v in stored.items()}

    def _password(self, user: str) -> str:
        known = self._secrets()
        if user not in known:
            self.home.mkdir(parents=True, exist_ok=True)
            known[user] = new_password()
            write_private(
                self.secrets_file, (json.dumps(known, indent=2, sort_keys=True) + "\n").encode()
            )
        return known[user]

    def admin_security(self) -> dict[str, str]:
        """librdkafka's security settings for the admin user (empty on a plaintext broker)."""
        if not self.secure:
            return {}
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": _SCRAM_MECHANISM,
            "sasl.username": ADMIN,
            "sasl.password": self._password(ADMIN),
            "ssl.ca.location": str(self.ca.ca_file),
        }

    def client_settings(self, settings: Settings, principal: str | None = None) -> Settings:
        """``settings`` pointed at this running broker as ``principal`` (default: the admin).

        A SCRAM principal gets its password (the table's users get theirs from
        :meth:`grant`); a partner principal gets its client certificate and the mutual-TLS
        listener."""
        info = self.status()
        if info is None:
            raise EmbeddedKafkaError(f"no Kafka runs for {self.data_dir}")
        if not info.secure:
            return settings.model_copy(
                update={
                    "bootstrap_servers": info.bootstrap_servers,
                    "security_protocol": "PLAINTEXT",
                }
            )
        user = principal or ADMIN
        if user in self._secrets():
            return settings.model_copy(
                update={
                    "bootstrap_servers": info.bootstrap_servers,
                    "security_protocol": "SASL_SSL",
                    "sasl_mechanism": _SCRAM_MECHANISM,
                    "sasl_username": user,
                    "sasl_password": SecretStr(self._password(user)),
                    "ssl_ca_location": Path(info.ca_file),
                    "ssl_certificate_location": None,
                    "ssl_key_location": None,
                }
            )
        issued = self.ca.issue_client(user)
        return settings.model_copy(
            update={
                "bootstrap_servers": info.partner_bootstrap,
                "security_protocol": "SSL",
                "sasl_mechanism": None,
                "sasl_username": None,
                "sasl_password": None,
                "ssl_ca_location": Path(info.ca_file),
                "ssl_certificate_location": issued.certificate,
                "ssl_key_location": issued.key,
            }
        )

    def grant(self, settings: Settings, policy: RoutingPolicy) -> list[Principal]:
        """Create the users and ACLs of a deployment with these settings on this broker:
        a SCRAM password per process principal, a client certificate per partner."""
        users = principals(settings, policy)
        if not self.secure:
            return users
        passwords = {u.name: self._password(u.name) for u in users if u.authentication == SCRAM}
        for user in users:
            if user.authentication != SCRAM:
                self.ca.issue_client(user.name)
        admin = self.admin()
        apply_access(admin, users, passwords)
        return users

    def admin(self) -> AdminClient:
        """An admin client on the running broker, as the admin user."""
        info = self.status()
        if info is None:
            raise EmbeddedKafkaError(f"no Kafka runs for {self.data_dir}")
        return AdminClient({"bootstrap.servers": info.bootstrap_servers, **self.admin_security()})

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
        info = self.launch()
        self.wait_ready(info)
        return info

    def launch(self) -> BrokerInfo:
        """Start the broker's JVM and return at once (a cluster's nodes wait for each other:
        none serves requests until a majority of the controllers runs)."""
        running = self.status()
        if running is not None:
            raise BrokerAlreadyRunningError(running)
        java = java_command()
        libs = ensure_jars(self.cache_dir)

        port, partner_port, controller_port = self._choose_ports()
        cluster_id = self._prepare(java, libs, port, partner_port, controller_port)

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
            secure=self.secure,
            partner_bootstrap=f"127.0.0.1:{partner_port}" if self.secure else "",
            ca_file=str(self.ca.ca_file) if self.secure else "",
        )
        # Record the pid before waiting, so that `stop` can end a broker whose
        # start is still in progress.
        self._write_state(info)
        return info

    def wait_ready(self, info: BrokerInfo) -> None:
        """Wait until the launched broker serves requests; stop it if it does not."""
        try:
            self._wait_ready(info)
        except BaseException:
            self._terminate(info.pid, timeout_s=15.0)
            self.state_file.unlink(missing_ok=True)
            raise

    def _choose_ports(self) -> tuple[int, int, int]:
        if self.node is not None:
            return self.node.ports
        spare = iter(free_port(3))
        return (
            self.port or next(spare),
            self.partner_port or next(spare),
            self.controller_port or next(spare),
        )

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

    def _prepare(
        self, java: str, libs: Path, port: int, partner_port: int, controller_port: int
    ) -> str:
        """Write the configs and certificates, format storage on first use; return the
        cluster id."""
        (self.data_dir / "config").mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "config" / "log4j2.properties").write_text(_LOG4J2)
        meta = self.storage_dir / "meta.properties"
        marker = self.data_dir / "secured"
        if meta.is_file() and self.secure != marker.is_file():
            raise EmbeddedKafkaError(
                f"{self.data_dir} holds a {'secured' if marker.is_file() else 'plaintext'} "
                f"broker's storage: start it {'without' if marker.is_file() else 'with'} "
                f"--plaintext, or remove {self.data_dir} to start afresh"
            )
        if self.secure and (self.node is None or not self.ca.broker_file.is_file()):
            # A cluster's nodes share one broker certificate, issued when the first starts.
            self.ca.issue_broker()
        properties = self.server_properties(port, partner_port, controller_port)
        write_private(self.config_file, properties.encode())

        if meta.is_file():
            for line in meta.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id":
                    return value.strip()
            raise EmbeddedKafkaError(
                f"{meta} has no cluster.id: remove {self.data_dir} to start afresh"
            )

        cluster_id = (
            self.node.cluster_id if self.node and self.node.cluster_id else new_cluster_id()
        )
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
                *(
                    (
                        "--add-scram",
                        f"{_SCRAM_MECHANISM}=[name={ADMIN},password={self._password(ADMIN)}]",
                    )
                    if self.secure
                    else ()
                ),
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
        if self.secure:
            marker.touch()
        return cluster_id

    def server_properties(self, port: int, partner_port: int, controller_port: int) -> str:
        """The broker configuration: one combined node, loopback only, no auto-created topics."""
        listener = f"127.0.0.1:{port}"
        controller = f"127.0.0.1:{controller_port}"
        node = self.node or ClusterNode(_NODE_ID, {_NODE_ID: controller_port}, self.data_dir)
        replicas = str(node.replication)
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            # A static voter set keeps the controller ports out of the formatted
            # storage, so a lone broker's restart may listen on other ports.
            "controller.quorum.voters": node.voters,
            "controller.listener.names": "CONTROLLER",
            **(
                self._secured_listeners(listener, f"127.0.0.1:{partner_port}", controller)
                if self.secure
                else {
                    "listeners": f"PLAINTEXT://{listener},CONTROLLER://{controller}",
                    "advertised.listeners": f"PLAINTEXT://{listener}",
                    "inter.broker.listener.name": "PLAINTEXT",
                    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                }
            ),
            "log.dirs": str(self.storage_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": str(node.min_insync),
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": str(node.min_insync),
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.check.interval.ms": "60000",
            **node.durability,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _secured_listeners(self, internal: str, partner: str, controller: str) -> dict[str, str]:
        admin, control = self._password(ADMIN), self._password(_CONTROLLER)
        return {
            "listeners": (f"INTERNAL://{internal},PARTNER://{partner},CONTROLLER://{controller}"),
            "advertised.listeners": f"INTERNAL://{internal},PARTNER://{partner}",
            "listener.security.protocol.map": (
                "INTERNAL:SASL_SSL,PARTNER:SSL,CONTROLLER:SASL_PLAINTEXT"
            ),
            "inter.broker.listener.name": "INTERNAL",
            # Liaison's processes: SCRAM over TLS.
            "listener.name.internal.sasl.enabled.mechanisms": _SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": _SCRAM_MECHANISM,
            "listener.name.internal.scram-sha-512.sasl.jaas.config": _jaas(
                "scram.ScramLoginModule", ADMIN, admin
            ),
            # Partners: a certificate from the local CA, its CN the principal when it is a
            # partner's user name; any other subject is a principal no ACL names (never,
            # say, the super user a certificate issued as "admin" would otherwise be).
            "listener.name.partner.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": (
                "RULE:^CN=(partner-[a-z0-9][a-z0-9.-]*)$/$1/,RULE:^.*$/not-a-partner/"
            ),
            # The controller listener (loopback): PLAIN, the broker's own login only.
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": _jaas(
                "plain.PlainLoginModule", _CONTROLLER, control, (_CONTROLLER, control)
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.ca.broker_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca.ca_file),
            "ssl.endpoint.identification.algorithm": "https",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN};User:{_CONTROLLER}",
        }

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
            if _accepts_connections(host, int(port)) and self._answers_as(
                info, self.admin_security()
            ):
                return
            time.sleep(0.25)
        raise BrokerStartError(
            f"Kafka did not answer on {info.bootstrap_servers} within {self.start_timeout_s:.0f}s",
            self.log_tail(),
        )

    @staticmethod
    def _answers_as(info: BrokerInfo, security: dict[str, str]) -> bool:
        """True once the broker at the address is this one (same cluster id) and serves metadata."""
        # log_level 0: refused connections while the broker boots are expected.
        admin = AdminClient(
            {"bootstrap.servers": info.bootstrap_servers, "log_level": 0, **security}
        )
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

    def collect(self, timeout_s: float = 30.0) -> None:
        """Wait for the end of a broker this object started that was ended from outside
        (a killed node of a cluster), so it leaves no zombie."""
        if self._process is not None:
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
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
