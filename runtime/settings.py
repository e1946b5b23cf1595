"""Settings from environment variables (prefix ``INTEGRATIONS_``) and mounted secret files.

Secrets have no defaults: a production process that is missing one refuses to start with a single
line naming the setting (see :func:`load_settings`). ``integrations dev up`` writes a ``.dev/env``
file with freshly generated local secrets, so nothing secret ever lives in code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from intake.read_limits import (
    DEFAULT_MAX_COLUMNS,
    DEFAULT_MAX_CONTENT_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    ReadLimits,
)
from readers.sandbox import SandboxLimits

ENV_PREFIX = "INTEGRATIONS_"
_MIB = 1 << 20


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything a process of this service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # Kubernetes/Docker secrets mounted as files, one value per file named like the field.
        secrets_dir=os.environ.get(f"{ENV_PREFIX}SECRETS_DIR") or None,
        extra="ignore",
    )

    # --- Temporal -------------------------------------------------------------------------
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    temporal_tls_ca_file: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    task_queue_general: str = "integrations-general"
    task_queue_sftp: str = "integrations-sftp"
    sftp_max_concurrent_activities: int = Field(default=4, ge=1, le=256)
    general_max_concurrent_activities: int = Field(default=50, ge=1, le=1000)
    connect_timeout_seconds: float = Field(default=30.0, gt=0)

    # --- Payload encryption ----------------------------------------------------------------
    # JSON key ring: {"active": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>", ...}}.
    codec_keys: SecretStr | None = None
    codec_keys_file: Path | None = None
    codec_server_token: SecretStr | None = None
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = Field(default=8081, ge=1, le=65535)
    codec_cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:8233"]

    # --- PostgreSQL ------------------------------------------------------------------------
    database_url: SecretStr | None = None  # the app's least-privilege (DML only) role
    database_owner_url: SecretStr | None = None  # the schema owner, for migrations only
    database_pool_max: int = Field(default=10, ge=1, le=200)

    # --- HTTP API --------------------------------------------------------------------------
    api_token: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)

    # --- PSP webhooks (app/api/webhooks.py) -------------------------------------------
    # Stripe endpoint secrets ("whsec_..."), comma-separated: old and new during a rotation.
    webhook_secrets_stripe: SecretStr | None = None
    # Standard Webhooks secrets ("whsec_<base64>"), comma-separated; "<provider>:whsec_..." binds
    # one to /webhooks/standard/<provider>, a bare one is accepted for every provider.
    webhook_secrets_standard: SecretStr | None = None
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    webhook_max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Run the inbox relay (inbox → Temporal) inside the API process as well.
    webhook_relay_in_api: bool = True

    # --- Azure messaging (integrations/messaging, docs/messaging.md) -----------------------
    # A connection string (Listen/Send policy), or Entra ID: the namespace's host name plus an
    # azure-identity credential (DefaultAzureCredential; azure_client_id picks a user-assigned
    # managed identity).
    servicebus_connection_string: SecretStr | None = None
    servicebus_namespace: str | None = None  # "<name>.servicebus.windows.net"
    servicebus_events_topic: str = "integration-events"
    servicebus_commands_queue: str | None = None  # the command consumer runs when set
    servicebus_max_delivery_attempts: int = Field(default=5, ge=1, le=1000)
    servicebus_max_in_flight: int = Field(default=16, ge=1, le=1000)
    # The outbox relay (outbox_events → the events topic) runs in the general worker whenever
    # Service Bus is configured; false leaves it to `integrations messaging relay`.
    servicebus_outbox_relay: bool = True
    eventhubs_connection_string: SecretStr | None = None
    eventhubs_namespace: str | None = None  # "<name>.servicebus.windows.net"
    eventhubs_name: str | None = None  # events are published here; consumed when consumer set
    eventhubs_consume: bool = False
    eventhubs_consumer_group: str = "$Default"
    eventhubs_batch_size: int = Field(default=100, ge=1, le=5000)
    eventhubs_max_in_flight_batches: int = Field(default=4, ge=1, le=256)
    azure_client_id: str | None = None

    # --- Observability ---------------------------------------------------------------------
    # Workers: the Temporal SDK's metrics (task latencies, slots, activity failures, feed
    # metrics).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Workers and relays (`webhooks relay`, `messaging relay`): the process's prometheus_client
    # metrics (messaging consumers, outbox and inbox relays); a second port in workers, because
    # the SDK's exporter owns metrics_port. The API serves its own at /metrics on its HTTP port.
    app_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    log_level: str = "INFO"
    # OpenTelemetry collector, OTLP over HTTP (e.g. http://otel-collector:4318): traces are
    # exported when set (runtime/telemetry.py; deploy/observability/otel-collector.yaml).
    otlp_endpoint: str | None = None

    # --- Files -----------------------------------------------------------------------------
    landing_zone_dir: Path = Path(".dev/landing")
    file_contracts_dir: Path = Path(__file__).resolve().parent.parent / "file_contracts"
    sftp_keys_dir: Path | None = None  # our SSH private keys, one file per feed (secrets)
    gnupg_home: Path | None = None  # holds our PGP secret key and partners' public keys
    gnupg_passphrase: SecretStr | None = None
    # HMAC key for lookups over sealed PII (is this account blocked?); base64 of >= 32 bytes.
    pii_lookup_key: SecretStr | None = None

    # --- Limits on partner files (hostile input: intake/read_limits.py, reader_sandbox.py) ---
    # A file over a limit is quarantined with a report, never retried.
    # The most bytes a compressed or encrypted file may expand to (gpg's plaintext output, the
    # content the validator reads after it). A file over it is refused, never retried.
    reader_max_decompressed_bytes: int = Field(default=DEFAULT_MAX_CONTENT_BYTES, ge=1024)
    reader_max_line_bytes: int = Field(default=DEFAULT_MAX_LINE_BYTES, ge=1024, le=16 * _MIB)
    reader_max_columns: int = Field(default=DEFAULT_MAX_COLUMNS, ge=1, le=100_000)
    # Parse-time budget of a sandboxed reader: base + per MB of the file (a large file
    # legitimately takes longer: pyx12 validates ~0.33 MB/s); memory cap (resident) of its child
    # process. Workers and `integrations inspect` use the same.
    reader_seconds_base: float = Field(default=30.0, gt=0)
    reader_seconds_per_mb: float = Field(default=5.0, gt=0)
    reader_memory_bytes: int = Field(default=1024 * _MIB, ge=256 * _MIB)
    # Built-in contracts (NACHA, X12, PSP reports, bank statements) have no contract file to
    # state a size; a feed's own max_file_bytes still wins.
    builtin_max_file_bytes: int = Field(default=100 * _MIB, ge=1)

    # --- Payroll provider (adapters/payroll_provider.py; docs/payroll.md) ---------------
    payroll_provider_url: str | None = None  # e.g. the simulator: http://127.0.0.1:8090
    payroll_provider_client_id: str | None = None
    payroll_provider_client_secret: SecretStr | None = None
    # HMAC secret of the provider's status webhooks (POST /webhooks/payroll).
    payroll_webhook_secret: SecretStr | None = None
    payroll_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # Our PGP key (fingerprint, in INTEGRATIONS_GNUPG_HOME) that signs direct-deposit files.
    payroll_pgp_signer: str | None = None
    payroll_breaker_failures: int = Field(default=5, ge=1, le=1000)
    payroll_breaker_reset_seconds: float = Field(default=30.0, gt=0)
    payroll_provider_attempts: int = Field(default=5, ge=1, le=20)

    # --- EDI X12 limits (edi/limits.py holds the defaults; unset = those) -------------------
    edi_max_file_bytes: int | None = Field(default=None, ge=1024)
    edi_max_segment_chars: int | None = Field(default=None, ge=256)
    edi_seconds_per_mb: float | None = Field(default=None, gt=0)

    @field_validator("codec_cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    def read_limits(self) -> ReadLimits:
        return ReadLimits(
            max_line_bytes=self.reader_max_line_bytes,
            max_columns=self.reader_max_columns,
            max_content_bytes=self.reader_max_decompressed_bytes,
        )

    def sandbox_limits(self) -> SandboxLimits:
        return SandboxLimits(
            base_seconds=self.reader_seconds_base,
            seconds_per_mb=self.reader_seconds_per_mb,
            memory_bytes=self.reader_memory_bytes,
        )

    # Accessors that turn an absent secret into one clear line. -----------------------------

    def require(self, name: str) -> str:
        """Return a setting's value, or raise :class:`SettingsError` naming its variable."""
        value = getattr(self, name)
        if value is None or value == "":
            raise SettingsError(f"missing setting {ENV_PREFIX}{name.upper()}")
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value)

    def codec_key_ring_json(self) -> str:
        if self.codec_keys is not None:
            return self.codec_keys.get_secret_value()
        if self.codec_keys_file is not None:
            try:
                return self.codec_keys_file.read_text()
            except OSError as exc:
                raise SettingsError(
                    f"setting {ENV_PREFIX}CODEC_KEYS_FILE: cannot read {self.codec_keys_file}: "
                    f"{exc.strerror}"
                ) from exc
        raise SettingsError(
            f"missing setting {ENV_PREFIX}CODEC_KEYS (or {ENV_PREFIX}CODEC_KEYS_FILE)"
        )


def load_settings() -> Settings:
    """Read settings; a malformed one becomes a :class:`SettingsError` with one line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + "_".join(str(part) for part in first["loc"][:1]).upper()
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None


def to_environment(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The same settings as ``INTEGRATIONS_*`` variables (for child processes: workers, CLI),
    on top of ``base`` (default: this process's environment without its own settings)."""
    env = {
        k: v
        for k, v in (base if base is not None else os.environ).items()
        if not k.startswith(ENV_PREFIX)
    }
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = ",".join(value)
        env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
    return env
