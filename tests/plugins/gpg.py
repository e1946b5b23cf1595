"""Fixtures: real gpg keys, in two homes as they would be in life.

``ours`` holds our secret key ("us") and the partner's and impostor's public keys, as the service
would. ``senders`` holds the partner's and the impostor's secret keys and our public key, to make
the files partners send. The partner key signs with a subkey, so verification has to map it back
to the pinned primary fingerprint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from adapters.pgp import Keyring
from devstack.localstack.gpg import GeneratedKey, GpgHome


@dataclass(frozen=True)
class GpgKeys:
    ours: Keyring
    senders: Keyring
    ours_home: GpgHome
    senders_home: GpgHome
    us: GeneratedKey
    partner: GeneratedKey
    impostor: GeneratedKey


@pytest.fixture(scope="session")
def gpg_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpgKeys]:
    base = tmp_path_factory.mktemp("gpg")
    ours_home = GpgHome(base / "ours")
    senders_home = GpgHome(base / "senders")
    try:
        us = ours_home.generate_key("Integrations", "us@integrations.test")
        partner = senders_home.generate_key(
            "Acme Partner", "partner@acme.test", signing_subkey=True
        )
        impostor = senders_home.generate_key("Impostor", "impostor@evil.test")
        ours = Keyring(ours_home.path)
        senders = Keyring(senders_home.path)
        ours.import_public_key(senders_home.export_public(partner.fingerprint))
        ours.import_public_key(senders_home.export_public(impostor.fingerprint))
        senders.import_public_key(ours_home.export_public(us.fingerprint))
        yield GpgKeys(ours, senders, ours_home, senders_home, us, partner, impostor)
    finally:
        ours_home.close()
        senders_home.close()
