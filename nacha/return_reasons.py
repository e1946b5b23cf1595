"""Return reason codes R01-R85 (NACHA Operating Rules, Appendix Four, "Return Entries"), with
each code's time limit and the category the return workflow acts on.

Time limits are counted from the Settlement Date of the original entry unless the note says
otherwise. Codes a bank made up are not rejected: ``return_reason`` gives them the category
``unknown`` so the workflow can hand them to ops.

This is the one home of the return rules: the return workflow's state machine
(``ach_returns.state_machine``) acts on a code through its category and the properties below,
and keeps no table of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal


class ReturnCategory(StrEnum):
    # R01/R09: the account had no money; may be re-presented (Rules 2.12.4).
    INSUFFICIENT_FUNDS = "insufficient_funds"
    # The receiver says the debit was not authorized: stop debiting (Rules 2.3, 3.12).
    UNAUTHORIZED = "unauthorized"
    # The account is closed, missing, malformed, frozen or its holder deceased: corrected
    # details are needed before anything else is sent.
    ACCOUNT_LEVEL = "account_level"
    # Format, processing and programme errors by the ODFI, operator or gateway.
    ADMINISTRATIVE = "administrative"
    # The ODFI dishonors a return (R61, R62, R67-R70; Rules 2.14).
    DISHONORED = "dishonored"
    # The RDFI contests a dishonored return (R71-R77; Rules 3.8.5).
    CONTESTED = "contested"
    # Stop payments, refused credits, check-conversion returns and the like.
    OTHER = "other"
    # Not in the NACHA table: a code the sending bank made up.
    UNKNOWN = "unknown"


TimeLimitUnit = Literal["banking_days", "calendar_days", "not_specified"]

# Rules Subsection 2.12.4 (Reinitiation of Returned Entries): an entry returned R01 or R09 may be
# reinitiated at most twice after its first presentment, within 180 days of the original
# Settlement Date; after any other return, only once the Originator has remedied its reason.
REINITIATION_LIMIT: Final = 2
REINITIATION_WINDOW_DAYS: Final = 180


@dataclass(frozen=True, slots=True)
class ReturnReason:
    code: str
    description: str
    category: ReturnCategory
    # How long the RDFI (or ODFI, for dishonors) has to send the return.
    time_limit_days: int | None
    time_limit_unit: TimeLimitUnit
    time_limit_note: str

    @property
    def known(self) -> bool:
        return self.category is not ReturnCategory.UNKNOWN

    @property
    def may_represent(self) -> bool:
        """The entry may be re-presented as it was (Rules 2.12.4: R01/R09 only)."""
        return self.category is ReturnCategory.INSUFFICIENT_FUNDS

    @property
    def needs_correction(self) -> bool:
        """Nothing more goes to the account until corrected details arrive."""
        return self.category is ReturnCategory.ACCOUNT_LEVEL

    @property
    def stops_debits(self) -> bool:
        """The receiver revoked or never gave authorization: no further debits."""
        return self.category is ReturnCategory.UNAUTHORIZED


_C = ReturnCategory
_TWO = (2, "banking_days", "received by the ODFI by opening of business on the 2nd banking day")
_SIXTY = (60, "calendar_days", "extended return: 60 calendar days after settlement")
_OPERATOR = (None, "not_specified", "returned by the ACH Operator, usually the same day")
_ODFI = (None, "not_specified", "at the RDFI's discretion, when the ODFI asks")
_DISHONOR = (5, "banking_days", "5 banking days after the settlement date of the return")
_CONTEST = (2, "banking_days", "2 banking days after the settlement date of the dishonor")

_ROWS: Final = (
    ("R01", "Insufficient Funds", _C.INSUFFICIENT_FUNDS, _TWO),
    ("R02", "Account Closed", _C.ACCOUNT_LEVEL, _TWO),
    ("R03", "No Account/Unable to Locate Account", _C.ACCOUNT_LEVEL, _TWO),
    ("R04", "Invalid Account Number Structure", _C.ACCOUNT_LEVEL, _TWO),
    (
        "R05",
        "Unauthorized Debit to Consumer Account Using Corporate SEC Code",
        _C.UNAUTHORIZED,
        _SIXTY,
    ),
    ("R06", "Returned per ODFI's Request", _C.ADMINISTRATIVE, _ODFI),
    ("R07", "Authorization Revoked by Customer", _C.UNAUTHORIZED, _SIXTY),
    ("R08", "Payment Stopped", _C.OTHER, _TWO),
    ("R09", "Uncollected Funds", _C.INSUFFICIENT_FUNDS, _TWO),
    (
        "R10",
        "Customer Advises Originator is Not Known to Receiver and/or Originator is Not "
        "Authorized by Receiver to Debit Receiver's Account",
        _C.UNAUTHORIZED,
        _SIXTY,
    ),
    (
        "R11",
        "Customer Advises Entry Not in Accordance with the Terms of the Authorization",
        _C.UNAUTHORIZED,
        _SIXTY,
    ),
    ("R12", "Account Sold to Another DFI", _C.ACCOUNT_LEVEL, _TWO),
    ("R13", "Invalid ACH Routing Number", _C.ACCOUNT_LEVEL, _OPERATOR),
    # R14-R16 and R28 are account-level, not "other": each says the entry cannot reach this
    # account as sent, and Rules 2.12.4 lets it be reinitiated only after the Originator
    # corrects the reason (R14/R15: the payee or holder is deceased, the account must change;
    # R16: the RDFI froze the account or OFAC blocked it; R28: the operator rejected the
    # routing number's check digit, Appendix Two). So the workflow awaits corrected details.
    (
        "R14",
        "Representative Payee Deceased or Unable to Continue in That Capacity",
        _C.ACCOUNT_LEVEL,
        _TWO,
    ),
    (
        "R15",
        "Beneficiary or Account Holder (Other Than a Representative Payee) Deceased",
        _C.ACCOUNT_LEVEL,
        _TWO,
    ),
    ("R16", "Account Frozen/Entry Returned per OFAC Instruction", _C.ACCOUNT_LEVEL, _TWO),
    (
        "R17",
        "File Record Edit Criteria/Entry with Invalid Account Number Initiated Under "
        "Questionable Circumstances",
        _C.ADMINISTRATIVE,
        _TWO,
    ),
    ("R18", "Improper Effective Entry Date", _C.ADMINISTRATIVE, _OPERATOR),
    ("R19", "Amount Field Error", _C.ADMINISTRATIVE, _OPERATOR),
    ("R20", "Non-Transaction Account", _C.ACCOUNT_LEVEL, _TWO),
    ("R21", "Invalid Company Identification", _C.ADMINISTRATIVE, _TWO),
    ("R22", "Invalid Individual ID Number", _C.ADMINISTRATIVE, _TWO),
    (
        "R23",
        "Credit Entry Refused by Receiver",
        _C.OTHER,
        (2, "banking_days", "2 banking days after the RDFI learns of the refusal"),
    ),
    ("R24", "Duplicate Entry", _C.ADMINISTRATIVE, _TWO),
    ("R25", "Addenda Error", _C.ADMINISTRATIVE, _OPERATOR),
    ("R26", "Mandatory Field Error", _C.ADMINISTRATIVE, _OPERATOR),
    ("R27", "Trace Number Error", _C.ADMINISTRATIVE, _OPERATOR),
    ("R28", "Routing Number Check Digit Error", _C.ACCOUNT_LEVEL, _OPERATOR),
    ("R29", "Corporate Customer Advises Not Authorized", _C.UNAUTHORIZED, _TWO),
    ("R30", "RDFI Not Participant in Check Truncation Program", _C.ADMINISTRATIVE, _OPERATOR),
    ("R31", "Permissible Return Entry (CCD and CTX only)", _C.ADMINISTRATIVE, _ODFI),
    ("R32", "RDFI Non-Settlement", _C.ADMINISTRATIVE, _OPERATOR),
    ("R33", "Return of XCK Entry", _C.OTHER, _SIXTY),
    ("R34", "Limited Participation DFI", _C.ADMINISTRATIVE, _OPERATOR),
    ("R35", "Return of Improper Debit Entry", _C.ADMINISTRATIVE, _OPERATOR),
    ("R36", "Return of Improper Credit Entry", _C.ADMINISTRATIVE, _OPERATOR),
    ("R37", "Source Document Presented for Payment", _C.OTHER, _SIXTY),
    ("R38", "Stop Payment on Source Document", _C.OTHER, _SIXTY),
    ("R39", "Improper Source Document/Source Document Presented for Payment", _C.OTHER, _TWO),
    ("R40", "Return of ENR Entry by Federal Government Agency", _C.ADMINISTRATIVE, _ODFI),
    ("R41", "Invalid Transaction Code (ENR only)", _C.ADMINISTRATIVE, _ODFI),
    ("R42", "Routing Number/Check Digit Error (ENR only)", _C.ADMINISTRATIVE, _ODFI),
    ("R43", "Invalid DFI Account Number (ENR only)", _C.ADMINISTRATIVE, _ODFI),
    (
        "R44",
        "Invalid Individual ID Number/Identification Number (ENR only)",
        _C.ADMINISTRATIVE,
        _ODFI,
    ),
    ("R45", "Invalid Individual Name/Company Name (ENR only)", _C.ADMINISTRATIVE, _ODFI),
    ("R46", "Invalid Representative Payee Indicator (ENR only)", _C.ADMINISTRATIVE, _ODFI),
    ("R47", "Duplicate Enrollment (ENR only)", _C.ADMINISTRATIVE, _ODFI),
    ("R50", "State Law Affecting RCK Acceptance", _C.OTHER, _TWO),
    (
        "R51",
        "Item Related to RCK Entry is Ineligible or RCK Entry is Improper",
        _C.UNAUTHORIZED,
        _SIXTY,
    ),
    ("R52", "Stop Payment on Item Related to RCK Entry", _C.OTHER, _SIXTY),
    ("R53", "Item and RCK Entry Presented for Payment", _C.OTHER, _SIXTY),
    ("R61", "Misrouted Return", _C.DISHONORED, _DISHONOR),
    ("R62", "Return of Erroneous or Reversing Debit", _C.DISHONORED, _DISHONOR),
    ("R67", "Duplicate Return", _C.DISHONORED, _DISHONOR),
    ("R68", "Untimely Return", _C.DISHONORED, _DISHONOR),
    ("R69", "Field Error(s)", _C.DISHONORED, _DISHONOR),
    # R70 is a dishonored return, not a contested one. Appendix Four lists it among the
    # dishonored return reason codes (R61, R62, R67-R70): the ODFI sends it to refuse a
    # permissible return (R06, R31) it never requested or agreed to, within the dishonor time
    # limit, and its addenda 99 uses the dishonored return record format. Contested
    # dishonored returns, the RDFI's answer to a dishonor, are R71-R77 only. R63-R66 (dishonor
    # codes the Rules retired in favour of R69) are not in the table: they read as unknown.
    (
        "R70",
        "Permissible Return Entry Not Accepted/Return Not Requested by ODFI",
        _C.DISHONORED,
        _DISHONOR,
    ),
    ("R71", "Misrouted Dishonored Return", _C.CONTESTED, _CONTEST),
    ("R72", "Untimely Dishonored Return", _C.CONTESTED, _CONTEST),
    ("R73", "Timely Original Return", _C.CONTESTED, _CONTEST),
    ("R74", "Corrected Return", _C.CONTESTED, _CONTEST),
    ("R75", "Return Not a Duplicate", _C.CONTESTED, _CONTEST),
    ("R76", "No Errors Found", _C.CONTESTED, _CONTEST),
    ("R77", "Non-Acceptance of R62 Dishonored Return", _C.CONTESTED, _CONTEST),
    ("R80", "IAT Entry Coding Error", _C.ADMINISTRATIVE, _TWO),
    ("R81", "Non-Participant in IAT Program", _C.ADMINISTRATIVE, _TWO),
    ("R82", "Invalid Foreign Receiving DFI Identification", _C.ADMINISTRATIVE, _TWO),
    ("R83", "Foreign Receiving DFI Unable to Settle", _C.ADMINISTRATIVE, _TWO),
    ("R84", "Entry Not Processed by Gateway", _C.ADMINISTRATIVE, _TWO),
    ("R85", "Incorrectly Coded Outbound International Payment", _C.ADMINISTRATIVE, _TWO),
)

RETURN_REASONS: Final[dict[str, ReturnReason]] = {
    code: ReturnReason(code, text, category, days, unit, note)  # type: ignore[arg-type]
    for code, text, category, (days, unit, note) in _ROWS
}

# Addenda 99 layouts (NACHA Appendix Two): dishonored returns and contested dishonored returns
# place their fields differently from ordinary returns.
DISHONORED_LAYOUT_CODES: Final = frozenset({"R61", "R62", "R67", "R68", "R69", "R70"})
CONTESTED_LAYOUT_CODES: Final = frozenset({"R71", "R72", "R73", "R74", "R75", "R76", "R77"})


def return_reason(code: str) -> ReturnReason:
    """The table row for ``code``; a code not in the table is kept, with category ``unknown``."""
    known = RETURN_REASONS.get(code)
    if known is not None:
        return known
    return ReturnReason(
        code,
        "Unknown return reason code (not in the NACHA table)",
        ReturnCategory.UNKNOWN,
        None,
        "not_specified",
        "unknown code: ask the RDFI",
    )
