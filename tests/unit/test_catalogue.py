"""The process catalogues: every process they list is a workload of the generated manifests
with its Kafka user, and the local stack starts it; nothing else restates them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from liaison.policy import DEFAULT_POLICY, load_policy
from liaison.processes import catalogue
from liaison.settings import load_settings
from stack.k8s.generate import generated_files
from stack.k8s.naming import deployment_settings

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy()

# A policy with one more partner that has an HTTP endpoint: its sink must appear everywhere
# without any file but the policy changing.
NEW_PARTNER = """
[[partners]]
id = "FR-DGDDI"
name = "French customs intelligence"
kind = "national-customs"
topic = "partner.fr-dgddi"
endpoint = "fr-dgddi"
legal_basis = "Naples II Convention, Art. 8"
purpose = "prevention and detection of infringements of customs regulations"
payloads = ["seizure"]
sources = ["CEN", "NCEN", "CIS_PLUS"]
areas = ["*"]
countries = ["FR"]
handling_codes = ["H0", "H1"]
tlp = ["GREEN", "CLEAR", "AMBER"]
personal_data = false
"""


def _generated(policy, policy_path):
    documents: list[dict[str, Any]] = []
    for text in generated_files(ROOT, policy, policy_path).values():
        documents.extend(d for d in yaml.safe_load_all(text) if d)
    return documents


def _check_every_process_is_deployed(policy, policy_path):
    documents = _generated(policy, policy_path)
    deployments = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
        for d in documents
        if d["kind"] == "Deployment"
    }
    users = {d["metadata"]["name"] for d in documents if d["kind"] == "KafkaUser"}
    listed = catalogue(deployment_settings(), policy)
    assert {f"liaison-{p.name}" for p in listed} == set(deployments)
    for process in listed:
        container = deployments[f"liaison-{process.name}"]
        assert container["args"] == list(process.command)
        assert process.principal in users
    return listed


def test_every_process_of_the_catalogue_is_a_workload_with_its_kafka_user():
    listed = _check_every_process_is_deployed(POLICY, DEFAULT_POLICY)
    assert {p.part for p in listed} == {"pipeline", "connector", "monitoring"}
    assert {"worker", "cen-source", "cisplus-source", "police-source", "lag-exporter"} <= {
        p.name for p in listed
    }


def test_a_new_partner_endpoint_brings_its_sink_everywhere(tmp_path):
    path = tmp_path / "routing.toml"
    path.write_text(DEFAULT_POLICY.read_text() + NEW_PARTNER)
    policy = load_policy(path)
    listed = _check_every_process_is_deployed(policy, path)
    (sink,) = [p for p in listed if p.partner == "FR-DGDDI"]
    assert sink.command == ("connector", "run", "http-sink", "--partner", "FR-DGDDI")
    lag = next(p for p in listed if p.name == "lag-exporter")
    assert sink.group in lag.describes_groups  # its lag is watched
    assert "liaison.partner.fr-dgddi" in lag.describes
    assert not lag.reads  # offsets and times only: it may read no record


def test_each_process_has_a_name_principal_and_group_of_its_own():
    listed = catalogue(load_settings({}), POLICY)
    for attribute in ("name", "principal"):
        values = [getattr(p, attribute) for p in listed]
        assert len(values) == len(set(values)), attribute
    groups = [g for p in listed for g in (p.group, *p.reader_groups) if g]
    assert len(groups) == len(set(groups))
