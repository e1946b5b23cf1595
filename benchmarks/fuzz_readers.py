"""Fuzz every reader with mutations of the public corpus; save what crashes or hangs.

    python -m benchmarks.fuzz_readers [--minutes 1] [--readers nacha,bai2] [--seed 1]
        [--deadline 10] [--memory-mb 1024] [--out fuzz-findings] [--json]

For each reader (the kinds of ``integrations inspect``), each case takes a seed file of that kind
from ``../shared/corpus`` (and a synthetic Acme customers CSV for the intake contract), applies
one to three mutations — byte flips, truncation (anywhere, or right after a record), duplicated
or deleted records, digits swapped for superscript / Arabic-Indic / full-width ones, exponent and
overlong amounts, huge fields — and reads it through ``app.cli.inspection.inspect_file``
in a child with a deadline and a memory limit (``readers.sandbox``), exactly as
``integrations inspect`` does.

Every case ends as one of: typed (the reader answered: valid, problems, rejected or a typed
``unreadable``), crash (any other exception, or the child died), oom (MemoryError under the
limit) or hang (the deadline passed). A crash, oom or hang input is saved under ``--out/<reader>/``
with a ``.txt`` beside it naming the mutations and where it failed. The table per reader: cases,
typed results, crashes, ooms, hangs, peak memory of one child (which includes the readers the
sandbox's fork server had already imported, about 100 MB).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from app.cli.inspection import READER_MODULES, Kind, Limits, inspect_file
from readers.sandbox import Outcome, SandboxLimits, call_sandboxed

ROOT: Final = Path(__file__).resolve().parents[1]
CORPUS: Final = ROOT.parent / "shared" / "corpus"
INTAKE_CONTRACT: Final = "contract:acme_customers.v1"
MAX_SEED_BYTES: Final = 512 * 1024  # the 100,000-entry NACHA file is a benchmark, not a seed

# Which corpus files seed which reader.
SEED_GLOBS: Final[dict[str, tuple[str, ...]]] = {
    Kind.NACHA: ("nacha/*.ach",),
    Kind.X12: ("x12/*",),
    Kind.BAI2: ("bai2/*",),
    Kind.CAMT: ("camt/*.xml",),
    Kind.STRIPE_PAYOUTS: ("stripe/fivetran_payout_data.csv",),
    Kind.STRIPE_BALANCE_TRANSACTIONS: ("stripe/fivetran_balance_transaction_data.csv",),
    Kind.STRIPE_LINKS: ("stripe/fivetran_payout_balance_transaction_data.csv",),
}
READERS: Final = (*SEED_GLOBS, INTAKE_CONTRACT)


def _acme_customers() -> bytes:
    """A small synthetic file for the intake CSV reader (made-up values, no PII)."""
    header = (
        "customer_id,full_name,email,created_date,updated_at,country,credit_limit,active,"
        "postal_code"
    )
    rows = [
        f"{i},Customer {i},c{i}@example.com,2024-01-{1 + i % 28:02d},"
        f"2024-02-01T10:00:00+0000,US,{i * 10}.50,true,{10000 + i:05d}"
        for i in range(1, 40)
    ]
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


def seeds(reader: str, corpus: Path = CORPUS) -> list[tuple[str, bytes]]:
    if reader == INTAKE_CONTRACT:
        return [("acme_customers.csv", _acme_customers())]
    found = [
        p
        for g in SEED_GLOBS[reader]
        for p in sorted(corpus.glob(g))
        if p.is_file() and p.stat().st_size <= MAX_SEED_BYTES
    ]
    return [(p.name, p.read_bytes()) for p in found]


# -- mutations ----------------------------------------------------------------------------------

# Digits that are not ASCII but that str.isdigit() (or int()) may accept: Latin-1 superscripts
# (one byte each, as a Latin-1 file would carry them) and UTF-8 Arabic-Indic / full-width ones.
ODD_DIGITS: Final = (
    b"\xb9",
    b"\xb2",
    b"\xb3",
    "\u0663".encode(),
    "\uff13".encode(),
    "\u00b9".encode(),
)
ODD_AMOUNTS: Final = (
    b"1E2",
    b"1E+1000002",
    b"1E-999999999",
    b"-1",
    b"NaN",
    b"Infinity",
    b"9" * 40,
    b"0x10",
)
Mutation = Callable[[random.Random, bytes], tuple[bytes, str]]


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [data]


def flip_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    out = bytearray(data)
    n = rng.randint(1, 8)
    for _ in range(n):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out), f"flip {n} bytes"


def truncate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if rng.random() < 0.5:  # right after a record: what a partial upload looks like
        lines = _lines(data)
        keep = rng.randrange(len(lines))
        return b"".join(lines[:keep]), f"truncate after record {keep}"
    at = rng.randrange(len(data) + 1)
    return data[:at], f"truncate at byte {at}"


def duplicate_records(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    j = min(len(lines), i + rng.randint(1, 5))
    times = rng.choice((1, 2, 10, 1000))
    return b"".join(lines[:j] + lines[i:j] * times + lines[j:]), f"repeat records {i}-{j} x{times}"


def delete_record(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    return b"".join(lines[:i] + lines[i + 1 :]), f"delete record {i}"


def odd_digit(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    spots = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
    if not spots:
        return data, "no digit to swap"
    out = bytearray(data)
    chosen = sorted(rng.sample(spots, min(len(spots), rng.randint(1, 3))), reverse=True)
    digit = rng.choice(ODD_DIGITS)
    for i in chosen:
        out[i : i + 1] = digit
    return bytes(out), f"digit(s) at {chosen[-1]} -> {digit!r}"


def odd_amount(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    import re

    runs = [m.span() for m in re.finditer(rb"\d+(\.\d+)?", data)]
    if not runs:
        return data, "no number to swap"
    start, end = rng.choice(runs)
    value = rng.choice(ODD_AMOUNTS)
    return data[:start] + value + data[end:], f"number at {start} -> {value[:20]!r}"


def huge_field(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    size = rng.choice((10_000, 100_000, 1_000_000, 4_000_000))
    filler = rng.choice((b"A", b"9", b",", b" ", b"\x00"))
    at = rng.randrange(len(data) + 1)
    return data[:at] + filler * size + data[at:], f"{size} x {filler!r} at {at}"


MUTATIONS: Final[tuple[Mutation, ...]] = (
    flip_bytes,
    truncate,
    duplicate_records,
    delete_record,
    odd_digit,
    odd_amount,
    huge_field,
)


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data, what = rng.choice(MUTATIONS)(rng, data)
        done.append(what)
    return data, done


# -- the run ------------------------------------------------------------------------------------


@dataclass(slots=True)
class ReaderStats:
    reader: str
    cases: int = 0
    typed: int = 0
    crashes: int = 0
    ooms: int = 0
    hangs: int = 0
    peak_rss_mb: float = 0.0
    verdicts: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)  # "<ending> <site>: <saved file>"

    @property
    def clean(self) -> bool:
        return not (self.crashes or self.ooms or self.hangs)


def _save(out: Path, reader: str, data: bytes, ending: str, notes: str) -> Path:
    folder = out / reader.replace(":", "_")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ending}-{hashlib.sha256(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(notes + "\n")
    return path


def read_case(path: Path, reader: str, limits: Limits, deadline: float, memory_mb: int) -> Outcome:
    """One case through ``inspect_file`` in the sandbox: ``deadline`` seconds whatever the
    size, ``memory_mb`` of resident memory. The fork server imports the readers once."""
    return call_sandboxed(
        inspect_file,
        path,
        reader,
        limits,
        size=0,
        limits=SandboxLimits(base_seconds=deadline, seconds_per_mb=0, memory_bytes=memory_mb << 20),
        preload=READER_MODULES,
    )


def fuzz_reader(
    reader: str,
    *,
    seconds: float,
    seed: int = 1,
    deadline: float = 10.0,
    memory_mb: int = 1024,
    out: Path | None = None,
    max_cases: int | None = None,
    stop_on_finding: bool = False,
    corpus: Path = CORPUS,
) -> ReaderStats:
    """Mutate and read for ``seconds`` (or ``max_cases``, whichever ends first); save failures
    under ``out``. The cases depend only on ``reader`` and ``seed``, so ``max_cases`` makes a
    run reproducible on any machine."""
    stats = ReaderStats(reader)
    sources = seeds(reader, corpus)
    if not sources:
        return stats
    rng = random.Random(f"{reader}:{seed}")
    limits = Limits(max_problems=20)
    stop = time.monotonic() + seconds
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        case_path = Path(tmp) / "case"
        while time.monotonic() < stop and (max_cases is None or stats.cases < max_cases):
            name, original = rng.choice(sources)
            data, mutations = mutate(rng, original)
            case_path.write_bytes(data)
            outcome = read_case(case_path, reader, limits, deadline, memory_mb)
            stats.cases += 1
            stats.peak_rss_mb = max(stats.peak_rss_mb, outcome.peak_rss_bytes / 1e6)
            if outcome.ending == "returned":
                stats.typed += 1
                verdict = outcome.value[0].verdict
                stats.verdicts[verdict] = stats.verdicts.get(verdict, 0) + 1
                continue
            ending = {"raised": "crash", "killed": "crash", "memory": "oom", "timeout": "hang"}[
                outcome.ending
            ]
            if ending == "crash":
                stats.crashes += 1
            elif ending == "oom":
                stats.ooms += 1
            else:
                stats.hangs += 1
            site = outcome.site or (f"signal {outcome.signal}" if outcome.signal else "")
            notes = f"reader {reader}; seed file {name}; {'; '.join(mutations)}; {ending} {site}"
            saved = _save(out, reader, data, ending, notes) if out else None
            stats.findings.append(
                f"{ending} {site} <- {name}: {'; '.join(mutations)}"
                + (f" [{saved}]" if saved else "")
            )
            if stop_on_finding:
                break
    return stats


def table(rows: list[ReaderStats]) -> str:
    head = (
        f"{'reader':34} {'cases':>6} {'typed':>6} {'crashes':>7} {'ooms':>5} {'hangs':>5} "
        f"{'peak MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for s in rows:
        lines.append(
            f"{s.reader:34} {s.cases:6} {s.typed:6} {s.crashes:7} {s.ooms:5} {s.hangs:5} "
            f"{s.peak_rss_mb:8.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="per reader")
    parser.add_argument("--readers", default=",".join(READERS), help="comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--memory-mb", type=int, default=1024, help="resident memory per case")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    wanted = [r for r in args.readers.split(",") if r]
    unknown = [r for r in wanted if r not in READERS]
    if unknown:
        parser.error(f"unknown reader(s) {', '.join(unknown)}; one of {', '.join(READERS)}")
    rows = []
    for reader in wanted:
        stats = fuzz_reader(
            reader,
            seconds=args.minutes * 60,
            seed=args.seed,
            deadline=args.deadline,
            memory_mb=args.memory_mb,
            out=args.out,
        )
        rows.append(stats)
        if not args.json:
            print(f"{reader}: {stats.cases} cases", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(table(rows))
        for r in rows:
            for finding in r.findings[:10]:
                print(f"  {r.reader}: {finding}")
    return 0 if all(r.clean for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
