"""Builders for ACH tests: an outbound debit file we "sent" (imported as originations) and the
bank's return/NOC file for some of its entries, with fresh trace numbers per test."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

import nacha
from adapters.payload_codec import KeyRing
from devstack.localstack.sshd import LocalSshd
from intake.naming import NamingContract
from nacha import Batch, Entry, NocAddenda, Payment, ReturnAddenda
from runtime.settings import Settings
from stores.ach import import_originations, lookup_key
from wire.intake import FeedConfig, FeedSchedule, SftpSource

ROUTINGS = ["091000019", "021000021", "011000015"]


def fresh_odfi() -> str:
    """An 8-digit ODFI id no other test uses, so trace numbers (and case ids) never collide."""
    return f"{random.randint(10_000_000, 99_999_999)}"


def outbound_debits(odfi: str, amounts: list[int], effective: date) -> bytes:
    payments = [
        Payment(
            routing_number=ROUTINGS[i % len(ROUTINGS)],
            account_number=f"{odfi}{i:04d}",  # unique per test: blocks are per account
            amount_cents=amount,
            name=f"Payer {i}",
        )
        for i, amount in enumerate(amounts)
    ]
    batch = nacha.ppd_batch(
        company_name="ACME GYM",
        company_identification="1234567890",
        odfi_routing_number=odfi + "0",
        entry_description="MEMBERSHIP",
        effective_entry_date=effective,
        payments=payments,
        credit=False,
    )
    file = nacha.build_file(
        immediate_destination=" 091000019",
        immediate_origin=" 123456789",
        destination_name="FED RESERVE BANK",
        origin_name="ACME GYM",
        created=datetime.combine(effective, datetime.min.time(), UTC),
        batches=[batch],
    )
    return nacha.write(file)


def bank_file(outbound: bytes, answers: dict[int, str], *, rdfi_trace_base: str) -> bytes:
    """The bank's file returning (R..) or correcting (C..) entries of ``outbound`` by index."""
    original = nacha.read(outbound)
    assert original.header is not None
    (batch,) = original.batches
    entries = []
    for index, code in answers.items():
        detail = batch.entries[index].detail
        assert isinstance(detail, nacha.EntryDetail)
        trace = f"{rdfi_trace_base}{index + 1:07d}"
        addenda: ReturnAddenda | NocAddenda
        if code.startswith("R"):
            addenda = ReturnAddenda(
                return_code=code,
                original_trace_number=detail.trace_number,
                date_of_death=None,
                original_rdfi=detail.receiving_dfi,
                addenda_information="",
                trace_number=trace,
            )
            tx = detail.transaction_code - 1  # 27 -> 26: return of a debit
        else:
            addenda = NocAddenda(
                change_code=code,
                original_trace_number=detail.trace_number,
                original_rdfi=detail.receiving_dfi,
                corrected_data="998877665544".ljust(29),
                refused_change_code="",
                trace_sequence_number="",
                trace_number=trace,
            )
            tx = 21 if detail.transaction_code == 22 else 26
        entries.append(
            Entry(
                replace(
                    detail,
                    transaction_code=tx,
                    amount_cents=detail.amount_cents if code.startswith("R") else 0,
                    addenda_record_indicator="1",
                    trace_number=trace,
                ),
                (addenda,),
            )
        )
    header = replace(
        batch.header,
        sec_code="COR"
        if all(c.startswith("C") for c in answers.values())
        else batch.header.sec_code,
        company_entry_description="RETURNS",
    )
    returned = nacha.with_controls(
        nacha.NachaFile(original.header, (Batch(header, tuple(entries), None),), None)
    )
    return nacha.write(returned)


def bank_feed(server: LocalSshd, feed: str) -> FeedConfig:
    return FeedConfig(
        partner_id="firstbank",
        feed=feed,
        display_name="First Bank (returns)",
        sftp=SftpSource(
            host=server.host,
            port=server.port,
            username=server.login_user,
            host_key=server.host_key.public_line,
            private_key="client",
        ),
        naming=NamingContract(
            pattern="{system}_{entity}_{date}_seq-{sequence}.{ext}",
            system="firstbank",
            entity="returns",
            extensions=("ach",),
        ),
        file_contract="nacha.v1",
        handoff="ach_returns",
        schedule=FeedSchedule(interval_minutes=60),
        settle_seconds=0.2,
    )


def write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


async def originate(
    pool: asyncpg.Pool,
    settings: Settings,
    key_ring: KeyRing,
    feed: FeedConfig,
    tmp: Path,
    amounts: list[int],
) -> tuple[str, bytes]:
    """Send (on paper) debits from a fresh ODFI and import them as originations."""
    odfi = fresh_odfi()
    outbound = outbound_debits(odfi, amounts, date.today())
    added = await import_originations(
        pool,
        key_ring,
        lookup_key(settings),
        write(tmp, "sent.ach", outbound),
        partner_id=feed.partner_id,
        bank_feed=feed.feed,
        source="test",
    )
    assert added == len(amounts)
    return odfi, outbound
