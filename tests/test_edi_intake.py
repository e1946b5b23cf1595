"""X12 over SFTP: file intake lands an interchange under the built-in x12.v1 contract and hands
it to edi.accept, which answers in the partner's outbox; a file that is not X12 at all is
quarantined by intake with a report."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import asyncpg
from temporalio.client import Client

from devstack.localstack.sshd import LocalSshd
from intake.naming import NamingContract
from runtime.settings import Settings
from stores.feeds import register_feed
from wire.intake import FeedConfig, FeedSchedule, IntakeRequest, IntakeRunResult, SftpSource

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "x12"


def x12_feed(server: LocalSshd, partner: str) -> FeedConfig:
    return FeedConfig(
        partner_id=partner,
        feed="edi",
        sftp=SftpSource(
            host=server.host,
            port=server.port,
            username=server.login_user,
            host_key=server.host_key.public_line,
            private_key="client",
        ),
        naming=NamingContract(
            pattern="{system}_{entity}_{date}_seq-{sequence}.{ext}",
            system=partner,
            entity="invoices",
            extensions=("edi", "x12"),
        ),
        file_contract="x12.v1",
        handoff="edi",
        schedule=FeedSchedule(interval_minutes=60),
        settle_seconds=0.2,
    )


async def test_an_interchange_over_sftp_is_landed_and_acknowledged_in_the_outbox(
    sshd_server: LocalSshd, client: Client, workers: Settings, pool: asyncpg.Pool
) -> None:
    partner = f"edi{uuid.uuid4().hex[:8]}"
    feed = x12_feed(sshd_server, partner)
    await register_feed(pool, client, workers, feed)
    day = date.today()
    good = f"{partner}_invoices_{day}_seq-00001.edi"
    junk = f"{partner}_invoices_{day}_seq-00002.edi"
    sshd_server.drop_file("inbox", good, (CORPUS / "staedi_simple810.edi").read_bytes())
    sshd_server.drop_file("inbox", junk, b"id,amount\n1,2\n")

    result: IntakeRunResult = await client.execute_workflow(
        "FileIntake",
        IntakeRequest(partner_id=partner, feed=feed.feed),
        id=f"intake-edi-{uuid.uuid4()}",
        task_queue=workers.task_queue_general,
        result_type=IntakeRunResult,
    )
    outcomes = {d.remote_name: d.outcome for d in result.decisions}
    assert outcomes == {good: "landed", junk: "quarantined"}
    outbox = sshd_server.folder("outbox")
    acks = sorted(p.name for p in outbox.iterdir() if p.name.startswith("997_"))
    assert len(acks) == 1 and partner in acks[0], sorted(p.name for p in outbox.iterdir())
    ack = (outbox / acks[0]).read_text()
    assert "AK1*IN*" in ack and "AK9*A*" in ack  # the group of invoices, accepted
    assert "not an X12 interchange" in (outbox / f"{junk}.errors.csv").read_text()
    landed = next(d for d in result.decisions if d.remote_name == good)
    assert landed.landing_path is not None
    translated = Path(landed.landing_path).with_suffix(".translated.json")
    assert translated.exists(), sorted(Path(landed.landing_path).parent.iterdir())
