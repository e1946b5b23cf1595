"""A payroll provider *simulator*: a small HTTP service that behaves like a payroll provider's
API (OAuth2 client credentials, idempotent writes, asynchronous runs, signed status webhooks,
rate limits, occasional 503s, cursor-paginated reports). There is no real provider to call in
this project; nothing here talks to one."""
