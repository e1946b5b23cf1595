"""The local stack's settings and secrets in ``.dev/env`` (mode 600, never printed).

They are generated once and reused, so Temporal histories stay decodable across runs; settings
added since an older ``.dev/env`` was written are generated and appended to it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from pathlib import Path

from adapters.payload_codec import KeyRing
from devstack.localstack.gpg import GpgHome
from devstack.services import (
    API_PORT,
    CODEC_PORT,
    DEMO_BANK,
    PAYROLL_SIM_PORT,
    PG_PORT,
    TEMPORAL_PORT,
    UI_PORT,
    WORKER_APP_METRICS_PORT,
    WORKER_METRICS_PORT,
)


def env_file(root: Path) -> Path:
    return root / "env"


def bank_gnupg(root: Path) -> Path:
    """The demo bank's own GnuPG home: its secret key, to read what we send it."""
    return root / f"gnupg-{DEMO_BANK}"


def read_env(root: Path) -> dict[str, str]:
    """The settings of ``.dev/env`` as they are (empty before the first ``dev up``)."""
    if not env_file(root).exists():
        return {}
    pairs = (line.split("=", 1) for line in env_file(root).read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def ensure_env(root: Path) -> dict[str, str]:
    """Generate local secrets once; later runs reuse them so histories stay decodable.

    An ``.dev/env`` from an older version lacks the settings added since: those are
    generated and appended, the existing ones are kept as they are."""
    root.mkdir(parents=True, exist_ok=True)
    env = read_env(root)
    added = False
    for name, make in _env_defaults(root, env):
        if name not in env:
            env[name] = make()
            added = True
    if added:
        env_file(root).write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        env_file(root).chmod(0o600)
    return env


def _env_defaults(root: Path, env: dict[str, str]) -> list[tuple[str, Callable[[], str]]]:
    """Every local setting with how to make it; a maker runs only when its setting is
    missing, in this order (later ones read earlier ones from ``env``)."""
    token = secrets.token_urlsafe

    def codec_keys() -> str:
        keys_file = root / "codec-keys.json"
        keys_file.write_text(KeyRing.generate("dev-1").to_json())
        keys_file.chmod(0o600)
        return str(keys_file.resolve())

    def dsn(role: str, password: str) -> Callable[[], str]:
        return lambda: f"postgresql://{role}:{env[password]}@127.0.0.1:{PG_PORT}/integrations"

    def path(name: str) -> Callable[[], str]:
        return lambda: str((root / name).resolve())

    def const(value: str) -> Callable[[], str]:
        return lambda: value

    return [
        ("DEV_PG_OWNER_PASSWORD", lambda: token(18)),
        ("DEV_PG_APP_PASSWORD", lambda: token(18)),
        ("INTEGRATIONS_TEMPORAL_ADDRESS", const(f"127.0.0.1:{TEMPORAL_PORT}")),
        ("INTEGRATIONS_CODEC_KEYS_FILE", codec_keys),
        ("INTEGRATIONS_CODEC_SERVER_TOKEN", lambda: token(24)),
        ("INTEGRATIONS_CODEC_SERVER_PORT", const(str(CODEC_PORT))),
        (
            "INTEGRATIONS_CODEC_CORS_ORIGINS",
            const(f"http://localhost:{UI_PORT},http://127.0.0.1:{UI_PORT}"),
        ),
        ("INTEGRATIONS_API_TOKEN", lambda: token(24)),
        ("INTEGRATIONS_API_PORT", const(str(API_PORT))),
        ("INTEGRATIONS_DATABASE_URL", dsn("integrations_app", "DEV_PG_APP_PASSWORD")),
        (
            "INTEGRATIONS_DATABASE_OWNER_URL",
            dsn("integrations_owner", "DEV_PG_OWNER_PASSWORD"),
        ),
        ("INTEGRATIONS_LANDING_ZONE_DIR", path("landing")),
        ("INTEGRATIONS_METRICS_PORT", const(str(WORKER_METRICS_PORT))),
        ("INTEGRATIONS_APP_METRICS_PORT", const(str(WORKER_APP_METRICS_PORT))),
        ("INTEGRATIONS_SFTP_KEYS_DIR", path("sftp-keys")),
        ("INTEGRATIONS_GNUPG_HOME", path("gnupg")),
        (
            "INTEGRATIONS_PII_LOOKUP_KEY",
            lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        ),
        # PSP webhooks: the demo signs Stripe events with this endpoint secret.
        ("INTEGRATIONS_WEBHOOK_SECRETS_STRIPE", lambda: "whsec_" + secrets.token_hex(24)),
        # The payroll provider simulator (`integrations payroll provider-sim`): the same
        # credentials and webhook secret are handed to it as PROVIDER_SIM_*.
        ("INTEGRATIONS_PAYROLL_PROVIDER_URL", const(f"http://127.0.0.1:{PAYROLL_SIM_PORT}")),
        ("INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_ID", const("integrations-dev")),
        ("INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_SECRET", lambda: token(24)),
        ("INTEGRATIONS_PAYROLL_WEBHOOK_SECRET", lambda: token(24)),
        # Our PGP key (signs direct-deposit files) and the demo bank's (we encrypt to it).
        ("INTEGRATIONS_PAYROLL_PGP_SIGNER", lambda: _generate_our_pgp_key(root)),
        (
            "DEV_BANK_PGP_FINGERPRINT",
            lambda: _generate_bank_pgp_key(root, env["INTEGRATIONS_PAYROLL_PGP_SIGNER"]),
        ),
    ]


def _generate_our_pgp_key(root: Path) -> str:
    with GpgHome(root / "gnupg") as home:
        return home.generate_key("Integrations (dev)", "integrations@dev.test").fingerprint


def _generate_bank_pgp_key(root: Path, our_fingerprint: str) -> str:
    """The bank's key pair in its own home; each side imports the other's public key (we
    encrypt to the bank, the bank verifies our signature)."""
    with GpgHome(bank_gnupg(root)) as bank, GpgHome(root / "gnupg") as ours:
        key = bank.generate_key("First Bank (demo)", f"payments@{DEMO_BANK}.test")
        ours.import_key(bank.export_public(key.fingerprint))
        bank.import_key(ours.export_public(our_fingerprint))
        return key.fingerprint
