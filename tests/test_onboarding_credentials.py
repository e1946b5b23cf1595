"""Credentials of partner onboarding on real components (Temporal dev server, PostgreSQL,
OpenSSH sshd, gpg): a PGP key that is not the declared one is refused before it reaches our
keyring, and a partner's own SSH key (``ssh_key.mode = "provided"``) is adopted and used."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import gnupg
import pytest
from temporalio.client import Client, WorkflowFailureError

from devstack.localstack.gpg import GpgHome
from devstack.localstack.sshd import LocalSshd
from onboarding.stages import Stage
from runtime.settings import Settings
from stores import partners
from tests.onboarding_support import (
    definition_data,
    own_settings,
    partner_test_folder,
    running_workers,
    wait_for,
)
from tests.plugins.gpg import GpgKeys
from wire.partners import Checklist, OnboardingStart, OnboardingState, StopRequest


def _chain(exc: BaseException | None) -> str:
    """Every message down an exception's cause chain (workflow → activity → application)."""
    parts = []
    while exc is not None:
        parts.append(str(exc))
        exc = exc.__cause__
    return " | ".join(parts)


async def test_a_pgp_key_with_another_fingerprint_is_refused_and_never_imported(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    sshd_server: LocalSshd,
    gpg_keys: GpgKeys,
    tmp_path: Path,
) -> None:
    own = own_settings(settings, tmp_path)
    assert own.gnupg_home is not None
    partner = f"pgp-{uuid.uuid4().hex[:6]}"
    # The partner declares their real fingerprint but sends some other key.
    with GpgHome(tmp_path / "stranger") as stranger_home:
        stranger = stranger_home.generate_key("Stranger", "stranger@elsewhere.test")
        armored = stranger_home.export_public(stranger.fingerprint)
    data = definition_data(sshd_server, partner, gpg=gpg_keys)
    data["pgp"]["public_key"] = armored
    definition = partners.parse_definition(data)
    async with running_workers(client, own, pool):
        handle = await client.start_workflow(
            "PartnerOnboarding",
            OnboardingStart(definition=definition, file_task_queue=own.task_queue_sftp),
            id=f"partner-{partner}",
            task_queue=own.task_queue_general,
            result_type=OnboardingState,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    message = _chain(failed.value)
    assert f"the PGP key sent has fingerprint {stranger.fingerprint}" in message
    assert f"not the declared {gpg_keys.partner.fingerprint}" in message
    assert "refusing to import or pin it" in message
    # Nothing imported, nothing pinned: intake could never accept a file signed by that key.
    ours = gnupg.GPG(gnupghome=str(own.gnupg_home))
    assert list(ours.list_keys(keys=[stranger.fingerprint])) == []
    row = await pool.fetchrow("SELECT * FROM partners WHERE partner_id = $1", partner)
    assert row is not None and row["pgp_fingerprint"] is None
    assert row["stage"] == "credentials"
    keys = await pool.fetchval("SELECT count(*) FROM partner_keys WHERE partner_id = $1", partner)
    assert keys == 0


async def test_a_provided_ssh_key_is_adopted_installed_and_left_to_its_owner(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    sshd_server: LocalSshd,
    tmp_path: Path,
) -> None:
    own = own_settings(settings, tmp_path)
    assert own.sftp_keys_dir is not None
    partner = f"own-{uuid.uuid4().hex[:6]}"
    # The partner issued this key; ops put it in the keys volume, and the partner already
    # authorised its public half on their server.
    key_file = f"{partner}-issued-by-partner"
    public = partners.generate_ssh_key(own.sftp_keys_dir, key_file)
    sshd_server.authorize(public.line)
    partner_test_folder(sshd_server)
    definition = partners.parse_definition(
        definition_data(sshd_server, partner, ssh_key={"mode": "provided", "key_file": key_file})
    )
    async with running_workers(client, own, pool):
        handle = await client.start_workflow(
            "PartnerOnboarding",
            OnboardingStart(definition=definition, file_task_queue=own.task_queue_sftp),
            id=f"partner-{partner}",
            task_queue=own.task_queue_general,
            result_type=OnboardingState,
        )

        async def at_test_exchange() -> Checklist | None:
            current: Checklist = await handle.query("checklist", result_type=Checklist)
            return current if current.stage == Stage.TEST_EXCHANGE else None

        ready = await wait_for(at_test_exchange, what="test exchange")
        # Their key, not a generated one, and it already logs in.
        assert ready.public_key == public.line
        done = {item.step: item for item in ready.items}
        assert done["ssh_key"].detail == public.fingerprint
        assert done["partner_installed_our_key"].done
        assert not (own.sftp_keys_dir / f"{partner}-k1").exists()
        state: OnboardingState = await handle.query("state", result_type=OnboardingState)
        assert state.ssh_key is not None and state.ssh_key.key_name == key_file
        keys = await partners.keys_of(pool, partner)
        assert [(k["key_name"], k["fingerprint"], k["status"]) for k in keys] == [
            (key_file, public.fingerprint, "active")
        ]

        await handle.execute_update(
            "offboard", StopRequest(actor="ops:bob", reason="test over"), result_type=Checklist
        )
        final = await handle.result()
    assert final.stage == Stage.OFFBOARDED
    # Revoked for us, but the file is the partner's key: it is not ours to delete.
    assert (own.sftp_keys_dir / key_file).exists()
    keys = await partners.keys_of(pool, partner)
    assert [k["status"] for k in keys] == ["revoked"]
    (own.sftp_keys_dir / key_file).unlink()
