"""EDI control numbers in PostgreSQL and the ``edi.accept`` activity on real services:
repeats acknowledged but not processed twice, gaps reported, outbound numbers never shared."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

import edi
from activities.edi import EdiActivities
from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.edi import allocate_outbound, record_inbound
from tests.intake_support import feed_for
from tests.test_edi_core import CORPUS, PO, interchange, segments
from wire.edi import AcceptRequest

WHEN = datetime(2026, 4, 2, 8, 30, tzinfo=UTC)


def partner() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


async def test_the_same_interchange_twice_is_a_repeat_and_gaps_are_reported(
    pool: asyncpg.Pool,
) -> None:
    who = partner()
    first = edi.validate(interchange(PO, isa13="000000010").encode()).result
    (rec,) = await record_inbound(pool, who, first, file_sha256="a" * 64, landing_path=None)
    assert not rec.duplicate and rec.gaps == []
    # The same file again (an activity retry) is not a repeat ...
    (rec,) = await record_inbound(pool, who, first, file_sha256="a" * 64, landing_path=None)
    assert not rec.duplicate
    # ... the same interchange in another file is.
    (rec,) = await record_inbound(pool, who, first, file_sha256="b" * 64, landing_path=None)
    assert rec.duplicate and rec.first_file_sha256 == "a" * 64
    later = edi.validate(interchange(PO, isa13="000000014").encode()).result
    (rec,) = await record_inbound(pool, who, later, file_sha256="c" * 64, landing_path=None)
    assert rec.gaps == [11, 12, 13]
    sets = await pool.fetch(
        "SELECT isa13, gs06, st02, set_id FROM edi_inbound_sets WHERE partner_id = $1 "
        "ORDER BY isa13",
        who,
    )
    assert [tuple(r) for r in sets] == [(10, "55", "0001", "850"), (14, "55", "0001", "850")]
    repeats = await pool.fetchval(
        "SELECT repeats FROM edi_inbound_interchanges WHERE partner_id = $1 AND isa13 = 10", who
    )
    assert repeats == 1


async def test_outbound_numbers_are_monotonic_and_idempotent_per_purpose(
    pool: asyncpg.Pool,
) -> None:
    who, other = partner(), partner()
    a = await allocate_outbound(pool, who, "ack:x")
    b = await allocate_outbound(pool, who, "ack:y")
    assert (a, b) == (1, 2)
    assert await allocate_outbound(pool, who, "ack:x") == 1  # a retry gets its number back
    assert await allocate_outbound(pool, other, "ack:x") == 1  # counters are per partner


async def test_two_workers_allocating_at_once_never_share_a_number(
    migrated_db: LocalPostgres,
) -> None:
    who = partner()
    pools = [
        await asyncpg.create_pool(migrated_db.app_dsn, min_size=4, max_size=8) for _ in range(2)
    ]
    try:

        async def worker(index: int, p: asyncpg.Pool) -> list[int]:
            numbers = []
            for chunk in range(10):
                numbers += await asyncio.gather(
                    *(allocate_outbound(p, who, f"w{index}:{chunk}:{i}") for i in range(10))
                )
            return numbers

        # Both workers also ask for 20 shared purposes: each must get one number, the same one.
        shared = [f"shared:{i}" for i in range(20)]
        results = await asyncio.gather(
            worker(0, pools[0]),
            worker(1, pools[1]),
            *(allocate_outbound(pools[i % 2], who, s) for i, s in enumerate(shared)),
            *(allocate_outbound(pools[(i + 1) % 2], who, s) for i, s in enumerate(shared)),
        )
        own: list[int] = [*results[0], *results[1]]  # type: ignore[misc]
        first, second = results[2:22], results[22:]
        assert first == second
        assert len(set(own)) == len(own) == 200
        assert not set(own) & set(first)
        rows = await pools[0].fetch(
            "SELECT purpose, control_number FROM edi_outbound_interchanges WHERE partner_id = $1",
            who,
        )
        assert len(rows) == 220 and len({r["control_number"] for r in rows}) == 220
        # Monotonic: a new purpose gets a number above every one handed out.
        assert await allocate_outbound(pools[1], who, "after") > max(r[1] for r in rows)
    finally:
        for p in pools:
            await p.close()


def _land(settings: Settings, data: bytes) -> tuple[Path, str]:
    digest = hashlib.sha256(data).hexdigest()
    folder = settings.landing_zone_dir / "acme" / "edi" / "2026-04-02"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.x12"
    path.write_bytes(data)
    return path, digest


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
async def test_accept_validates_records_translates_and_delivers_the_ack(
    pool: asyncpg.Pool, settings: Settings, sshd_server: LocalSshd
) -> None:
    await pool.execute("DELETE FROM edi_inbound_interchanges WHERE partner_id = 'acme'")
    feed = feed_for(sshd_server)
    activities = EdiActivities(pool, settings, None)
    env = ActivityEnvironment()

    async def accept(path: Path, digest: str) -> object:
        request = AcceptRequest(feed=feed, landing_path=str(path), sha256=digest, received_at=WHEN)
        return await asyncio.to_thread(env.run, activities.accept, request)

    data = (CORPUS / "pyx12_834_deident_family.txt").read_bytes()
    path, digest = _land(settings, data)
    summary = await accept(path, digest)
    assert summary.outcome == "accepted" and not summary.duplicate  # type: ignore[attr-defined]
    assert summary.accepted_sets == ["100002/0001:834"]  # type: ignore[attr-defined]
    assert summary.ack_kind == "999"  # type: ignore[attr-defined]
    (number,) = summary.ack_control_numbers  # type: ignore[attr-defined]
    remote = sshd_server.folder("outbox") / f"999_acme_{number:09d}.x12"
    ack = segments(remote.read_text())
    assert ack == segments(Path(summary.ack_path).read_text())  # type: ignore[attr-defined]
    assert ["AK1", "BE", "100002", "005010X220A1"] in ack
    translated = json.loads(Path(summary.translation_path).read_text())  # type: ignore[attr-defined]
    assert translated["documents"][0]["member_count"] == 3

    # A retry of the same activity: same number, same bytes, nothing new.
    again = await accept(path, digest)
    assert again.ack_control_numbers == [number]  # type: ignore[attr-defined]
    assert not again.duplicate  # type: ignore[attr-defined]

    # The same interchange in another file (CRLF line ends): acknowledged again, not processed.
    repeat = data.replace(b"\n", b"\r\n")
    path2, digest2 = _land(settings, repeat)
    dup = await accept(path2, digest2)
    assert dup.duplicate and dup.translation_path is None  # type: ignore[attr-defined]
    assert dup.ack_remote_path and dup.ack_control_numbers[0] > number  # type: ignore[attr-defined]

    # A broken envelope: a TA1, nothing translated.
    broken = (
        (CORPUS / "pyx12_834_deident_new_enroll.txt")
        .read_bytes()
        .replace(b"IEA*1*000000001", b"IEA*1*000000009")
    )
    path3, digest3 = _land(settings, broken)
    rejected = await accept(path3, digest3)
    assert rejected.outcome == "rejected" and rejected.ack_kind == "TA1"  # type: ignore[attr-defined]
    assert rejected.translation_path is None  # type: ignore[attr-defined]
    ta1 = [s for s in segments(Path(rejected.ack_path).read_text()) if s[0] == "TA1"]  # type: ignore[attr-defined]
    assert ta1 == [["TA1", "000000001", "260401", "1200", "R", "001"]]


async def test_accept_ends_a_hostile_file_in_a_typed_outcome_never_an_error(
    pool: asyncpg.Pool, settings: Settings, sshd_server: LocalSshd
) -> None:
    """Issue 14: a file beyond the EDI limits is refused (result written, nothing answered, no
    retry), and a rejected ISA whose ISA13 holds a Latin-1 superscript ('¹'.isdigit() is true)
    is answered with a TA1 instead of crashing the control-number store."""
    feed = feed_for(sshd_server)
    small = settings.model_copy(update={"edi_max_file_bytes": 1024})
    activities = EdiActivities(pool, small, None)
    env = ActivityEnvironment()

    async def accept(data: bytes) -> object:
        path, digest = _land(settings, data)
        request = AcceptRequest(
            feed=feed, landing_path=str(path), sha256=digest, received_at=WHEN, deliver=False
        )
        return await asyncio.to_thread(env.run, activities.accept, request)

    big = await accept(interchange(PO).encode() * 8)
    assert big.outcome == "refused" and big.ack_path is None  # type: ignore[attr-defined]
    written = json.loads(Path(big.result_path).read_text())  # type: ignore[attr-defined]
    assert written["refusal"]["reason"] == "too_large"

    odd = interchange(PO).replace("*000000123*0*T*", "*00000012\xb9*0*T*").encode("latin-1")
    answered = await accept(odd)
    assert answered.outcome == "rejected" and answered.ack_kind == "TA1"  # type: ignore[attr-defined]
    ta1 = [s for s in segments(Path(answered.ack_path).read_text()) if s[0] == "TA1"]  # type: ignore[attr-defined]
    assert ta1 == [["TA1", "000000000", "260401", "1200", "R", "018"]]
