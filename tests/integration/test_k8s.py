"""deploy/k8s/: every overlay renders with kustomize and every resource passes the Kubernetes
and CRD schemas; topics and users say what the code and the routing policy say; every
workload is locked down; the alert rules are the ones promtool tests."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from liaison.kafka.jars import KAFKA_VERSION
from liaison.kafka.topics import (
    INGEST_TOPICS,
    PIPELINE_DEDUPED,
    PIPELINE_ENRICHED,
    PIPELINE_VERSIONED,
    PIPELINE_WATCH,
)
from liaison.policy import DEFAULT_POLICY, declared_topics, load_policy
from liaison.settings import load_settings
from stack.k8s.generate import generated_files, stale_files
from stack.k8s.validate import CrdSchemas, Validator, find_kustomize, render, workload_problems
from stack.k8s.workloads import METRICS_PORT
from tests.integration.conftest import run_liaison

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir())
POLICY = load_policy()
PREFIX = "liaison."
# Replication each overlay runs topics with: production as declared, dev on one broker.
REPLICATION = {"production": None, "dev": 1}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(CrdSchemas(K8S / "schemas"))


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    kustomize = find_kustomize(load_settings({}).cache_dir)
    return {overlay: render(K8S / "overlays" / overlay, kustomize) for overlay in OVERLAYS}


def of_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind]


def test_there_is_a_dev_and_a_production_overlay():
    assert {"dev", "production"} <= set(OVERLAYS)
    assert set(REPLICATION) == set(OVERLAYS), "say how each overlay replicates its topics"


def test_the_generated_manifests_agree_with_the_code():
    files = generated_files(ROOT, POLICY, DEFAULT_POLICY)
    stale = [str(path.relative_to(ROOT)) for path in stale_files(files)]
    assert not stale, f"run `liaison k8s generate`: {stale} differ from the code"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_of_every_overlay_is_valid(rendered, validator, overlay):
    resources = rendered[overlay]
    problems = [p for r in resources for p in (*validator.problems(r), *workload_problems(r))]
    assert problems == []
    kinds = {r["kind"] for r in resources}
    expected = {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "Deployment",
        "PodDisruptionBudget",
        "ScaledObject",
        "PodMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "ConfigMap",
    }
    assert expected <= kinds
    namespace = next(r for r in resources if r["kind"] == "Namespace")["metadata"]["name"]
    assert all(
        r["metadata"].get("namespace") == namespace for r in resources if r["kind"] != "Namespace"
    )


def test_a_broken_manifest_fails_naming_the_resource_and_the_field():
    """The fixture holds a KafkaUser with a misspelt field, a Deployment without probes, a
    Service with a misspelt field and a kind nobody can check."""
    done = run_liaison(
        "k8s", "validate", str(ROOT / "tests" / "fixtures" / "k8s" / "broken"), env=_env()
    )
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "KafkaUser/partner-misspelt: spec: " in out
    assert "'quota' was unexpected" in out
    assert "Deployment/no-probes: container worker: readinessProbe is missing" in out
    assert "Deployment/no-probes: container worker: livenessProbe is missing" in out
    assert "Service/misspelt-port: spec.ports[0]: " in out
    assert "'targetPorts' was unexpected" in out
    assert "KafkaConnector/not-checked: unknown kind" in out
    assert "4 resources, 5 problems" in out


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}


def test_the_validate_command_passes_the_shipped_overlays():
    done = run_liaison("k8s", "validate", env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    for overlay in OVERLAYS:
        assert re.search(rf"^{overlay}: \d+ resources, 0 problems$", done.stdout, re.M)


@pytest.mark.parametrize(
    "breakage",
    [
        ("readinessProbe is missing", lambda c, p: c.pop("readinessProbe")),
        ("livenessProbe is missing", lambda c, p: c.pop("livenessProbe")),
        ("resources.limits.memory is missing", lambda c, p: c["resources"]["limits"].pop("memory")),
        ("resources.limits.cpu is missing", lambda c, p: c["resources"]["limits"].pop("cpu")),
        ("runAsNonRoot is not true", lambda c, p: p["securityContext"].update(runAsUser=0)),
        (
            "runAsNonRoot is not true",
            lambda c, p: (
                p["securityContext"].pop("runAsNonRoot"),
                c["securityContext"].pop("runAsNonRoot"),
            ),
        ),
        (
            "readOnlyRootFilesystem is not true",
            lambda c, p: c["securityContext"].update(readOnlyRootFilesystem=False),
        ),
        (
            "capabilities.drop does not drop ALL",
            lambda c, p: c["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        ),
        (
            "seccompProfile.type is not RuntimeDefault",
            lambda c, p: p["securityContext"].pop("seccompProfile"),
        ),
        (
            "terminationGracePeriodSeconds is 30",
            lambda c, p: p.update(terminationGracePeriodSeconds=30),
        ),
        (
            "env LIAISON_LOG_LEVEL is written inline; take it from a ConfigMap",
            lambda c, p: c["env"].append({"name": "LIAISON_LOG_LEVEL", "value": "DEBUG"}),
        ),
        (
            "env LIAISON_SASL_PASSWORD is written inline",
            lambda c, p: c["env"].append({"name": "LIAISON_SASL_PASSWORD", "value": "x"}),
        ),
    ],
    ids=lambda b: b[0],
)
def test_the_workload_rules_catch_each_breach(rendered, breakage):
    """Each rule fails on a shipped workload with just that one thing broken."""
    problem, breach = breakage
    worker = copy.deepcopy(
        next(
            d
            for d in of_kind(rendered["production"], "Deployment")
            if "worker" in d["spec"]["template"]["spec"]["containers"][0]["args"]
        )
    )
    assert workload_problems(worker) == []
    pod = worker["spec"]["template"]["spec"]
    breach(pod["containers"][0], pod)
    found = workload_problems(worker)
    assert len(found) == 1
    assert problem in found[0]
    assert found[0].startswith("Deployment/liaison-worker: ")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_are_the_declared_ones(rendered, overlay):
    """Every declared topic (and one per partner) as a KafkaTopic with its partitions,
    replication and configs; nothing else."""
    want = {}
    for spec in declared_topics(POLICY):
        replication, config = spec.effective(REPLICATION[overlay])
        want[spec.full_name(PREFIX)] = (spec.partitions, replication, config)
    have = {
        t["spec"]["topicName"]: (
            t["spec"]["partitions"],
            t["spec"]["replicas"],
            {k: str(v) for k, v in t["spec"]["config"].items()},
        )
        for t in of_kind(rendered[overlay], "KafkaTopic")
    }
    assert have == want
    cluster = of_kind(rendered[overlay], "Kafka")[0]["metadata"]["name"]
    for resource in [
        *of_kind(rendered[overlay], "KafkaTopic"),
        *of_kind(rendered[overlay], "KafkaUser"),
    ]:
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == cluster


def test_production_kafka_keeps_what_it_acknowledged(rendered):
    resources = rendered["production"]
    kafka = of_kind(resources, "Kafka")[0]["spec"]["kafka"]
    brokers = [p for p in of_kind(resources, "KafkaNodePool") if "broker" in p["spec"]["roles"]]
    controllers = [
        p for p in of_kind(resources, "KafkaNodePool") if "controller" in p["spec"]["roles"]
    ]
    assert sum(p["spec"]["replicas"] for p in brokers) == 3
    assert sum(p["spec"]["replicas"] for p in controllers) == 3
    assert kafka["version"] == KAFKA_VERSION, "the cluster runs what the tests ran against"
    assert kafka["config"]["default.replication.factor"] == 3
    assert kafka["config"]["min.insync.replicas"] == 2
    assert kafka["config"]["unclean.leader.election.enable"] is False
    assert kafka["authorization"]["type"] == "simple"
    listeners = {listener["name"]: listener for listener in kafka["listeners"]}
    assert all(listener["tls"] for listener in listeners.values())
    assert {listener["authentication"]["type"] for listener in listeners.values()} == {
        "scram-sha-512",
        "tls",
    }
    for topic in of_kind(resources, "KafkaTopic"):
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == "2"


def _matches(acl: dict[str, Any], kind: str, name: str) -> bool:
    resource = acl["resource"]
    if resource["type"] != kind:
        return False
    if resource.get("patternType", "literal") == "prefix":
        return name.startswith(resource["name"])
    return resource["name"] in (name, "*")


def _may(user: dict[str, Any], operation: str, kind: str, name: str) -> bool:
    acls = user["spec"]["authorization"]["acls"]
    return any(
        _matches(acl, kind, name) and operation in acl["operations"]
        for acl in acls
        if acl.get("type", "allow") == "allow"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_partner_reads_its_own_topic_and_nothing_else(rendered, overlay):
    users = {u["metadata"]["name"]: u for u in of_kind(rendered[overlay], "KafkaUser")}
    topics = [t["spec"]["topicName"] for t in of_kind(rendered[overlay], "KafkaTopic")]
    partner_topics = {p.id: PREFIX + p.topic for p in POLICY.partners}
    for partner in POLICY.partners:
        own = partner_topics[partner.id]
        readers = [name for name, user in users.items() if _may(user, "Read", "topic", own)]
        # Its reader (the partner itself, or the sink that delivers to its endpoint) alone;
        # a topic the partner reads itself also by the read receipts (keys and headers, for
        # what its groups committed). The lag exporter only describes a sink's topic: it
        # reads offsets and broker timestamps, never a record.
        watchers = set() if partner.endpoint is not None else {"liaison-read-receipts"}
        assert len(readers) == 1 + len(watchers), (partner.id, readers)
        assert watchers <= set(readers), (partner.id, readers)
        if partner.endpoint is not None:
            assert _may(users["liaison-lag-exporter"], "Describe", "topic", own)
        (reader,) = (name for name in readers if name not in watchers)
        user = users[reader]
        readable = {t for t in topics if _may(user, "Read", "topic", t)}
        assert readable == {own}, (reader, readable)
        # It writes nothing but dead letters and, for a sink, its delivery receipts.
        outputs = {PREFIX + "deadletter", PREFIX + "receipts"}
        assert not any(_may(user, "Write", "topic", t) for t in topics if t not in outputs)
        if partner.endpoint is None:  # reads Kafka itself: its own certificate and quotas
            assert user["spec"]["authentication"]["type"] == "tls"
            assert user["spec"]["quotas"]["consumerByteRate"] > 0
            groups = [
                a for a in user["spec"]["authorization"]["acls"] if a["resource"]["type"] == "group"
            ]
            assert groups
            assert all(a["resource"]["patternType"] == "prefix" for a in groups)
            assert all(a["resource"]["name"].startswith(reader) for a in groups)
        else:
            assert reader.endswith("-sink")
            assert user["spec"]["authentication"]["type"] == "scram-sha-512"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_process_may_do_more_than_its_part(rendered, overlay):
    users = {u["metadata"]["name"]: u for u in of_kind(rendered[overlay], "KafkaUser")}
    topics = [t["spec"]["topicName"] for t in of_kind(rendered[overlay], "KafkaTopic")]
    partner_topics = {PREFIX + p.topic for p in POLICY.partners}
    for user in users.values():
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["type"] in ("topic", "group"), "no cluster-wide rights"
            assert "All" not in acl["operations"]
            assert acl["resource"]["name"] not in ("*", "", PREFIX)
    pipeline = users["liaison-pipeline"]
    assert not any(_may(pipeline, "Read", "topic", t) for t in partner_topics)
    assert all(_may(pipeline, "Write", "topic", t) for t in partner_topics)
    for source, topic in (
        ("liaison-cen-source", "ingest.cen"),
        ("liaison-cisplus-source", "ingest.cisplus"),
        ("liaison-police-source", "ingest.police"),
    ):
        writable = {t for t in topics if _may(users[source], "Write", "topic", t)}
        assert PREFIX + topic in writable
        assert writable <= {
            PREFIX + topic,
            PREFIX + "deadletter",
            PREFIX + "state.connect-positions",
        }
        assert not any(_may(users[source], "Read", "topic", t) for t in partner_topics)
    exporter = users["liaison-lag-exporter"]
    assert not any(_may(exporter, "Write", "topic", t) for t in topics)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_uses_its_own_kafka_user(rendered, overlay):
    users = {u["metadata"]["name"]: u for u in of_kind(rendered[overlay], "KafkaUser")}
    deployments = of_kind(rendered[overlay], "Deployment")
    seen = set()
    for deployment in deployments:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        maps = {m["metadata"]["name"]: m["data"] for m in of_kind(rendered[overlay], "ConfigMap")}
        own = [maps[ref["configMapRef"]["name"]] for ref in container["envFrom"]]
        (user,) = {data["LIAISON_SASL_USERNAME"] for data in own if "LIAISON_SASL_USERNAME" in data}
        assert user in users
        assert users[user]["spec"]["authentication"]["type"] == "scram-sha-512"
        assert env["LIAISON_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == user
        seen.add(user)
    assert len(seen) == len(deployments), "two processes share a Kafka user"
    sinks = {p.id for p in POLICY.partners if p.endpoint is not None}
    delivered = {
        " ".join(d["spec"]["template"]["spec"]["containers"][0]["args"]) for d in deployments
    }
    for partner in sinks:
        assert any(
            f"--partner {partner}" in args or (partner == "WCO-CEN" and args.endswith("cen-sink"))
            for args in delivered
        ), partner


def test_the_prometheus_rules_are_the_rule_files_promtool_tests(rendered):
    files = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
    for overlay in OVERLAYS:
        rules = {r["metadata"]["name"]: r for r in of_kind(rendered[overlay], "PrometheusRule")}
        assert set(rules) == {path.stem for path in files}
        for path in files:
            assert rules[path.stem]["spec"]["groups"] == yaml.safe_load(path.read_text())["groups"]


def test_every_process_is_scraped_under_the_job_the_alerts_use(rendered):
    alerts = "\n".join(
        p.read_text() for p in (ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")
    )
    env = dict(
        line.split("=", 1)
        for line in (K8S / "base" / "config" / "liaison.env").read_text().splitlines()
        if "=" in line
    )
    assert int(env["LIAISON_METRICS_PORT"]) == METRICS_PORT
    for overlay in OVERLAYS:
        (monitor,) = (
            m
            for m in of_kind(rendered[overlay], "PodMonitor")
            if m["metadata"]["name"] == "liaison"
        )
        selector = monitor["spec"]["selector"]["matchLabels"]
        job_label = monitor["spec"]["jobLabel"]
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        jobs = set()
        for deployment in of_kind(rendered[overlay], "Deployment"):
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items()
            jobs.add(labels[job_label])
            ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
            assert {
                "name": endpoint["port"],
                "containerPort": METRICS_PORT,
                "protocol": "TCP",
            } in ports
        assert jobs == {"liaison-worker", "liaison-connector", "liaison-lag-exporter"}
    assert 'job="liaison-worker"' in alerts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_worker_scales_on_lag_up_to_its_partitions(rendered, overlay):
    (scaled,) = of_kind(rendered[overlay], "ScaledObject")
    target = scaled["spec"]["scaleTargetRef"]
    worker = next(
        d
        for d in of_kind(rendered[overlay], "Deployment")
        if d["metadata"]["name"] == target["name"]
    )
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]
    # The count is the scaler's: a replica count in the Deployment would undo it on each apply.
    assert "replicas" not in worker["spec"]
    shared = min(
        spec.partitions
        for spec in (
            *INGEST_TOPICS,
            PIPELINE_VERSIONED,
            PIPELINE_DEDUPED,
            PIPELINE_WATCH,
            PIPELINE_ENRICHED,
        )
    )
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= shared
    if overlay == "production":
        assert scaled["spec"]["maxReplicaCount"] == shared
    queries = [t["metadata"]["query"] for t in scaled["spec"]["triggers"]]
    assert all("liaison_consumer_lag" in q and 'group="liaison-pipeline"' in q for q in queries)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_network_is_closed_by_default(rendered, overlay):
    policies = {
        p["metadata"]["name"]: p["spec"] for p in of_kind(rendered[overlay], "NetworkPolicy")
    }
    deny = [
        spec
        for spec in policies.values()
        if spec["podSelector"] == {}
        and "Ingress" in spec["policyTypes"]
        and not spec.get("ingress")
    ]
    assert deny, "no default-deny ingress policy"
    for spec in policies.values():
        for rule in spec.get("ingress", []):
            for peer in rule["from"]:
                assert "ipBlock" not in peer or peer["ipBlock"]["cidr"] != "0.0.0.0/0"
            if any(port["port"] == METRICS_PORT for port in rule.get("ports", [])):
                assert rule["from"] == [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        }
                    }
                ]


def test_the_image_runs_as_a_user_and_its_base_is_pinned():
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert bases
    for base in bases:
        assert re.search(r":\d+\.\d+\.\d+", base), f"{base} is not pinned to a release"
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users
    assert users[-1].split(":")[0] not in ("0", "root")


# What a Secret holds, in the shape its setting takes (README, Configuration).
SECRET_PLACEHOLDERS = {
    "LIAISON_HTTP_TOKENS": "cisplus:NL-CUSTOMS=placeholder-of-32-characters-one,"
    "police:NL-POLICE=placeholder-of-32-characters-two",
    "LIAISON_PARTNER_ENDPOINTS": "nl-police=https://intake.invalid/v1|placeholder",
    "LIAISON_PERSON_KEY": "placeholder, at least sixteen characters",
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_gets_settings_the_settings_object_accepts(rendered, overlay):
    """The ConfigMap's variables and each workload's own, as the process would read them
    (a Secret's value stands in as a placeholder): no unknown or malformed setting."""
    maps = {
        m["metadata"]["name"]: m.get("data", {}) for m in of_kind(rendered[overlay], "ConfigMap")
    }
    for deployment in of_kind(rendered[overlay], "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        environ: dict[str, str] = {}
        for source in container["envFrom"]:
            environ.update(maps[source["configMapRef"]["name"]])
        for variable in container["env"]:
            environ[variable["name"]] = variable.get(
                "value", SECRET_PLACEHOLDERS.get(variable["name"], "placeholder")
            )
        settings = load_settings(environ)
        assert settings.security_protocol == "SASL_SSL"
        assert settings.sasl_mechanism == "SCRAM-SHA-512"
        assert settings.metrics_port == METRICS_PORT
        assert settings.routing_policy is not None
        assert settings.ssl_ca_location is not None
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert str(settings.routing_policy.parent) in mounts
        assert str(settings.ssl_ca_location.parent) in mounts
        assert str(settings.state_dir) in mounts
