"""The service's own settings, structured logs and telemetry."""
