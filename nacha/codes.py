"""Transaction codes, SEC codes and service class codes (NACHA Appendix Two and Three)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

AccountType = Literal["checking", "savings", "general_ledger", "loan"]


@dataclass(frozen=True, slots=True)
class TransactionCode:
    code: int
    account_type: AccountType
    is_credit: bool
    # Prenotifications (x3, x8) and zero-dollar remittance entries (x4, x9) carry no money:
    # NACHA Appendix Two, Entry Detail "Amount" must be zero for them.
    zero_amount: bool
    # Automated returns and NOCs (x1, x6) are sent by the RDFI, never originated.
    return_or_noc: bool
    description: str


def _account_codes(base: int, account: AccountType) -> list[TransactionCode]:
    label = account.replace("_", " ")
    rows = [
        (1, True, False, True, "automated return or NOC of a credit"),
        (2, True, False, False, "credit (deposit)"),
        (3, True, True, False, "prenotification of a credit"),
        (4, True, True, False, "zero-dollar credit with remittance data"),
        (6, False, False, True, "automated return or NOC of a debit"),
        (7, False, False, False, "debit (payment)"),
        (8, False, True, False, "prenotification of a debit"),
        (9, False, True, False, "zero-dollar debit with remittance data"),
    ]
    return [
        TransactionCode(base + d, account, credit, zero, ret, f"{label}: {text}")
        for d, credit, zero, ret, text in rows
    ]


TRANSACTION_CODES: Final[dict[int, TransactionCode]] = {
    t.code: t
    for t in (
        _account_codes(20, "checking")
        + _account_codes(30, "savings")
        + _account_codes(40, "general_ledger")
        # Loan accounts: 51-54 credits; 55 loan debit (reversals only), 56 its return/NOC.
        + [t for t in _account_codes(50, "loan") if t.code <= 54]
        + [
            TransactionCode(55, "loan", False, False, False, "loan: debit (reversals only)"),
            TransactionCode(
                56, "loan", False, False, True, "loan: automated return or NOC of a debit"
            ),
        ]
    )
}

# Standard Entry Class codes (NACHA Operating Rules, Appendix Three / Subpart 2.5).
SEC_CODES: Final[frozenset[str]] = frozenset(
    {
        *("ACK", "ADV", "ARC", "ATX", "BOC", "CCD", "CIE", "COR", "CTX", "DNE", "ENR", "IAT"),
        *("MTE", "POP", "POS", "PPD", "RCK", "SHR", "TEL", "TRC", "TRX", "WEB", "XCK"),
    }
)

# SEC codes whose entries may carry more than one addenda record (CTX/ENR/TRX up to 9,999, IAT
# 7 mandatory + optional); the others carry at most one.
MULTI_ADDENDA_SEC_CODES: Final[frozenset[str]] = frozenset({"CTX", "ENR", "TRX", "IAT", "ATX"})

# Service class codes (Batch Header field 2): 200 mixed, 220 credits only, 225 debits only,
# 280 automated accounting advices.
SERVICE_CLASS_CODES: Final[dict[int, str]] = {
    200: "mixed debits and credits",
    220: "credits only",
    225: "debits only",
    280: "automated accounting advices",
}
