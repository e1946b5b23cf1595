"""Read and validate the 100,000-entry NACHA file from the corpus; print seconds and peak RSS.

    python benchmarks/nacha_read.py [PATH]

Targets (issue 4): under 1 s and under 200 MB peak memory.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared/corpus/nacha"
DEFAULT_FILE = DEFAULT / "moov_PPD-200-batches-100000-entries.ach.gz"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FILE
    import nacha  # imported before timing: the figure is the read, not Python's imports

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    file = nacha.read(path)
    read_done = time.perf_counter()
    problems = nacha.validate(file, strict=False)
    done = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    entries = sum(len(b.entries) for b in file.batches)
    print(f"file: {path.name}")
    print(f"batches: {len(file.batches)}  entries: {entries}  problems: {len(problems)}")
    print(
        f"read: {read_done - start:.3f} s  validate: {done - read_done:.3f} s  "
        f"total: {done - start:.3f} s (target < 1 s)"
    )
    print(f"peak RSS: {rss:.0f} MB (after imports: {rss_before:.0f} MB; target < 200 MB)")


if __name__ == "__main__":
    main()
