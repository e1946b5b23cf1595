"""The EDI demo: the demo partner sends an X12 850 purchase order; it lands and is
acknowledged with a 997 in the partner's outbox."""

from __future__ import annotations

import time
from datetime import date, datetime

import asyncpg
from temporalio.client import Client

from devstack.demo.feeds import demo_feed
from devstack.demo.session import DemoSession
from devstack.demo_data import purchase_order_850
from devstack.services import DEMO_PARTNER
from runtime.settings import Settings


async def edi(demo: DemoSession, client: Client, pool: asyncpg.Pool, settings: Settings) -> str:
    """The demo partner sends an 850 purchase order; it is landed and acknowledged with a
    997 in the partner's outbox."""
    feed = demo_feed(
        demo.server,
        DEMO_PARTNER,
        "orders",
        area="edi",
        inbox="inbox/edi",
        outbox="outbox",
        file_contract="x12.v1",
        handoff="edi",
        extensions=("edi",),
        display_name="Acme Corp purchase orders, X12 850 (demo)",
    )
    await demo.register(pool, client, settings, feed)
    control = int(time.time()) % 1_000_000_000  # a new interchange every run
    before = set(demo.server.folder("outbox").iterdir())
    name = demo.drop_for(feed, date.today(), "edi", purchase_order_850(control, datetime.now()))
    await demo.intake(client, settings, feed, name)
    acks = sorted(
        p.name
        for p in set(demo.server.folder("outbox").iterdir()) - before
        if p.name.startswith("997_")
    )
    if not acks:
        raise RuntimeError(f"{name} landed but no 997 reached the outbox")
    accepted = "AK9*A*" in (demo.server.folder("outbox") / acks[0]).read_text()
    return f"{name} -> landed; 997 {'accepted' if accepted else 'NOT accepted'} in outbox/{acks[0]}"
