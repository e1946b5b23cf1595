"""From a bank's return/NOC file to the events the return workflow acts on, and whether a return
arrived within its NACHA time limit. Pure: the SQL that finds originals stays in the store
(``stores.ach``), which calls these."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta

import nacha
from ach_returns.banking_days import add_banking_days
from ach_returns.state_machine import NocNotice, ReturnNotice

# The shapes the workflow's notices accept; a mangled code is left out here (validation
# reports it as an error, so the file's ingest summary counts it) rather than crash the ingest.
_RETURN_CODE = re.compile(r"R[0-9]{2}")
_CHANGE_CODE = re.compile(r"C[0-9]{2}")


def within_time_limit(code: str, settlement: date, received_on: date) -> bool:
    """Whether a return with ``code`` received on ``received_on`` is within the time limit the
    NACHA table gives that code, counted from the original entry's settlement date."""
    reason = nacha.return_reason(code)
    days = reason.time_limit_days
    if days is None:
        return True  # no NACHA limit: the workflow's own windows apply
    if reason.time_limit_unit == "banking_days":
        # "by opening of business on the 2nd banking day": received on or before that day.
        return received_on <= add_banking_days(settlement, days)
    return received_on <= settlement + timedelta(days=days)


def notices_in(
    ach_file: nacha.NachaFile, received_on: date
) -> list[tuple[str, ReturnNotice | NocNotice]]:
    """(original trace number, notice) for every return and NOC entry in the file. An entry's
    first addenda 99 is its return (validation reports an entry carrying several); the return
    entry's own trace number is the notice id the case dedupes on."""
    found: list[tuple[str, ReturnNotice | NocNotice]] = []
    for _batch, entry in ach_file.entries():
        ret, noc = entry.return_addenda, entry.noc
        if ret is not None:
            if not _RETURN_CODE.fullmatch(ret.return_code):
                continue
            found.append(
                (
                    ret.original_trace_number,
                    ReturnNotice(
                        notice_id=entry.detail.trace_number,
                        code=ret.return_code,
                        received_on=received_on,
                        addenda_information=getattr(ret, "addenda_information", "").strip(),
                    ),
                )
            )
        elif noc is not None:
            if not _CHANGE_CODE.fullmatch(noc.change_code):
                continue
            fields = {
                name: str(value)
                for name, value in dataclasses.asdict(noc.correction).items()
                if value not in (None, "")
            }
            found.append(
                (
                    noc.original_trace_number,
                    NocNotice(
                        notice_id=entry.detail.trace_number,
                        code=noc.change_code,
                        received_on=received_on,
                        refused=noc.is_refused,
                        corrected=fields,
                    ),
                )
            )
    return found
