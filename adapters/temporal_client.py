"""The one way this service connects to Temporal: pydantic payloads, encrypted, traced.

Connecting retries with exponential backoff for a bounded time (``connect_timeout_seconds``), then
fails with a :class:`TemporalUnavailable` that says where it tried to connect.
"""

from __future__ import annotations

import dataclasses
import logging

from temporalio.client import Client, Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from adapters.payload_codec import EncryptionCodec, KeyRing
from runtime.settings import Settings, SettingsError

log = logging.getLogger(__name__)


class TemporalUnavailable(Exception):
    """Temporal could not be reached within the connect timeout."""


def data_converter(key_ring: KeyRing) -> DataConverter:
    """Pydantic-aware JSON payloads, every one of them encrypted."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(key_ring))


def key_ring_from(settings: Settings) -> KeyRing:
    return KeyRing.from_json(settings.codec_key_ring_json())


def _tls(settings: Settings) -> TLSConfig | bool:
    cert, key, ca = (
        settings.temporal_tls_cert_file,
        settings.temporal_tls_key_file,
        settings.temporal_tls_ca_file,
    )
    if not (cert or key or ca):
        return bool(settings.temporal_api_key)  # Temporal Cloud API keys always use TLS
    if bool(cert) != bool(key):
        raise SettingsError(
            "settings INTEGRATIONS_TEMPORAL_TLS_CERT_FILE and INTEGRATIONS_TEMPORAL_TLS_KEY_FILE "
            "must be given together"
        )
    try:
        return TLSConfig(
            client_cert=cert.read_bytes() if cert else None,
            client_private_key=key.read_bytes() if key else None,
            server_root_ca_cert=ca.read_bytes() if ca else None,
            domain=settings.temporal_tls_server_name,
        )
    except OSError as exc:
        raise SettingsError(f"cannot read a Temporal TLS file: {exc.filename}") from None


async def connect(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    interceptors: list[Interceptor] | None = None,
) -> Client:
    """Connect with the project's data converter and tracing, retrying for a bounded time."""
    converter = data_converter(key_ring_from(settings))
    tls = _tls(settings)
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(settings.connect_timeout_seconds),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(RuntimeError),
            reraise=False,
        ):
            with attempt:
                return await Client.connect(
                    settings.temporal_address,
                    namespace=settings.temporal_namespace,
                    data_converter=converter,
                    tls=tls,
                    api_key=api_key,
                    runtime=runtime,
                    interceptors=[TracingInterceptor(), *(interceptors or [])],
                )
    except RetryError:
        pass
    raise TemporalUnavailable(
        f"Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace}) "
        f"unreachable after {settings.connect_timeout_seconds:g}s"
    )
