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
    from runtime.settings import SettingsError, load_settings

    try:
        return load_settings().otlp_endpoint
    except SettingsError:
        return None  # the process's own settings check reports it


# The worker's SDK metrics carry this prefix instead of the SDK's default ``temporal_``: the
# Temporal server exports the same names for its own internal workers, and a rule or panel on
# ``temporal_request_failure`` would mix the two (the server's idempotent starts answer
# ALREADY_EXISTS). The project's own meter metrics (``intake_*``) carry no prefix.
SDK_METRIC_PREFIX = "integrations_temporal_"

# Milliseconds. The SDK's default buckets end at 10 s (60 s for some), below the thresholds the
# alert rules compare a quantile with (deploy/observability/alerts.yml): a quantile never goes
# above its largest finite bucket, so every histogram a rule reads gets buckets past its threshold.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000,
    600_000, 900_000, 1_800_000, 3_600_000, 14_400_000,
)  # fmt: skip
HISTOGRAM_BUCKETS: dict[str, tuple[float, ...]] = {
    "intake_processing_latency": LATENCY_BUCKETS_MS,
    **{
        SDK_METRIC_PREFIX + name: LATENCY_BUCKETS_MS
        for name in (
            "activity_schedule_to_start_latency",
            "workflow_task_schedule_to_start_latency",
            "activity_execution_latency",
            "workflow_endtoend_latency",
        )
    },
}


def runtime_with_metrics(port: int | None) -> Runtime | None:
    """A Temporal runtime exporting SDK metrics (task latencies, slots, polls) and the feed
    metrics recorded through its meter on ``port``."""
    if port is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"0.0.0.0:{port}",
                histogram_bucket_overrides={k: list(v) for k, v in HISTOGRAM_BUCKETS.items()},
            ),
            metric_prefix=SDK_METRIC_PREFIX,
        )
    )
