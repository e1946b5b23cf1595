"""A short, bounded fuzz pass per reader (``benchmarks/fuzz_readers.py`` runs the long one):
mutations of the public corpus, each read in a child with a deadline and a memory limit, must
all end as typed results — no crash, no runaway memory, no hang.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.cli.inspection import Limits
from benchmarks.fuzz_readers import (
    CORPUS,
    INTAKE_CONTRACT,
    MUTATIONS,
    READERS,
    fuzz_reader,
    read_case,
    seeds,
)

HOSTILE = Path(__file__).resolve().parent / "fixtures/hostile"

# Cases per reader: deterministic (same seed, same mutations), a few seconds each here.
CASES = {"x12": 12, INTAKE_CONTRACT: 20}
DEFAULT_CASES = 40
TIME_CAP = 30.0  # a slow machine runs fewer cases rather than stalling the suite
CASE_DEADLINE = 8.0  # a clean case reads in well under a second; a hang is a loop
MEMORY_MB = 1024


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
@pytest.mark.parametrize("reader", READERS)
def test_mutated_corpus_files_only_get_typed_results(reader: str, tmp_path: Path) -> None:
    assert seeds(reader), f"no seed file for {reader}"
    stats = fuzz_reader(
        reader,
        seconds=TIME_CAP,
        max_cases=CASES.get(reader, DEFAULT_CASES),
        stop_on_finding=True,
        seed=14,
        deadline=CASE_DEADLINE,
        memory_mb=MEMORY_MB,
        out=tmp_path,
    )
    assert stats.cases >= 3, stats
    assert stats.clean, "\n".join(stats.findings)
    assert stats.typed == stats.cases


@pytest.mark.parametrize("reader", [p.name for p in sorted(HOSTILE.iterdir()) if p.is_dir()])
def test_saved_hostile_inputs_get_typed_results(reader: str) -> None:
    """Each minimal input saved from fuzzing or crafted from issue 14 ends as a typed result."""
    failures = []
    for path in sorted((HOSTILE / reader).iterdir()):
        outcome = read_case(path, reader, Limits(), CASE_DEADLINE, MEMORY_MB)
        if outcome.ending != "returned":
            failures.append(f"{path.name}: {outcome.ending} {outcome.site}")
    assert not failures, failures


# Hypothesis drives the same mutations (which seed file, which operators, their randomness):
# derandomized, so CI runs the same examples every time; no shrinking, as a case costs a fork.
_HYPOTHESIS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
@pytest.mark.parametrize("reader", READERS)
@_HYPOTHESIS
@given(data=st.data())
def test_property_any_mutation_of_a_corpus_file_gets_a_typed_result(
    reader: str, tmp_path: Path, data: st.DataObject
) -> None:
    sources = seeds(reader)
    name, original = data.draw(st.sampled_from(sources), label="seed file")
    operators = data.draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3))
    rng = random.Random(data.draw(st.integers(0, 2**32), label="randomness"))
    mutated = original
    for operator in operators:
        mutated, _ = operator(rng, mutated)
    path = tmp_path / "case"
    path.write_bytes(mutated)
    outcome = read_case(path, reader, Limits(), CASE_DEADLINE, MEMORY_MB)
    assert outcome.ending == "returned", f"{name}: {outcome.ending} {outcome.site}"
