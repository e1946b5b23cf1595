"""``integrations edi``: validate X12 files and write their acknowledgement (mounted by
``integrations.cli``).

``validate FILE`` prints the verdict (``--json``: the ``edi.validation_result`` contract) and
writes the 997/999/TA1 to ``--ack-out`` (default ``FILE.ack.x12``). Without a database the
acknowledgement's ISA13 is ``--control-number`` (default 1); the workers allocate real ones per
partner. Issue values are masked. Exit codes (``integrations.exit_codes``): 0 accepted,
1 rejected, 65 not X12 at all, 66 no such file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

import edi
from integrations import cli_support
from integrations.exit_codes import ExitCode

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
        data = file.read_bytes()
    except OSError as exc:
        why = f"cannot read {file}: {exc.strerror}"
        raise cli_support.fail(why, ExitCode.NO_INPUT, "check the path") from None
    validation = edi.validate(data)
    result = validation.result
    ack_path = None
    if validation.ack_count:
        when = datetime.now(UTC)
        controls = [edi.AckControl(control_number + i, when) for i in range(validation.ack_count)]
        ack_path = ack_out or file.with_name(file.name + ".ack.x12")
        ack_path.write_text(validation.acknowledgement(controls))
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        _print(result, ack_path)
    readable = bool(result.interchanges)
    raise typer.Exit(
        ExitCode.OK if result.accepted else (ExitCode.REFUSED if readable else ExitCode.DATA_ERROR)
    )


def _print(result: edi.ValidationResult, ack_path: Path | None) -> None:
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
        typer.echo(f"  {issue.level} {issue.code}: {where}: {issue.message}{value}")
    if result.issues_truncated:
        typer.echo(f"  ... and {result.issues_truncated} more")
    if ack_path is not None:
        typer.echo(f"acknowledgement written to {ack_path}")
