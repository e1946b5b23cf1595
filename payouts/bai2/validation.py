"""Validate a read BAI2 file: every problem, with its line, in words a partner can act on.

BAI2 control records: the ``49`` account trailer carries the algebraic sum of every amount of
the account's ``03`` and ``16`` records and the number of its records (``03`` to ``49``, ``88``
included); the ``98`` group trailer the sum of its ``49`` totals, its number of accounts and
records (``02`` to ``98``); the ``99`` file trailer the sum of its ``98`` totals, its number of
groups and records (``01`` to ``99``). Validation never stops at the first problem, never raises.
"""

from __future__ import annotations

from payouts.bai2.model import Account, Bai2File, Group, Problem


def validate(file: Bai2File) -> list[Problem]:
    """Every problem of ``file`` (the reader's deviations first), sorted by line."""
    problems = list(file.deviations)
    if file.header is not None and file.header.version != "2":
        problems.append(
            Problem(
                file.header.line,
                "version",
                f"version {file.header.version[:8]!r}: only BAI2 (version 2) is read",
            )
        )
    group_sum = 0
    for group in file.groups:
        _group(group, problems)
        if group.trailer is not None and group.trailer.control_total is not None:
            group_sum += group.trailer.control_total
    trailer = file.trailer
    if trailer is not None:
        _total(problems, trailer.line, "99 file", trailer.control_total, group_sum, "98 totals")
        _number(problems, trailer.line, "99 number of groups", trailer.groups, len(file.groups))
        _number(problems, trailer.line, "99 number of records", trailer.records, file.records)
    problems.sort(key=lambda p: p.line)
    return problems


def _group(group: Group, problems: list[Problem]) -> None:
    account_sum = 0
    for account in group.accounts:
        _account(account, problems)
        stated = account.trailer.control_total if account.trailer else None
        account_sum += stated if stated is not None else account.computed_total
    trailer = group.trailer
    if trailer is None:
        return
    _total(problems, trailer.line, "98 group", trailer.control_total, account_sum, "49 totals")
    _number(problems, trailer.line, "98 number of accounts", trailer.accounts, len(group.accounts))
    _number(problems, trailer.line, "98 number of records", trailer.records, group.records)


def _account(account: Account, problems: list[Problem]) -> None:
    trailer = account.trailer
    if trailer is None:
        return
    _total(
        problems,
        trailer.line,
        "49 account",
        trailer.control_total,
        account.computed_total,
        f"amounts of the 03 at line {account.header.line} and its 16 records",
    )
    _number(problems, trailer.line, "49 number of records", trailer.records, account.records)


def _total(
    problems: list[Problem], line: int, name: str, stated: int | None, computed: int, of: str
) -> None:
    if stated is None:
        problems.append(Problem(line, "missing_total", f"the {name} control total is missing"))
    elif stated != computed:
        problems.append(
            Problem(
                line,
                "control_total",
                f"the {name} control total is {stated}, the sum of the {of} is {computed}",
            )
        )


def _number(
    problems: list[Problem], line: int, name: str, stated: int | None, counted: int
) -> None:
    if stated is None:
        problems.append(Problem(line, "missing_count", f"the {name} is missing"))
    elif stated != counted:
        problems.append(
            Problem(line, "record_count", f"the {name} is {stated}, the file has {counted}")
        )
