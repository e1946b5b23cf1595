"""``integrations inspect``: check one file by hand, offline, before a feed goes live.

Reads FILE with the reader the workers use for its kind (``--as KIND``, or detected from the
first bytes) in a child process with a time and memory budget, and prints the verdict, counts and
every problem with its position (``--json`` for programs). Nothing is written, nothing is sent.
Exit codes (``app.cli.exit_codes``): 0 valid, 1 read with problems or rejected, 2 usage,
65 unreadable (JSON says why), 66 no such file, 70 internal error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from app.cli import support as cli_support
from app.cli.exit_codes import ExitCode
from app.cli.inspection import (
    READERS,
    InspectResult,
    Limits,
    ReaderCrashed,
    UnknownKind,
    inspect_bounded,
)

KIND_HELP = f"One of {', '.join(READERS)}, or contract:<file contract name>. Default: detected."


def inspect_command(
    file: Annotated[Path, typer.Argument(help="The file, as received.", show_default=False)],
    kind: Annotated[str | None, typer.Option("--as", help=KIND_HELP, show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Stable JSON for programs.")] = False,
    contracts_dir: Annotated[
        Path | None, typer.Option("--contracts", help="Folder of file contracts (*.toml).")
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            "--max-seconds",
            min=1,
            help="Time budget. Default: the workers' (INTEGRATIONS_READER_SECONDS_BASE + "
            "INTEGRATIONS_READER_SECONDS_PER_MB per MB of the file).",
        ),
    ] = None,
    max_memory_mb: Annotated[
        int | None,
        typer.Option(
            "--max-memory-mb",
            min=64,
            help="Resident memory of the reader. Default: INTEGRATIONS_READER_MEMORY_BYTES.",
        ),
    ] = None,
) -> None:
    """Read FILE as the workers would and report its verdict and problems."""
    if not file.is_file():
        why = "not a regular file" if file.exists() else "no such file"
        raise cli_support.fail(f"{why}: {file}", ExitCode.NO_INPUT, "check the path")
    try:
        limits = Limits.from_settings(
            cli_support.settings(), max_seconds=max_seconds, memory_mb=max_memory_mb
        )
        result, detected = inspect_bounded(file, kind, limits, contracts_dir)
    except UnknownKind as exc:
        hint = "see `integrations inspect --help`"
        raise cli_support.fail(str(exc), ExitCode.USAGE, hint) from None
    except ReaderCrashed as exc:
        raise cli_support.fail(
            f"internal error: {exc}",
            ExitCode.INTERNAL,
            "this is a bug: report the kind and this line (the file's content is not shown)",
        ) from None
    except OSError as exc:
        raise cli_support.fail(
            f"cannot read {file}: {exc.strerror or exc}", ExitCode.NO_INPUT, "check the path"
        ) from None
    if as_json:
        typer.echo(json.dumps(result.as_json(str(file), detected), indent=2, sort_keys=True))
    else:
        _print(file, result, detected)
    raise typer.Exit(int(result.exit_code))


def _print(file: Path, result: InspectResult, detected: bool) -> None:
    how = "detected" if detected else "as asked"
    typer.echo(f"{file}: {result.kind} ({how}): {result.verdict.upper()}")
    if result.reason:
        typer.echo(f"  reason: {result.reason}")
    for key, value in result.summary.items():
        typer.echo(f"  {key}: {value}")
    for p in result.problems:
        where = f"{result.position_unit} {p.position}" if p.position is not None else "file"
        where += f" {p.field}" if p.field else ""
        typer.echo(f"  {p.severity}: {where}: {p.message} [{p.code}]")
    if result.problems_total > len(result.problems):
        typer.echo(f"  ... {result.problems_total - len(result.problems)} more problems")
