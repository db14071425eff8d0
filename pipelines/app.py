"""The Faust application that hosts every stage."""

from __future__ import annotations

import ssl

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from mode import CrashingSupervisor
from prometheus_client import CollectorRegistry

from liaison.avro.codec import MAX_MESSAGE_BYTES
from liaison.kafka.client import resolve_bootstrap
from liaison.metrics import PipelineMetrics
from liaison.policy import RoutingPolicy, policy_of
from liaison.settings import Settings
from pipelines.catalogue import input_topics
from pipelines.overrides import LiaisonApp
from pipelines.stages import register_stages
from pipelines.watchdog import register as register_watchdog

__all__ = ["SESSION_TIMEOUT_S", "create_app"]

SESSION_TIMEOUT_S = 10.0


def create_app(
    settings: Settings,
    bootstrap: str | None = None,
    registry: CollectorRegistry | None = None,
    policy: RoutingPolicy | None = None,
) -> faust.App:
    """A Faust app wired to the declared topics, with every stage registered.

    Topics are never declared by Faust (the project declares them), and an
    agent that raises takes the whole worker down (CrashingSupervisor):
    a silently stopped agent would hold its partitions and lose nothing but
    time, which is worse than a loud restart from the last committed offset.
    """
    servers = bootstrap or resolve_bootstrap(settings)
    datadir = settings.state_dir / "faust" / settings.pipeline_app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = LiaisonApp(
        settings.pipeline_app_id,
        broker=[f"kafka://{server.strip()}" for server in servers.split(",")],
        broker_client_id=f"{settings.client_id}-pipeline",
        broker_credentials=_credentials(settings),
        key_serializer="raw",
        value_serializer="raw",
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # aiokafka's bound on one request (1,000,000 by default) is below what the topics
        # take (MAX_MESSAGE_BYTES); the sources keep events well under that.
        producer_max_request_size=MAX_MESSAGE_BYTES + 64 * 1024,
        # A worker that dies without leaving its group (SIGKILL, a lost node) holds its
        # partitions until its session times out, and its replacement waits that long to
        # join: Faust's 60 s default leaves every partition unread for a minute after a
        # crash. The heartbeats run on the consumer's own thread (not the agents' loop),
        # so a short session costs no false expulsions while the agents are busy.
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=SESSION_TIMEOUT_S / 4,
        agent_supervisor=CrashingSupervisor,
        web_enabled=False,
        store="memory://",
        autodiscover=False,
        # Faust otherwise writes "<app id>-data" into the working directory.
        datadir=str(datadir),
    )
    # Read strictly in offset order, whatever a seek races with (pipelines.overrides).
    app.in_order_topics = input_topics(settings)
    registry = registry if registry is not None else CollectorRegistry()
    # Faust's own sensor (messages, tables, sends, rebalances) beside Liaison's metrics.
    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(registry, "faust"))
    metrics = PipelineMetrics.create(registry)
    stages = register_stages(
        app, settings, policy if policy is not None else policy_of(settings), metrics
    )
    register_watchdog(app, settings, metrics, waiting=stages.waiting)
    return app


def _credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """The same security settings the confluent-kafka clients use, in Faust's terms."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        cafile = str(settings.ssl_ca_location) if settings.ssl_ca_location else None
        context = ssl.create_default_context(cafile=cafile)
        if settings.ssl_certificate_location is not None:
            key = settings.ssl_key_location
            context.load_cert_chain(settings.ssl_certificate_location, key)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password.get_secret_value() if settings.sasl_password else None,
        mechanism=settings.sasl_mechanism or "PLAIN",
        ssl_context=context,
    )
