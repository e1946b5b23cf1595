"""A small, strict migration runner for the numbered SQL files in ``migrations/``.

Each file ``NNNN_name.sql`` runs once, in its own transaction, as the schema owner; what ran is
recorded in ``schema_migrations`` with the file's SHA-256. A file that was changed after it was
applied is refused, because the database no longer matches what the repository says it is.
A PostgreSQL advisory lock keeps two runners (two pods starting at once) from racing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x1A7E_6A7E  # arbitrary, stable advisory-lock key for this runner


class MigrationError(Exception):
    """The migration files or the recorded history are not consistent."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_snake_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations; returns the ones applied now."""
    migrations = discover(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version int PRIMARY KEY,
                   name text NOT NULL,
                   sha256 text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {
            row["version"]: row
            for row in await conn.fetch("SELECT version, name, sha256 FROM schema_migrations")
        }
        known = {m.version for m in migrations}
        for version in applied:
            if version not in known:
                raise MigrationError(f"migration {version:04d} was applied but its file is gone")
        ran: list[Migration] = []
        for migration in migrations:
            row = applied.get(migration.version)
            if row is not None:
                if row["sha256"] != migration.sha256:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name}.sql was changed "
                        "after it was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.sha256,
                )
            ran.append(migration)
        return ran
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
        await conn.close()
