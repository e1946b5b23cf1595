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
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True


def runtime_with_metrics(port: int | None) -> Runtime | None:
    """A Temporal runtime exporting SDK metrics (task latencies, slots, polls) on ``port``."""
    if port is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{port}"))
    )
