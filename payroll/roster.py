"""The HRIS roster and the period's inputs: parsed from CSV, or from the typed rows of the
Parquet that file intake landed (CSV or fixed-width under a file contract), validated row by row.

A row that breaks a rule becomes an :class:`InputError` naming the file, the row (data rows
counted from 1, as in intake's error reports), the column and the value — masked for PII columns
(SSN, routing and account numbers, names), so an error report is safe to send to the HRIS team.
Referential integrity across the two files (every inputs row names a roster employee, nobody
twice) is :func:`check_integrity`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from foundation.pii import mask_value
from nacha.routing import is_valid_routing_number

ROSTER_COLUMNS = (
    "employee_id",
    "name",
    "ssn",
    "routing_number",
    "account_number",
    "account_type",
    "pay_type",
    "rate",
    "state",
)
INPUT_COLUMNS = ("employee_id", "hours", "bonus", "deductions")
PII_COLUMNS = frozenset({"name", "ssn", "routing_number", "account_number"})

_EMPLOYEE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_SSN = re.compile(r"^(\d{3})-?(\d{2})-?(\d{4})$")
# NACHA DFI Account Number: up to 17 characters; we accept letters, digits and hyphens.
_ACCOUNT = re.compile(r"^[A-Za-z0-9-]{4,17}$")
_STATE = re.compile(r"^[A-Z]{2}$")

FileKind = Literal["roster", "inputs", "enrolment"]
Rows = Iterator[tuple[int, dict[str, str]]]


class InputError(BaseModel):
    """One broken rule in one row of the roster or the inputs."""

    model_config = ConfigDict(frozen=True)

    file: FileKind
    row: int = Field(description="Data rows from 1; 0 for the file as a whole.")
    column: str | None
    rule: str
    value: str | None = Field(description="Masked when the column is PII.")
    message: str


class Employee(BaseModel):
    """A roster row. PII: ``name``, ``ssn``, ``routing_number``, ``account_number``."""

    model_config = ConfigDict(frozen=True)

    employee_id: str
    name: str
    ssn: str = Field(description="Normalised NNN-NN-NNNN.")
    routing_number: str
    account_number: str
    account_type: Literal["checking", "savings"] = "checking"
    pay_type: Literal["hourly", "salary"]
    rate_cents: int = Field(ge=0, description="Per hour (hourly) or per period (salary).")
    state: str


class PeriodInput(BaseModel):
    """An inputs row: hours worked and one-off earnings/deductions for the period."""

    model_config = ConfigDict(frozen=True)

    employee_id: str
    hours: Decimal = Field(ge=0)
    bonus_cents: int = Field(default=0, ge=0)
    deductions_cents: int = Field(default=0, ge=0)


def shown(column: str | None, value: str | None) -> str | None:
    if value is None or column is None:
        return value
    return mask_value(value) if column in PII_COLUMNS else value[:40]


def normalise_ssn(value: str) -> str | None:
    """``NNN-NN-NNNN`` for a structurally valid SSN, else None (SSA: no area 000, 666 or
    900-999, no group 00, no serial 0000)."""
    match = _SSN.match(value.strip())
    if match is None:
        return None
    area, group, serial = match.groups()
    if area in {"000", "666"} or area.startswith("9") or group == "00" or serial == "0000":
        return None
    return f"{area}-{group}-{serial}"


def cents(value: str) -> int | None:
    """Dollars with at most two decimals → integer cents; None when malformed or negative."""
    try:
        amount = Decimal(value.strip() or "0")
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def _header_error(kind: FileKind, message: str) -> InputError:
    return InputError(file=kind, row=0, column=None, rule="header", value=None, message=message)


def _text(value: object) -> str:
    """A typed cell (intake's Parquet) as the text a CSV would have held."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()


def _records(
    records: Iterable[Mapping[str, object]],
    kind: FileKind,
    columns: tuple[str, ...],
    errors: list[InputError],
) -> Rows:
    """Rows of a table that intake validated against a file contract and landed as Parquet
    (a contract's own checks already passed; payroll's rules are checked on top). Rows count
    from 1 as in the file: intake landed every row, the run refuses a table with dropped ones."""
    for number, record in enumerate(records, 1):
        missing = [c for c in columns if c not in record] if number == 1 else []
        if missing:
            errors.append(_header_error(kind, f"the landed table has no {','.join(missing)}"))
            return
        yield number, {c: _text(record[c]) for c in columns}


def _rows(text: str, kind: FileKind, columns: tuple[str, ...], errors: list[InputError]) -> Rows:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != columns:
        errors.append(_header_error(kind, f"the header must be {','.join(columns)}"))
        return
    number = 0
    for raw in reader:
        if not raw or all(not cell.strip() for cell in raw):
            continue
        number += 1
        if len(raw) != len(columns):
            errors.append(
                InputError(
                    file=kind,
                    row=number,
                    column=None,
                    rule="column_count",
                    value=None,
                    message=f"{len(raw)} columns, expected {len(columns)}",
                )
            )
            continue
        yield number, {c: v.strip() for c, v in zip(columns, raw, strict=True)}


Source = str | Iterable[Mapping[str, object]]


def _source_rows(
    source: Source, kind: FileKind, columns: tuple[str, ...], errors: list[InputError]
) -> Rows:
    if isinstance(source, str):
        return _rows(source, kind, columns, errors)
    return _records(source, kind, columns, errors)


def parse_roster(source: Source) -> tuple[list[tuple[int, Employee]], list[InputError]]:
    """The roster's valid employees (with their row numbers) and every row error; ``source`` is
    CSV text or the records of a landed table."""
    errors: list[InputError] = []
    employees: list[tuple[int, Employee]] = []
    for number, row in _source_rows(source, "roster", ROSTER_COLUMNS, errors):

        def bad(
            column: str, rule: str, message: str, row: dict[str, str] = row, number: int = number
        ) -> None:
            errors.append(
                InputError(
                    file="roster",
                    row=number,
                    column=column,
                    rule=rule,
                    value=shown(column, row[column]),
                    message=message,
                )
            )

        before = len(errors)
        if not _EMPLOYEE_ID.match(row["employee_id"]):
            bad("employee_id", "format", "employee ids are 1-40 letters, digits, _ or -")
        if not row["name"]:
            bad("name", "required", "a name is required")
        ssn = normalise_ssn(row["ssn"])
        if ssn is None:
            bad("ssn", "ssn", "not a valid SSN (NNN-NN-NNNN; no 000/666/9xx area, 00 group)")
        if not is_valid_routing_number(row["routing_number"]):
            bad("routing_number", "aba_checksum", "not a routing number (ABA check digit)")
        if not _ACCOUNT.match(row["account_number"]):
            bad("account_number", "format", "account numbers are 4-17 letters, digits or -")
        if row["account_type"] not in ("checking", "savings"):
            bad("account_type", "enum", "checking or savings")
        if row["pay_type"] not in ("hourly", "salary"):
            bad("pay_type", "enum", "hourly or salary")
        rate = cents(row["rate"])
        if rate is None:
            bad("rate", "amount", "a non-negative amount with at most two decimals")
        if not _STATE.match(row["state"]):
            bad("state", "format", "a two-letter state code")
        if len(errors) > before:
            continue
        assert ssn is not None and rate is not None
        employees.append(
            (
                number,
                Employee(
                    employee_id=row["employee_id"],
                    name=row["name"],
                    ssn=ssn,
                    routing_number=row["routing_number"],
                    account_number=row["account_number"],
                    account_type=row["account_type"],
                    pay_type=row["pay_type"],
                    rate_cents=rate,
                    state=row["state"],
                ),
            )
        )
    return employees, errors


def parse_inputs(source: Source) -> tuple[list[tuple[int, PeriodInput]], list[InputError]]:
    """The period's valid inputs rows (with row numbers) and every row error; ``source`` is CSV
    text or the records of a landed table."""
    errors: list[InputError] = []
    inputs: list[tuple[int, PeriodInput]] = []
    for number, row in _source_rows(source, "inputs", INPUT_COLUMNS, errors):
        before = len(errors)
        try:
            hours = Decimal(row["hours"] or "0")
            ok_hours = hours.is_finite() and Decimal(0) <= hours <= Decimal(744)
        except InvalidOperation:
            hours, ok_hours = Decimal(0), False
        if not ok_hours:
            errors.append(
                InputError(
                    file="inputs",
                    row=number,
                    column="hours",
                    rule="hours",
                    value=row["hours"][:40],
                    message="hours must be a number from 0 to 744",
                )
            )
        amounts: dict[str, int] = {}
        for column in ("bonus", "deductions"):
            value = cents(row[column])
            if value is None:
                errors.append(
                    InputError(
                        file="inputs",
                        row=number,
                        column=column,
                        rule="amount",
                        value=row[column][:40],
                        message="a non-negative amount with at most two decimals",
                    )
                )
            else:
                amounts[column] = value
        if len(errors) > before:
            continue
        inputs.append(
            (
                number,
                PeriodInput(
                    employee_id=row["employee_id"],
                    hours=hours.quantize(Decimal("0.01")),
                    bonus_cents=amounts["bonus"],
                    deductions_cents=amounts["deductions"],
                ),
            )
        )
    return inputs, errors


def check_integrity(
    roster: Iterable[tuple[int, Employee]], inputs: Iterable[tuple[int, PeriodInput]]
) -> list[InputError]:
    """No employee twice on the roster or in the inputs; every inputs row names a roster
    employee."""
    errors: list[InputError] = []
    seen: dict[str, int] = {}
    for number, employee in roster:
        first = seen.setdefault(employee.employee_id, number)
        if first != number:
            errors.append(
                InputError(
                    file="roster",
                    row=number,
                    column="employee_id",
                    rule="duplicate",
                    value=employee.employee_id,
                    message=f"employee already on the roster at row {first}",
                )
            )
    given: dict[str, int] = {}
    for number, item in inputs:
        if item.employee_id not in seen:
            errors.append(
                InputError(
                    file="inputs",
                    row=number,
                    column="employee_id",
                    rule="unknown_employee",
                    value=item.employee_id[:40],
                    message="no such employee on the roster",
                )
            )
        first = given.setdefault(item.employee_id, number)
        if first != number:
            errors.append(
                InputError(
                    file="inputs",
                    row=number,
                    column="employee_id",
                    rule="duplicate",
                    value=item.employee_id[:40],
                    message=f"employee already has inputs at row {first}",
                )
            )
    return errors
