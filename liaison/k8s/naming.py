"""The names a Kubernetes deployment of Liaison uses, in one place.

The workloads are configured with the same topic prefix and client id
(``deploy/k8s/base/config/liaison.env``); the consumer groups below follow from them the way
the processes name their groups.
"""

from __future__ import annotations

from liaison.policy import Partner

__all__ = [
    "CLIENT_ID",
    "CLUSTER",
    "PIPELINE_GROUP",
    "TOPIC_PREFIX",
    "partner_user",
    "sink_name",
]

CLUSTER = "liaison"  # the Strimzi Kafka resource
TOPIC_PREFIX = "liaison."
CLIENT_ID = "liaison"
PIPELINE_GROUP = "liaison-pipeline"


def sink_name(partner: Partner) -> str:
    """The sink that delivers ``partner``'s topic (as ``liaison connector run`` and the lag
    exporter name it), for a partner with an endpoint."""
    return "cen-sink" if partner.kind == "cen" else f"{partner.endpoint}-sink"


def partner_user(partner: Partner) -> str:
    """The Kafka user of a partner that reads its deliveries from Kafka itself."""
    return "partner-" + partner.topic.removeprefix("partner.")
