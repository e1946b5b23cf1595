"""OpenTelemetry: one trace runs from the client's start through the workflow to its activity."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import asyncpg
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from runtime.settings import Settings
from wire.demo import DemoInput, DemoResult
from workers.runner import run_workers


async def test_client_workflow_and_activity_share_one_trace(
    client: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    traced = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=client.data_converter,
        interceptors=[TracingInterceptor(tracer)],
    )
    own = settings.model_copy(update={"task_queue_general": f"traced-{uuid.uuid4().hex[:8]}"})
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_workers(traced, own, ("general",), pool, stop=stop, install_signals=False)
    )
    try:
        with tracer.start_as_current_span("ops-request"):
            result = await traced.execute_workflow(
                "Demo",
                DemoInput(customer_name="Trace", ssn="123-45-6789", amount=Decimal(1)),
                id=f"demo-trace-{uuid.uuid4()}",
                task_queue=own.task_queue_general,
                result_type=DemoResult,
            )
    finally:
        stop.set()
        await worker
    assert result.activity_attempt == 1
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"StartWorkflow:Demo", "RunWorkflow:Demo", "RunActivity:demo.greet"} <= names
    root = next(span for span in spans if span.name == "ops-request")
    assert {span.context.trace_id for span in spans} == {root.context.trace_id}
    # Spans carry ids and types, never payloads.
    assert all("123-45-6789" not in str(span.attributes) for span in spans)
    assert trace.get_tracer_provider() is not provider  # the test left the global one alone
