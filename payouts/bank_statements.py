"""Bank statement lines from BAI2 and ISO 20022 camt.052/053/054, as one ``BankCredit`` model.

BAI2 is read by ``payouts.bai2`` (record structure, continuation ``88`` records, the control
totals of ``49``/``98``/``99``; a file whose totals do not add up, or that is cut off, is
refused). camt is XML, parsed with ``defusedxml`` so a statement cannot declare a DTD, entities
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
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, Final

import defusedxml.ElementTree as SafeElementTree  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException
from pydantic import Field

from foundation.wire_model import WireModel, wire_model
from payouts import bai2
from payouts.currencies import is_currency_code, parse_decimal, to_minor_units
from payouts.errors import BankStatementUnreadable

StatementSource = Path | bytes | IO[bytes]

# A statement is a day or a month of one account: 64 MiB is far beyond any real one, and a cap
# keeps a hostile file from exhausting the worker's memory.
MAX_STATEMENT_BYTES: Final = 64 * 1024 * 1024
# Reference text kept per line: enough for every remittance field, small in a Temporal payload.
MAX_REFERENCE_CHARS: Final = 1000
# Lines one statement may hold: each costs about 1.5 KB as a BankCredit, so 200,000 keeps a
# statement under 300 MB; a payout account's day is far smaller. Beyond it, refused.
MAX_STATEMENT_LINES: Final = 200_000
# XML elements in one camt document (ElementTree holds each, about 250 bytes): 2.5 million is
# some 600 MB, counted from the tags before parsing.
MAX_XML_ELEMENTS: Final = 2_500_000
# A statement id is part of every line id: ISO 20022 Max35Text, kept to that.
MAX_ID_CHARS: Final = 35


class Direction(StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


class StatementFormat(StrEnum):
    BAI2 = "bai2"
    CAMT_052 = "camt.052"
    CAMT_053 = "camt.053"
    CAMT_054 = "camt.054"


@wire_model("payouts.bank_credit", "1.0")
class BankCredit(WireModel):
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

# Problems quoted in a refusal's reason; the rest are counted (``payouts.bai2.validate`` has all).
_REASON_PROBLEMS: Final = 5


def read_bai2(source: StatementSource, *, max_lines: int = MAX_STATEMENT_LINES) -> ParsedStatement:
    """Every ``16`` transaction detail record of a sound BAI2 file, as ``BankCredit``.

    Read and validated by ``payouts.bai2``: a file whose structure, control totals (49/98/99) or
    record counts are wrong, or that is cut off, raises ``BankStatementUnreadable`` with the
    lines at fault. BAI2 (version 2): the ``02`` group header gives the as-of date (our booking
    date) and the group currency; the ``03`` account record the account and its currency
    (falling back to the group's, then USD as the spec defaults it); each ``16`` the type code
    (100-399 credits, 400-699 debits), the amount in minor units, the funds type (``V``: value
    date), the bank and customer references and the text with its ``88`` continuations joined
    exactly. A detail that cannot be a line (no or a negative amount, a type code that is
    neither credit nor debit, a currency that is not ISO 4217) is a problem, not a line.
    """
    raw = _read_bytes(source, "bai2")
    document = bai2.read(raw)
    errors = [p for p in bai2.validate(document) if p.severity == "error"]
    if errors:
        shown = "; ".join(str(p) for p in errors[:_REASON_PROBLEMS])
        more = len(errors) - _REASON_PROBLEMS
        raise BankStatementUnreadable("bai2", shown + (f" (and {more} more)" if more > 0 else ""))
    details = sum(len(a.details) for g in document.groups for a in g.accounts)
    if details > max_lines:
        raise BankStatementUnreadable("bai2", f"{details} detail records, more than {max_lines}")
    return _bai2_lines(document)


def _bai2_lines(document: bai2.Bai2File) -> ParsedStatement:
    parsed = ParsedStatement(StatementFormat.BAI2)
    file_id = document.header.file_id if document.header else ""
    for g, group in enumerate(document.groups, start=1):
        as_of = group.header.as_of_date
        for a, account in enumerate(group.accounts, start=1):
            currency = (account.header.currency or group.header.currency or "USD").upper()
            for d, detail in enumerate(account.details, start=1):
                line_id = f"bai2:{file_id}:{g}:{a}:{d}"
                line = _bai2_line(detail, line_id, account.header.account_number, currency, as_of)
                if isinstance(line, str):
                    parsed.problems.append(f"{line_id} (line {detail.line}): {line}")
                else:
                    parsed.lines.append(line)
    return parsed


def _bai2_line(
    detail: bai2.Detail, line_id: str, account: str, currency: str, as_of: date | None
) -> BankCredit | str:
    """One ``16`` record as a line, or why it cannot be one."""
    if not is_currency_code(currency):
        return f"currency {currency[:8]!r} is not ISO 4217"
    if detail.amount is None:
        return "no amount"
    if detail.amount < 0:
        # Detail amounts are unsigned in BAI2 (the type code says credit or debit); a signed
        # one is counted in the control totals but is not money we can match.
        return f"amount {detail.amount} is negative: the type code gives the direction"
    code = int(detail.type_code) if bai2.fields.is_type_code(detail.type_code) else 0
    if not 100 <= code <= 699:
        return f"type code {detail.type_code!r} is neither a credit (100-399) nor a debit (400-699)"
    value_date = detail.funds.value_date if detail.funds.type == "V" else None
    texts = [detail.customer_reference, detail.text]
    return BankCredit(
        line_id=line_id,
        source_format=StatementFormat.BAI2,
        account=account,
        amount=detail.amount,
        currency=currency,
        direction=Direction.CREDIT if code < 400 else Direction.DEBIT,
        value_date=value_date or as_of,
        booking_date=as_of,
        bank_reference=detail.bank_reference or None,
        reference_text=_clip(" ".join(t for t in texts if t)),
        type_code=detail.type_code,
    )


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


def read_camt(
    source: StatementSource,
    *,
    max_lines: int = MAX_STATEMENT_LINES,
    max_elements: int = MAX_XML_ELEMENTS,
) -> ParsedStatement:
    """Every ``Ntry`` of a camt.052, camt.053 or camt.054 document as ``BankCredit`` lines, one
    per transaction detail (``TxDtls``) when an entry carries several that add up to it.

    Each statement is checked before its lines are trusted: opening booked balance (``OPBD``,
    else ``PRCD``) plus the booked entries must equal the closing booked balance (``CLBD``), and
    ``TxsSummry`` must agree with the entries; a statement that fails either is refused with
    ``BankStatementUnreadable``. Amounts must be ``xs:decimal``."""
    raw = _read_bytes(source, "camt")
    # Every element has a start tag: counting "<" bounds the tree before it is built.
    if raw.count(b"<") > 2 * max_elements:
        raise BankStatementUnreadable("camt", f"more than {max_elements} XML elements")
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
    statements = body.findall(f"{{*}}{statement_tag}")
    entries = sum(len(statement.findall("{*}Ntry")) for statement in statements)
    if entries > max_lines:
        raise BankStatementUnreadable("camt", f"{entries} entries, more than {max_lines}")
    for s, statement in enumerate(statements, start=1):
        _camt_statement(statement, s, format, parsed)
        if len(parsed.lines) > max_lines:
            raise BankStatementUnreadable("camt", f"more than {max_lines} lines")
    return parsed


@dataclass(frozen=True, slots=True)
class _Booked:
    """What an entry adds to its statement's balance and summary."""

    amount: Decimal  # as written, non-negative
    currency: str
    credit: bool
    booked: bool  # Sts BOOK (or none): counts towards the closing booked balance


def _camt_statement(
    statement: ElementTree.Element, number: int, format: StatementFormat, parsed: ParsedStatement
) -> None:
    # Stmt/Id; Stmt/Acct/Id/IBAN or Stmt/Acct/Id/Othr/Id; Stmt/Acct/Ccy (optional).
    statement_id = (_find_text(statement, "{*}Id") or str(number))[:MAX_ID_CHARS]
    account = (
        _find_text(statement, "{*}Acct/{*}Id/{*}IBAN")
        or _find_text(statement, "{*}Acct/{*}Id/{*}Othr/{*}Id")
        or ""
    )
    account_currency = _find_text(statement, "{*}Acct/{*}Ccy")
    # By position, not Stmt/Id: banks build ids from the IBAN, and a reason reaches history.
    where = f"{format.value} statement {number}"
    lines: list[BankCredit] = []
    problems: list[str] = []
    entries: list[_Booked] = []
    unreadable = 0
    for n, entry in enumerate(statement.findall("{*}Ntry"), start=1):
        line_id = f"{format.value}:{statement_id}:{n}"
        result = _camt_entry(entry, line_id, format, account, account_currency)
        if isinstance(result, str):
            problems.append(f"{line_id}: {result}")
            unreadable += 1
            continue
        booked, entry_lines, entry_problems = result
        entries.append(booked)
        lines.extend(entry_lines)
        problems.extend(f"{line_id}: {p}" for p in entry_problems)
    checkable = statement.find("{*}Bal") is not None or statement.find("{*}TxsSummry") is not None
    if unreadable and checkable:
        problems.append(
            f"{where}: balances and TxsSummry not checked, {unreadable} entries unreadable"
        )
    elif checkable:
        _check_balances(statement, where, account_currency, entries)
        _check_summary(statement, where, entries)
    parsed.lines.extend(lines)
    parsed.problems.extend(problems)


def _decimal_at(element: ElementTree.Element, path: str) -> Decimal | None:
    text = _find_text(element, path)
    if text is None:
        return None
    try:
        return parse_decimal(text)
    except ValueError as error:
        raise _Refused(f"{path.replace('{*}', '')}: {error}") from None


class _Refused(Exception):
    """A statement whose balances or summary cannot be trusted (becomes the refusal)."""


def _signed(amount: Decimal, indicator: str | None, what: str) -> Decimal:
    if indicator not in ("CRDT", "DBIT"):
        raise _Refused(f"{what} CdtDbtInd is {indicator!r}, not CRDT or DBIT")
    return amount if indicator == "CRDT" else -amount


def _check_balances(
    statement: ElementTree.Element,
    where: str,
    account_currency: str | None,
    entries: list[_Booked],
) -> None:
    """ISO 20022 camt.053 (Bal): opening booked (OPBD, or PRCD, the previous closing) plus every
    booked entry equals closing booked (CLBD). Checked when both balances are present."""
    balances: dict[str, tuple[Decimal, str]] = {}
    try:
        for balance in statement.iterfind("{*}Bal"):
            code = _find_text(balance, "{*}Tp/{*}CdOrPrtry/{*}Cd")
            if code not in ("OPBD", "PRCD", "CLBD") or code in balances:
                continue
            amount_element = balance.find("{*}Amt")
            if amount_element is None:
                raise _Refused(f"balance {code} has no Amt")
            amount = _decimal_at(balance, "{*}Amt")
            if amount is None or amount < 0:
                raise _Refused(f"balance {code} Amt is not a non-negative amount")
            currency = (amount_element.get("Ccy") or "").strip().upper()
            signed = _signed(amount, _find_text(balance, "{*}CdtDbtInd"), f"balance {code}")
            balances[code] = (signed, currency)
        opening = balances.get("OPBD") or balances.get("PRCD")
        closing = balances.get("CLBD")
        if opening is None or closing is None:
            return
        # Balances are in the account's currency (Acct/Ccy when stated, else the opening's).
        currency = (account_currency or opening[1]).upper()
        for name, (_, ccy) in (("opening", opening), ("closing", closing)):
            if ccy != currency:
                raise _Refused(
                    f"the {name} booked balance is in {ccy[:8]!r}, the account in {currency[:8]!r}"
                )
        moved = Decimal(0)
        for n, entry in enumerate(entries, start=1):
            if not entry.booked:
                continue
            if entry.currency != currency:
                raise _Refused(f"entry {n} is in {entry.currency}, the balances in {currency}")
            moved += entry.amount if entry.credit else -entry.amount
        if opening[0] + moved != closing[0]:
            raise _Refused(
                f"opening balance {opening[0]} + booked entries {moved} = {opening[0] + moved}, "
                f"but the closing balance is {closing[0]} {currency}"
            )
    except _Refused as refused:
        raise BankStatementUnreadable("camt", f"{where}: {refused}") from None


def _check_summary(statement: ElementTree.Element, where: str, entries: list[_Booked]) -> None:
    """TxsSummry: number and sum of all entries, of credits and of debits, and the net."""
    summary = statement.find("{*}TxsSummry")
    if summary is None:
        return
    credits = [e.amount for e in entries if e.credit]
    debits = [e.amount for e in entries if not e.credit]
    try:
        for path, amounts in (
            ("{*}TtlNtries", credits + debits),
            ("{*}TtlCdtNtries", credits),
            ("{*}TtlDbtNtries", debits),
        ):
            name = path.replace("{*}", "")
            stated_count = _find_text(summary, f"{path}/{{*}}NbOfNtries")
            if stated_count is not None and stated_count != str(len(amounts)):
                raise _Refused(
                    f"TxsSummry/{name}/NbOfNtries is {stated_count[:20]!r}, "
                    f"the statement has {len(amounts)}"
                )
            stated_sum = _decimal_at(summary, f"{path}/{{*}}Sum")
            if stated_sum is not None and stated_sum != sum(amounts, Decimal(0)):
                raise _Refused(
                    f"TxsSummry/{name}/Sum is {stated_sum}, the entries add up to "
                    f"{sum(amounts, Decimal(0))}"
                )
        # TtlNtries/TtlNetNtry (camt.053.001.03 on) or TtlNtries/TtlNetNtryAmt (.001.02).
        net = _decimal_at(summary, "{*}TtlNtries/{*}TtlNetNtry/{*}Amt")
        indicator = _find_text(summary, "{*}TtlNtries/{*}TtlNetNtry/{*}CdtDbtInd")
        if net is None:
            net = _decimal_at(summary, "{*}TtlNtries/{*}TtlNetNtryAmt")
            indicator = _find_text(summary, "{*}TtlNtries/{*}CdtDbtInd")
        if net is not None:
            computed = sum(credits, Decimal(0)) - sum(debits, Decimal(0))
            if _signed(net, indicator, "TxsSummry net") != computed:
                raise _Refused(f"TxsSummry net {indicator} {net}, the entries net {computed}")
    except _Refused as refused:
        raise BankStatementUnreadable("camt", f"{where}: {refused}") from None


def _texts(element: ElementTree.Element) -> list[str]:
    """Remittance and free text of one TxDtls: RmtInf/Ustrd, Strd/CdtrRefInf/Ref, AddtlRmtInf,
    AddtlTxInf."""
    texts = [e.text.strip() for e in element.iterfind("{*}RmtInf/{*}Ustrd") if e.text]
    for strd in element.iterfind("{*}RmtInf/{*}Strd"):
        texts.extend(e.text.strip() for e in strd.iterfind("{*}CdtrRefInf/{*}Ref") if e.text)
        texts.extend(e.text.strip() for e in strd.iterfind("{*}AddtlRmtInf") if e.text)
    texts.extend(e.text.strip() for e in element.iterfind("{*}AddtlTxInf") if e.text)
    return texts


def _end_to_end(element: ElementTree.Element) -> str | None:
    found = _find_text(element, "{*}Refs/{*}EndToEndId")
    return found if found and found != "NOTPROVIDED" else None


def _detail_amount(detail: ElementTree.Element) -> tuple[str, str] | None:
    """TxDtls/Amt (camt.053.001.03 on), else TxDtls/AmtDtls/TxAmt/Amt: (text, currency)."""
    for path in ("{*}Amt", "{*}AmtDtls/{*}TxAmt/{*}Amt"):
        found = detail.find(path)
        if found is not None and (found.text or "").strip():
            return found.text or "", (found.get("Ccy") or "").strip().upper()
    return None


def _camt_entry(
    entry: ElementTree.Element,
    line_id: str,
    format: StatementFormat,
    account: str,
    account_currency: str | None,
) -> tuple[_Booked, list[BankCredit], list[str]] | str:
    """One ``Ntry``: what it books, its lines and its problems; or why it cannot be read."""
    amount_element = entry.find("{*}Amt")  # Ntry/Amt@Ccy: the booked amount
    if amount_element is None or not (amount_element.text or "").strip():
        return "Ntry/Amt is missing"
    currency = (amount_element.get("Ccy") or account_currency or "").strip().upper()
    if not is_currency_code(currency):
        return f"Ntry/Amt@Ccy {currency[:8]!r} is not ISO 4217"
    try:
        amount = to_minor_units(amount_element.text or "", currency)
        written = parse_decimal(amount_element.text or "")
    except ValueError as error:
        return f"Ntry/Amt: {error}"
    indicator = _find_text(entry, "{*}CdtDbtInd")  # CRDT or DBIT
    if indicator not in ("CRDT", "DBIT"):
        return f"Ntry/CdtDbtInd is {(indicator or '')[:8]!r}, not CRDT or DBIT"
    # Ntry/Sts is a code up to camt.053.001.08 and Sts/Cd from .001.09 on.
    status = _find_text(entry, "{*}Sts/{*}Cd") or _find_text(entry, "{*}Sts")
    booked = _Booked(written, currency, indicator == "CRDT", (status or "BOOK").upper() == "BOOK")
    details = entry.findall("{*}NtryDtls/{*}TxDtls")
    type_code = _find_text(entry, "{*}BkTxCd/{*}Domn/{*}Cd")
    if type_code:
        family = _find_text(entry, "{*}BkTxCd/{*}Domn/{*}Fmly/{*}Cd")
        sub = _find_text(entry, "{*}BkTxCd/{*}Domn/{*}Fmly/{*}SubFmlyCd")
        type_code = "/".join(c for c in (type_code, family, sub) if c)
    else:
        type_code = _find_text(entry, "{*}BkTxCd/{*}Prtry/{*}Cd")
    entry_reference = _find_text(entry, "{*}AcctSvcrRef")
    entry_texts = [e.text.strip() for e in entry.iterfind("{*}AddtlNtryInf") if e.text]

    def line(
        id_: str,
        minor: int,
        ccy: str,
        credit: bool,
        parts: list[ElementTree.Element],
    ) -> BankCredit:
        ends = [r for t in parts if (r := _end_to_end(t))]
        texts = [*ends, *(x for t in parts for x in _texts(t)), *entry_texts]
        reference = entry_reference or next(
            (r for t in parts if (r := _find_text(t, "{*}Refs/{*}AcctSvcrRef"))), None
        )
        return BankCredit(
            line_id=id_,
            source_format=format,
            account=account,
            amount=minor,
            currency=ccy,
            direction=Direction.CREDIT if credit else Direction.DEBIT,
            value_date=_camt_date(entry, "{*}ValDt"),
            booking_date=_camt_date(entry, "{*}BookgDt"),
            bank_reference=reference,
            end_to_end_id=ends[0] if ends else None,
            reference_text=_clip(" ".join(dict.fromkeys(t for t in texts if t))),
            type_code=type_code,
            status=status,
            reversal=(_find_text(entry, "{*}RvslInd") or "").lower() == "true",
        )

    whole = [line(line_id, amount, currency, booked.credit, details)]
    if len(details) <= 1:
        return booked, whole, []
    # Several transaction details: one line each, when each has an amount in the entry's
    # currency and together they book the entry; otherwise the entry stays one line.
    split: list[BankCredit] = []
    net = 0
    for t, detail in enumerate(details, start=1):
        found = _detail_amount(detail)
        if found is None:
            return booked, whole, [f"TxDtls {t} has no amount: the entry is kept as one line"]
        text, ccy = found
        ccy = ccy or currency
        if ccy != currency:
            return (
                booked,
                whole,
                [f"TxDtls {t} is in {ccy[:8]!r}, the entry in {currency}: kept as one line"],
            )
        detail_indicator = _find_text(detail, "{*}CdtDbtInd") or indicator
        try:
            minor = to_minor_units(text, ccy)
        except ValueError as error:
            return booked, whole, [f"TxDtls {t} Amt: {error}: the entry is kept as one line"]
        credit = detail_indicator == "CRDT"
        net += minor if credit else -minor
        split.append(line(f"{line_id}:{t}", minor, ccy, credit, [detail]))
    if net != (amount if booked.credit else -amount):
        return (
            booked,
            whole,
            [
                f"its {len(details)} transaction details net {net} minor units, the entry "
                f"{amount if booked.credit else -amount}: the entry is kept as one line"
            ],
        )
    return booked, split, []


def read_bank_statement(source: StatementSource) -> ParsedStatement:
    """BAI2 or camt, told apart by the first bytes (``01,`` file header or ``<``)."""
    raw = _read_bytes(source, "statement")
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"01,"):
        return read_bai2(raw)
    if head.startswith(b"<"):
        return read_camt(raw)
    raise BankStatementUnreadable("statement", "neither BAI2 (01 record) nor XML")
