"""``integrations edi``: validate X12 files and write their acknowledgement (mounted by
``app.cli.main``).

``validate FILE`` prints the verdict (``--json``: the ``edi.validation_result`` contract) and
writes the 997/999/TA1 to ``--ack-out`` (default ``FILE.ack.x12``). Without a database the
acknowledgement's ISA13 is ``--control-number`` (default 1); the workers allocate real ones per
partner. Issue values are masked.

Exit codes (sysexits, the table of the whole CLI): 0 accepted, 1 read with problems or rejected
(a TA1 counts: the file was read and answered), 2 usage, 65 refused (not X12, or beyond the EDI
limits: the JSON says why), 66 no such file (or it cannot be opened), 73 the acknowledgement
cannot be written, 70 internal error (one line on stderr, never a traceback).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

import edi
from app.cli.exit_codes import ExitCode
from app.cli.support import settings as load_cli_settings
from readers.sandbox import crash_site

edi_app = typer.Typer(
    help="EDI X12: validate files (pyx12 for HIPAA sets) and write 997/999/TA1.",
    no_args_is_help=True,
)


@edi_app.callback()
def _group() -> None:
    """EDI X12: validate files (pyx12 for HIPAA sets) and write 997/999/TA1."""


@edi_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="An X12 file as received.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ack_out: Annotated[
        Path | None, typer.Option("--ack-out", help="Where to write the acknowledgement.")
    ] = None,
    control_number: Annotated[
        int, typer.Option(min=1, max=999_999_999, help="ISA13 of the acknowledgement.")
    ] = 1,
) -> None:
    """Validate FILE, print the result and write the acknowledgement."""
    try:
        code = _validate(file, as_json, ack_out, control_number)
    except typer.Exit:
        raise
    except Exception as exc:  # a bug: one line, and never the exit code of an invalid file
        typer.echo(f"internal error: {crash_site(exc)}", err=True)
        raise typer.Exit(ExitCode.INTERNAL) from None
    raise typer.Exit(code)


def _validate(file: Path, as_json: bool, ack_out: Path | None, control_number: int) -> int:
    from activities.edi import edi_limits

    limits = edi_limits(load_cli_settings())
    try:
        validation = edi.validate_file(file, limits)
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        return ExitCode.NO_INPUT
    result = validation.result
    ack_path = None
    if validation.ack_count:
        when = datetime.now(UTC)
        controls = [edi.AckControl(control_number + i, when) for i in range(validation.ack_count)]
        ack_path = ack_out or file.with_name(file.name + ".ack.x12")
        try:
            ack_path.write_text(validation.acknowledgement(controls))
        except OSError as exc:
            typer.echo(f"error: cannot write {ack_path}: {exc.strerror or exc}", err=True)
            return ExitCode.CANT_CREATE
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        _print(result, ack_path)
    if result.refusal is not None:
        return ExitCode.DATA_ERROR
    return ExitCode.OK if result.accepted else ExitCode.REFUSED


def _print(result: edi.ValidationResult, ack_path: Path | None) -> None:
    if result.refusal is not None:
        typer.echo(f"REFUSED ({result.refusal.reason}): {result.refusal.message}")
        return
    verdict = "accepted" if result.accepted else "REJECTED"
    typer.echo(f"{verdict}; acknowledgement: {result.ack_kind or 'none'}")
    if result.bom_stripped or result.leading_whitespace_stripped:
        typer.echo(
            "  (stripped: "
            + ", ".join(
                n
                for n, on in (
                    ("BOM", result.bom_stripped),
                    ("leading whitespace", result.leading_whitespace_stripped),
                )
                if on
            )
            + ")"
        )
    for interchange in result.interchanges:
        state = "ok" if interchange.envelope_ok else f"TA1 {interchange.ta1_code}"
        typer.echo(
            f"interchange {interchange.control_number} {interchange.sender} -> "
            f"{interchange.receiver} ({interchange.version}, {interchange.usage}): {state}"
        )
        for group in interchange.groups:
            typer.echo(
                f"  group {group.functional_id} {group.control_number} {group.version} "
                f"[{group.engine}]: {group.ack_code} {' '.join(group.errors)}".rstrip()
            )
            for st in group.sets:
                codes = f" ({', '.join(st.errors)})" if st.errors else ""
                typer.echo(f"    set {st.set_id} {st.control_number}: {st.ack_code}{codes}")
    for ack in result.acknowledgements_received:
        about = ack.acknowledged_group or ack.acknowledged_interchange
        typer.echo(f"received {ack.kind} about {about}: {ack.ack_code}")
    for issue in result.issues:
        where = " ".join(
            part
            for part in (
                f"line {issue.line}" if issue.line else "",
                issue.segment_id or "",
                f"element {issue.element_position}" if issue.element_position else "",
            )
            if part
        )
        value = f" [{issue.value}]" if issue.value else ""
        level = f"{issue.level} warning" if issue.severity == "warning" else issue.level
        typer.echo(f"  {level} {issue.code}: {where}: {issue.message}{value}")
    if result.issues_truncated:
        typer.echo(f"  ... and {result.issues_truncated} more")
    if ack_path is not None:
        typer.echo(f"acknowledgement written to {ack_path}")
