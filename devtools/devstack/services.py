"""What the local stack runs and where: the fixed ports, the counterparties the demo sshd plays,
and the command lines of the service's own processes."""

from __future__ import annotations

import sys

PG_PORT = 55432
TEMPORAL_PORT = 7233
UI_PORT = 8233
API_PORT = 8080
CODEC_PORT = 8081
WORKER_METRICS_PORT = 9464
WORKER_APP_METRICS_PORT = 9465  # prometheus_client: messaging consumers, outbox relay
TEMPORAL_METRICS_PORT = 9233
SFTP_PORT = 2222
PAYROLL_SIM_PORT = 8090
DEMO_PARTNER = "acme"
DEMO_FEED = "customers"
DEMO_BANK = "firstbank"
DEMO_PSP = "stripe"


def cli(*args: str) -> list[str]:
    """An ``integrations`` command run with this interpreter."""
    return [sys.executable, "-m", "app.cli.main", *args]


def payroll_sim_args() -> list[str]:
    return cli(
        "payroll",
        "provider-sim",
        "--port",
        str(PAYROLL_SIM_PORT),
        "--webhook-url",
        f"http://127.0.0.1:{API_PORT}/webhooks/payroll",
        "--processing-seconds",
        "0.5",
    )


def provider_sim_env(env: dict[str, str]) -> dict[str, str]:
    """The simulator's credentials and webhook secret: the ones our settings hold."""
    return {
        "PROVIDER_SIM_CLIENT_ID": env["INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_ID"],
        "PROVIDER_SIM_CLIENT_SECRET": env["INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_SECRET"],
        "PROVIDER_SIM_WEBHOOK_SECRET": env["INTEGRATIONS_PAYROLL_WEBHOOK_SECRET"],
    }
