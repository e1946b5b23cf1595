"""OpenTelemetry tracing and Temporal's runtime metrics on a Prometheus port."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

_configured = False


def configure_tracing(service_name: str, exporter: SpanExporter | None = None) -> None:
    """Install a tracer provider once per process. ``exporter`` is an OTLP exporter in
    production (deploy/ ships the collector config); without one, spans are created and
    propagated across client, workflow and activity but not shipped anywhere."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is None:
        exporter = otlp_exporter(_configured_otlp_endpoint())
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True


def otlp_exporter(endpoint: str | None) -> SpanExporter | None:
    """An OTLP/HTTP (protobuf) span exporter to a collector at ``endpoint``
    (``http://collector:4318``; spans go to ``<endpoint>/v1/traces``), or None without one."""
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces", timeout=10)


def _configured_otlp_endpoint() -> str | None:
    # Read here so every process that configures tracing ships spans once the setting is set.
    from integrations.settings import SettingsError, load_settings

    try:
        return load_settings().otlp_endpoint
    except SettingsError:
        return None  # the process's own settings check reports it


def runtime_with_metrics(port: int | None) -> Runtime | None:
    """A Temporal runtime exporting SDK metrics (task latencies, slots, polls) on ``port``."""
    if port is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{port}"))
    )
