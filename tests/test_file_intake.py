"""File intake end to end: real sshd, gpg, PostgreSQL and Temporal; every file ends landed,
a duplicate or quarantined, exactly once, with a report a partner can act on."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pyarrow.parquet as pq
import pytest
from temporalio.client import Client, WorkflowFailureError

from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.feeds import register_feed, scorecard
from tests.intake_support import customer_rows, customers_csv, feed_for, name_for
from tests.plugins.gpg import GpgKeys
from tests.replay import record_history
from wire.intake import FeedConfig, IntakeRequest, IntakeRunResult


async def run_intake(
    client: Client, settings: Settings, feed: FeedConfig, *, record_as: str | None = None
) -> IntakeRunResult:
    handle = await client.start_workflow(
        "FileIntake",
        IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
        id=f"intake-test-{uuid.uuid4()}",
        task_queue=settings.task_queue_general,
        result_type=IntakeRunResult,
    )
    result: IntakeRunResult = await handle.result()
    if record_as:
        await record_history(handle, record_as)
    return result


@pytest.fixture
async def acme(
    sshd_server: LocalSshd, pool: asyncpg.Pool, client: Client, workers: Settings
) -> FeedConfig:
    feed = feed_for(sshd_server, feed=f"customers-{uuid.uuid4().hex[:6]}")
    await register_feed(pool, client, workers, feed)
    return feed


def _remote(server: LocalSshd, folder: str) -> list[str]:
    return sorted(p.name for p in server.folder(folder).iterdir())


async def test_good_duplicate_and_broken_files_each_end_once(
    acme: FeedConfig,
    sshd_server: LocalSshd,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
) -> None:
    good = customers_csv(customer_rows(50))
    broken = customers_csv(["x,,not-an-email,2024-13-45,,ZZ,abc,maybe,!!"] * 5)
    good_name, dup_name = name_for(good, 1), name_for(good, 2)
    broken_name = name_for(broken, 3)
    sshd_server.drop_file("inbox", good_name, good)
    sshd_server.drop_file("inbox", dup_name, good)
    sshd_server.drop_file("inbox", broken_name, broken)
    sshd_server.drop_file("inbox", "still-uploading.csv.part", b"partial")

    result = await run_intake(client, workers, acme, record_as="FileIntake")
    by_name = {d.remote_name: d for d in result.decisions}
    assert by_name[good_name].outcome == "landed"
    assert by_name[dup_name].outcome == "duplicate"
    assert good_name in by_name[dup_name].reason
    assert by_name[broken_name].outcome == "quarantined"
    assert "still-uploading.csv.part" not in by_name

    # Remote side: archived or quarantined by rename, a report in the outbox, the .part untouched.
    assert _remote(sshd_server, "inbox") == ["still-uploading.csv.part"]
    assert _remote(sshd_server, "archive") == sorted([good_name, dup_name])
    assert _remote(sshd_server, "quarantine") == [broken_name]
    report = (sshd_server.folder("outbox") / f"{broken_name}.errors.csv").read_text()
    assert report.startswith("row,column,rule,value,message")
    assert "email" in report and "not-an-email" not in report  # PII column: value masked

    # Landing zone: write-once raw bytes by digest, Parquet of the valid rows, metadata.
    digest = hashlib.sha256(good).hexdigest()
    landed = Path(by_name[good_name].landing_path or "")
    assert landed.name == f"{digest}.csv"
    assert landed.read_bytes() == good
    assert landed.parent.relative_to(workers.landing_zone_dir).parts == (
        "acme",
        "customers",
        "2025-11-05",
    )
    assert pq.read_table(landed.with_suffix(".parquet")).num_rows == 50
    meta = json.loads(landed.with_suffix(".json").read_text())
    assert meta["checksum"]["sha256"] == digest
    assert meta["rows"] == {"total": 50, "valid": 50, "invalid": 0}
    assert meta["file_contract"] == "acme_customers" and meta["schema_version"] == 1

    rows = await pool.fetch(
        "SELECT sha256, status FROM file_manifest WHERE feed = $1 ORDER BY status", acme.feed
    )
    assert [(r["sha256"], r["status"]) for r in rows] == [
        (digest, "landed"),
        (hashlib.sha256(broken).hexdigest(), "quarantined"),
    ]

    # A second run finds nothing new and changes nothing.
    again = await run_intake(client, workers, acme)
    assert again.decisions == []
    card = await scorecard(pool, partner_id="acme")
    mine = next(c for c in card if c["feed"] == acme.feed)
    assert (mine["files_received"], mine["landed"], mine["duplicates"], mine["rejected"]) == (
        3,
        1,
        1,
        1,
    )
    assert mine["bytes"] == 2 * len(good) + len(broken)


async def test_partly_bad_file_lands_good_rows_and_reports_the_bad(
    acme: FeedConfig, sshd_server: LocalSshd, client: Client, workers: Settings
) -> None:
    rows = customer_rows(200)
    rows[10] = rows[10].replace(rows[10].split(",")[2], "not-an-email")
    content = customers_csv(rows)
    name = name_for(content, 7)
    sshd_server.drop_file("inbox", name, content)
    result = await run_intake(client, workers, acme)
    (decision,) = result.decisions
    assert decision.outcome == "landed"
    assert decision.rows_invalid == 1
    assert pq.read_table(Path(decision.landing_path or "").with_suffix(".parquet")).num_rows == 199
    report = (sshd_server.folder("outbox") / f"{name}.errors.csv").read_text()
    assert "11,email," in report


async def test_names_checksums_and_sizes_are_enforced(
    sshd_server: LocalSshd, client: Client, workers: Settings, pool: asyncpg.Pool
) -> None:
    feed = feed_for(sshd_server, feed=f"limits-{uuid.uuid4().hex[:6]}", max_file_bytes=5_000)
    await register_feed(pool, client, workers, feed)
    ok = customers_csv(customer_rows(3))
    wrong_crc = name_for(ok, 1).replace(name_for(ok, 1).split("crc32-")[1][:8], "DEADBEEF")
    sshd_server.drop_file("inbox", wrong_crc, ok)
    sshd_server.drop_file("inbox", "customers.csv", customers_csv(customer_rows(2)))
    sshd_server.drop_file("inbox", "bad\x07name.csv", ok)
    big = customers_csv(customer_rows(200))
    sshd_server.drop_file("inbox", name_for(big, 2), big)
    traversal, disguised, absurd = "in\\..\\..\\passwd.csv", "invoice\u202ecsv.exe", "a" * 240
    for odd in (traversal, disguised, absurd):
        sshd_server.drop_file("inbox", odd, customers_csv(customer_rows(1)))

    result = await run_intake(client, workers, feed)
    reasons = {d.remote_name: (d.outcome, d.reason) for d in result.decisions}
    assert reasons[wrong_crc][0] == "quarantined" and "CRC32" in reasons[wrong_crc][1].upper()
    assert reasons["customers.csv"][0] == "quarantined"
    assert "naming contract" in reasons["customers.csv"][1]
    assert reasons["bad\x07name.csv"] == ("quarantined", reasons["bad\x07name.csv"][1])
    assert "unsafe file name" in reasons["bad\x07name.csv"][1]
    assert "the feed allows 5,000" in reasons[name_for(big, 2)][1]
    assert "path separator" in reasons[traversal][1]
    assert "control character U+202E" in reasons[disguised][1]
    assert "naming contract" in reasons[absurd][1]
    assert {outcome for outcome, _ in reasons.values()} == {"quarantined"}
    assert _remote(sshd_server, "inbox") == []
    assert len(_remote(sshd_server, "quarantine")) == 7
    assert len(_remote(sshd_server, "outbox")) == 7  # every quarantined file has its report


async def test_changed_host_key_is_refused_and_alerted(
    sshd_server: LocalSshd,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
) -> None:
    impostor_key = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    )
    feed = feed_for(sshd_server, feed=f"pinned-{uuid.uuid4().hex[:6]}", host_key=impostor_key)
    await register_feed(pool, client, workers, feed)
    content = customers_csv(customer_rows(2))
    sshd_server.drop_file("inbox", name_for(content, 1), content)
    with pytest.raises(WorkflowFailureError) as failure:
        await run_intake(client, workers, feed)
    assert "HostKeyMismatch" in str(failure.value.cause.__cause__ or failure.value.cause)
    assert _remote(sshd_server, "inbox") == [name_for(content, 1)]  # nothing touched
    alert = await pool.fetchrow(
        "SELECT action, reason FROM audit_log WHERE subject = $1", f"acme/{feed.feed}"
    )
    assert alert is not None and alert["action"] == "intake.alert.HostKeyMismatch"
    desc = await client.get_schedule_handle(feed.schedule_id).describe()
    assert desc.schedule.state.paused  # the feed waits for a person


async def test_pgp_files_need_the_pinned_signer(
    sshd_server: LocalSshd,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    tmp_path: Path,
) -> None:
    feed = feed_for(
        sshd_server, feed=f"pgp-{uuid.uuid4().hex[:6]}", pgp_signer=gpg_keys.partner.fingerprint
    )
    await register_feed(pool, client, workers, feed)
    plain = customers_csv(customer_rows(5))
    source = tmp_path / "plain.csv"
    source.write_bytes(plain)
    signed_ok, signed_bad = tmp_path / "ok.pgp", tmp_path / "bad.pgp"
    gpg_keys.senders.encrypt_and_sign(
        source, signed_ok, gpg_keys.us.fingerprint, gpg_keys.partner.fingerprint
    )
    gpg_keys.senders.encrypt_and_sign(
        source, signed_bad, gpg_keys.us.fingerprint, gpg_keys.impostor.fingerprint
    )
    ok_name = name_for(signed_ok.read_bytes(), 1, ext="csv.pgp")
    bad_name = name_for(signed_bad.read_bytes(), 2, ext="csv.pgp")
    sshd_server.drop_file("inbox", ok_name, signed_ok.read_bytes())
    sshd_server.drop_file("inbox", bad_name, signed_bad.read_bytes())

    result = await run_intake(client, workers, feed)
    by_name = {d.remote_name: d for d in result.decisions}
    assert by_name[ok_name].outcome == "landed"
    assert Path(by_name[ok_name].landing_path or "").read_bytes() == plain
    assert by_name[bad_name].outcome == "quarantined"
    assert "PGP" in by_name[bad_name].reason
    fingerprint = await pool.fetchval(
        "SELECT pgp_fingerprint FROM file_manifest WHERE source_name = $1", ok_name
    )
    assert fingerprint == gpg_keys.partner.fingerprint


async def test_sequence_gaps_and_repeats_are_reported(
    acme: FeedConfig, sshd_server: LocalSshd, client: Client, workers: Settings
) -> None:
    first = customers_csv(customer_rows(2))
    sshd_server.drop_file("inbox", name_for(first, 1), first)
    await run_intake(client, workers, acme)
    later = customers_csv(customer_rows(2))
    sshd_server.drop_file("inbox", name_for(later, 4), later)
    result = await run_intake(client, workers, acme)
    assert result.sequence_warnings == ["sequence gap: 2-3 not received before 4"]
    repeat = customers_csv(customer_rows(2))
    sshd_server.drop_file("inbox", name_for(repeat, 4), repeat)
    result = await run_intake(client, workers, acme)
    assert result.sequence_warnings == ["sequence 4 repeats or is older than 4"]


async def test_a_feed_with_no_file_by_its_deadline_raises_one_sla_breach(
    sshd_server: LocalSshd, client: Client, workers: Settings, pool: asyncpg.Pool
) -> None:
    # Due at midnight UTC: any run today is past the deadline, and the inbox is empty.
    feed = feed_for(sshd_server, feed=f"sla-{uuid.uuid4().hex[:6]}", sla="00:00:00")
    await register_feed(pool, client, workers, feed)
    first = await run_intake(client, workers, feed)
    second = await run_intake(client, workers, feed)
    assert first.sla_breached and second.sla_breached
    breaches = await pool.fetchval("SELECT count(*) FROM sla_breaches WHERE feed = $1", feed.feed)
    assert breaches == 1  # raised once per feed and day, however many runs see it


async def test_feed_cli_registers_schedules_and_scores(
    sshd_server: LocalSshd, client: Client, workers: Settings, tmp_path: Path
) -> None:
    from tests.plugins.services import settings_env

    name = f"cli-{uuid.uuid4().hex[:6]}"
    feed = feed_for(sshd_server, feed=name)
    feed_file = tmp_path / "feed.toml"
    feed_file.write_text(_toml(feed.model_dump(mode="json", exclude_none=True)))
    env = settings_env(workers)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "created feed acme/" in cli("feeds", "create", str(feed_file))
    assert "updated feed acme/" in cli("feeds", "create", str(feed_file))
    content = customers_csv(customer_rows(4))
    sshd_server.drop_file("inbox", name_for(content, 1), content)
    cli("feeds", "trigger", f"acme/{name}")
    deadline = asyncio.get_running_loop().time() + 60
    while list(sshd_server.folder("inbox").iterdir()):
        assert asyncio.get_running_loop().time() < deadline, "triggered run did not finish"
        await asyncio.sleep(0.3)
    cli("feeds", "pause", f"acme/{name}", "--reason", "partner maintenance")
    desc = await client.get_schedule_handle(feed.schedule_id).describe()
    assert desc.schedule.state.paused
    assert desc.schedule.state.note == "partner maintenance"
    assert f"acme/{name}" in cli("feeds", "list")
    cli("feeds", "resume", f"acme/{name}")
    assert not (await client.get_schedule_handle(feed.schedule_id).describe()).schedule.state.paused
    card = json.loads(cli("feeds", "scorecard", "--json", "--partner", "acme"))
    mine = next(c for c in card if c["feed"] == name)
    assert mine["landed"] == 1 and mine["rejected"] == 0

    bad = tmp_path / "bad.toml"
    bad.write_text(feed_file.read_text().replace("[schedule]", "[schedule]\ncron = '* * * * *'"))
    refused = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "feeds", "create", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert (
        "schedule" in refused.stderr and "exactly one of interval_minutes or cron" in refused.stderr
    )


def _toml(data: dict[str, object], prefix: str = "") -> str:
    """Just enough TOML for a feed file (tables and scalars/arrays of scalars)."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    text = "\n".join(lines) + "\n"
    for key, value in tables:
        text += f"\n[{prefix}{key}]\n" + _toml(value, f"{prefix}{key}.")
    return text


async def test_rows_seen_in_another_file_within_the_window_are_dropped(
    sshd_server: LocalSshd, client: Client, workers: Settings, pool: asyncpg.Pool
) -> None:
    feed = feed_for(sshd_server, feed=f"dedupe-{uuid.uuid4().hex[:6]}", dedupe_window_days=7)
    await register_feed(pool, client, workers, feed)
    start = 7_000_000 + int(uuid.uuid4().int % 1_000_000) * 100
    first = customers_csv(customer_rows(10, start=start))
    second_rows = customer_rows(10, start=start + 5)  # keys start+5 .. start+9 seen before
    second_rows.append(second_rows[-1])  # and one repeat inside the file itself
    second = customers_csv(second_rows)
    sshd_server.drop_file("inbox", name_for(first, 1), first)
    sshd_server.drop_file("inbox", name_for(second, 2), second)

    result = await run_intake(client, workers, feed)
    one, two = result.decisions
    assert (one.outcome, one.rows_duplicate) == ("landed", 0)
    assert (two.outcome, two.rows_duplicate) == ("landed", 6)
    unique = Path(two.landing_path or "").with_suffix(".unique.parquet")
    ids = pq.read_table(unique).column("customer_id").to_pylist()
    assert ids == list(range(start + 10, start + 15))
    # Re-running the same file's dedupe (a retry) would not count its own keys: the stored
    # fingerprints name the file they came from.
    owners = await pool.fetchval(
        "SELECT count(DISTINCT file_sha256) FROM intake_row_keys WHERE feed = $1", feed.feed
    )
    assert owners == 2
