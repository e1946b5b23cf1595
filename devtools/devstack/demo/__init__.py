"""The demo ``integrations dev up`` runs once the stack is up: real workflows driven with real
files and webhooks, one module per domain, so the Web UI has something to show."""
