"""Every fuzz target in short (a fixed seed, a few hundred cases each), and every input that
once found a bug replayed (``tests/fuzz/corpus/<target>/``). ``make fuzz`` runs the full
counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.runner import fuzz
from tests.fuzz.targets import CORPUS, TARGETS

CASES = 300


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_no_input_escapes_the_typed_errors(name):
    outcome = fuzz(TARGETS[name], CASES, chosen_seed=1, keep=False)
    assert outcome.findings == []
    assert outcome.cases >= CASES // 2  # it did run (Hypothesis may stop early on small spaces)


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*/*.bin"))


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_inputs_that_found_bugs_are_handled(path):
    target = TARGETS[path.parent.name]
    target.run(target.from_bytes(path.read_bytes()))


def test_the_corpus_holds_the_findings_fixed_so_far():
    # The findings so far, kept as regressions: the first full run's (an XML encoding, a
    # policy's partner list), and numbers past Python's digit limit and TOML nested past
    # its recursion, which no input of the fuzzer's sizes reaches.
    assert {p.parent.name for p in _corpus()} >= {"cen-xml", "policy", "json-body", "bulk-lines"}


def test_a_case_that_never_ends_is_a_finding_not_a_hung_run():
    """Hypothesis measures a case's time only once it returns: one that loops for ever is
    interrupted by the runner's own alarm and reported."""
    from hypothesis import strategies as st  # noqa: PLC0415

    from tests.fuzz.targets import Target  # noqa: PLC0415

    def loops(data: bytes) -> None:
        while data != b"never":
            pass

    endless = Target("endless", st.binary(max_size=4), loops, lambda raw: raw)
    outcome = fuzz(endless, 3, keep=False)
    assert outcome.findings
    assert "no answer within" in outcome.findings[0]
