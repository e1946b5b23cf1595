"""Building blocks for onboarding tests: a partner definition on the test sshd, workers with
their own task queues and a private copy of the file contracts, and the partner's side of the
exchange (test files, installing our public keys)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client

from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.partners import parse_definition
from tests.plugins.gpg import GpgKeys
from wire.partners import PartnerDefinition
from workers.runner import run_workers

REPO = Path(__file__).resolve().parents[1]


def definition_data(
    server: LocalSshd, partner_id: str, gpg: GpgKeys | None = None, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "partner_id": partner_id,
        "display_name": "Acme Corp",
        "sftp": {
            "host": server.host,
            "port": server.port,
            "username": server.login_user,
            "host_key": server.host_key.public_line,
            "test_folder": "inbox/test",
        },
        "feeds": [
            {
                "feed": "customers",
                "file_contract": "acme_customers.v1",
                "naming": {"system": "acme", "entity": "customers", "extensions": ["csv"]},
                "schedule": {"interval_minutes": 60, "sla_deadline": "09:00:00"},
                "settle_seconds": 0.2,
            }
        ],
        "contacts": [{"name": "Pat Partner", "role": "technical", "email": "pat@acme.test"}],
        "runbook": {
            "who_to_call": "Acme integration desk",
            "cutoffs": "files by 06:00 America/New_York",
            "escalation": ["desk", "integration manager"],
        },
        "test_poll_seconds": 3600,
    }
    if gpg is not None:
        data["pgp"] = {
            "fingerprint": gpg.partner.fingerprint,
            "public_key": gpg.senders_home.export_public(gpg.partner.fingerprint),
        }
    data.update(extra)
    return data


def definition_for(server: LocalSshd, partner_id: str, **extra: Any) -> PartnerDefinition:
    return parse_definition(definition_data(server, partner_id, **extra))


def own_settings(settings: Settings, tmp: Path) -> Settings:
    """The session's settings with private task queues and a private copy of file_contracts/
    (a contract change writes a new contract file; the repository's folder stays untouched)."""
    contracts = tmp / "file_contracts"
    shutil.copytree(REPO / "file_contracts", contracts)
    return settings.model_copy(
        update={
            "task_queue_general": f"onb-general-{uuid.uuid4().hex[:8]}",
            "task_queue_sftp": f"onb-sftp-{uuid.uuid4().hex[:8]}",
            "file_contracts_dir": contracts,
        }
    )


@asynccontextmanager
async def running_workers(
    client: Client, settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(client, settings, ("general", "sftp"), pool, stop=stop, install_signals=False)
    )
    try:
        yield
    finally:
        stop.set()
        await task


def partner_test_folder(server: LocalSshd) -> Path:
    folder = server.folder("inbox") / "test"
    folder.mkdir(exist_ok=True)
    entry = pwd.getpwnam(server.login_user)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


def drop_test_file(server: LocalSshd, name: str, data: bytes) -> None:
    """The partner puts a test file in their test folder (dot-name, then rename)."""
    folder = partner_test_folder(server)
    tmp = folder / f".{name}.drop"
    tmp.write_bytes(data)
    entry = pwd.getpwnam(server.login_user)
    os.chown(tmp, entry.pw_uid, entry.pw_gid)
    os.replace(tmp, folder / name)


async def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
