"""Relays that move rows and messages on: the webhook inbox to Temporal, the event outbox to
Service Bus, Service Bus commands to Temporal. Run by the API, the CLI and the workers."""
