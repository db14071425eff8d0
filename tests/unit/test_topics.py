import pytest

from liaison.kafka.topics import AUDIT, INGEST_TOPICS, TOPICS, TopicSpec, topic_by_name


def test_names_are_unique_and_prefixed():
    names = [spec.full_name("liaison.") for spec in TOPICS]
    assert len(names) == len(set(names))
    assert all(name.startswith("liaison.") for name in names)
    assert INGEST_TOPICS[0].full_name("t1.") == "t1." + INGEST_TOPICS[0].name


def test_every_topic_says_what_it_carries():
    for spec in TOPICS:
        assert spec.description.strip(), spec.name
        assert spec.partitions >= 1


def test_declared_durability_survives_one_broker_loss():
    for spec in TOPICS:
        replication, config = spec.effective(None)
        assert replication >= 3, spec.name
        assert 2 <= int(config["min.insync.replicas"]) < replication, spec.name


def test_single_node_override_lowers_min_insync_with_it():
    replication, config = INGEST_TOPICS[0].effective(1)
    assert replication == 1
    assert config["min.insync.replicas"] == "1"


def test_override_never_raises_min_insync():
    spec = TopicSpec("x", 1, "x", config={"min.insync.replicas": "2"})
    assert spec.effective(5) == (5, {"min.insync.replicas": "2"})


def test_declared_config_cannot_be_mutated_through_effective():
    _, config = AUDIT.effective(1)
    config["retention.ms"] = "1"
    assert AUDIT.config["retention.ms"] == "-1"


def test_audit_records_do_not_expire_in_kafka():
    assert AUDIT.config["retention.ms"] == "-1"
    assert AUDIT.config["cleanup.policy"] == "delete"  # never compacted away


def test_topic_by_name():
    assert topic_by_name("audit") is AUDIT
    with pytest.raises(KeyError):
        topic_by_name("nope")
