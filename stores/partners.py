"""The partner registry: definitions read from files, our SSH keys for each partner, and the
partner rows in PostgreSQL (stage, runbook, definition, keys).

Private keys are files, mode 0600, in ``INTEGRATIONS_SFTP_KEYS_DIR`` — the secret volume the
file workers already read their SFTP keys from (``FeedConfig.sftp.private_key`` names a file
there). Keeping generated keys there, rather than sealed in a database column, means intake
needs no second path to its keys, a key never crosses the database connection, and revoking one
deletes its only copy. The database holds each key's name, public half, fingerprint and
lifecycle. Key material is never logged or put in workflow history.
"""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.sftp import fingerprint, load_private_key
from intake.errors import ContractError
from intake.file_contract import load_contract
from onboarding.stages import Stage
from runtime.settings import Settings
from stores.feeds import register_feed
from wire import workflow_ids as ids
from wire.intake import BUILT_IN_CONTRACTS, FeedConfig
from wire.partners import KeyRecord, PartnerDefinition, SshKeyRef
from wire.workflow_ids import schedule_id

# The older partners.status column keeps its coarser meaning for existing readers.
_STATUS = {
    Stage.REGISTERED: "registered",
    Stage.CREDENTIALS: "registered",
    Stage.TEST_EXCHANGE: "testing",
    Stage.APPROVALS: "testing",
    Stage.LIVE: "live",
    Stage.OFFBOARDED: "offboarded",
}


class PartnerDefinitionError(ValueError):
    """A partner definition is invalid; the message names the file and every field at fault."""


def workflow_id(partner_id: str) -> str:
    return ids.workflow_id("PartnerOnboarding", partner_id)


# --- definitions ------------------------------------------------------------------------------


def parse_definition(data: dict[str, Any], source: str = "<partner>") -> PartnerDefinition:
    try:
        return PartnerDefinition.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PartnerDefinitionError(f"{source}: {problems}") from None


def load_definition_file(path: Path) -> PartnerDefinition:
    """A partner definition from TOML (``.toml``) or JSON (anything else)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise PartnerDefinitionError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise PartnerDefinitionError(f"{path}: expected a table/object at the top")
    return parse_definition(data, str(path))


def contract_texts(definition: PartnerDefinition, contracts_dir: Path) -> dict[str, str]:
    """Each feed's file contract as text, after loading it: a missing or invalid contract is a
    ``PartnerDefinitionError`` naming the feed. Built-in contracts have no text."""
    texts: dict[str, str] = {}
    problems = []
    for feed in definition.feeds:
        if feed.file_contract in BUILT_IN_CONTRACTS:
            texts[feed.feed] = ""
            continue
        path = contracts_dir / f"{feed.file_contract}.toml"
        try:
            load_contract(path)
            texts[feed.feed] = path.read_text(encoding="utf-8")
        except ContractError as exc:
            problems.append(f"feeds.{feed.feed}.file_contract: {exc}")
        except OSError:
            problems.append(f"feeds.{feed.feed}.file_contract: no contract file {path.name}")
    if problems:
        raise PartnerDefinitionError(f"{definition.partner_id}: {'; '.join(problems)}")
    return texts


# --- our SSH keys -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicKey:
    line: str
    fingerprint: str


def public_key_of(path: Path) -> PublicKey:
    key = load_private_key(path)
    line = f"{key.get_name()} {key.get_base64()}"
    return PublicKey(line=line, fingerprint=fingerprint(line))


def generate_ssh_key(keys_dir: Path, key_name: str) -> PublicKey:
    """An ed25519 key pair as ``keys_dir/key_name`` (OpenSSH format, 0600). Idempotent: a key
    already there (an earlier attempt) is kept, so a retry never changes a key already sent."""
    path = keys_dir / key_name
    if path.exists():
        return public_key_of(path)
    keys_dir.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    tmp = keys_dir / f".{key_name}.{os.getpid()}.tmp"
    # Created 0600 from the first byte: the secret is never readable by others, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another attempt wrote meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return public_key_of(path)


def remove_key_file(keys_dir: Path, key_name: str) -> bool:
    """Delete our copy of a revoked key (its only copy). Returns False when already gone."""
    path = keys_dir / key_name
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False


# --- the registry in PostgreSQL ---------------------------------------------------------------


async def upsert_partner(pool: asyncpg.Pool, definition: PartnerDefinition) -> None:
    await pool.execute(
        """INSERT INTO partners (partner_id, display_name, contacts, runbook, definition)
           VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb)
           ON CONFLICT (partner_id) DO UPDATE
              SET display_name = excluded.display_name, contacts = excluded.contacts,
                  runbook = excluded.runbook, definition = excluded.definition,
                  updated_at = now()""",
        definition.partner_id,
        definition.display_name,
        json.dumps([c.model_dump() for c in definition.contacts]),
        definition.runbook.model_dump_json(),
        definition.model_dump_json(),
    )


async def set_stage(pool: asyncpg.Pool, partner_id: str, stage: Stage) -> None:
    await pool.execute(
        "UPDATE partners SET stage = $2, status = $3, updated_at = now() WHERE partner_id = $1",
        partner_id,
        stage.value,
        _STATUS[stage],
    )


async def record_key(pool: asyncpg.Pool, record: KeyRecord) -> None:
    """Record one of our keys (idempotent by partner and key name) and the pinned identities."""
    key = record.key
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO partner_keys
                   (partner_id, key_name, public_key, fingerprint, status, issued_at, active_at)
               VALUES ($1, $2, $3, $4, $5::text, $6::timestamptz,
                       CASE WHEN $5::text = 'active' THEN $6::timestamptz END)
               ON CONFLICT (partner_id, key_name) DO NOTHING""",
            record.partner_id,
            key.key_name,
            key.public_line,
            key.fingerprint,
            record.status,
            key.issued_at,
        )
        await conn.execute(
            """UPDATE partners
                  SET host_key_fingerprint = coalesce($2, host_key_fingerprint),
                      pgp_fingerprint = coalesce($3, pgp_fingerprint), updated_at = now()
                WHERE partner_id = $1""",
            record.partner_id,
            record.host_key_fingerprint,
            record.pgp_fingerprint,
        )


async def cut_over(
    pool: asyncpg.Pool,
    partner_id: str,
    feeds: list[FeedConfig],
    old_key: str,
    new_key: str,
    at: datetime,
) -> None:
    """In one transaction: the feeds use the new key, the old one is revoked, the new one is
    active. Idempotent: a repeat finds it done."""
    async with pool.acquire() as conn, conn.transaction():
        for feed in feeds:
            await conn.execute(
                """UPDATE feeds SET config = $3::jsonb, updated_at = now()
                    WHERE partner_id = $1 AND feed = $2""",
                partner_id,
                feed.feed,
                feed.model_dump_json(),
            )
        await conn.execute(
            """UPDATE partner_keys SET status = 'revoked', revoked_at = $3
                WHERE partner_id = $1 AND key_name = $2 AND status <> 'revoked'""",
            partner_id,
            old_key,
            at,
        )
        await conn.execute(
            """UPDATE partner_keys SET status = 'active', active_at = $3
                WHERE partner_id = $1 AND key_name = $2 AND status = 'issued'""",
            partner_id,
            new_key,
            at,
        )


async def install_feed(
    pool: asyncpg.Pool, client: Client, settings: Settings, feed: FeedConfig
) -> None:
    """Store the feed's config and create or update its intake Schedule."""
    await register_feed(pool, client, settings, feed)


async def offboard(
    pool: asyncpg.Pool, client: Client, partner_id: str, feeds: list[str], at: datetime
) -> list[str]:
    """Pause, then delete, each feed's Schedule; retire the feeds; revoke every key. Landed
    files, the manifest and the audit log are kept. Returns the Schedules deleted now."""
    deleted = []
    for feed in feeds:
        handle = client.get_schedule_handle(schedule_id(partner_id, feed))
        try:
            await handle.pause(note=f"partner {partner_id} offboarded")
            await handle.delete()
            deleted.append(feed)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE feeds SET status = 'retired', updated_at = now() WHERE partner_id = $1",
            partner_id,
        )
        await conn.execute(
            """UPDATE partner_keys SET status = 'revoked', revoked_at = $2
                WHERE partner_id = $1 AND status <> 'revoked'""",
            partner_id,
            at,
        )
    await set_stage(pool, partner_id, Stage.OFFBOARDED)
    return deleted


async def key_count(pool: asyncpg.Pool, partner_id: str) -> int:
    """How many keys the partner ever had (revoked ones included): the next key's number."""
    count = await pool.fetchval(
        "SELECT count(*) FROM partner_keys WHERE partner_id = $1", partner_id
    )
    return int(count)


async def keys_of(pool: asyncpg.Pool, partner_id: str) -> list[dict[str, Any]]:
    """The partner's keys, oldest first: names, fingerprints and lifecycle, no key material."""
    rows = await pool.fetch(
        """SELECT key_name, fingerprint, status, issued_at, active_at, revoked_at
             FROM partner_keys WHERE partner_id = $1 ORDER BY issued_at, key_name""",
        partner_id,
    )
    return [dict(r) for r in rows]


def key_ref(key_name: str, public: PublicKey, at: datetime) -> SshKeyRef:
    return SshKeyRef(
        key_name=key_name, public_line=public.line, fingerprint=public.fingerprint, issued_at=at
    )
