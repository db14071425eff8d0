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
