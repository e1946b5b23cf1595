"""File Control Record, type "9" (NACHA Appendix Two, "File Control Record"), and the
9-filler records that block a file to a multiple of ten records."""

from __future__ import annotations

from dataclasses import dataclass, field

from nacha.fields import Deviation, alpha, number, write_alpha, write_number

# A file is blocked to a multiple of ten records (blocking factor 10); the last block is filled
# with records of all 9s (NACHA Appendix One, "File Structure").
FILLER_RECORD = "9" * 94


@dataclass(frozen=True, slots=True)
class FileControl:
    # 2-7 Batch Count: number of batch header records in the file.
    batch_count: int
    # 8-13 Block Count: number of 10-record blocks, including the filler records.
    block_count: int
    # 14-21 Entry/Addenda Count: entry detail and addenda records in the file.
    entry_addenda_count: int
    # 22-31 Entry Hash: sum of the batch controls' entry hashes, the 10 rightmost digits.
    entry_hash: int
    # 32-43 Total Debit Entry Dollar Amount in File, in cents.
    total_debit_cents: int
    # 44-55 Total Credit Entry Dollar Amount in File, in cents.
    total_credit_cents: int
    # 56-94 Reserved: blank.
    reserved: str = ""
    record_number: int = field(default=0, compare=False)


def parse_file_control(line: str, n: int, deviations: list[Deviation]) -> FileControl:
    return FileControl(
        batch_count=number(line[1:7], n, "batch_count", deviations),
        block_count=number(line[7:13], n, "block_count", deviations),
        entry_addenda_count=number(line[13:21], n, "entry_addenda_count", deviations),
        entry_hash=number(line[21:31], n, "entry_hash", deviations),
        total_debit_cents=number(line[31:43], n, "total_debit_cents", deviations),
        total_credit_cents=number(line[43:55], n, "total_credit_cents", deviations),
        reserved=alpha(line[55:94]),
        record_number=n,
    )


def format_file_control(c: FileControl) -> str:
    r = "FileControl"
    return "".join(
        (
            "9",
            write_number(c.batch_count, 6, r, "batch_count"),
            write_number(c.block_count, 6, r, "block_count"),
            write_number(c.entry_addenda_count, 8, r, "entry_addenda_count"),
            write_number(c.entry_hash, 10, r, "entry_hash"),
            write_number(c.total_debit_cents, 12, r, "total_debit_cents"),
            write_number(c.total_credit_cents, 12, r, "total_credit_cents"),
            write_alpha(c.reserved, 39, r, "reserved"),
        )
    )
