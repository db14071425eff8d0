import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.http_runner import sender_tokens
from liaison.errors import ConfigurationError
from liaison.settings import load_settings

SECRET = "tok-secret-" + "s" * 32
A, B, C = ("tok-a-" + "a" * 32, "tok-b-" + "b" * 32, "tok-c-" + "c" * 32)


def test_tokens_for_a_source_that_does_not_exist_are_refused_by_name():
    settings = load_settings({"LIAISON_HTTP_TOKENS": f"cisplis:NL-CUSTOMS={SECRET}"})
    with pytest.raises(ConfigurationError, match=r"LIAISON_HTTP_TOKENS.*cisplis") as caught:
        sender_tokens(settings, "cisplus")
    assert SECRET not in str(caught.value)


def test_a_source_knows_its_senders_and_the_tokens_meant_for_the_other_door():
    settings = load_settings(
        {"LIAISON_HTTP_TOKENS": f"cisplus:NL-CUSTOMS={A},police:NL-POLICE={B}"}
    )
    assert sender_tokens(settings, "cisplus") == ({"NL-CUSTOMS": [A]}, [B])
    with pytest.raises(ConfigurationError, match="no sender may use police"):
        sender_tokens(load_settings({"LIAISON_HTTP_TOKENS": f"cisplus:NL={A}"}), "police")


def test_a_sender_named_twice_has_both_tokens_while_it_rotates():
    settings = load_settings(
        {"LIAISON_HTTP_TOKENS": f"cisplus:NL-CUSTOMS={A},cisplus:NL-CUSTOMS={C},police:X={B}"}
    )
    assert sender_tokens(settings, "cisplus") == ({"NL-CUSTOMS": [A, C]}, [B])


@given(st.text(alphabet="qwxz", min_size=1, max_size=40))  # letters the message lacks
def test_a_token_shorter_than_32_characters_is_refused_without_being_quoted(token):
    variables = {"LIAISON_HTTP_TOKENS": f"cisplus:NL-CUSTOMS={token}"}
    if len(token) >= 32:
        assert sender_tokens(load_settings(variables), "cisplus")[0] == {"NL-CUSTOMS": [token]}
        return
    with pytest.raises(ConfigurationError, match="shorter than 32") as caught:
        load_settings(variables)
    assert token not in str(caught.value).split("LIAISON_HTTP_TOKENS", 1)[1]


def test_one_token_for_two_senders_is_refused():
    with pytest.raises(ConfigurationError, match="another sender"):
        load_settings({"LIAISON_HTTP_TOKENS": f"cisplus:NL-CUSTOMS={A},police:NL-POLICE={A}"})
