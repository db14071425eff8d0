import os
import subprocess
import sys

from click.testing import CliRunner

from liaison.cli import cli
from liaison.kafka.topics import TOPICS
from liaison.policy import load_policy


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


def test_generate_writes_the_same_lines_for_the_same_seed(tmp_path):
    env = {"LIAISON_STATE_DIR": str(tmp_path)}
    outputs = []
    for name in ("a.jsonl", "b.jsonl"):
        path = tmp_path / name
        result = CliRunner().invoke(
            cli,
            [
                "generate",
                "--count",
                "300",
                "--seed",
                "9",
                "--mix",
                "replay=0.2",
                "--out",
                str(path),
            ],
            env=env,
        )
        assert result.exit_code == 0, result.output
        outputs.append(path.read_text())
    assert outputs[0] == outputs[1]
    lines = outputs[0].splitlines()
    assert len(lines) == 300
    replays = sum('"label": "replay"' in line for line in lines)
    assert f"replay             {replays:7d}" in result.output


def test_generate_refuses_an_unknown_share(tmp_path):
    result = CliRunner().invoke(
        cli,
        ["generate", "--count", "1", "--out", "-", "--mix", "replays=0.1"],
        env={"LIAISON_STATE_DIR": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert "replays=0.1" in result.output


def test_route_explain_names_recipients_rules_and_refusals(tmp_path):
    env = {"LIAISON_STATE_DIR": str(tmp_path)}
    traffic = tmp_path / "t.jsonl"
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["generate", "--count", "40", "--seed", "3", "--out", str(traffic)], env=env
        ).exit_code
        == 0
    )
    lines = traffic.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if '"label": "seizure"' in line)
    result = runner.invoke(cli, ["route", "explain", str(traffic), "--line", str(number)], env=env)
    assert result.exit_code == 0, result.output
    gets = [line.split()[1] for line in result.output.splitlines() if line.startswith("  gets")]
    refused = [
        line.split()[1] for line in result.output.splitlines() if line.startswith("  refused")
    ]
    assert gets
    assert sorted(gets + refused) == sorted(p.id for p in load_policy().partners)
    assert "rule " in result.output


def test_route_explain_refuses_a_line_that_is_not_there(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = CliRunner().invoke(
        cli,
        ["route", "explain", str(path), "--line", "3"],
        env={"LIAISON_STATE_DIR": str(tmp_path)},
    )
    assert result.exit_code == 2
    assert "no line 3" in result.output


def test_http_sink_needs_a_partner_with_an_endpoint_and_its_address(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env = {**base, "LIAISON_STATE_DIR": str(tmp_path), "LIAISON_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    command = [sys.executable, "-m", "liaison", "connector", "run", "http-sink"]
    no_endpoint = subprocess.run(
        [*command, "--partner", "INTERPOL"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert no_endpoint.returncode == 2
    assert "NL-POLICE" in no_endpoint.stderr  # it lists the partners that have an endpoint
    cen = subprocess.run(
        [*command, "--partner", "WCO-CEN"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cen.returncode == 2  # CEN takes files (cen-sink), never HTTP: its group is not ours
    assert "WCO-CEN" not in cen.stderr.split("those are", 1)[1]
    unset = subprocess.run(
        [*command, "--partner", "NL-POLICE"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unset.returncode == 2
    assert "nl-police" in unset.stderr
    assert "LIAISON_PARTNER_ENDPOINTS" in unset.stderr


_MODULES_AFTER = """
import sys
from liaison.cli import cli
try:
    cli(sys.argv[1:], prog_name="liaison")
except SystemExit:
    pass
print("\\n".join(sorted(sys.modules)))
"""


def _modules_after(tmp_path, *args):
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    result = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, *args],
        env={**base, "LIAISON_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(result.stdout.split())


def test_the_worker_command_loads_no_connector_and_nothing_that_composes_the_parts(tmp_path):
    loaded = _modules_after(tmp_path, "worker", "--help")
    assert "pipelines.commands" in loaded
    above = sorted(m for m in loaded if m.split(".")[0] in ("connectors", "stack", "bench"))
    assert above == []
    assert "faust" not in loaded  # the worker loads Faust only when it runs


def test_a_connector_command_loads_no_stage_and_no_faust(tmp_path):
    loaded = _modules_after(tmp_path, "connector", "run", "--help")
    assert "connectors.commands" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in ("pipelines", "stack", "bench")) == []
    assert "faust" not in loaded
