"""Benchmark: validating a customer CSV against its file contract (issue 3, "Speed").

Generates a customer CSV (id, name, email, created_date; about 0.1% bad rows), then measures, each
in its own subprocess so peak memory is per method:

- naive: pandas ``read_csv``, ``Model.model_validate(row.to_dict())`` per ``df.iterrows()`` row,
  valid rows to Parquet, a row-level error list;
- floor: pyarrow reads the CSV and writes Parquet, no validation;
- ours:  ``intake.validation`` streaming validation, valid rows to Parquet, the JSON error report.

Prints seconds (work only, imports excluded), speed-up against naive, ratio against the floor and
peak RSS. No assertions: the figures are for the reader.

    python benchmarks/intake_validation.py --rows 100000
    python benchmarks/intake_validation.py                 # 1,000,000 rows (naive takes ~2 min)
    python benchmarks/intake_validation.py --skip-naive --big-gb 2   # ours' memory on ~2 GB

"sandboxed" is ours as the intake activity runs it, in a child process with a deadline and a
memory cap; its warm time minus ours' is the sandbox's cost per file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

CONTRACT_TOML = """
name = "bench_customers"
kind = "csv"
schema_version = 1
max_bad_row_percent = 5

[[columns]]
name = "id"
type = "integer"
required = true

[[columns]]
name = "name"
type = "string"
required = true
max_length = 100
pii = true

[[columns]]
name = "email"
type = "email"
required = true
pii = true

[[columns]]
name = "created_date"
type = "date"
required = true
"""

_FIRST = ["Anna", "Bob", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hiro", "Ines", "José"]
_LAST = ["Smith", "O'Neil", "Nguyen", "Müller", "García", "Kowalski", "Okafor", "Tanaka"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Rows with ~0.1% broken: a bad email, an impossible date, a non-numeric id, an empty
    name, and some names quoted with an embedded comma."""
    rng = random.Random(seed)
    start = date(2018, 1, 1)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("id,name,email,created_date\n")
        lines = []
        for i in range(1, rows + 1):
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            if i % 97 == 0:
                name = f'"{rng.choice(_LAST)}, {rng.choice(_FIRST)}"'
            email = f"user{i}@example.com"
            created = (start + timedelta(days=i % 2500)).isoformat()
            ident = str(i)
            bad = rng.random()
            if bad < 0.0004:
                email = "not-an-email"
            elif bad < 0.0007:
                created = "2023-02-30"
            elif bad < 0.0009:
                ident = f"A{i}"
            elif bad < 0.0010:
                name = ""
            lines.append(f"{ident},{name},{email},{created}\n")
            if len(lines) == 100_000:
                out.writelines(lines)
                lines.clear()
        out.writelines(lines)


def grow(path: Path, seed_rows: Path, target_bytes: int) -> None:
    """A big file by repeating a generated body: fast to make, same shape of content."""
    body = seed_rows.read_bytes().split(b"\n", 1)[1]
    with open(path, "wb") as out:
        out.write(b"id,name,email,created_date\n")
        written = 0
        while written < target_bytes:
            out.write(body)
            written += len(body)


# -- the three methods, each run in a child process ------------------------------------------


def run_naive(csv_path: Path, out_dir: Path) -> dict[str, Any]:
    from datetime import date as date_type

    import pandas as pd  # type: ignore[import-untyped]  # no stubs pinned; a script
    from pydantic import BaseModel, Field, ValidationError

    class Customer(BaseModel):
        id: int
        name: str = Field(min_length=1, max_length=100)
        email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
        created_date: date_type

    started = time.perf_counter()
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    valid: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, row in frame.iterrows():
        try:
            valid.append(Customer.model_validate(row.to_dict()).model_dump())
        except ValidationError as exc:
            for err in exc.errors():
                errors.append({"row": int(index) + 1, "column": err["loc"][0], "rule": err["type"]})
    pd.DataFrame(valid).to_parquet(out_dir / "naive.parquet")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "warm": seconds, "rows_valid": len(valid), "errors": len(errors)}


def run_floor(csv_path: Path, out_dir: Path) -> dict[str, Any]:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    times = []
    for _ in range(2):  # cold (first in the process), then warm
        started = time.perf_counter()
        table = pa_csv.read_csv(csv_path)
        pq.write_table(table, out_dir / "floor.parquet")
        times.append(time.perf_counter() - started)
    return {"seconds": times[0], "warm": times[1], "rows_valid": table.num_rows, "errors": 0}


def run_ours(csv_path: Path, out_dir: Path, big: bool = False) -> dict[str, Any]:
    from intake.error_report import render_json
    from intake.file_contract import load_contract_text
    from intake.validation import compile_validator

    contract = load_contract_text(CONTRACT_TOML, "bench_customers.v1")
    times = []
    # Cold: the first file in a fresh process pays one-off set-up (Arrow's strptime alone takes
    # ~0.15 s on first use); warm: what a long-running worker pays for every later file.
    for _ in range(1 if big else 2):
        started = time.perf_counter()
        validator = compile_validator(contract)
        summary = validator.validate(csv_path, out_dir / "ours.parquet")
        (out_dir / "ours.report.json").write_text(render_json(summary, contract))
        times.append(time.perf_counter() - started)
    return {
        "seconds": times[0],
        "warm": times[-1],
        "rows_valid": summary.rows_valid,
        "errors": sum(c.count for c in summary.error_counts),
        "status": summary.status,
    }


def run_ours_big(csv_path: Path, out_dir: Path) -> dict[str, Any]:
    return run_ours(csv_path, out_dir, big=True)


def run_sandboxed(csv_path: Path, out_dir: Path) -> dict[str, Any]:
    """Ours as the intake activity runs it: in a forkserver child with a deadline and a memory
    cap (readers.sandbox). Cold includes starting the forkserver."""
    from intake.error_report import render_json
    from intake.file_contract import load_contract_text
    from intake.validation import validate_file
    from readers.sandbox import SandboxLimits
    from readers.sandbox import run_sandboxed as sandboxed

    contract = load_contract_text(CONTRACT_TOML, "bench_customers.v1")
    times = []
    for _ in range(2):
        started = time.perf_counter()
        summary = sandboxed(
            validate_file,
            contract,
            csv_path,
            out_dir / "sandboxed.parquet",
            size=csv_path.stat().st_size,
            limits=SandboxLimits(),
        )
        (out_dir / "sandboxed.report.json").write_text(render_json(summary, contract))
        times.append(time.perf_counter() - started)
    return {
        "seconds": times[0],
        "warm": times[-1],
        "rows_valid": summary.rows_valid,
        "errors": sum(c.count for c in summary.error_counts),
        "status": summary.status,
    }


METHODS = {
    "naive": run_naive,
    "floor": run_floor,
    "ours": run_ours,
    "ours-big": run_ours_big,
    "sandboxed": run_sandboxed,
}


def child(method: str, csv_path: Path, out_dir: Path) -> None:
    result = METHODS[method](csv_path, out_dir)
    # ru_maxrss is in KiB on Linux: this process's own peak, imports included (and for the
    # sandboxed method, the largest of its children: the forkserver and the readers).
    result["peak_rss_mb"] = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    print(json.dumps(result))


def measure(method: str, csv_path: Path, out_dir: Path) -> dict[str, Any]:
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            method,
            "--file",
            str(csv_path),
            "--out",
            str(out_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--big-gb",
        type=float,
        default=0.0,
        help="also validate a file of about this many GB with ours only",
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--child", choices=sorted(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.out)
        return

    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        work = Path(tmp)
        csv_path = work / "customers.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows, {size_mb:.1f} MB in "
            f"{time.perf_counter() - started:.1f} s"
        )
        results: dict[str, dict[str, Any]] = {}
        for method in ("floor", "ours", "sandboxed", "naive"):
            if method == "naive" and args.skip_naive:
                continue
            results[method] = measure(method, csv_path, work)
        floor = results["floor"]["seconds"]
        naive = results.get("naive", {}).get("seconds")
        floor_warm = results["floor"]["warm"]
        print("cold = first file in a fresh process; warm = the same file again in that process")
        print(
            f"{'method':<8}{'cold s':>9}{'warm s':>9}{'vs naive':>10}{'vs floor':>10}"
            f"{'warm vs floor':>15}{'peak RSS':>11}{'valid rows':>12}{'errors':>8}"
        )
        for method, r in results.items():
            speedup = f"{naive / r['seconds']:.0f}x" if naive else "-"
            print(
                f"{method:<8}{r['seconds']:>9.3f}{r['warm']:>9.3f}{speedup:>10}"
                f"{r['seconds'] / floor:>9.2f}x{r['warm'] / floor_warm:>14.2f}x"
                f"{r['peak_rss_mb']:>8.0f} MB{r['rows_valid']:>12,}{r['errors']:>8,}"
            )

        if args.big_gb:
            big = work / "big.csv"
            grow(big, csv_path, int(args.big_gb * 1e9))
            csv_path.unlink()
            for name in ("floor.parquet", "ours.parquet", "naive.parquet"):
                (work / name).unlink(missing_ok=True)
            big_mb = big.stat().st_size / 1e6
            r = measure("ours-big", big, work)
            print(
                f"big file {big_mb:,.0f} MB: ours {r['seconds']:.1f} s "
                f"({big_mb / r['seconds']:.0f} MB/s), peak RSS {r['peak_rss_mb']:.0f} MB, "
                f"{r['rows_valid']:,} valid rows, {r['errors']:,} errors, {r['status']}"
            )


if __name__ == "__main__":
    main()
