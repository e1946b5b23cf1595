"""PSP payout reconciliation, pure core: no Temporal, no database, no network.

    report = read_report(payouts_csv, balance_transactions_csv, links_csv)  # rows + problems
    outcomes = reconcile_report(report)            # one PayoutReconciliation per payout
    statement = read_bank_statement(path)           # BAI2 or camt.052/053/054 → BankCredit lines
    file = bai2.read(data); bai2.validate(file)     # BAI2 records and every problem, by line
    match = match_deposit(payout, statement.lines, window_days=3, candidate_payouts=others)

Readers raise only ``PspReportUnreadable`` / ``BankStatementUnreadable`` (see ``errors``);
everything wrong inside a file is returned as a problem, and everything that does not add up is an
itemised ``Discrepancy``.
"""

from payouts import bai2
from payouts.bank_statements import (
    BankCredit,
    Direction,
    ParsedStatement,
    StatementFormat,
    read_bai2,
    read_bank_statement,
    read_camt,
)
from payouts.errors import BankStatementUnreadable, PayoutsError, PspReportUnreadable
from payouts.psp_report import (
    BalanceTransaction,
    Category,
    ParsedRows,
    Payout,
    PayoutLink,
    PspReport,
    RowProblem,
    categorise,
    iter_balance_transactions,
    iter_payout_links,
    iter_payouts,
    read_balance_transactions,
    read_payout_links,
    read_payouts,
    read_report,
)
from payouts.reconciliation import (
    Attribution,
    CategoryTotals,
    DepositMatch,
    DepositStatus,
    Discrepancy,
    DiscrepancyKind,
    PayoutReconciliation,
    ReconciliationStatus,
    attribute,
    match_deposit,
    reconcile_payout,
    reconcile_report,
)

__all__ = [
    "Attribution",
    "BalanceTransaction",
    "BankCredit",
    "BankStatementUnreadable",
    "Category",
    "CategoryTotals",
    "DepositMatch",
    "DepositStatus",
    "Direction",
    "Discrepancy",
    "DiscrepancyKind",
    "ParsedRows",
    "ParsedStatement",
    "Payout",
    "PayoutLink",
    "PayoutReconciliation",
    "PayoutsError",
    "PspReport",
    "PspReportUnreadable",
    "ReconciliationStatus",
    "RowProblem",
    "StatementFormat",
    "attribute",
    "bai2",
    "categorise",
    "iter_balance_transactions",
    "iter_payout_links",
    "iter_payouts",
    "match_deposit",
    "read_bai2",
    "read_balance_transactions",
    "read_bank_statement",
    "read_camt",
    "read_payout_links",
    "read_payouts",
    "read_report",
    "reconcile_payout",
    "reconcile_report",
]
