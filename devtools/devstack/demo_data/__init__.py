"""Small made-up files for the ``integrations dev up`` demo (pure: bytes in, bytes out).

Every builder takes the values that make one demo run unique (payout id, control number,
company), so a second ``dev up`` lands new files instead of duplicates of the first run's.
Nothing here is real data: names, SSNs and accounts are invented and the routing numbers are
public Federal Reserve ones with valid check digits.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import nacha
from nacha import Batch, Entry, ReturnAddenda

PAYOUT_COLUMNS = "id,amount,arrival_date,currency,status,statement_descriptor,created"
TXN_COLUMNS = "id,amount,fee,net,currency,type,payout_id,source,status,created"
# (suffix, amount, fee, type) in minor units: two charges and a refund.
PAYOUT_TRANSACTIONS: tuple[tuple[str, int, int, str], ...] = (
    ("c1", 6000, 204, "charge"),
    ("c2", 4000, 146, "charge"),
    ("r1", -500, 0, "refund"),
)
ROUTINGS = ("091000019", "021000021", "011000015")


def payout_net(transactions: tuple[tuple[str, int, int, str], ...] = PAYOUT_TRANSACTIONS) -> int:
    """What the PSP pays out: every amount less its fee."""
    return sum(amount - fee for _, amount, fee, _ in transactions)


def balance_transaction_id(payout_id: str, suffix: str) -> str:
    return f"txn_{suffix}_{payout_id}"


def psp_report(payout_id: str, day: date) -> dict[str, bytes]:
    """Stripe-layout report parts for one payout that adds up: ``payouts`` and
    ``balance_transactions`` (CSV, amounts in minor units)."""
    created = f"{day} 06:00:00"
    payouts = (
        f"{PAYOUT_COLUMNS}\n"
        f"{payout_id},{payout_net()},{day} 00:00:00,usd,paid,DEMO PAYOUT,{created}\n"
    )
    rows = [TXN_COLUMNS] + [
        f"{balance_transaction_id(payout_id, suffix)},{amount},{fee},{amount - fee},usd,{kind},"
        f"{payout_id},ch_demo_{suffix},available,{created}"
        for suffix, amount, fee, kind in PAYOUT_TRANSACTIONS
    ]
    return {
        "payouts": payouts.encode(),
        "balance_transactions": ("\n".join(rows) + "\n").encode(),
    }


def camt053_statement(payout_id: str, amount_minor: int, value_date: date) -> bytes:
    """A bank-to-customer statement (camt.053) with the payout's credit, referenced by its id."""
    entry = (
        f'<Ntry><Amt Ccy="USD">{amount_minor / 100:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        f"<Sts><Cd>BOOK</Cd></Sts><ValDt><Dt>{value_date}</Dt></ValDt>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{payout_id}</EndToEndId></Refs></TxDtls>"
        "</NtryDtls></Ntry>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        f"<BkToCstmrStmt><Stmt><Id>DEMO-{payout_id}</Id>"
        "<Acct><Id><Othr><Id>000123456789</Id></Othr></Id></Acct>"
        f"{entry}</Stmt></BkToCstmrStmt></Document>\n"
    ).encode()


def purchase_order_850(control: int, when: datetime, sender: str = "ACME") -> bytes:
    """One X12 004010 interchange holding one 850 purchase order with two lines.

    ``control`` (1..999,999,999) is the interchange and group control number: a new one per
    run, so the partner's interchange is new to us (a repeated ISA13 is acknowledged again but
    not processed twice)."""
    isa13 = f"{control:09d}"
    body = [
        f"BEG*00*SA*PO-{control}**{when:%Y%m%d}",
        "REF*DP*042",
        "N1*ST*ACME WAREHOUSE 7",
        "PO1*1*12*EA*9.95**VP*WIDGET-RED",
        "PO1*2*3*BX*42.00**VP*GADGET-XL",
        "CTT*2",
    ]
    st = ["ST*850*0001", *body, f"SE*{len(body) + 2}*0001"]
    segments = [
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*INTEGRATIONS   *{when:%y%m%d}*"
        f"{when:%H%M}*U*00401*{isa13}*0*T*:",
        f"GS*PO*{sender}*INTEGRATIONS*{when:%Y%m%d}*{when:%H%M}*{control}*X*004010",
        *st,
        f"GE*1*{control}",
        f"IEA*1*{isa13}",
    ]
    return ("~\n".join(segments) + "~\n").encode()


ROSTER_HEADER = (
    "employee_id,name,ssn,routing_number,account_number,account_type,pay_type,rate,state"
)
EMPLOYEES: tuple[tuple[str, str, str, str, str], ...] = (
    # name, ssn (invented, valid by SSA rules), pay type, rate, state
    ("Ada Lovelace", "123-45-6789", "salary", "3200.00", "NY"),
    ("Grace Hopper", "234-56-7890", "hourly", "41.50", "CA"),
    ("Alan Turing", "345-67-8901", "hourly", "38.25", "WA"),
    ("Katherine Johnson", "456-78-9012", "salary", "2950.00", "TX"),
    ("Edsger Dijkstra", "267-89-1234", "hourly", "36.00", "OR"),
)


def payroll_roster() -> str:
    """The demo company's roster: a few employees, salaried and hourly, in several states."""
    lines = [ROSTER_HEADER]
    for i, (name, ssn, pay_type, rate, state) in enumerate(EMPLOYEES, start=1):
        account_type = "savings" if i % 4 == 0 else "checking"
        lines.append(
            f"E{i:06d},{name},{ssn},{ROUTINGS[i % len(ROUTINGS)]},{40000000 + i},"
            f"{account_type},{pay_type},{rate},{state}"
        )
    return "\n".join(lines) + "\n"


def payroll_inputs() -> str:
    """Hours for the hourly employees, a bonus and deductions for the period."""
    lines = ["employee_id,hours,bonus,deductions"]
    for i, (_, _, pay_type, _, _) in enumerate(EMPLOYEES, start=1):
        hours = f"{70 + i}.50" if pay_type == "hourly" else "0"
        bonus = "150.00" if i == 2 else "0"
        lines.append(f"E{i:06d},{hours},{bonus},25.00")
    return "\n".join(lines) + "\n"


def ach_return_file(outbound: bytes, index: int, code: str, rdfi_trace_base: str) -> bytes:
    """The bank's return file for entry ``index`` of our ``outbound`` NACHA file (first batch):
    the entry comes back with a return addenda naming its original trace number."""
    original = nacha.read(outbound)
    if original.header is None or not original.batches:
        raise ValueError("the outbound file has no header or no batch")
    batch = original.batches[0]
    detail = batch.entries[index].detail
    if not isinstance(detail, nacha.EntryDetail):
        raise ValueError(f"entry {index} is not an entry detail record")
    trace = f"{rdfi_trace_base}{index + 1:07d}"
    addenda = ReturnAddenda(
        return_code=code,
        original_trace_number=detail.trace_number,
        date_of_death=None,
        original_rdfi=detail.receiving_dfi,
        addenda_information="",
        trace_number=trace,
    )
    returned = replace(
        detail,
        transaction_code=detail.transaction_code - 1,  # 22 -> 21: return of a credit
        addenda_record_indicator="1",
        trace_number=trace,
    )
    header = replace(batch.header, company_entry_description="RETURNS")
    file = nacha.with_controls(
        nacha.NachaFile(
            original.header, (Batch(header, (Entry(returned, (addenda,)),), None),), None
        )
    )
    return nacha.write(file)
