"""The names a Kubernetes deployment of Liaison uses, in one place.

The workloads are configured with the same topic prefix and client id
(``deploy/k8s/base/config/liaison.env``); the consumer groups below follow from them the way
the processes name their groups.
"""

from __future__ import annotations

from liaison.settings import Settings, load_settings

__all__ = [
    "CLIENT_ID",
    "CLUSTER",
    "PIPELINE_GROUP",
    "TOPIC_PREFIX",
    "deployment_settings",
]

CLUSTER = "liaison"  # the Strimzi Kafka resource
TOPIC_PREFIX = "liaison."
CLIENT_ID = "liaison"
PIPELINE_GROUP = "liaison-pipeline"


def deployment_settings() -> Settings:
    """The settings the workloads run with, as far as names follow from them."""
    return load_settings(
        {}, topic_prefix=TOPIC_PREFIX, client_id=CLIENT_ID, pipeline_app_id=PIPELINE_GROUP
    )
