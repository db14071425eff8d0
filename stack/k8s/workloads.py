"""The pipeline worker, the connectors and the lag exporter as Kubernetes workloads.

Every process runs the one image with a ``liaison`` subcommand, under the same locked-down
pod template: not root, read-only root filesystem, no capabilities, the runtime's default
seccomp profile, probes on the metrics port (``/healthz``, ``/readyz``), requests and limits,
its Kafka user's password from the Secret the Strimzi User Operator keeps, the shared
settings from the ``liaison-config`` ConfigMap. The sinks follow the routing policy: one per
partner with an endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from liaison.errors import ConfigurationError
from liaison.policy import RoutingPolicy
from liaison.processes import Process as CatalogueProcess
from liaison.processes import catalogue
from liaison.settings import Settings, env_name
from stack.k8s.naming import CLUSTER, deployment_settings

__all__ = ["METRICS_PORT", "TERMINATION_GRACE_S", "Process", "processes", "workload"]

METRICS_PORT = 9100
# Longer than any commit interval (Faust's 2.8 s, the CEN sink's 5 s file age) and than a
# sink's longest retry wait (30 s), so a stopping process finishes and commits its work.
TERMINATION_GRACE_S = 60
IMAGE = "liaison"
UID = 10001

_PART_OF = {"app.kubernetes.io/part-of": "liaison"}


@dataclass(frozen=True)
class Process:
    """One workload: the command it runs and what it needs beyond the common template."""

    name: str
    component: str  # pipeline, connector or monitoring
    job: str  # the Prometheus job its metrics belong to (the alert rules use it)
    args: tuple[str, ...]
    kafka_user: str
    replicas: int | None = 1  # None: the autoscaler's to set (KEDA, for the worker)
    singleton: bool = False  # must never run twice at once (Recreate, not RollingUpdate)
    http_port: int | None = None  # an HTTP source's port, served by a Service
    secrets: tuple[tuple[str, str, str], ...] = ()  # (variable, Secret, key)
    exchange: bool = False  # mounts the CEN exchange volume (inbox, archive, outbox)
    partner_egress: bool = False  # delivers to a partner's HTTPS endpoint outside the cluster
    cpu: tuple[str, str] = ("100m", "1")  # request, limit
    memory: tuple[str, str] = ("256Mi", "512Mi")
    extra_env: tuple[tuple[str, str], ...] = field(default=())


# Secrets as the deployment keeps them: setting -> (Secret, key). A secret setting not
# listed here is kept in the Secret ``liaison-<setting>`` under the key ``value``.
SECRETS = {
    "http_tokens": ("liaison-http-tokens", "tokens"),
    "partner_endpoints": ("liaison-partner-endpoints", "endpoints"),
    "person_key": ("liaison-person-key", "key"),
}
# Where the shared directories live: under the CEN exchange volume's mount.
EXCHANGE_MOUNT = "/var/lib/liaison/cen"
# Requests and limits beyond the default, by process: (cpu request, limit), (memory ...).
SIZES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    # Faust keeps its tables in memory, rebuilt from the changelogs at start: the memory
    # bound grows with the dedupe and watch windows.
    "worker": (("500m", "2"), ("1Gi", "2Gi")),
    "lag-exporter": (("100m", "1"), ("128Mi", "256Mi")),
}


def _directory(setting: str) -> str:
    """``cen_inbox`` -> ``/var/lib/liaison/cen/inbox``: the exchange volume holds them all."""
    area, _, name = setting.partition("_")
    if area != "cen" or not name:
        raise ConfigurationError(f"no volume holds the directory of setting {setting!r}")
    return f"{EXCHANGE_MOUNT}/{name}"


def _workload(spec: CatalogueProcess) -> Process:
    sizes = SIZES.get(spec.name)
    port = None
    if spec.port_setting is not None:
        port = int(Settings.model_fields[spec.port_setting].default)
    return Process(
        name=f"liaison-{spec.name}",
        component=spec.part,
        job=spec.job,
        args=spec.command,
        kafka_user=spec.principal,
        replicas=spec.replicas,
        singleton=spec.singleton,
        http_port=port,
        secrets=tuple(
            (env_name(s), *SECRETS.get(s, (f"liaison-{s.replace('_', '-')}", "value")))
            for s in spec.secrets
        ),
        exchange=bool(spec.directories),
        partner_egress=spec.egress,
        **({"cpu": sizes[0], "memory": sizes[1]} if sizes else {}),
        extra_env=tuple((env_name(d), _directory(d)) for d in spec.directories),
    )


def processes(policy: RoutingPolicy) -> list[Process]:
    """Every process of a deployment, as the parts' catalogues declare them."""
    return [_workload(spec) for spec in catalogue(deployment_settings(), policy)]


def _labels(process: Process) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": process.name,
        "app.kubernetes.io/component": process.component,
        **_PART_OF,
        "liaison.eu/job": process.job,
        "liaison.eu/kafka-client": "true",  # the network policies let it reach Kafka
    }
    if process.partner_egress:
        labels["liaison.eu/partner-egress"] = "true"
    return labels


def _container(process: Process) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {
            "name": "LIAISON_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": process.kafka_user, "key": "password"}},
        },
        *(
            {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for name, secret, key in process.secrets
        ),
    ]
    ports = [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
    if process.http_port is not None:
        ports.append({"name": "http", "containerPort": process.http_port, "protocol": "TCP"})
    mounts = [
        {"name": "state", "mountPath": "/var/lib/liaison"},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir of its own
        {"name": "routing-policy", "mountPath": "/etc/liaison/policy", "readOnly": True},
        {"name": "kafka-ca", "mountPath": "/etc/liaison/kafka-ca", "readOnly": True},
    ]
    if process.exchange:
        mounts.append({"name": "cen-exchange", "mountPath": "/var/lib/liaison/cen"})
    return {
        "name": process.name.removeprefix("liaison-"),
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": list(process.args),
        # The shared settings, then this process's own (its Kafka user, its directories).
        "envFrom": [
            {"configMapRef": {"name": "liaison-config"}},
            {"configMapRef": {"name": f"{process.name}-config"}},
        ],
        "env": env,
        "ports": ports,
        # Ready: partitions assigned and tables recovered (worker), partitions assigned
        # (sinks), serving (sources). Alive: the work loop went round within two minutes.
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "metrics"},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "metrics"},
            "initialDelaySeconds": 10,
            "periodSeconds": 15,
            "timeoutSeconds": 3,
            "failureThreshold": 4,
        },
        "resources": {
            "requests": {"cpu": process.cpu[0], "memory": process.memory[0]},
            "limits": {"cpu": process.cpu[1], "memory": process.memory[1]},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def _pod(process: Process) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = [
        {"name": "state", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "routing-policy", "configMap": {"name": "liaison-routing-policy"}},
        {
            "name": "kafka-ca",
            "secret": {
                "secretName": f"{CLUSTER}-cluster-ca-cert",
                "items": [{"key": "ca.crt", "path": "ca.crt"}],
            },
        },
    ]
    if process.exchange:
        volumes.append(
            {"name": "cen-exchange", "persistentVolumeClaim": {"claimName": "liaison-cen-exchange"}}
        )
    return {
        "metadata": {"labels": _labels(process)},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": UID,
                "runAsGroup": UID,
                "fsGroup": UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [_container(process)],
            "volumes": volumes,
        },
    }


def workload(process: Process) -> list[dict[str, Any]]:
    """The ConfigMap of ``process``'s own settings, its Deployment, its PodDisruptionBudget,
    and its Service if it takes HTTP requests."""
    selector = {"app.kubernetes.io/name": process.name}
    metadata = {"name": process.name, "labels": _labels(process)}
    strategy: dict[str, Any] = (
        {"type": "Recreate"}
        if process.singleton
        else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            **({} if process.replicas is None else {"replicas": process.replicas}),
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": strategy,
            "template": _pod(process),
        },
    }
    # One pod at a time through a drain: a replicated process keeps the others serving, a
    # singleton is moved (a budget of none unavailable would block the drain for good).
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata,
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
    own_config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{process.name}-config", "labels": _labels(process)},
        "data": {"LIAISON_SASL_USERNAME": process.kafka_user, **dict(process.extra_env)},
    }
    resources = [own_config, deployment, budget]
    if process.http_port is not None:
        resources.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata,
                "spec": {
                    "selector": selector,
                    "ports": [{"name": "http", "port": process.http_port, "targetPort": "http"}],
                },
            }
        )
    return resources
