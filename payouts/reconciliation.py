"""Reconcile a payout with its balance transactions, and its net amount with the bank.

1. ``reconcile_payout``: the balance transactions paid out in a payout sum to it, per currency,
   in minor units: charges - refunds - fees - disputes ± adjustments = net payout. Each
   transaction contributes ``net = amount - fee``: its ``amount`` to its category, its ``fee``
   to fees. The payout's *own* balance transaction (Stripe lists it with the payout's
   transactions: ``type=payout``, ``source`` = the payout, amount = -payout amount) is not part
   of the sum; it is checked against the payout instead.
2. ``match_deposit``: the net payout arrives in the bank as one credit of that amount (a
   negative payout as one debit) with a value date near the payout's arrival date, ideally
   naming the payout id or its statement descriptor. A payout paid in several credits is
   *split*; one credit paying several payouts is *combined*; both are exceptions for ops.

Results are small contracts (no rows), with every discrepancy itemised; they travel through
Temporal. ``reconcile_report`` runs (1) over a whole report file for the batch paths.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from pydantic import Field

from foundation.wire_model import WireModel, wire_model
from payouts.bank_statements import BankCredit, Direction
from payouts.psp_report import BalanceTransaction, Category, Payout, PspReport

# A payout with 100,000 broken transactions must still fit a Temporal payload (2 MB hard limit):
# keep the first items and the total count.
MAX_DISCREPANCIES: Final = 100
# Bank statuses that are not money yet (camt Sts: PDNG pending, INFO information only).
_NOT_BOOKED: Final = frozenset({"PDNG", "INFO"})
# Bound on the subset searches for split/combined deposits (positions visited).
_SEARCH_BUDGET: Final = 200_000


class DiscrepancyKind(StrEnum):
    MISSING_TRANSACTION = "missing_transaction"  # linked to the payout, absent from the report
    AMOUNT_MISMATCH = "amount_mismatch"  # a sum, or the payout's own debit, is not the payout
    CURRENCY_MISMATCH = "currency_mismatch"  # a transaction in another currency than the payout
    UNKNOWN_PAYOUT = "unknown_payout"  # transactions name a payout the report does not have
    DUPLICATE_TRANSACTION = "duplicate_transaction"  # the same transaction id more than once
    ATTRIBUTION_CONFLICT = "attribution_conflict"  # its row names another payout than its link
    DEPOSIT_NOT_FOUND = "deposit_not_found"
    DEPOSIT_SPLIT = "deposit_split"
    DEPOSIT_COMBINED = "deposit_combined"
    DEPOSIT_AMBIGUOUS = "deposit_ambiguous"  # several bank lines fit equally well


class Discrepancy(WireModel):
    """One itemised finding, in words ops can act on, with the ids and amounts it is about."""

    kind: DiscrepancyKind
    message: str
    payout_id: str | None = None
    transaction_id: str | None = None
    bank_line_ids: list[str] = Field(default_factory=list)
    currency: str | None = None
    expected: int | None = None
    actual: int | None = None


class CategoryTotals(WireModel):
    """Signed contributions to the net payout, minor units: refunds, fees and disputes are
    normally negative; their sum is the computed net."""

    charges: int = 0
    refunds: int = 0
    disputes: int = 0
    adjustments: int = 0
    fees: int = 0
    payouts: int = 0  # other payouts' failures or reversals coming back into this one
    other: int = 0

    @property
    def net(self) -> int:
        return (
            self.charges
            + self.refunds
            + self.disputes
            + self.adjustments
            + self.fees
            + self.payouts
            + self.other
        )


class ReconciliationStatus(StrEnum):
    RECONCILED = "reconciled"
    EXCEPTION = "exception"


@wire_model("payouts.reconciliation", "1.0")
class PayoutReconciliation(WireModel):
    """The outcome of reconciling one payout with its balance transactions."""

    payout_id: str
    status: ReconciliationStatus
    currency: str | None = None
    payout_amount: int | None = Field(default=None, description="None for an unknown payout.")
    computed_net: int = 0
    totals: CategoryTotals = Field(default_factory=CategoryTotals)
    transaction_count: int = 0
    arrival_date: date | None = None
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    discrepancy_count: int = Field(default=0, description="May exceed len(discrepancies).")


class DepositStatus(StrEnum):
    MATCHED = "matched"
    SPLIT = "split"
    COMBINED = "combined"
    NOT_FOUND = "not_found"
    AMBIGUOUS = "ambiguous"
    NOTHING_EXPECTED = "nothing_expected"  # a zero payout moves no money


@wire_model("payouts.deposit_match", "1.0")
class DepositMatch(WireModel):
    """The outcome of looking for a payout's money in bank statement lines."""

    payout_id: str
    status: DepositStatus
    currency: str
    expected_amount: int = Field(description="Minor units; negative: the PSP debits the bank.")
    matched_amount: int = 0
    bank_line_ids: list[str] = Field(default_factory=list)
    covered_payout_ids: list[str] = Field(
        default_factory=list, description="Every payout the matched line(s) pay, this one first."
    )
    reference_matched: bool = False
    discrepancies: list[Discrepancy] = Field(default_factory=list)

    @property
    def is_exception(self) -> bool:
        return bool(self.discrepancies)


# -- reconcile a payout with its balance transactions -----------------------------------------


def _is_own_debit(transaction: BalanceTransaction, payout_id: str, own_id: str | None) -> bool:
    if own_id is not None and transaction.id == own_id:
        return True
    return transaction.type == "payout" and transaction.source == payout_id


def _add(totals: dict[Category, int], transaction: BalanceTransaction) -> None:
    totals[transaction.category] += transaction.amount
    totals[Category.FEE] -= transaction.fee


def reconcile_payout(
    payout: Payout | None,
    transactions: Iterable[BalanceTransaction],
    *,
    payout_id: str | None = None,
    linked_transaction_ids: Collection[str] | None = None,
) -> PayoutReconciliation:
    """Reconcile one payout with the balance transactions paid out in it.

    ``payout`` is ``None`` when the report has no such payout (then ``payout_id`` names it);
    ``linked_transaction_ids`` are the ids the PSP's link table lists for it, so a listed
    transaction absent from ``transactions`` is itemised as missing.
    """
    if payout is None and payout_id is None:
        raise ValueError("reconcile_payout needs the payout or its id")
    pid = payout.id if payout is not None else str(payout_id)
    own_id = payout.balance_transaction_id if payout is not None else None
    found: list[Discrepancy] = []

    seen, own, members = _partition(transactions, pid, own_id, found)
    currency = (
        payout.currency
        if payout is not None
        else (own[0].currency if own else (members[0].currency if members else None))
    )
    expected: int | None = payout.amount if payout is not None else None
    if payout is None:
        expected = _unknown_payout(pid, own, currency, found)
    _check_own_debits(payout, pid, own, currency, found)
    category_totals = _sum_members(pid, members, currency, found)
    if linked_transaction_ids is not None:
        _missing_transactions(pid, linked_transaction_ids, seen, currency, found)

    net = category_totals.net
    if expected is not None and net != expected:
        found.append(
            Discrepancy(
                kind=DiscrepancyKind.AMOUNT_MISMATCH,
                message=(
                    f"{len(members)} transaction(s) net {net} {currency}, the payout is "
                    f"{expected} (difference {net - expected})"
                ),
                payout_id=pid,
                currency=currency,
                expected=expected,
                actual=net,
            )
        )
    return PayoutReconciliation(
        payout_id=pid,
        status=ReconciliationStatus.EXCEPTION if found else ReconciliationStatus.RECONCILED,
        currency=currency,
        payout_amount=payout.amount if payout is not None else None,
        computed_net=net,
        totals=category_totals,
        transaction_count=len(seen),
        arrival_date=payout.arrival_date if payout is not None else None,
        discrepancies=found[:MAX_DISCREPANCIES],
        discrepancy_count=len(found),
    )


def _partition(
    transactions: Iterable[BalanceTransaction],
    pid: str,
    own_id: str | None,
    found: list[Discrepancy],
) -> tuple[dict[str, BalanceTransaction], list[BalanceTransaction], list[BalanceTransaction]]:
    """Each transaction once (a repeated id is itemised, the first one counted), split into
    the payout's own debit(s) and the members of its sum."""
    seen: dict[str, BalanceTransaction] = {}
    own: list[BalanceTransaction] = []
    members: list[BalanceTransaction] = []
    for transaction in transactions:
        first = seen.get(transaction.id)
        if first is not None:
            same = first == transaction or _same_content(first, transaction)
            found.append(
                Discrepancy(
                    kind=DiscrepancyKind.DUPLICATE_TRANSACTION,
                    message=(
                        f"transaction {transaction.id} appears again (line {transaction.line}); "
                        + ("counted once" if same else "with different content; first counted")
                    ),
                    payout_id=pid,
                    transaction_id=transaction.id,
                    currency=transaction.currency,
                    expected=first.net,
                    actual=transaction.net,
                )
            )
            continue
        seen[transaction.id] = transaction
        if _is_own_debit(transaction, pid, own_id):
            own.append(transaction)
        else:
            members.append(transaction)
    return seen, own, members


def _unknown_payout(
    pid: str, own: list[BalanceTransaction], currency: str | None, found: list[Discrepancy]
) -> int | None:
    """A payout missing from the report is itemised; its own debit, if listed, still says
    what it should be (returned as the expected amount)."""
    implied = f" (its own debit implies {-own[0].amount})" if own else ""
    found.append(
        Discrepancy(
            kind=DiscrepancyKind.UNKNOWN_PAYOUT,
            message=f"payout {pid} is not in the payouts report{implied}",
            payout_id=pid,
            currency=currency,
        )
    )
    return -own[0].amount if own else None


def _check_own_debits(
    payout: Payout | None,
    pid: str,
    own: list[BalanceTransaction],
    currency: str | None,
    found: list[Discrepancy],
) -> None:
    """The payout's own balance transaction debits exactly the payout, in its currency."""
    for debit in own:
        if debit.currency != currency:
            found.append(_currency_mismatch(pid, debit, currency))
        elif payout is not None and debit.amount != -payout.amount:
            found.append(
                Discrepancy(
                    kind=DiscrepancyKind.AMOUNT_MISMATCH,
                    message=(
                        f"the payout's own balance transaction {debit.id} debits {-debit.amount}, "
                        f"the payout is {payout.amount}"
                    ),
                    payout_id=pid,
                    transaction_id=debit.id,
                    currency=currency,
                    expected=-payout.amount,
                    actual=debit.amount,
                )
            )


def _sum_members(
    pid: str, members: list[BalanceTransaction], currency: str | None, found: list[Discrepancy]
) -> CategoryTotals:
    """The per-category sum of the members in the payout's currency (others are itemised and
    left out); a member whose row names another payout is itemised but still counted."""
    totals: dict[Category, int] = defaultdict(int)
    for transaction in members:
        if transaction.currency != currency:
            found.append(_currency_mismatch(pid, transaction, currency))
            continue
        _add(totals, transaction)
        if transaction.payout_id is not None and transaction.payout_id != pid:
            found.append(
                Discrepancy(
                    kind=DiscrepancyKind.ATTRIBUTION_CONFLICT,
                    message=(
                        f"transaction {transaction.id} is linked to payout {pid} but its report "
                        f"row says payout {transaction.payout_id}"
                    ),
                    payout_id=pid,
                    transaction_id=transaction.id,
                    currency=transaction.currency,
                    actual=transaction.net,
                )
            )
    return CategoryTotals(
        charges=totals[Category.CHARGE],
        refunds=totals[Category.REFUND],
        disputes=totals[Category.DISPUTE],
        adjustments=totals[Category.ADJUSTMENT],
        fees=totals[Category.FEE],
        payouts=totals[Category.PAYOUT],
        other=totals[Category.OTHER],
    )


def _missing_transactions(
    pid: str,
    linked_transaction_ids: Collection[str],
    seen: dict[str, BalanceTransaction],
    currency: str | None,
    found: list[Discrepancy],
) -> None:
    """Every transaction the link table lists for the payout is in the report."""
    for missing in sorted(set(linked_transaction_ids) - seen.keys()):
        found.append(
            Discrepancy(
                kind=DiscrepancyKind.MISSING_TRANSACTION,
                message=f"transaction {missing} is linked to payout {pid} but not in the report",
                payout_id=pid,
                transaction_id=missing,
                currency=currency,
            )
        )


def _same_content(a: BalanceTransaction, b: BalanceTransaction) -> bool:
    return (a.amount, a.fee, a.net, a.currency, a.type) == (
        b.amount,
        b.fee,
        b.net,
        b.currency,
        b.type,
    )


def _currency_mismatch(
    pid: str, transaction: BalanceTransaction, currency: str | None
) -> Discrepancy:
    return Discrepancy(
        kind=DiscrepancyKind.CURRENCY_MISMATCH,
        message=(
            f"transaction {transaction.id} is in {transaction.currency}, the payout in {currency}; "
            "left out of the sum"
        ),
        payout_id=pid,
        transaction_id=transaction.id,
        currency=transaction.currency,
        actual=transaction.net,
    )


@dataclass(frozen=True, slots=True)
class Attribution:
    """Which balance transactions belong to which payout, by the report's own rules."""

    members: dict[str, list[BalanceTransaction]]
    linked: dict[str, list[str]]  # payout id -> transaction ids its link rows name

    def transaction_ids(self, payout_id: str) -> list[str]:
        ids = [t.id for t in self.members.get(payout_id, ())]
        seen = set(ids)
        return ids + [i for i in self.linked.get(payout_id, ()) if i not in seen]


def attribute(report: PspReport) -> Attribution:
    """A transaction belongs to the payout its link row names, else to the one its own
    ``payout_id`` column names (Fivetran's dbt_stripe does the same: link table first). A
    transaction with neither has not been paid out yet and is left alone."""
    linked: dict[str, list[str]] = defaultdict(list)
    link_of: dict[str, str] = {}
    for link in report.links or ():
        linked[link.payout_id].append(link.balance_transaction_id)
        link_of.setdefault(link.balance_transaction_id, link.payout_id)
    members: dict[str, list[BalanceTransaction]] = defaultdict(list)
    for transaction in report.transactions:
        owner = link_of.get(transaction.id) or transaction.payout_id
        if owner is not None:
            members[owner].append(transaction)
    return Attribution(members=dict(members), linked=dict(linked))


def reconcile_report(
    report: PspReport, attribution: Attribution | None = None
) -> list[PayoutReconciliation]:
    """Reconcile every payout a report mentions (see ``attribute``), sorted by payout id.
    Payouts named only by links or transaction rows come out as ``unknown_payout``."""
    payouts = {p.id: p for p in report.payouts}
    owned = attribution or attribute(report)
    ids = sorted(payouts.keys() | owned.linked.keys() | owned.members.keys())
    return [
        reconcile_payout(
            payouts.get(pid),
            owned.members.get(pid, ()),
            payout_id=pid,
            linked_transaction_ids=owned.linked.get(pid, ()) if report.links is not None else None,
        )
        for pid in ids
    ]


# -- match the net payout with the bank -------------------------------------------------------


def _line_date(line: BankCredit) -> date | None:
    return line.value_date or line.booking_date


def _mentions(line: BankCredit, payout: Payout) -> bool:
    """Does the line's reference text name the payout (its id or statement descriptor)?"""
    text = f"{line.reference_text} {line.bank_reference or ''}".casefold()
    if payout.id.casefold() in text:
        return True
    descriptor = (payout.statement_descriptor or "").strip().casefold()
    return len(descriptor) >= 4 and descriptor in text


def _subset_with_sum(
    items: Sequence[tuple[int, str]], target: int, *, min_size: int, max_size: int
) -> list[str] | None:
    """Ids of a subset of ``items`` (positive amounts) summing to ``target``, smallest first;
    ``None`` when there is none or the search budget runs out."""
    ordered = sorted(items, key=lambda item: -item[0])
    suffix = [0] * (len(ordered) + 1)
    for i in range(len(ordered) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + ordered[i][0]
    budget = _SEARCH_BUDGET
    chosen: list[int] = []

    def search(start: int, remaining: int) -> bool:
        nonlocal budget
        if remaining == 0:
            return len(chosen) >= min_size
        if len(chosen) >= max_size or remaining > suffix[start]:
            return False
        for i in range(start, len(ordered)):
            budget -= 1
            if budget <= 0:
                return False
            amount = ordered[i][0]
            if amount > remaining:
                continue
            chosen.append(i)
            if search(i + 1, remaining - amount):
                return True
            chosen.pop()
        return False

    if search(0, target):
        return [ordered[i][1] for i in chosen]
    return None


def match_deposit(
    payout: Payout,
    bank_lines: Iterable[BankCredit],
    *,
    window_days: int = 3,
    candidate_payouts: Iterable[Payout] = (),
    max_split_lines: int = 6,
) -> DepositMatch:
    """Find ``payout``'s money in ``bank_lines`` (lines not yet claimed by another payout).

    A line fits when it has the payout's currency and direction (credit for a positive payout,
    debit for a negative one), is booked, and its value date (else booking date) lies within
    ``window_days`` calendar days of the payout's arrival date. In order: one line of the exact
    amount (preferring one that names the payout, then the nearest date); several lines summing
    to it (split); one line paying it together with other ``candidate_payouts`` (combined).
    """
    result = DepositMatch(
        payout_id=payout.id,
        status=DepositStatus.NOT_FOUND,
        currency=payout.currency,
        expected_amount=payout.amount,
    )
    if payout.amount == 0:
        result.status = DepositStatus.NOTHING_EXPECTED
        return result
    search = _DepositSearch(payout, window_days, result)
    others = [p for p in candidate_payouts if p.id != payout.id]
    fitting = [line for line in bank_lines if search.fits(line, others)]
    named = [line for line in fitting if _mentions(line, payout)]
    if (
        search.exact(fitting)
        or search.split(named, fitting, max_split_lines)
        or search.combined(fitting, others)
    ):
        return result
    search.not_found(named)
    return result


@dataclass(slots=True)
class _DepositSearch:
    """The steps of ``match_deposit``, in order; each step that finds the money fills
    ``result`` and returns ``True``."""

    payout: Payout
    window_days: int
    result: DepositMatch

    @property
    def expected(self) -> int:
        return self.payout.amount

    @property
    def wanted(self) -> int:
        return abs(self.payout.amount)

    @property
    def direction(self) -> Direction:
        return Direction.CREDIT if self.payout.amount > 0 else Direction.DEBIT

    def near(self, day: date | None, arrival: date) -> bool:
        return day is not None and abs((day - arrival).days) <= self.window_days

    def distance(self, line: BankCredit) -> int:
        day = _line_date(line)
        return (
            abs((day - self.payout.arrival_date).days) if day is not None else self.window_days + 1
        )

    def fits(self, line: BankCredit, others: list[Payout]) -> bool:
        """Currency, direction, booked, within the window, and not naming only another
        payout."""
        payout = self.payout
        if line.currency != payout.currency or line.direction is not self.direction:
            return False
        if (line.status or "").upper() in _NOT_BOOKED or not self.near(
            _line_date(line), payout.arrival_date
        ):
            return False
        # A line that names another payout and not this one is not ours.
        return _mentions(line, payout) or not any(_mentions(line, other) for other in others)

    def exact(self, fitting: list[BankCredit]) -> bool:
        """1. One line of exactly the amount."""
        payout, result, wanted = self.payout, self.result, self.wanted
        exact = [line for line in fitting if line.amount == wanted]
        if not exact:
            return False
        named = [line for line in exact if _mentions(line, payout)]
        pool = named or exact
        pool.sort(key=self.distance)
        if len(pool) > 1 and self.distance(pool[0]) == self.distance(pool[1]):
            result.status = DepositStatus.AMBIGUOUS
            result.bank_line_ids = [line.line_id for line in pool]
            result.discrepancies.append(
                Discrepancy(
                    kind=DiscrepancyKind.DEPOSIT_AMBIGUOUS,
                    message=(
                        f"{len(pool)} bank lines of {wanted} {payout.currency} fit payout "
                        f"{payout.id} equally well"
                    ),
                    payout_id=payout.id,
                    bank_line_ids=result.bank_line_ids,
                    currency=payout.currency,
                    expected=self.expected,
                )
            )
            return True
        result.status = DepositStatus.MATCHED
        result.matched_amount = self.expected
        result.bank_line_ids = [pool[0].line_id]
        result.covered_payout_ids = [payout.id]
        result.reference_matched = bool(named)
        return True

    def split(
        self, named_lines: list[BankCredit], fitting: list[BankCredit], max_split_lines: int
    ) -> bool:
        """2. Several lines summing to it: first among the lines that name the payout, then
        all."""
        payout, result, wanted, expected = self.payout, self.result, self.wanted, self.expected
        by_id = {line.line_id: line for line in fitting}
        for pool in (named_lines, fitting):
            items = [(line.amount, line.line_id) for line in pool if line.amount < wanted]
            ids = _subset_with_sum(items, wanted, min_size=2, max_size=max_split_lines)
            if ids is None:
                continue
            result.status = DepositStatus.SPLIT
            result.matched_amount = expected
            result.bank_line_ids = sorted(ids)
            result.covered_payout_ids = [payout.id]
            result.reference_matched = all(_mentions(by_id[i], payout) for i in ids)
            result.discrepancies.append(
                Discrepancy(
                    kind=DiscrepancyKind.DEPOSIT_SPLIT,
                    message=(
                        f"payout {payout.id} of {wanted} {payout.currency} arrived as "
                        f"{len(ids)} bank lines"
                    ),
                    payout_id=payout.id,
                    bank_line_ids=result.bank_line_ids,
                    currency=payout.currency,
                    expected=expected,
                    actual=sum(by_id[i].amount for i in ids) * (1 if expected > 0 else -1),
                )
            )
            return True
        return False

    def combined(self, fitting: list[BankCredit], others: list[Payout]) -> bool:
        """3. One line paying this payout and other candidates together."""
        payout, result, wanted, expected = self.payout, self.result, self.wanted, self.expected
        partners = [
            p
            for p in others
            if p.currency == payout.currency and (p.amount > 0) == (expected > 0) and p.amount != 0
        ]
        if not partners:
            return False
        bigger = sorted(
            (line for line in fitting if line.amount > wanted),
            key=lambda line: (not _mentions(line, payout), self.distance(line)),
        )
        for line in bigger:
            items = [
                (abs(p.amount), p.id)
                for p in partners
                if self.near(_line_date(line), p.arrival_date)
            ]
            ids = _subset_with_sum(items, line.amount - wanted, min_size=1, max_size=len(items))
            if ids is None:
                continue
            result.status = DepositStatus.COMBINED
            result.matched_amount = expected
            result.bank_line_ids = [line.line_id]
            result.covered_payout_ids = [payout.id, *sorted(ids)]
            result.reference_matched = _mentions(line, payout)
            result.discrepancies.append(
                Discrepancy(
                    kind=DiscrepancyKind.DEPOSIT_COMBINED,
                    message=(
                        f"bank line {line.line_id} of {line.amount} {payout.currency} pays "
                        f"payout {payout.id} together with {', '.join(sorted(ids))}"
                    ),
                    payout_id=payout.id,
                    bank_line_ids=[line.line_id],
                    currency=payout.currency,
                    expected=expected,
                    actual=line.amount * (1 if expected > 0 else -1),
                )
            )
            return True
        return False

    def not_found(self, named_lines: list[BankCredit]) -> None:
        """4. Not found; a line that names the payout with another amount is worth saying."""
        payout, result, wanted, expected = self.payout, self.result, self.wanted, self.expected
        for line in named_lines:
            result.discrepancies.append(
                Discrepancy(
                    kind=DiscrepancyKind.AMOUNT_MISMATCH,
                    message=(
                        f"bank line {line.line_id} names payout {payout.id} but is "
                        f"{line.amount} {payout.currency}, not {wanted}"
                    ),
                    payout_id=payout.id,
                    bank_line_ids=[line.line_id],
                    currency=payout.currency,
                    expected=expected,
                    actual=line.amount * (1 if expected > 0 else -1),
                )
            )
        result.discrepancies.insert(
            0,
            Discrepancy(
                kind=DiscrepancyKind.DEPOSIT_NOT_FOUND,
                message=(
                    f"no {self.direction.value} of {wanted} {payout.currency} within "
                    f"{self.window_days} days of {payout.arrival_date.isoformat()} "
                    f"for payout {payout.id}"
                ),
                payout_id=payout.id,
                currency=payout.currency,
                expected=expected,
            ),
        )
