"""A cluster of embedded Kafka nodes on loopback: three combined broker-controllers in KRaft,
replication 3, ``min.insync.replicas`` 2, unclean election off.

What the fault-injection suite (``liaison chaos``) runs on: one node can be killed, hung
(SIGSTOP) or restarted while the other two keep every acknowledged write and elect new
leaders. Each node is an :class:`~liaison.kafka.embedded.EmbeddedKafka` in its own
directory; they share one set of secrets and one CA in the cluster's directory, and keep
the ports they were first given (the controller quorum is a static voter set), so a node
restarts where the others expect it::

    cluster.json       the ports of every node, chosen at the first start
    secrets.json, tls/ shared by the nodes (as in a single broker's directory)
    node-<id>/         one node's config, storage and logs
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from confluent_kafka.admin import AdminClient

from liaison.errors import EmbeddedKafkaError
from liaison.kafka.access import Principal
from liaison.kafka.embedded import (
    BrokerInfo,
    ClusterNode,
    EmbeddedKafka,
    free_port,
    new_cluster_id,
)
from liaison.policy import RoutingPolicy
from liaison.settings import Settings

__all__ = ["EmbeddedCluster"]

log = logging.getLogger(__name__)


class EmbeddedCluster:
    """Start, inspect, disturb and stop ``size`` embedded nodes as one cluster."""

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path,
        *,
        size: int = 3,
        heap_mb: int = 384,
        start_timeout_s: float = 120.0,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir
        self.size = size
        self.heap_mb = heap_mb
        self.start_timeout_s = start_timeout_s
        self._nodes: dict[int, EmbeddedKafka] | None = None

    # -- the nodes ----------------------------------------------------------

    @property
    def layout_file(self) -> Path:
        return self.data_dir / "cluster.json"

    def _layout(self) -> tuple[str, dict[int, tuple[int, int, int]]]:
        """The cluster id and each node's (internal, partner, controller) ports: chosen
        at the first start, then kept."""
        try:
            stored = json.loads(self.layout_file.read_text())
            cluster_id = str(stored["cluster_id"])
            ports = {int(n): (int(p[0]), int(p[1]), int(p[2])) for n, p in stored["nodes"].items()}
        except FileNotFoundError:
            spare = iter(free_port(3 * self.size))
            cluster_id = new_cluster_id()
            ports = {n: (next(spare), next(spare), next(spare)) for n in self.ids}
            self.data_dir.mkdir(parents=True, exist_ok=True)
            layout = {"cluster_id": cluster_id, "nodes": ports}
            self.layout_file.write_text(json.dumps(layout, indent=2) + "\n")
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise EmbeddedKafkaError(f"unreadable {self.layout_file}: {exc}") from exc
        if sorted(ports) != self.ids:
            raise EmbeddedKafkaError(
                f"{self.layout_file} describes nodes {sorted(ports)}, not {self.ids}: "
                f"remove {self.data_dir} to start afresh"
            )
        return cluster_id, ports

    @property
    def ids(self) -> list[int]:
        return list(range(1, self.size + 1))

    @property
    def nodes(self) -> dict[int, EmbeddedKafka]:
        if self._nodes is None:
            cluster_id, ports = self._layout()
            controllers = {n: p[2] for n, p in ports.items()}
            self._nodes = {
                n: EmbeddedKafka(
                    self.data_dir / f"node-{n}",
                    self.cache_dir,
                    heap_mb=self.heap_mb,
                    start_timeout_s=self.start_timeout_s,
                    node=ClusterNode(
                        n, controllers, self.data_dir, (ports[n][0], ports[n][1]), cluster_id
                    ),
                )
                for n in self.ids
            }
        return self._nodes

    def node(self, node_id: int) -> EmbeddedKafka:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise EmbeddedKafkaError(f"the cluster has no node {node_id}") from None

    @property
    def bootstrap_servers(self) -> str:
        """Every node's listener for Liaison's processes (any one that answers will do)."""
        return ",".join(f"127.0.0.1:{p[0]}" for _, p in sorted(self._layout()[1].items()))

    @property
    def partner_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p[1]}" for _, p in sorted(self._layout()[1].items()))

    # -- start and stop ---------------------------------------------------

    def start(self) -> list[BrokerInfo]:
        """Launch every node, then wait for each: none answers before a majority runs."""
        launched: list[tuple[EmbeddedKafka, BrokerInfo]] = []
        try:
            for node in self.nodes.values():
                launched.append((node, node.launch()))
            for node, info in launched:
                node.wait_ready(info)
            self._wait_all_registered()
        except BaseException:
            self.stop()
            raise
        return [info for _, info in launched]

    def _wait_all_registered(self) -> None:
        """Until the metadata lists every node: a node answers before the others know it."""
        deadline = time.monotonic() + self.start_timeout_s
        admin = self.admin()  # held: a client collected mid-request fails its futures
        while True:
            try:
                found = admin.describe_cluster(request_timeout=5).result(timeout=6)
                if sorted(n.id for n in found.nodes) == self.ids:
                    return
            except Exception:  # not there yet: tried until the deadline
                log.debug("cluster metadata not complete yet", exc_info=True)
            if time.monotonic() > deadline:
                raise EmbeddedKafkaError(
                    f"not every node of {self.data_dir} registered within "
                    f"{self.start_timeout_s:.0f}s"
                )
            time.sleep(0.5)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop every node that runs, all at once: the last one standing alone would wait
        for a quorum to shut down in order. A hung node is resumed first."""
        running = self.running()
        for info in running.values():
            os.kill(info.pid, signal.SIGCONT)
            os.kill(info.pid, signal.SIGTERM)
        for node_id in running:
            node = self.nodes[node_id]
            node.stop(timeout_s)
            # A node that was already gone when its stop looked is still our child: reap it.
            node.collect(timeout_s)

    def running(self) -> dict[int, BrokerInfo]:
        return {n: info for n, node in self.nodes.items() if (info := node.status()) is not None}

    # -- faults -------------------------------------------------------------

    def kill(self, node_id: int) -> None:
        """SIGKILL: the node dies with whatever it had not written."""
        self._signal(node_id, signal.SIGKILL)
        node = self.node(node_id)
        node.collect()
        node.status()  # forgets the dead broker's record

    def pause(self, node_id: int) -> None:
        """SIGSTOP: the node hangs, its connections open and silent."""
        self._signal(node_id, signal.SIGSTOP)

    def resume(self, node_id: int) -> None:
        self._signal(node_id, signal.SIGCONT)

    def restart(self, node_id: int) -> BrokerInfo:
        """Start a node that was killed (its storage kept) and wait until it answers."""
        return self.node(node_id).start()

    def _signal(self, node_id: int, sig: signal.Signals) -> None:
        info = self.node(node_id).status()
        if info is None:
            raise EmbeddedKafkaError(f"node {node_id} does not run")
        os.kill(info.pid, sig)

    # -- who leads ------------------------------------------------------------

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The node leading one partition, as the cluster's metadata says."""
        metadata = self.admin().list_topics(topic, timeout=10)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or partition not in found.partitions:
            raise EmbeddedKafkaError(f"no metadata for {topic}[{partition}]")
        leader = int(found.partitions[partition].leader)
        if leader < 0:
            raise EmbeddedKafkaError(f"{topic}[{partition}] has no leader at the moment")
        return leader

    def active_controller(self) -> int:
        """The node leading the controller quorum, from the quorum state the running
        nodes keep (the newest epoch wins)."""
        best: tuple[int, int] | None = None
        for node in self.nodes.values():
            if node.status() is None:
                continue
            state = node.storage_dir / "__cluster_metadata-0" / "quorum-state"
            try:
                known = json.loads(state.read_text())
            except (FileNotFoundError, ValueError):
                continue
            leader, epoch = int(known.get("leaderId", -1)), int(known.get("leaderEpoch", -1))
            if leader > 0 and (best is None or epoch > best[1]):
                best = (leader, epoch)
        if best is None:
            raise EmbeddedKafkaError("no running node knows the controller quorum's leader")
        return best[0]

    # -- clients ------------------------------------------------------------

    def _any(self) -> EmbeddedKafka:
        for node in self.nodes.values():
            if node.status() is not None:
                return node
        raise EmbeddedKafkaError(f"no node of {self.data_dir} runs")

    def admin(self) -> AdminClient:
        node = self._any()
        return AdminClient({"bootstrap.servers": self.bootstrap_servers, **node.admin_security()})

    def client_settings(self, settings: Settings, principal: str | None = None) -> Settings:
        """``settings`` pointed at the whole cluster as ``principal`` (default: the admin)."""
        chosen = self._any().client_settings(settings, principal)
        every = (
            self.partner_bootstrap if chosen.security_protocol == "SSL" else self.bootstrap_servers
        )
        return chosen.model_copy(update={"bootstrap_servers": every})

    def grant(self, settings: Settings, policy: RoutingPolicy) -> list[Principal]:
        """The deployment's users and ACLs (they live in the cluster's metadata, once)."""
        return self._any().grant(settings, policy)

    # -- context manager ------------------------------------------------------

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
