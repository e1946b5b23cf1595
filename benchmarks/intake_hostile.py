"""Benchmark: time and peak memory of the CSV validator on hostile files (issue 14).

Writes each shape at about ``--mb`` MB, validates it against the acme customers contract in a
fresh process (as the intake activity's sandboxed child does), and prints seconds, peak RSS and
the answer. No assertions: the figures are for the reader; the tests hold the rules.

    python benchmarks/intake_hostile.py --mb 100
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEADER = (
    b"customer_id,full_name,email,created_date,updated_at,country,credit_limit,active,postal_code"
)


def _valid(size: int) -> bytes:
    row = b"1,Customer 1,c1@example.com,2024-01-02,2024-02-01T10:00:00+0000,US,10.50,true,10001\r\n"
    return HEADER + b"\r\n" + row * (size // len(row))


def _wide_rows(size: int) -> bytes:
    line = b"," * 1_000_000 + b"\n"  # a million fields, just under the line limit
    return HEADER + b"\n" + line * (size // len(line))


SHAPES: dict[str, Callable[[int], bytes]] = {
    "valid rows": _valid,
    "one line": lambda size: b"x" * size,
    "all commas": lambda size: b"," * size,
    "million-field rows": _wide_rows,
    "only newlines": lambda size: b"\n" * size,
    "open quote": lambda size: HEADER + b'\n"' + b"a,b\n" * (size // 4),
    "random bytes": lambda size: __import__("random").Random(7).randbytes(size),
}


def child(path: str) -> None:
    from intake.file_contract import load_contract
    from intake.validation import validate_file

    contract = load_contract(REPO / "file_contracts" / "acme_customers.v1.toml")
    started = time.perf_counter()
    summary = validate_file(contract, path)
    seconds = time.perf_counter() - started
    answer = ",".join(p.rule for p in summary.file_problems) or summary.status
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "answer": answer}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    size = int(args.mb * 1e6)
    print(f"{'shape':<20}{'MB':>7}{'seconds':>9}{'peak RSS':>11}  answer")
    with tempfile.TemporaryDirectory(prefix="intake-hostile-") as tmp:
        for name, make in SHAPES.items():
            path = Path(tmp) / "hostile.csv"
            path.write_bytes(make(size))
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if done.returncode:
                print(f"{name:<20} exit {done.returncode}: {done.stderr.strip()[-200:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{name:<20}{path.stat().st_size / 1e6:>7.0f}{r['seconds']:>9.2f}"
                f"{r['peak_mb']:>8.0f} MB  {r['answer']}"
            )


if __name__ == "__main__":
    main()
