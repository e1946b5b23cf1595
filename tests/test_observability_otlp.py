"""Traces leave the process over OTLP/HTTP when ``INTEGRATIONS_OTLP_ENDPOINT`` is set: a real
OTLP receiver (protobuf over HTTP, as the collector in deploy/observability/ serves it) gets one
trace from the client's start through the workflow to its activity."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import asyncpg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from runtime import telemetry
from runtime.settings import Settings
from wire.demo import DemoInput, DemoResult
from workers.runner import run_workers


class Receiver:
    """An OTLP/HTTP trace receiver: keeps every decoded export request."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.path == "/v1/traces"
                assert self.headers["Content-Type"] == "application/x-protobuf"
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[str, bytes, dict[str, str]]]:
        """(name, trace id, resource attributes) of every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    found += [(s.name, s.trace_id, resource) for s in scope.spans]
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    thread.join()


def test_configure_tracing_ships_spans_when_the_setting_is_set(receiver: Receiver) -> None:
    code = (
        "from opentelemetry import trace\n"
        "from runtime import telemetry\n"
        "telemetry.configure_tracing('integrations-worker')\n"
        "with trace.get_tracer('t').start_as_current_span('probe'):\n"
        "    pass\n"
        "assert trace.get_tracer_provider().force_flush(10_000)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTEGRATIONS_", "OTEL_"))}
    env["INTEGRATIONS_OTLP_ENDPOINT"] = receiver.endpoint
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert [(name, res["service.name"]) for name, _, res in receiver.spans()] == [
        ("probe", "integrations-worker")
    ]


def test_without_the_setting_no_exporter_is_built() -> None:
    assert telemetry.otlp_exporter(None) is None
    assert telemetry.otlp_exporter("") is None


async def test_one_trace_from_start_to_activity_reaches_the_collector(
    receiver: Receiver, client: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    exporter = telemetry.otlp_exporter(receiver.endpoint)
    assert exporter is not None
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    traced = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=client.data_converter,
        interceptors=[TracingInterceptor(tracer)],
    )
    own = settings.model_copy(update={"task_queue_general": f"otlp-{uuid.uuid4().hex[:8]}"})
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_workers(traced, own, ("general",), pool, stop=stop, install_signals=False)
    )
    try:
        await traced.execute_workflow(
            "Demo",
            DemoInput(customer_name="Otlp", ssn="123-45-6789", amount=Decimal(1)),
            id=f"demo-otlp-{uuid.uuid4()}",
            task_queue=own.task_queue_general,
            result_type=DemoResult,
        )
    finally:
        stop.set()
        await worker
    assert provider.force_flush(10_000)
    provider.shutdown()
    spans = receiver.spans()
    names = {name for name, _, _ in spans}
    assert {"StartWorkflow:Demo", "RunWorkflow:Demo", "RunActivity:demo.greet"} <= names
    start = next(trace_id for name, trace_id, _ in spans if name == "StartWorkflow:Demo")
    assert {trace_id for name, trace_id, _ in spans if name.endswith(":Demo")} == {start}
    assert all(b"123-45-6789" not in r.SerializeToString() for r in receiver.requests)
