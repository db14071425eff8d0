from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from liaison.errors import ConfigurationError
from liaison.settings import Settings, env_name, load_settings

LONG = "s3cr3t" * 6  # long enough to be a token
PAD = "-" + "p" * 31


def test_defaults_need_no_environment():
    settings = load_settings({})
    assert settings.bootstrap_servers == ""
    assert settings.topic_prefix == "liaison."
    assert settings.kafka_port == 0
    assert settings.security_protocol == "PLAINTEXT"


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        (
            "LIAISON_BOOTSTRAP_SERVERS",
            "10.0.0.1:9092,10.0.0.2:9092",
            "bootstrap_servers",
            "10.0.0.1:9092,10.0.0.2:9092",
        ),
        ("LIAISON_KAFKA_PORT", "19092", "kafka_port", 19092),
        ("LIAISON_TOPIC_PREFIX", "prod.", "topic_prefix", "prod."),
        ("LIAISON_TOPIC_REPLICATION_FACTOR", "1", "topic_replication_factor", 1),
        ("LIAISON_STATE_DIR", "/srv/liaison", "state_dir", Path("/srv/liaison")),
        ("LIAISON_SECURITY_PROTOCOL", "SASL_SSL", "security_protocol", "SASL_SSL"),
        ("LIAISON_KAFKA_START_TIMEOUT_S", "12.5", "kafka_start_timeout_s", 12.5),
        ("liaison_log_level", "DEBUG", "log_level", "DEBUG"),
    ],
)
def test_each_variable_sets_its_field(variable, raw, field, expected):
    settings = load_settings({variable: raw})
    assert getattr(settings, field) == expected


def test_every_field_can_be_set_from_its_variable():
    defaults = load_settings({})
    for field in Settings.model_fields:
        value = getattr(defaults, field)
        if value is None or value == "":
            continue
        reloaded = load_settings({env_name(field): str(value)})
        assert getattr(reloaded, field) == value, field


def test_unknown_liaison_variable_is_refused_by_name():
    with pytest.raises(ConfigurationError, match="LIAISON_KAFKA_PROT") as caught:
        load_settings({"LIAISON_KAFKA_PROT": "9092", "LIAISON_KAFKA_PORT": "9092"})
    assert "LIAISON_KAFKA_PORT" in str(caught.value)  # the known names are listed as a hint


def test_other_variables_are_ignored():
    settings = load_settings({"PATH": "/usr/bin", "KAFKA_HOME": "/opt/kafka"})
    assert settings == load_settings({})


def test_invalid_value_names_the_variable_but_not_the_value():
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"LIAISON_SASL_MECHANISM": "hunter2-not-a-mechanism"})
    message = str(caught.value)
    assert "LIAISON_SASL_MECHANISM" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("servers", ["localhost", "localhost:", ":9092", "host:port"])
def test_bootstrap_servers_must_be_host_port(servers):
    with pytest.raises(ConfigurationError, match="LIAISON_BOOTSTRAP_SERVERS"):
        load_settings({"LIAISON_BOOTSTRAP_SERVERS": servers})


def test_topic_prefix_must_be_legal_in_topic_names():
    with pytest.raises(ConfigurationError, match="LIAISON_TOPIC_PREFIX"):
        load_settings({"LIAISON_TOPIC_PREFIX": "bad prefix/"})


def test_port_out_of_range_is_refused():
    with pytest.raises(ConfigurationError, match="LIAISON_KAFKA_PORT"):
        load_settings({"LIAISON_KAFKA_PORT": "70000"})


def test_overrides_win_over_environment():
    settings = load_settings({"LIAISON_KAFKA_PORT": "1"}, kafka_port=2)
    assert settings.kafka_port == 2


def test_settings_are_frozen():
    settings = load_settings({})
    with pytest.raises(ValidationError):
        settings.kafka_port = 5


def test_password_is_hidden_but_reaches_the_client_config():
    settings = load_settings(
        {
            "LIAISON_SECURITY_PROTOCOL": "SASL_SSL",
            "LIAISON_SASL_MECHANISM": "SCRAM-SHA-512",
            "LIAISON_SASL_USERNAME": "pipeline",
            "LIAISON_SASL_PASSWORD": "s3cret-value",
            "LIAISON_SSL_CA_LOCATION": "/etc/liaison/ca.pem",
        }
    )
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in str(settings.model_dump())
    config = settings.kafka_client_config()
    assert config == {
        "client.id": "liaison",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "pipeline",
        "sasl.password": "s3cret-value",
        "ssl.ca.location": "/etc/liaison/ca.pem",
    }


def test_plaintext_client_config_carries_no_credentials():
    assert load_settings({}).kafka_client_config() == {
        "client.id": "liaison",
        "security.protocol": "PLAINTEXT",
    }


def test_kafka_data_dir_lives_under_state_dir():
    settings = load_settings({"LIAISON_STATE_DIR": "/var/lib/liaison"})
    assert settings.kafka_data_dir == Path("/var/lib/liaison/kafka")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LIAISON_HTTP_TOKENS", f"cisplus:NL-CUSTOMS={LONG}-one,police-no-sender-s3cr3t-two"),
        ("LIAISON_HTTP_TOKENS", f"cisplus:={LONG}-one"),
        ("LIAISON_HTTP_TOKENS", "cisplus:NL=s3cr3t-too-short"),
        ("LIAISON_HTTP_TOKENS", f"cisplus:NL={LONG},police:BE={LONG}"),
        ("LIAISON_PARTNER_ENDPOINTS", "nl-police=https://intake.example/v1|s3cr3t-one,de-bka"),
        ("LIAISON_PARTNER_ENDPOINTS", "nl-police=https://intake.example/v1"),
        ("LIAISON_PARTNER_ENDPOINTS", "a=https://x/v1|s3cr3t-one,a=https://y/v1|s3cr3t-two"),
    ],
)
def test_a_malformed_map_setting_is_refused_by_name_without_its_secrets(variable, value):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: value})
    message = str(caught.value)
    assert variable in message
    assert "s3cr3t" not in message


def test_map_settings_are_typed_maps_and_keep_their_tokens_secret():
    settings = load_settings(
        {
            "LIAISON_HTTP_TOKENS": f" cisplus:NL-CUSTOMS=tok-a{PAD} , police:NL-POLICE=tok-b{PAD},"
            f"police:BE-POLICE=tok-c{PAD}",
            "LIAISON_PARTNER_ENDPOINTS": "nl-police=https://intake.example/v1|tok-d",
        }
    )
    assert settings.http_tokens is not None
    assert {e: sorted(s) for e, s in settings.http_tokens.items()} == {
        "cisplus": ["NL-CUSTOMS"],
        "police": ["BE-POLICE", "NL-POLICE"],
    }
    (token,) = settings.http_tokens["police"]["BE-POLICE"]
    assert token.get_secret_value() == f"tok-c{PAD}"
    assert settings.partner_endpoints is not None
    target = settings.partner_endpoints["nl-police"]
    assert (target.url, target.token.get_secret_value()) == ("https://intake.example/v1", "tok-d")
    assert "tok-" not in repr(settings)


@given(st.text(min_size=0, max_size=31))
def test_a_short_token_is_refused_however_the_settings_are_built(token):
    """The 32-character floor holds for tokens given as a mapping (from code, a test, a
    future file format) as it does for the environment's text form."""
    with pytest.raises(ValidationError, match="shorter than"):
        Settings(http_tokens={"cisplus": {"NL-CUSTOMS": (SecretStr(token),)}})
    Settings(http_tokens={"cisplus": {"NL-CUSTOMS": (SecretStr("k" * 32),)}})
