"""The routing policy loader refuses hostile TOML with its own error, never another."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liaison.errors import ConfigurationError
from liaison.policy import parse_policy


@given(st.integers(4301, 20_000))
def test_an_integer_too_long_for_python_is_refused_as_bad_toml(digits):
    raw = f"max_retention_days = {'9' * digits}\n".encode()
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        parse_policy(raw, "test.toml")


@pytest.mark.parametrize("depth", [2_000, 50_000])
def test_arrays_nested_past_the_parsers_recursion_are_refused_as_bad_toml(depth):
    raw = ("x = " + "[" * depth + "]" * depth + "\n").encode()
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        parse_policy(raw, "test.toml")
