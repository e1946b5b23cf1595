"""``integrations ach``: look inside NACHA files (mounted by ``app.cli.main``).

``inspect`` prints what a file holds and every validation problem; account numbers are masked
to their last four characters and names are never printed. Exit codes follow sysexits(3):
0 valid, 1 problems found, 2 usage error (click), 65 the content cannot be read as NACHA,
66 no such file, 70 an internal error (one line on stderr, never a traceback). JSON on stdout
for 0, 1 and 65.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.exit_codes import ExitCode
from nacha import NachaFile, NachaReadError, read, validate
from nacha.errors import NachaOpenError
from nacha.fields import mask
from nacha.summaries import FileSummary, change_notices, return_notices, summarize

ach_app = typer.Typer(
    help="NACHA ACH files: inspect returns, NOCs and validation problems.", no_args_is_help=True
)


@ach_app.callback()
def _group() -> None:
    """NACHA ACH files: inspect returns, NOCs and validation problems."""


# Bumped when a key is removed or changes meaning; programs can check it.
JSON_FORMAT_VERSION = 1

# The CLI's one exit-code table (app.cli.exit_codes), under the names this module uses.
EXIT_OK = ExitCode.OK  # read and valid
EXIT_PROBLEMS = ExitCode.REFUSED  # read, with problems
EXIT_DATAERR = ExitCode.DATA_ERROR  # the input cannot be read as a NACHA file
EXIT_NOINPUT = ExitCode.NO_INPUT  # no such file (or not one we may open)
EXIT_SOFTWARE = ExitCode.INTERNAL  # a bug of ours, never the partner's file


def _returns(file: NachaFile) -> list[dict[str, Any]]:
    return [
        {
            "return_code": n.return_code,
            "category": n.category.value,
            "description": n.description,
            "original_trace_number": n.original_trace_number,
            "trace_number": n.trace_number,
            "amount_cents": n.amount_cents,
            "routing_number": n.routing_number,
            "account_number_masked": mask(n.account_number),
            "time_limit_days": n.time_limit_days,
            "time_limit_unit": n.time_limit_unit,
        }
        for n in return_notices(file)
    ]


def _nocs(file: NachaFile) -> list[dict[str, Any]]:
    out = []
    for n in change_notices(file):
        out.append(
            {
                "change_code": n.change_code,
                "description": n.description,
                "refused": n.refused,
                "original_trace_number": n.original_trace_number,
                "trace_number": n.trace_number,
                "corrected_account_number_masked": (
                    mask(n.corrected_account_number) if n.corrected_account_number else None
                ),
                "corrected_routing_number": n.corrected_routing_number,
                "corrected_transaction_code": n.corrected_transaction_code,
                # Names and ids are PII: say that they changed, not what to.
                "corrects_name": n.corrected_individual_name is not None,
                "corrects_identification": n.corrected_individual_identification is not None,
            }
        )
    return out


def _money(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


def _print_text(
    path: Path, s: FileSummary, returns: list[dict[str, Any]], nocs: list[dict[str, Any]]
) -> None:
    echo = typer.echo
    echo(f"{path}: {'valid' if s.valid else 'INVALID'} ({'strict' if s.strict else 'lenient'})")
    echo(f"  batches {s.batch_count}, entries {s.entry_count}, addenda {s.addenda_count}")
    echo(f"  debits {_money(s.debit_total_cents)}, credits {_money(s.credit_total_cents)}")
    if s.returns_by_code:
        echo("  returns by code:")
        for code, count in s.returns_by_code.items():
            desc = next((r["description"] for r in returns if r["return_code"] == code), "")
            echo(f"    {code} x{count}  {desc}")
        for r in returns:
            echo(
                f"    {r['return_code']} original trace {r['original_trace_number']} "
                f"amount {_money(r['amount_cents'])} account {r['account_number_masked']}"
            )
    if nocs:
        echo("  NOCs:")
        for n in nocs:
            fixes = [
                f"account {n['corrected_account_number_masked']}"
                if n["corrected_account_number_masked"]
                else "",
                f"routing {n['corrected_routing_number']}" if n["corrected_routing_number"] else "",
                f"transaction code {n['corrected_transaction_code']}"
                if n["corrected_transaction_code"] is not None
                else "",
                "name" if n["corrects_name"] else "",
                "identification" if n["corrects_identification"] else "",
            ]
            what = ", ".join(f for f in fixes if f) or "no corrected data"
            echo(
                f"    {n['change_code']} {'(refused) ' if n['refused'] else ''}"
                f"original trace {n['original_trace_number']}: {what}"
            )
    echo(f"  problems: {s.error_count} error(s), {s.warning_count} warning(s)")
    for p in s.problems:
        where = f"record {p.record_number}" + (f" {p.field}" if p.field else "")
        echo(f"    {p.severity}: {where}: {p.message} [{p.code}]")
    if s.problems_truncated:
        echo("    ... more problems not shown")


@ach_app.command("inspect")
def inspect(
    file: Annotated[Path, typer.Argument(help="A NACHA file (.ach, or .gz).")],
    as_json: Annotated[bool, typer.Option("--json", help="Stable JSON for programs.")] = False,
    strict: Annotated[
        bool, typer.Option(help="Outbound rules: tolerated deviations become errors.")
    ] = False,
) -> None:
    """Summarise a NACHA file and list every validation problem."""
    try:
        code = _inspect(file, as_json=as_json, strict=strict)
    except Exception as exc:
        # The type only: an exception's text may quote the file, which can hold PII.
        typer.echo(f"internal error: {type(exc).__name__} while reading {file}", err=True)
        code = EXIT_SOFTWARE
    sys.stdout.flush()
    raise typer.Exit(code)


def _unreadable(file: Path, reason: str, *, as_json: bool) -> None:
    if as_json:
        doc = {
            "format_version": JSON_FORMAT_VERSION,
            "file": str(file),
            "readable": False,
            "error": reason,
        }
        typer.echo(json.dumps(doc, sort_keys=True))
    else:
        typer.echo(f"error: {file}: {reason}", err=True)


def _inspect(file: Path, *, as_json: bool, strict: bool) -> int:
    try:
        parsed = read(file)
    except NachaOpenError as exc:
        typer.echo(f"error: {file}: {exc.reason}", err=True)
        return EXIT_NOINPUT
    except NachaReadError as exc:
        _unreadable(file, exc.reason, as_json=as_json)
        return EXIT_DATAERR
    problems = validate(parsed, strict=strict)
    summary = summarize(parsed, problems, strict=strict)
    returns, nocs = _returns(parsed), _nocs(parsed)
    if as_json:
        doc = {
            "format_version": JSON_FORMAT_VERSION,
            "file": str(file),
            "readable": True,
            "summary": summary.model_dump(mode="json", exclude={"problems"}),
            "returns": returns,
            "nocs": nocs,
            "problems": [p.model_dump(mode="json") for p in summary.problems],
        }
        typer.echo(json.dumps(doc, sort_keys=True, indent=2))
    else:
        _print_text(file, summary, returns, nocs)
    return EXIT_OK if summary.valid else EXIT_PROBLEMS
