"""What ``integrations inspect`` does to one file, for every kind the service reads.

One table maps a kind to a function ``(path, limits) -> InspectResult``; each function calls the
reader the workers use (``nacha``, ``edi``, ``payouts``, ``intake``) and turns its answer into the
same shape: a verdict, summary counts and every problem with its position. A reader's typed
refusal (``NachaReadError``, ``PayoutsError``, a broken X12 envelope, a contract that cannot read
the file) is the verdict ``unreadable`` with its reason; any other exception is a crash and is
left to propagate, so the caller can tell a bug from a bad file.

``inspect_bounded`` runs the same call in a forked child with a deadline that grows with the
file's size and a memory limit (``readers.sandbox``, the one the workers use, with the same
``reader_*`` settings): a reader that spins or balloons on a hostile file ends as ``unreadable``
with the limit it hit, never as a hung command.

Output never carries PII in full: the readers mask what they know to be PII, and every message
and reason is scrubbed of long digit runs (account numbers, SSNs) as a second line of defence.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from app.cli.exit_codes import ExitCode
from intake.read_limits import ReadLimits
from readers.sandbox import SandboxLimits, call_sandboxed, refusal

if TYPE_CHECKING:
    from runtime.settings import Settings

# Bumped when a key is removed or changes meaning; programs can check it.
JSON_FORMAT_VERSION: Final = 1
CONTRACT_PREFIX: Final = "contract:"
_CONTRACT_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*(\.v[0-9]+)?$")
SNIFF_BYTES: Final = 64 * 1024


class Kind(StrEnum):
    NACHA = "nacha"
    X12 = "x12"
    BAI2 = "bai2"
    CAMT = "camt"
    STRIPE_PAYOUTS = "stripe-payouts"
    STRIPE_BALANCE_TRANSACTIONS = "stripe-balance-transactions"
    STRIPE_LINKS = "stripe-links"


Verdict = Literal["valid", "problems", "rejected", "unreadable"]
VERDICT_EXIT: Final[dict[str, ExitCode]] = {
    "valid": ExitCode.OK,
    "problems": ExitCode.REFUSED,
    "rejected": ExitCode.REFUSED,
    "unreadable": ExitCode.DATA_ERROR,
}


# What the readers import: a caller inspecting many files (the fuzz harness) has the sandbox's
# fork server load them once, so a file costs a fork.
READER_MODULES: Final = (
    "edi",
    "intake.file_contract",
    "intake.validation",
    "nacha",
    "payouts",
    "runtime.settings",
    "wire.intake",
)


class UnknownKind(ValueError):
    """``--as`` names no kind, or a file contract that does not exist (a usage error)."""


class ReaderCrashed(RuntimeError):
    """The reader raised something other than its typed refusal, or its process died; ``site``
    names the exception type and frame (never its message, which may quote the file)."""

    def __init__(self, kind: str, site: str) -> None:
        self.kind = kind
        self.site = site
        super().__init__(f"the {kind} reader crashed: {site}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one inspection: the workers' own (``Limits.from_settings``), so a file that
    passes here is read within the same budget on a feed. The time budget grows with the file,
    as parsing does (pyx12 validates about 0.33 MB/s here, so a large 834 legitimately takes
    minutes)."""

    max_bytes: int = 100 * 1024 * 1024
    max_problems: int = 200
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    read: ReadLimits = field(default_factory=ReadLimits)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        max_seconds: float | None = None,
        memory_mb: int | None = None,
    ) -> Limits:
        """The ``reader_*`` settings, with the command line's overrides."""
        sandbox = settings.sandbox_limits()
        if max_seconds is not None:
            sandbox = replace(sandbox, base_seconds=max_seconds, seconds_per_mb=0)
        if memory_mb is not None:
            sandbox = replace(sandbox, memory_bytes=memory_mb << 20)
        return cls(
            max_bytes=settings.builtin_max_file_bytes,
            sandbox=sandbox,
            read=settings.read_limits(),
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong. ``position`` counts in the result's ``position_unit`` from 1."""

    severity: Literal["error", "warning"]
    code: str
    message: str
    position: int | None = None
    field: str | None = None


@dataclass(slots=True)
class InspectResult:
    kind: str
    verdict: Verdict
    position_unit: str = "line"
    reason: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0

    @property
    def exit_code(self) -> ExitCode:
        return VERDICT_EXIT[self.verdict]

    def as_json(self, file: str, detected: bool) -> dict[str, Any]:
        return {
            "format_version": JSON_FORMAT_VERSION,
            "file": file,
            "kind": self.kind,
            "detected": detected,
            "verdict": self.verdict,
            "reason": self.reason,
            "summary": self.summary,
            "position_unit": self.position_unit,
            "problems": [asdict(p) for p in self.problems],
            "problems_total": self.problems_total,
            "problems_truncated": self.problems_total > len(self.problems),
        }


# -- masking ------------------------------------------------------------------------------------

_LONG_DIGITS: Final = re.compile(r"\d{8,}")
_SSN: Final = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")


def scrub(text: str, limit: int = 500) -> str:
    """Mask runs of 8+ digits to their last four and SSN-shaped values entirely; clip."""
    text = _SSN.sub("***-**-****", text)
    text = _LONG_DIGITS.sub(lambda m: "*" * (len(m[0]) - 4) + m[0][-4:], text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finish(
    result: InspectResult, problems: list[Problem], limits: Limits, *, verdict: Verdict | None
) -> InspectResult:
    result.problems_total = len(problems)
    result.problems = [
        Problem(p.severity, p.code, scrub(p.message), p.position, p.field)
        for p in problems[: limits.max_problems]
    ]
    if verdict is None:
        verdict = "problems" if any(p.severity == "error" for p in problems) else "valid"
    result.verdict = verdict
    return result


def _unreadable(kind: str, reason: str, unit: str = "line") -> InspectResult:
    return InspectResult(kind, "unreadable", unit, reason=scrub(reason))


# -- one function per kind ----------------------------------------------------------------------


def inspect_nacha(path: Path, limits: Limits) -> InspectResult:
    import nacha

    try:
        parsed = nacha.read(path)
    except nacha.NachaReadError as exc:
        return _unreadable(Kind.NACHA, exc.reason, "record")
    found = nacha.validate(parsed, strict=False)
    s = nacha.summarize(parsed, found, strict=False)
    result = InspectResult(Kind.NACHA, "valid", "record")
    result.summary = {
        "batches": s.batch_count,
        "entries": s.entry_count,
        "addenda": s.addenda_count,
        "debit_total_cents": s.debit_total_cents,
        "credit_total_cents": s.credit_total_cents,
        "returns_by_code": s.returns_by_code,
        "nocs_by_code": s.nocs_by_code,
        "errors": sum(p.severity == "error" for p in found),
        "warnings": sum(p.severity == "warning" for p in found),
    }
    problems = [Problem(p.severity, p.code, p.message, p.record_number, p.field) for p in found]
    return _finish(result, problems, limits, verdict=None)


def inspect_x12(path: Path, limits: Limits) -> InspectResult:
    import edi

    result_ = edi.validate(path.read_bytes()).result
    problems = [
        Problem(
            "warning" if i.level == "warning" else "error",  # type: ignore[comparison-overlap]
            i.code,
            i.message + (f" [{i.value}]" if i.value else ""),
            i.line,
            " ".join(x for x in (i.segment_id, i.element_position) if x) or None,
        )
        for i in result_.issues
    ]
    if not result_.interchanges:
        reason = "; ".join(p.message for p in problems) or "no interchange found"
        return _unreadable(Kind.X12, reason, "segment")
    result = InspectResult(Kind.X12, "valid", "segment")
    groups = [g for i in result_.interchanges for g in i.groups]
    result.summary = {
        "interchanges": len(result_.interchanges),
        "groups": len(groups),
        "sets": sum(len(g.sets) for g in groups),
        "acknowledgement": result_.ack_kind,
        "acknowledgements_received": len(result_.acknowledgements_received),
        "issues": len(result_.issues) + result_.issues_truncated,
    }
    finished = _finish(
        result, problems, limits, verdict="valid" if result_.accepted else "rejected"
    )
    finished.problems_total += result_.issues_truncated
    return finished


def _statement(
    kind: Kind, read: Callable[[Path], Any], path: Path, limits: Limits
) -> InspectResult:
    from payouts import PayoutsError

    try:
        statement = read(path)
    except PayoutsError as exc:
        return _unreadable(kind, getattr(exc, "reason", str(exc)), "entry")
    result = InspectResult(kind, "valid", "entry")
    result.summary = {
        "format": str(statement.format),
        "lines": len(statement.lines),
        "credits": sum(line.direction == "credit" for line in statement.lines),
        "debits": sum(line.direction == "debit" for line in statement.lines),
        "skipped": len(statement.problems),
    }
    # A line that cannot become money is lost to reconciliation: a problem, not a remark.
    problems = [Problem("error", "entry_skipped", m) for m in statement.problems]
    return _finish(result, problems, limits, verdict=None)


def inspect_bai2(path: Path, limits: Limits) -> InspectResult:
    from payouts import read_bai2

    return _statement(Kind.BAI2, read_bai2, path, limits)


def inspect_camt(path: Path, limits: Limits) -> InspectResult:
    from payouts import read_camt

    return _statement(Kind.CAMT, read_camt, path, limits)


def _stripe(kind: Kind, part: str) -> Callable[[Path, Limits], InspectResult]:
    def inspect(path: Path, limits: Limits) -> InspectResult:
        import payouts

        readers = {
            "payouts": payouts.iter_payouts,
            "balance_transactions": payouts.iter_balance_transactions,
            "links": payouts.iter_payout_links,
        }
        found: list[payouts.RowProblem] = []
        try:
            rows = sum(1 for _ in readers[part](path, found))
        except payouts.PayoutsError as exc:
            return _unreadable(kind, getattr(exc, "reason", str(exc)))
        result = InspectResult(kind, "valid", "line")
        result.summary = {"rows": rows + len(found), "usable": rows, "skipped": len(found)}
        problems = [Problem("error", "row_skipped", p.message, p.line, p.column) for p in found]
        return _finish(result, problems, limits, verdict=None)

    return inspect


READERS: Final[dict[str, Callable[[Path, Limits], InspectResult]]] = {
    Kind.NACHA: inspect_nacha,
    Kind.X12: inspect_x12,
    Kind.BAI2: inspect_bai2,
    Kind.CAMT: inspect_camt,
    Kind.STRIPE_PAYOUTS: _stripe(Kind.STRIPE_PAYOUTS, "payouts"),
    Kind.STRIPE_BALANCE_TRANSACTIONS: _stripe(
        Kind.STRIPE_BALANCE_TRANSACTIONS, "balance_transactions"
    ),
    Kind.STRIPE_LINKS: _stripe(Kind.STRIPE_LINKS, "links"),
}


# -- file contracts -----------------------------------------------------------------------------


def default_contracts_dir() -> Path:
    from runtime.settings import Settings

    default = Settings.model_fields["file_contracts_dir"].default
    return Path(default)


def contract_names(contracts_dir: Path) -> list[str]:
    from wire.intake import BUILT_IN_CONTRACTS

    return sorted({*BUILT_IN_CONTRACTS, *(p.stem for p in contracts_dir.glob("*.toml"))})


def _resolve_contract(name: str, contracts_dir: Path) -> str:
    """``name`` or ``name.vN`` → the full contract id (the highest version when none given)."""
    if not _CONTRACT_NAME.match(name):
        raise UnknownKind(f"{name!r} is not a file contract name (like acme_customers.v1)")
    known = contract_names(contracts_dir)
    if name in known:
        return name
    versions = [k for k in known if k.rsplit(".v", 1)[0] == name]
    if not versions:
        raise UnknownKind(f"no file contract {name!r}; known: {', '.join(known)}")
    return max(versions, key=lambda k: int(k.rsplit(".v", 1)[1]))


def _contract_reader(
    contract_id: str, contracts_dir: Path
) -> Callable[[Path, Limits], InspectResult]:
    from wire.intake import (
        BANK_STATEMENT_CONTRACT,
        NACHA_CONTRACT,
        PSP_REPORT_CONTRACT,
        X12_CONTRACT,
    )

    if contract_id == NACHA_CONTRACT:
        return READERS[Kind.NACHA]
    if contract_id == X12_CONTRACT:
        return READERS[Kind.X12]

    def by_content(allowed: tuple[Kind, ...], what: str) -> Callable[[Path, Limits], InspectResult]:
        def inspect(path: Path, limits: Limits) -> InspectResult:
            kind = detect(path)
            if kind not in allowed:
                return _unreadable(f"{CONTRACT_PREFIX}{contract_id}", f"not {what}")
            result = READERS[kind](path, limits)
            result.summary["read_as"] = str(kind)
            result.kind = f"{CONTRACT_PREFIX}{contract_id}"
            return result

        return inspect

    if contract_id == BANK_STATEMENT_CONTRACT:
        return by_content((Kind.BAI2, Kind.CAMT), "a BAI2 or camt statement")
    if contract_id == PSP_REPORT_CONTRACT:
        parts = (Kind.STRIPE_PAYOUTS, Kind.STRIPE_BALANCE_TRANSACTIONS, Kind.STRIPE_LINKS)
        return by_content(parts, "a Stripe payouts, balance-transactions or links report")

    from intake.file_contract import load_contract

    contract = load_contract(contracts_dir / f"{contract_id}.toml")

    def inspect(path: Path, limits: Limits) -> InspectResult:
        from intake.validation import validate_file

        summary = validate_file(contract, path, max_errors=limits.max_problems, limits=limits.read)
        kind = f"{CONTRACT_PREFIX}{contract_id}"
        result = InspectResult(kind, "valid", "row")
        result.summary = {
            "status": summary.status,
            "bytes": summary.bytes,
            "rows_total": summary.rows_total,
            "rows_valid": summary.rows_valid,
            "rows_invalid": summary.rows_invalid,
            "bad_row_percent": str(summary.bad_row_percent),
            "errors_by_rule": {
                f"{c.column or '(row)'}:{c.rule}": c.count for c in summary.error_counts
            },
        }
        problems = [Problem("error", str(p.rule), p.message) for p in summary.file_problems]
        problems += [
            Problem(
                "error",
                str(e.rule),
                e.message + (f" [{e.value}]" if e.value else ""),
                e.row,
                e.column,
            )
            for e in summary.errors
        ]
        finished = _finish(
            result, problems, limits, verdict="valid" if summary.accepted else "rejected"
        )
        finished.problems_total = max(
            finished.problems_total, sum(c.count for c in summary.error_counts)
        )
        return finished

    return inspect


def reader_for(
    kind: str, contracts_dir: Path | None = None
) -> tuple[str, Callable[[Path, Limits], InspectResult]]:
    """The canonical kind name and its function; ``UnknownKind`` for anything else."""
    if kind.startswith(CONTRACT_PREFIX):
        folder = contracts_dir or default_contracts_dir()
        contract_id = _resolve_contract(kind[len(CONTRACT_PREFIX) :], folder)
        return f"{CONTRACT_PREFIX}{contract_id}", _contract_reader(contract_id, folder)
    if kind in READERS:
        return kind, READERS[kind]
    raise UnknownKind(
        f"unknown kind {kind!r}; one of {', '.join(READERS)} or {CONTRACT_PREFIX}<file contract>"
    )


# -- detection ----------------------------------------------------------------------------------

_CAMT_NAMESPACE: Final = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.05[234]")


def detect(path: Path) -> Kind | None:
    """The kind from the first bytes: NACHA ``101`` (or gzip, which only NACHA feeds send),
    X12 ``ISA``, BAI2 ``01,``, a camt namespace, or the Stripe report's header columns."""
    with path.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)
    if head[:2] == b"\x1f\x8b":
        return Kind.NACHA
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"101"):
        return Kind.NACHA
    if text.startswith(b"ISA"):
        return Kind.X12
    if text.startswith(b"01,"):
        return Kind.BAI2
    if text.startswith(b"<"):
        return Kind.CAMT if _CAMT_NAMESPACE.search(head) else None
    first_line = text.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    try:
        header = {c.strip().lower() for c in next(csv.reader(io.StringIO(first_line)), [])}
    except csv.Error:
        return None
    if {"payout_id", "balance_transaction_id"} <= header and "fee" not in header:
        return Kind.STRIPE_LINKS
    if {"id", "amount", "fee", "net", "currency", "type"} <= header:
        return Kind.STRIPE_BALANCE_TRANSACTIONS
    if {"id", "amount", "currency", "arrival_date"} <= header:
        return Kind.STRIPE_PAYOUTS
    return None


# -- entry points -------------------------------------------------------------------------------


def inspect_file(
    path: Path,
    kind: str | None = None,
    limits: Limits | None = None,
    contracts_dir: Path | None = None,
) -> tuple[InspectResult, bool]:
    """Inspect ``path`` in this process: ``(result, detected)``. Raises ``OSError`` when the
    file cannot be opened, ``UnknownKind`` for a bad ``kind``, and whatever a reader crashes
    with."""
    limits = limits or Limits()
    size = path.stat().st_size
    detected = kind is None
    if kind is None:
        found = detect(path)
        if found is None:
            return _unreadable("unknown", "the kind of file is not recognised"), True
        kind = found
    name, read = reader_for(kind, contracts_dir)
    if size > limits.max_bytes:
        return _unreadable(
            name, f"{size:,} bytes, over the limit of {limits.max_bytes:,}"
        ), detected
    return read(path, limits), detected


def inspect_bounded(
    path: Path,
    kind: str | None = None,
    limits: Limits | None = None,
    contracts_dir: Path | None = None,
) -> tuple[InspectResult, bool]:
    """``inspect_file`` in a child with a deadline and a memory limit. A limit hit is an
    ``unreadable`` verdict naming it; a crash raises ``ReaderCrashed``."""
    limits = limits or Limits()
    size = path.stat().st_size  # OSError here, in the caller's process
    if kind is not None:
        reader_for(kind, contracts_dir)  # UnknownKind here too, before forking
    detected = kind is None
    if kind is None:  # the first bytes only: safe to read here
        found = detect(path)
        if found is None:
            return _unreadable("unknown", "the kind of file is not recognised"), True
        kind = found
    outcome = call_sandboxed(
        inspect_file,
        path,
        kind,
        limits,
        contracts_dir,
        size=size,
        limits=limits.sandbox,  # one file: the child imports only its own reader
    )
    if outcome.ending == "returned":
        result, _ = outcome.value
        return result, detected
    if outcome.ending in ("timeout", "memory"):
        return _unreadable(kind, refusal(outcome, limits.sandbox, size).reason), detected
    if outcome.ending == "raised" and isinstance(outcome.value, UnknownKind):
        raise outcome.value
    # Anything else raised in the child is the reader's bug, an OSError included: the file
    # was opened fine above (ENAMETOOLONG from X12's ST01 used as a path is one such).
    raise ReaderCrashed(kind, outcome.site or f"signal {outcome.signal}")
