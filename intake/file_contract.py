"""File contracts: what a partner's file must hold, declared per feed and versioned.

A contract is a TOML file under ``file_contracts/`` named ``<name>.v<schema_version>.toml``; it is
validated when loaded (a bad contract is a ``ContractError`` naming the file and the field), it
compiles into a streaming validator (``intake.validation``), and it renders itself as the spec
sent to the partner (``to_markdown``). Two kinds exist: delimited (``kind = "csv"``) and
fixed-width (``kind = "fixed_width"``).
"""

from __future__ import annotations

import codecs
import itertools
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from foundation.wire_model import WireModel, wire_model
from intake.errors import ContractError

# Arrow's decimal128 holds 38 digits; our regex-then-cast path needs the digits known up front.
MAX_DECIMAL_PRECISION: Final = 38

DEFAULT_FORMATS: Final = {"date": "%Y-%m-%d", "datetime": "%Y-%m-%dT%H:%M:%S"}

# strptime directives the validator understands, with the regex each one accepts. Every one has
# a fixed shape, so a value can be checked exactly (Arrow's strptime alone is lenient: it reads
# "2025-02-30" as 2 March and " 2025-01-05" as 5 January).
FORMAT_DIRECTIVES: Final = {
    "%Y": r"\d{4}",
    "%m": r"\d{2}",
    "%d": r"\d{2}",
    "%H": r"\d{2}",
    "%M": r"\d{2}",
    "%S": r"\d{2}",
    "%z": r"(?:[+-]\d{2}:?\d{2}|Z)",
    "%%": "%",
}
_DIRECTIVE = re.compile(r"%.")
_NAME = r"[a-z][a-z0-9_]*"


class ColumnType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    EMAIL = "email"
    ENUM = "enum"
    BOOLEAN = "boolean"


class _Strict(BaseModel):
    # Contracts are written by hand: a misspelt key must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    """One field of a record."""

    name: str = Field(min_length=1, max_length=128)
    type: ColumnType
    required: bool = False
    description: str = ""
    pii: bool = False  # masked in every error report and log
    # date/datetime: strptime format, fixed-shape directives only (see FORMAT_DIRECTIVES)
    format: str | None = None
    # RE2 syntax (Arrow's regex engine), matched against the whole value
    pattern: str | None = None
    max_length: int | None = Field(default=None, ge=1)
    values: tuple[str, ...] | None = None  # enum: the allowed values
    case_sensitive: bool = True  # enum
    precision: int | None = Field(default=None, ge=1, le=MAX_DECIMAL_PRECISION)  # decimal
    scale: int | None = Field(default=None, ge=0)  # decimal: digits after the point
    true_values: tuple[str, ...] = ("true", "t", "yes", "y", "1")  # boolean, any case
    false_values: tuple[str, ...] = ("false", "f", "no", "n", "0")

    @field_validator("name")
    @classmethod
    def _visible(cls, value: str) -> str:
        if value != value.strip() or any(ord(c) < 32 for c in value):
            raise ValueError("a column name has no surrounding spaces or control characters")
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            check_re2(value)
        return value

    @model_validator(mode="after")
    def _type_options(self) -> Column:
        kind = self.type
        if self.format is not None:
            if kind not in (ColumnType.DATE, ColumnType.DATETIME):
                raise ValueError(f"format applies to date and datetime columns, not {kind}")
            check_date_format(self.format, allow_zone=kind is ColumnType.DATETIME)
        if kind is ColumnType.ENUM:
            if not self.values:
                raise ValueError("an enum column lists its allowed values in 'values'")
            if len(set(self.values)) != len(self.values):
                raise ValueError("values: each allowed value once")
        elif self.values is not None:
            raise ValueError(f"values applies to enum columns, not {kind}")
        if kind is ColumnType.DECIMAL:
            if self.scale is None:
                raise ValueError("a decimal column states its 'scale' (digits after the point)")
            if self.scale > self.decimal_precision:
                raise ValueError("scale cannot exceed precision")
        elif self.precision is not None or self.scale is not None:
            raise ValueError(f"precision and scale apply to decimal columns, not {kind}")
        if kind is ColumnType.BOOLEAN:
            truthy = {v.lower() for v in self.true_values}
            falsy = {v.lower() for v in self.false_values}
            if not truthy or not falsy or truthy & falsy:
                raise ValueError("true_values and false_values must be non-empty and disjoint")
        return self

    @property
    def decimal_precision(self) -> int:
        return self.precision if self.precision is not None else 18

    @property
    def date_format(self) -> str:
        return self.format or DEFAULT_FORMATS.get(self.type.value, "")

    def rule_text(self) -> str:
        """The column's rules in words, for the partner spec."""
        words: list[str] = []
        if self.type is ColumnType.DECIMAL:
            words.append(
                f"up to {self.decimal_precision - (self.scale or 0)} digits before the point and "
                f"{self.scale} after, '.' as the point, no thousands separator"
            )
        elif self.type is ColumnType.INTEGER:
            words.append("digits with an optional sign, at most 18 digits")
        elif self.type in (ColumnType.DATE, ColumnType.DATETIME):
            words.append(f"format `{self.date_format}`")
        elif self.type is ColumnType.ENUM:
            shown = ", ".join(f"`{v}`" for v in self.values or ())
            words.append(f"one of {shown}" + ("" if self.case_sensitive else " (any case)"))
        elif self.type is ColumnType.BOOLEAN:
            words.append(
                f"true: {', '.join(self.true_values)}; false: {', '.join(self.false_values)}"
            )
        elif self.type is ColumnType.EMAIL:
            words.append("an e-mail address")
        if self.max_length is not None:
            words.append(f"at most {self.max_length} characters")
        if self.pattern is not None:
            words.append(f"whole value matches `{self.pattern}`")
        return "; ".join(words)


class FixedWidthColumn(Column):
    """A field at a fixed position. Positions count characters from 1, as partner specs do."""

    start: int = Field(ge=1)
    length: int = Field(ge=1)
    justify: Literal["left", "right"] = "left"  # text left (pad right), numbers right
    pad: str = Field(default=" ", min_length=1, max_length=1)

    @property
    def end(self) -> int:
        return self.start + self.length - 1


class CsvDialect(_Strict):
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote_char: str | None = Field(default='"', min_length=1, max_length=1)  # None: no quoting
    double_quote: bool = True  # "" inside a quoted field is one quote (RFC 4180)
    escape_char: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str = "utf-8"
    header: bool = True
    quoted_newlines: bool = True  # a quoted field may span lines (RFC 4180)
    strip_whitespace: bool = False  # trim spaces around every value before checking it

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        return check_encoding(value)

    @model_validator(mode="after")
    def _distinct(self) -> CsvDialect:
        special = [c for c in (self.delimiter, self.quote_char, self.escape_char) if c]
        if len(set(special)) != len(special):
            raise ValueError("delimiter, quote_char and escape_char must differ")
        if any(c in "\r\n" for c in special):
            raise ValueError("delimiter, quote_char and escape_char cannot be line breaks")
        return self


class FixedWidthLayout(_Strict):
    encoding: str = "utf-8"
    record_length: int | None = Field(default=None, ge=1)  # every record exactly this long
    skip_lines: int = Field(default=0, ge=0)  # header lines before the first record

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        return check_encoding(value)


class _FileContractBase(WireModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=f"^{_NAME}$", max_length=64)
    schema_version: int = Field(ge=1)
    description: str = ""
    timezone: str = "UTC"  # of datetimes without an offset in the file
    max_bad_row_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    natural_key: tuple[str, ...] = ()
    max_file_bytes: int | None = Field(default=None, ge=1)
    allow_no_rows: bool = True  # a header-only file is a valid "nothing today"
    allow_extra_columns: bool = False

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def _check_columns(self, columns: tuple[Column, ...]) -> None:
        names = [c.name for c in columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"columns: {repeated} declared more than once")
        unknown = [k for k in self.natural_key if k not in names]
        if unknown:
            raise ValueError(f"natural_key: {unknown} are not columns")

    @property
    def contract_id(self) -> str:
        return f"{self.name}.v{self.schema_version}"

    def _acceptance_lines(self) -> list[str]:
        lines = [
            f"- A file is rejected when more than {self.max_bad_row_percent}% of its rows break a "
            "rule; otherwise the good rows are accepted and the bad ones reported.",
        ]
        if self.max_file_bytes is not None:
            lines.append(f"- Files larger than {self.max_file_bytes:,} bytes are rejected unread.")
        if not self.allow_no_rows:
            lines.append("- A file without data rows is rejected.")
        if self.natural_key:
            keys = ", ".join(f"`{k}`" for k in self.natural_key)
            lines.append(f"- Rows are identified by {keys} (the natural key).")
        lines.append(
            "- Error reports name the data row (1 = first row after any header), the column and "
            "the rule; values of columns marked PII are masked."
        )
        return lines


def _pii(column: Column) -> str:
    return "yes" if column.pii else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@wire_model("csv_file_contract", "1.0")
class CsvFileContract(_FileContractBase):
    """A delimited file: a header (or not) and one record per row."""

    kind: Literal["csv"] = "csv"
    csv: CsvDialect = CsvDialect()
    columns: tuple[Column, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _columns(self) -> CsvFileContract:
        self._check_columns(self.columns)
        return self

    @property
    def encoding(self) -> str:
        return self.csv.encoding

    def to_markdown(self) -> str:
        dialect = self.csv
        delimiter = {",": "comma", ";": "semicolon", "|": "pipe", "\t": "tab"}.get(
            dialect.delimiter, f"`{dialect.delimiter}`"
        )
        quoting = (
            f"Fields may be quoted with `{dialect.quote_char}`; a quoted field may contain the "
            "delimiter"
            + (" and line breaks" if dialect.quoted_newlines else "")
            + (
                f", and `{dialect.quote_char}{dialect.quote_char}` for a quote"
                if dialect.double_quote
                else ""
            )
            + "."
            if dialect.quote_char
            else "Fields are never quoted."
        )
        header = (
            "The first line is a header naming the columns below (in any order)."
            if dialect.header
            else "There is no header line: columns come in the order below."
        )
        lines = [
            f"# File specification: {self.name}, version {self.schema_version}",
            "",
            self.description or "",
            "",
            "## Format",
            "",
            f"- Delimited text, {delimiter}-separated, encoded in {dialect.encoding}"
            " (a UTF-8 byte-order mark is accepted).",
            "- Lines end with LF or CRLF.",
            f"- {quoting}",
            f"- {header}",
            "- An empty value means the field is absent.",
            f"- Times without an offset are in {self.timezone}.",
            "",
            "## Columns",
            "",
            "| # | Column | Type | Required | Rules | PII | Description |",
            "|---|---|---|---|---|---|---|",
        ]
        for number, column in enumerate(self.columns, 1):
            lines.append(
                f"| {number} | `{column.name}` | {column.type} | "
                f"{'yes' if column.required else 'no'} | {_cell(column.rule_text())} | "
                f"{_pii(column)} | {_cell(column.description)} |"
            )
        lines += ["", "## Acceptance", "", *self._acceptance_lines(), ""]
        return "\n".join(lines)


@wire_model("fixed_width_file_contract", "1.0")
class FixedWidthFileContract(_FileContractBase):
    """A fixed-width file: one record per line, each field at a fixed position."""

    kind: Literal["fixed_width"] = "fixed_width"
    fixed_width: FixedWidthLayout = FixedWidthLayout()
    columns: tuple[FixedWidthColumn, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _layout(self) -> FixedWidthFileContract:
        self._check_columns(self.columns)
        ordered = sorted(self.columns, key=lambda c: c.start)
        for before, after in itertools.pairwise(ordered):
            if after.start <= before.end:
                raise ValueError(
                    f"columns: {before.name!r} (positions {before.start}-{before.end}) overlaps "
                    f"{after.name!r} (from {after.start})"
                )
        length = self.fixed_width.record_length
        if length is not None and ordered[-1].end > length:
            raise ValueError(
                f"columns: {ordered[-1].name!r} ends at {ordered[-1].end}, past record_length "
                f"{length}"
            )
        return self

    @property
    def encoding(self) -> str:
        return self.fixed_width.encoding

    def to_markdown(self) -> str:
        layout = self.fixed_width
        lines = [
            f"# File specification: {self.name}, version {self.schema_version}",
            "",
            self.description or "",
            "",
            "## Format",
            "",
            f"- Fixed-width text encoded in {layout.encoding}, one record per line (LF or CRLF).",
            "- Positions count characters from 1.",
        ]
        if layout.record_length is not None:
            lines.append(f"- Every record is exactly {layout.record_length} characters long.")
        if layout.skip_lines:
            lines.append(f"- The first {layout.skip_lines} line(s) are a header and are skipped.")
        lines += [
            "- Left-justified fields are padded on the right, right-justified on the left; a "
            "field of padding only is absent.",
            f"- Times without an offset are in {self.timezone}.",
            "",
            "## Fields",
            "",
            "| # | Field | Start | Length | End | Justify | Pad | Type | Required | Rules | PII "
            "| Description |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for number, column in enumerate(self.columns, 1):
            lines.append(
                f"| {number} | `{column.name}` | {column.start} | {column.length} | "
                f"{column.end} | {column.justify} | `{column.pad}` | {column.type} | "
                f"{'yes' if column.required else 'no'} | {_cell(column.rule_text())} | "
                f"{_pii(column)} | {_cell(column.description)} |"
            )
        lines += ["", "## Acceptance", "", *self._acceptance_lines(), ""]
        return "\n".join(lines)


FileContract = Annotated[CsvFileContract | FixedWidthFileContract, Field(discriminator="kind")]
_KINDS: Final[Mapping[str, type[CsvFileContract] | type[FixedWidthFileContract]]] = {
    "csv": CsvFileContract,
    "fixed_width": FixedWidthFileContract,
}


# -- checks shared by the models ---------------------------------------------------------------


def check_encoding(value: str) -> str:
    try:
        codec = codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    # The reader splits lines on "\n" bytes, which multi-byte encodings such as UTF-16 break.
    if "\n".encode(codec.name) != b"\n" or ",".encode(codec.name) != b",":
        raise ValueError(f"encoding {value!r} is not ASCII-compatible; use UTF-8 or a code page")
    return codec.name


def check_re2(pattern: str) -> None:
    """Refuse a pattern that Python or Arrow's RE2 engine cannot compile (RE2 has no
    backreferences or lookaround)."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    import pyarrow as pa  # local: keep loading a contract cheap when no validator is built
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern=pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"regular expression not supported by RE2: {exc}") from None


def check_date_format(value: str, *, allow_zone: bool) -> None:
    directives = _DIRECTIVE.findall(value)
    unsupported = sorted({d for d in directives if d not in FORMAT_DIRECTIVES})
    if unsupported:
        raise ValueError(
            f"format {value!r}: directive(s) {unsupported} unsupported; use "
            f"{', '.join(FORMAT_DIRECTIVES)}"
        )
    if value.count("%z") > 1 or ("%z" in value and not value.endswith("%z")):
        raise ValueError(f"format {value!r}: %z may appear once, at the end")
    if "%z" in value and not allow_zone:
        raise ValueError(f"format {value!r}: a date has no time zone")
    if not {"%Y", "%m", "%d"} <= set(directives):
        raise ValueError(f"format {value!r}: needs %Y, %m and %d")


# -- loading -----------------------------------------------------------------------------------


def _location(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    """``columns[2] ('email').pattern``: the path to a field, with the column's name."""
    text = ""
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                text += f" ({node['name']!r})"
        else:
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(contract)"


def parse_contract(
    data: Mapping[str, Any], source: str = "<contract>"
) -> CsvFileContract | FixedWidthFileContract:
    """Validate a contract already read from TOML; ``ContractError`` names the field at fault."""
    kind = data.get("kind", "csv")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ContractError(f"{source}: kind: must be one of {sorted(_KINDS)}, got {kind!r}")
    try:
        return cls.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors()
        # pydantic adds "too short" for a list whose items failed; the item errors say more.
        errors = [
            e
            for e in errors
            if not (e["type"] == "too_short" and any(len(o["loc"]) > 1 for o in errors))
        ]
        problems = "; ".join(
            f"{_location(tuple(err['loc']), data)}: {err['msg']}" for err in errors
        )
        raise ContractError(f"{source}: {problems}") from None


def load_contract_text(
    text: str, source: str = "<contract>"
) -> CsvFileContract | FixedWidthFileContract:
    try:
        # Decimal for TOML floats: a percentage or amount never passes through binary floats.
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(f"{source}: not valid TOML: {exc}") from None
    return parse_contract(data, source)


def load_contract(path: str | Path) -> CsvFileContract | FixedWidthFileContract:
    """Load ``<name>.v<schema_version>.toml``; the file name must agree with its content."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path}: cannot be read: {exc}") from None
    loaded = load_contract_text(text, str(path))
    expected = f"{loaded.contract_id}.toml"
    if path.name != expected:
        raise ContractError(
            f"{path}: name/schema_version say this contract belongs in {expected!r}"
        )
    return loaded


def load_contracts(
    folder: str | Path,
) -> dict[str, CsvFileContract | FixedWidthFileContract]:
    """Every contract in ``folder``, keyed ``<name>.v<schema_version>``."""
    return {c.contract_id: c for c in map(load_contract, sorted(Path(folder).glob("*.toml")))}
