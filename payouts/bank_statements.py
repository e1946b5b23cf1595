"""Bank statement lines from BAI2 and ISO 20022 camt.052/053/054, as one ``BankCredit`` model.

BAI2 is read by the PyPI ``bai2`` package (record structure, continuation ``88`` records and the
control totals of ``49``/``98``/``99`` are its job, and it refuses a file whose totals do not add
up). camt is XML, parsed with ``defusedxml`` so a statement cannot declare a DTD, entities
(billion laughs) or external references (XXE).

Every statement line becomes one ``BankCredit`` (debits too: ``direction`` says which), with the
amount in integer minor units of its currency. Lines that cannot be turned into money (a camt
amount with too many decimals, an unknown currency) are returned as problems, never raised; only
an unreadable file raises ``BankStatementUnreadable``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final

import defusedxml.ElementTree as SafeElementTree  # type: ignore[import-untyped]
from bai2 import bai2 as bai2_reader  # type: ignore[import-untyped]
from bai2.constants import FundsType, TypeCodeTransaction  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException
from pydantic import Field

from contracts.base import Contract, contract
from payouts.currencies import is_currency_code, to_minor_units
from payouts.errors import BankStatementUnreadable

StatementSource = Path | bytes | IO[bytes]

# A statement is a day or a month of one account: 64 MiB is far beyond any real one, and a cap
# keeps a hostile file from exhausting the worker's memory.
MAX_STATEMENT_BYTES: Final = 64 * 1024 * 1024
# Reference text kept per line: enough for every remittance field, small in a Temporal payload.
MAX_REFERENCE_CHARS: Final = 1000


class Direction(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


class StatementFormat(StrEnum):
    BAI2 = "bai2"
    CAMT_052 = "camt.052"
    CAMT_053 = "camt.053"
    CAMT_054 = "camt.054"


@contract("payouts.bank_credit", "1.0")
class BankCredit(Contract):
    """One booked statement line (credit or debit), small enough to signal to a workflow.

    ``account`` is an account number or IBAN: PII, encrypted by the payload codec, never logged.
    """

    line_id: str = Field(description="Stable within the statement: same file, same id.")
    source_format: StatementFormat
    account: str
    amount: int = Field(ge=0, description="Minor units of ``currency``; sign is ``direction``.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    direction: Direction
    value_date: date | None = None
    booking_date: date | None = None
    bank_reference: str | None = None
    end_to_end_id: str | None = None
    reference_text: str = Field(default="", description="Remittance and free text, joined.")
    type_code: str | None = Field(default=None, description="BAI2 type code or camt BkTxCd.")
    status: str | None = Field(default=None, description="camt Sts: BOOK, PDNG or INFO.")
    reversal: bool = False


@dataclass(slots=True)
class ParsedStatement:
    format: StatementFormat
    lines: list[BankCredit] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _read_bytes(source: StatementSource, format: str) -> bytes:
    try:
        if isinstance(source, bytes):
            data = source
        elif isinstance(source, Path):
            with source.open("rb") as stream:
                data = stream.read(MAX_STATEMENT_BYTES + 1)
        else:
            data = source.read(MAX_STATEMENT_BYTES + 1)
    except OSError as error:
        raise BankStatementUnreadable(format, f"cannot read the file: {error}") from error
    if len(data) > MAX_STATEMENT_BYTES:
        raise BankStatementUnreadable(format, f"larger than {MAX_STATEMENT_BYTES} bytes")
    if not data.strip():
        raise BankStatementUnreadable(format, "the file is empty")
    return data


def _clip(text: str) -> str:
    return " ".join(text.split())[:MAX_REFERENCE_CHARS]


# -- BAI2 ---------------------------------------------------------------------------------------


def read_bai2(source: StatementSource) -> ParsedStatement:
    """Every ``16`` transaction detail record of a BAI2 file, as ``BankCredit``.

    BAI2 (version 2, 2005): ``02`` group header gives the as-of date (field 4, our booking date)
    and the group currency (field 6); ``03`` account identifier gives the account (field 1) and
    its currency (field 2, falling back to the group's, then USD as the spec defaults it);
    ``16`` gives the type code (100-399 credits, 400-699 debits), the amount in minor units
    (implied decimals per currency, no sign), the funds type (``V``: value date follows),
    the bank reference (field 5), the customer reference (field 6) and the text, with ``88``
    continuations already joined by the library.
    """
    raw = _read_bytes(source, "bai2")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # BAI2 is ASCII; a stray byte must not hide the file
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        document = bai2_reader.parse_from_string(text, check_integrity=True)
        return _bai2_lines(document)
    except BankStatementUnreadable:
        raise
    except Exception as error:  # the library raises bare Exception subclasses for anything
        raise BankStatementUnreadable(
            "bai2", f"{type(error).__name__}: {error}".strip(": ")
        ) from error


def _bai2_lines(document: Any) -> ParsedStatement:
    parsed = ParsedStatement(StatementFormat.BAI2)
    file_id = document.header.file_id or ""
    for g, group in enumerate(document.children, start=1):
        as_of: date | None = group.header.as_of_date
        group_currency: str | None = group.header.currency
        for a, account in enumerate(group.children, start=1):
            number = str(account.header.customer_account_number or "")
            currency = (account.header.currency or group_currency or "USD").upper()
            for d, detail in enumerate(account.children, start=1):
                line_id = f"bai2:{file_id}:{g}:{a}:{d}"
                if not is_currency_code(currency):
                    parsed.problems.append(f"{line_id}: currency {currency!r} is not ISO 4217")
                    continue
                if detail.amount is None:
                    parsed.problems.append(f"{line_id}: no amount")
                    continue
                code = detail.type_code
                direction = (
                    Direction.CREDIT
                    if code.transaction == TypeCodeTransaction.credit
                    else Direction.DEBIT
                )
                value_date = as_of
                if detail.funds_type == FundsType.value_dated and detail.availability:
                    value_date = detail.availability.get("date") or as_of
                texts = [detail.customer_reference or "", detail.text or ""]
                parsed.lines.append(
                    BankCredit(
                        line_id=line_id,
                        source_format=StatementFormat.BAI2,
                        account=number,
                        amount=int(detail.amount),
                        currency=currency,
                        direction=direction,
                        value_date=value_date,
                        booking_date=as_of,
                        bank_reference=(detail.bank_reference or "").strip() or None,
                        reference_text=_clip(" ".join(t for t in texts if t)),
                        type_code=code.code,
                    )
                )
    return parsed


# -- camt ---------------------------------------------------------------------------------------

# Root element under Document → (format, element of one statement/report/notification).
_CAMT_ROOTS: Final = {
    "BkToCstmrAcctRpt": (StatementFormat.CAMT_052, "Rpt"),
    "BkToCstmrStmt": (StatementFormat.CAMT_053, "Stmt"),
    "BkToCstmrDbtCdtNtfctn": (StatementFormat.CAMT_054, "Ntfctn"),
}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _find_text(element: ElementTree.Element, path: str) -> str | None:
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _camt_date(element: ElementTree.Element, path: str) -> date | None:
    """``BookgDt``/``ValDt`` hold ``Dt`` (ISODate) or ``DtTm`` (ISODateTime): the date part."""
    holder = element.find(path)
    if holder is None:
        return None
    text = _find_text(holder, "{*}Dt") or _find_text(holder, "{*}DtTm")
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def read_camt(source: StatementSource) -> ParsedStatement:
    """Every ``Ntry`` of a camt.052, camt.053 or camt.054 document, as ``BankCredit``."""
    raw = _read_bytes(source, "camt")
    try:
        root = SafeElementTree.fromstring(
            raw, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as error:
        raise BankStatementUnreadable("camt", f"forbidden XML construct: {error}") from error
    except (ElementTree.ParseError, ValueError, LookupError) as error:
        # LookupError: the XML declaration names an encoding Python does not know.
        raise BankStatementUnreadable("camt", f"not well-formed XML: {error}") from error
    if _local(root.tag) != "Document" or len(root) == 0:
        raise BankStatementUnreadable("camt", f"root element is {_local(root.tag)!r}, not Document")
    body = root[0]
    known = _CAMT_ROOTS.get(_local(body.tag))
    if known is None:
        raise BankStatementUnreadable(
            "camt", f"{_local(body.tag)!r} is not a camt.052/053/054 message"
        )
    format, statement_tag = known
    parsed = ParsedStatement(format)
    for s, statement in enumerate(body.findall(f"{{*}}{statement_tag}"), start=1):
        _camt_statement(statement, s, format, parsed)
    return parsed


def _camt_statement(
    statement: ElementTree.Element, number: int, format: StatementFormat, parsed: ParsedStatement
) -> None:
    # Stmt/Id; Stmt/Acct/Id/IBAN or Stmt/Acct/Id/Othr/Id; Stmt/Acct/Ccy (optional).
    statement_id = _find_text(statement, "{*}Id") or str(number)
    account = (
        _find_text(statement, "{*}Acct/{*}Id/{*}IBAN")
        or _find_text(statement, "{*}Acct/{*}Id/{*}Othr/{*}Id")
        or ""
    )
    account_currency = _find_text(statement, "{*}Acct/{*}Ccy")
    for n, entry in enumerate(statement.findall("{*}Ntry"), start=1):
        line_id = f"{format.value}:{statement_id}:{n}"
        line = _camt_entry(entry, line_id, format, account, account_currency)
        if isinstance(line, str):
            parsed.problems.append(f"{line_id}: {line}")
        else:
            parsed.lines.append(line)


def _camt_entry(
    entry: ElementTree.Element,
    line_id: str,
    format: StatementFormat,
    account: str,
    account_currency: str | None,
) -> BankCredit | str:
    """One ``Ntry``, or why it cannot be one."""
    amount_element = entry.find("{*}Amt")  # Ntry/Amt@Ccy: the booked amount
    if amount_element is None or not (amount_element.text or "").strip():
        return "Ntry/Amt is missing"
    currency = (amount_element.get("Ccy") or account_currency or "").strip().upper()
    if not is_currency_code(currency):
        return f"Ntry/Amt@Ccy {currency!r} is not ISO 4217"
    try:
        amount = to_minor_units(amount_element.text or "", currency)
    except ValueError as error:
        return f"Ntry/Amt: {error}"
    indicator = _find_text(entry, "{*}CdtDbtInd")  # CRDT or DBIT
    if indicator not in ("CRDT", "DBIT"):
        return f"Ntry/CdtDbtInd is {indicator!r}, not CRDT or DBIT"
    # Ntry/Sts is a code up to camt.053.001.08 and Sts/Cd from .001.09 on.
    status = _find_text(entry, "{*}Sts/{*}Cd") or _find_text(entry, "{*}Sts")
    transactions = entry.findall("{*}NtryDtls/{*}TxDtls")
    bank_reference = _find_text(entry, "{*}AcctSvcrRef") or next(
        (r for t in transactions if (r := _find_text(t, "{*}Refs/{*}AcctSvcrRef"))), None
    )
    end_to_end = [
        r
        for t in transactions
        if (r := _find_text(t, "{*}Refs/{*}EndToEndId")) and r != "NOTPROVIDED"
    ]
    texts: list[str] = [*end_to_end]
    for t in transactions:
        # TxDtls/RmtInf/Ustrd (free text) and RmtInf/Strd/CdtrRefInf/Ref (creditor reference).
        texts.extend(e.text.strip() for e in t.iterfind("{*}RmtInf/{*}Ustrd") if e.text)
        for strd in t.iterfind("{*}RmtInf/{*}Strd"):
            texts.extend(e.text.strip() for e in strd.iterfind("{*}CdtrRefInf/{*}Ref") if e.text)
            texts.extend(e.text.strip() for e in strd.iterfind("{*}AddtlRmtInf") if e.text)
        texts.extend(e.text.strip() for e in t.iterfind("{*}AddtlTxInf") if e.text)
    texts.extend(e.text.strip() for e in entry.iterfind("{*}AddtlNtryInf") if e.text)
    unique = list(dict.fromkeys(t for t in texts if t))
    type_code = _find_text(entry, "{*}BkTxCd/{*}Domn/{*}Cd")
    if type_code:
        family = _find_text(entry, "{*}BkTxCd/{*}Domn/{*}Fmly/{*}Cd")
        sub = _find_text(entry, "{*}BkTxCd/{*}Domn/{*}Fmly/{*}SubFmlyCd")
        type_code = "/".join(c for c in (type_code, family, sub) if c)
    else:
        type_code = _find_text(entry, "{*}BkTxCd/{*}Prtry/{*}Cd")
    return BankCredit(
        line_id=line_id,
        source_format=format,
        account=account,
        amount=amount,
        currency=currency,
        direction=Direction.CREDIT if indicator == "CRDT" else Direction.DEBIT,
        value_date=_camt_date(entry, "{*}ValDt"),
        booking_date=_camt_date(entry, "{*}BookgDt"),
        bank_reference=bank_reference,
        end_to_end_id=end_to_end[0] if end_to_end else None,
        reference_text=_clip(" ".join(unique)),
        type_code=type_code,
        status=status,
        reversal=(_find_text(entry, "{*}RvslInd") or "").lower() == "true",
    )


def read_bank_statement(source: StatementSource) -> ParsedStatement:
    """BAI2 or camt, told apart by the first bytes (``01,`` file header or ``<``)."""
    raw = _read_bytes(source, "statement")
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"01,"):
        return read_bai2(raw)
    if head.startswith(b"<"):
        return read_camt(raw)
    raise BankStatementUnreadable("statement", "neither BAI2 (01 record) nor XML")
