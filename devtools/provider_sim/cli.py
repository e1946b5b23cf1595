"""Command line for the simulator (also mounted as ``integrations payroll provider-sim``)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from provider_sim.config import SimConfig


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    webhook_url: Annotated[
        str | None, typer.Option(help="Where run status webhooks go, e.g. our API.")
    ] = None,
    fail_rate: Annotated[float, typer.Option(help="Share of requests answered 503.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the 503s (same seed, same faults).")] = 0,
    rate_per_second: Annotated[float, typer.Option(help="Token-bucket refill rate.")] = 1000.0,
    burst: Annotated[int, typer.Option(help="Token-bucket size.")] = 1000,
    processing_seconds: Annotated[float, typer.Option(help="How long a run computes.")] = 0.5,
) -> None:
    """Run the payroll provider simulator (a simulator: it is not a payroll provider).

    Credentials and the webhook secret come from PROVIDER_SIM_CLIENT_ID,
    PROVIDER_SIM_CLIENT_SECRET and PROVIDER_SIM_WEBHOOK_SECRET (defaults for local use)."""
    import uvicorn

    from provider_sim.app import create_app

    defaults = SimConfig()
    config = SimConfig(
        client_id=os.environ.get("PROVIDER_SIM_CLIENT_ID", defaults.client_id),
        client_secret=os.environ.get("PROVIDER_SIM_CLIENT_SECRET", defaults.client_secret),
        webhook_secret=os.environ.get("PROVIDER_SIM_WEBHOOK_SECRET", defaults.webhook_secret),
        webhook_url=webhook_url,
        fail_rate=fail_rate,
        seed=seed,
        rate_per_second=rate_per_second,
        burst=burst,
        processing_seconds=processing_seconds,
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


def main() -> None:
    typer.run(serve)
