"""Migrations: applied once, recorded, a changed applied file refused; least privilege."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from devstack.localstack.postgres import LocalPostgres
from stores.migrations import MIGRATIONS_DIR, MigrationError, discover, migrate


@pytest.fixture
def fresh_db(local_pg: LocalPostgres) -> LocalPostgres:
    name = local_pg.create_database(f"mig_{uuid.uuid4().hex[:10]}")
    return LocalPostgres(
        root=local_pg.root,
        port=local_pg.port,
        database=name,
        owner_password=local_pg.owner_password,
        app_password=local_pg.app_password,
    )


async def test_applies_once_and_records(fresh_db: LocalPostgres) -> None:
    ran = await migrate(fresh_db.owner_dsn)
    assert [m.version for m in ran] == [m.version for m in discover()]
    assert await migrate(fresh_db.owner_dsn) == []
    conn = await asyncpg.connect(fresh_db.owner_dsn)
    try:
        rows = await conn.fetch("SELECT version, sha256 FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [(r["version"], r["sha256"]) for r in rows] == [(m.version, m.sha256) for m in ran]


async def test_changed_applied_file_is_refused(fresh_db: LocalPostgres, tmp_path: Path) -> None:
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    await migrate(fresh_db.owner_dsn, copy)
    first = sorted(copy.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        await migrate(fresh_db.owner_dsn, copy)


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_init.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_snake_name"):
        discover(tmp_path)


async def test_app_role_has_dml_only_and_audit_log_is_append_only(
    migrated_db: LocalPostgres,
) -> None:
    conn = await asyncpg.connect(migrated_db.app_dsn)
    try:
        await conn.execute(
            "INSERT INTO partners (partner_id, display_name) VALUES ('acme-mig', 'Acme') "
            "ON CONFLICT DO NOTHING"
        )
        assert await conn.fetchval("SELECT count(*) FROM partners WHERE partner_id='acme-mig'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE sneaky (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DROP TABLE partners")
        await conn.execute(
            "INSERT INTO audit_log (event_id, actor, action, subject) "
            "VALUES ($1, 'ops:alice', 'test', 'x')",
            f"mig-{uuid.uuid4()}",
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_log")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET reason = 'rewritten'")
    finally:
        await conn.close()


async def test_manifest_digest_is_unique(migrated_db: LocalPostgres) -> None:
    conn = await asyncpg.connect(migrated_db.app_dsn)
    digest = uuid.uuid4().hex * 2
    try:
        await conn.execute(
            "INSERT INTO partners (partner_id, display_name) VALUES ('acme-man', 'Acme') "
            "ON CONFLICT DO NOTHING"
        )
        insert = (
            "INSERT INTO file_manifest (sha256, partner_id, feed, source_name, size_bytes, "
            "received_at, status) VALUES ($1, 'acme-man', 'customers', $2, 1, now(), 'landed')"
        )
        await conn.execute(insert, digest, "a.csv")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, digest, "same-bytes-other-name.csv")
    finally:
        await conn.close()
