"""The ACH returns demo: the bank returns one entry of the payroll file the payroll demo sent
it, and an AchReturn case opens."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
from temporalio.client import Client

import nacha
from ach_returns.state_machine import CaseState, ReturnCase
from adapters.pgp import Keyring
from devstack.demo.feeds import bank_feed
from devstack.demo.session import DemoSession, poll
from devstack.demo_data import ach_return_file
from devstack.local_env import bank_gnupg
from runtime.settings import Settings
from stores.ach import workflow_id as ach_workflow_id


async def ach_return(
    demo: DemoSession, client: Client, pool: asyncpg.Pool, settings: Settings
) -> str:
    """The bank decrypts the payroll file with its key, cannot locate one employee's
    account and sends a return (R03) on its returns feed: an AchReturn case opens."""
    if demo.payroll_file is None:
        raise RuntimeError("no payroll file was delivered to return an entry of")
    bank_keys = Keyring(bank_gnupg(demo.root))
    plain = demo.root / "bank-received" / demo.payroll_file.name.removesuffix(".pgp")
    plain.parent.mkdir(mode=0o700, exist_ok=True)
    await asyncio.to_thread(
        bank_keys.decrypt_and_verify,
        demo.payroll_file,
        plain,
        demo.env["INTEGRATIONS_PAYROLL_PGP_SIGNER"],
    )
    outbound = plain.read_bytes()
    original = nacha.read(outbound).batches[0].entries[0].detail
    assert isinstance(original, nacha.EntryDetail)
    returns = plain.with_name(f"returns-{demo.tag}.ach")
    returns.write_bytes(ach_return_file(outbound, 0, "R03", rdfi_trace_base="02100002"))
    # The feed pins the bank's key: its files come encrypted to us and signed by it.
    sealed = returns.with_name(returns.name + ".pgp")
    await asyncio.to_thread(
        bank_keys.encrypt_and_sign,
        returns,
        sealed,
        demo.env["INTEGRATIONS_PAYROLL_PGP_SIGNER"],
        demo.env["DEV_BANK_PGP_FINGERPRINT"],
    )
    bank = bank_feed(demo.server, demo.env)
    name = demo.drop_for(bank, date.today(), "ach.pgp", sealed.read_bytes())
    await demo.intake(client, settings, bank, name)
    handle = client.get_workflow_handle(ach_workflow_id(original.trace_number))

    async def case() -> ReturnCase | None:
        found: ReturnCase | None = await handle.query("case", result_type=ReturnCase)
        return found

    opened = await poll(case, lambda c: c.state != CaseState.OPEN, 30)
    state = opened.state.value if opened is not None else "not opened"
    return f"{name} -> landed; R03 opened {handle.id}: {state}"
