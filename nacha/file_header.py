"""File Header Record, type "1" (NACHA Appendix Two, "File Header Record")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from nacha.fields import Deviation, alpha, write_alpha, write_date, yymmdd


@dataclass(frozen=True, slots=True)
class FileHeader:
    # 2-3 Priority Code: "01" is the only value currently used.
    priority_code: str
    # 4-13 Immediate Destination: "bTTTTAAAAC", a blank then the 9-digit routing number of the
    # ACH Operator or receiving point. Kept without the leading blank.
    immediate_destination: str
    # 14-23 Immediate Origin: the ODFI routing number (blank-prefixed) or a 10-character id
    # agreed with the operator. Kept without padding.
    immediate_origin: str
    # 24-29 File Creation Date, YYMMDD.
    file_creation_date: date | None
    # 30-33 File Creation Time, HHMM (optional: may be blank).
    file_creation_time: str
    # 34 File ID Modifier: A-Z or 0-9, distinguishes files created the same day.
    file_id_modifier: str
    # 35-37 Record Size: always "094".
    record_size: str = "094"
    # 38-39 Blocking Factor: always "10".
    blocking_factor: str = "10"
    # 40 Format Code: always "1".
    format_code: str = "1"
    # 41-63 Immediate Destination Name (optional).
    immediate_destination_name: str = ""
    # 64-86 Immediate Origin Name (optional).
    immediate_origin_name: str = ""
    # 87-94 Reference Code (optional, for the originator's use).
    reference_code: str = ""
    record_number: int = field(default=0, compare=False)


def parse_file_header(line: str, n: int, deviations: list[Deviation]) -> FileHeader:
    return FileHeader(
        priority_code=line[1:3],
        immediate_destination=line[3:13].strip(),
        immediate_origin=line[13:23].strip(),
        file_creation_date=yymmdd(line[23:29], n, "file_creation_date", deviations),
        file_creation_time=alpha(line[29:33]),
        file_id_modifier=line[33:34],
        record_size=line[34:37],
        blocking_factor=line[37:39],
        format_code=line[39:40],
        immediate_destination_name=alpha(line[40:63]),
        immediate_origin_name=alpha(line[63:86]),
        reference_code=alpha(line[86:94]),
        record_number=n,
    )


def format_file_header(h: FileHeader) -> str:
    r = "FileHeader"
    return "".join(
        (
            "1",
            write_alpha(h.priority_code, 2, r, "priority_code"),
            # Right-justified: a 9-digit routing number becomes "b" + routing number.
            write_alpha(h.immediate_destination, 10, r, "immediate_destination").strip().rjust(10),
            write_alpha(h.immediate_origin, 10, r, "immediate_origin").strip().rjust(10),
            write_date(h.file_creation_date),
            write_alpha(h.file_creation_time, 4, r, "file_creation_time"),
            write_alpha(h.file_id_modifier, 1, r, "file_id_modifier"),
            write_alpha(h.record_size, 3, r, "record_size"),
            write_alpha(h.blocking_factor, 2, r, "blocking_factor"),
            write_alpha(h.format_code, 1, r, "format_code"),
            write_alpha(h.immediate_destination_name, 23, r, "immediate_destination_name"),
            write_alpha(h.immediate_origin_name, 23, r, "immediate_origin_name"),
            write_alpha(h.reference_code, 8, r, "reference_code"),
        )
    )
