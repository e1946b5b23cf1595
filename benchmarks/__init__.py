"""Benchmarks and the reader fuzz harness; run each with ``python -m benchmarks.<name>``."""
