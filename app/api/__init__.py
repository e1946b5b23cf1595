"""The HTTP API: workflow starts, PSP and payroll webhooks."""
