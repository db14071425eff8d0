"""stack.k8s.generate: what the manifests derive from the policy, and what it refuses."""

import pytest

from liaison.errors import ConfigurationError
from liaison.policy import DEFAULT_POLICY, load_policy
from stack.k8s.generate import principals

SECOND_UNESCO = """
[[partners]]
id = "UNESCO-REGIONAL"
name = "UNESCO regional office"
kind = "international-organisation"
topic = "partner.unesco-regional"
legal_basis = "1970 UNESCO Convention, Art. 5"
purpose = "protection of cultural property against illicit trafficking"
payloads = ["seizure"]
sources = ["CEN", "NCEN"]
areas = ["CULTURAL_GOODS"]
countries = ["*"]
handling_codes = ["H0"]
tlp = ["GREEN", "CLEAR"]
personal_data = false
"""


def test_a_partner_topic_that_starts_another_partners_topic_is_refused(tmp_path):
    """Partners read by topic prefix: partner.unesco would reach partner.unesco-regional."""
    policy = tmp_path / "routing.toml"
    policy.write_text(DEFAULT_POLICY.read_text() + SECOND_UNESCO)
    with pytest.raises(ConfigurationError, match=r"liaison\.partner\.unesco is a prefix of"):
        principals(load_policy(policy))


def test_every_partner_without_an_endpoint_gets_a_user_and_every_other_a_sink():
    policy = load_policy()
    names = [p.name for p in principals(policy)]
    assert len(set(names)) == len(names), "two principals share a name"
    readers = {n for n in names if n.startswith("partner-")}
    assert readers == {
        "partner-europol",
        "partner-interpol",
        "partner-rilo-we",
        "partner-be-customs",
        "partner-unesco",
    }
    sinks = {n for n in names if n.endswith("-sink")}
    # The policy's endpoints: cen-outbox (the CEN sink), cisplus, nl-police, de-bka.
    assert sinks == {
        "liaison-cen-sink",
        "liaison-cisplus-sink",
        "liaison-nl-police-sink",
        "liaison-de-bka-sink",
    }
