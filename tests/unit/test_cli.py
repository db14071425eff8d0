from click.testing import CliRunner

from liaison.cli import cli
from liaison.kafka.topics import TOPICS


def test_unknown_setting_stops_every_command_with_exit_code_2(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["topics", "list"],
        env={"LIAISON_TOPIC_PREFX": "x.", "LIAISON_STATE_DIR": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert "LIAISON_TOPIC_PREFX" in result.output


def test_topics_list_shows_every_declared_topic_with_the_prefix(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["topics", "list"],
        env={"LIAISON_TOPIC_PREFIX": "prod.", "LIAISON_STATE_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    for spec in TOPICS:
        assert f"prod.{spec.name}  partitions={spec.partitions}" in result.output


def test_status_without_a_broker_exits_3(tmp_path):
    result = CliRunner().invoke(cli, ["kafka", "status"], env={"LIAISON_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 3
    assert "not running" in result.output


def test_topics_create_without_any_kafka_says_how_to_get_one(tmp_path):
    result = CliRunner().invoke(cli, ["topics", "create"], env={"LIAISON_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert "liaison kafka start" in result.output
