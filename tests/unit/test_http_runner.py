import pytest

from connectors.http_runner import sender_tokens
from liaison.errors import ConfigurationError
from liaison.settings import load_settings


def test_tokens_for_a_source_that_does_not_exist_are_refused_by_name():
    settings = load_settings({"LIAISON_HTTP_TOKENS": "cisplis:NL-CUSTOMS=tok-secret"})
    with pytest.raises(ConfigurationError, match=r"LIAISON_HTTP_TOKENS.*cisplis") as caught:
        sender_tokens(settings, "cisplus")
    assert "tok-secret" not in str(caught.value)


def test_a_source_knows_its_senders_and_the_tokens_meant_for_the_other_door():
    settings = load_settings(
        {"LIAISON_HTTP_TOKENS": "cisplus:NL-CUSTOMS=tok-a,police:NL-POLICE=tok-b"}
    )
    assert sender_tokens(settings, "cisplus") == ({"NL-CUSTOMS": "tok-a"}, ["tok-b"])
    with pytest.raises(ConfigurationError, match="no sender may use police"):
        sender_tokens(load_settings({"LIAISON_HTTP_TOKENS": "cisplus:NL=tok-a"}), "police")
