"""Workflows: deterministic orchestration only. No I/O, clocks or randomness but Temporal's."""
