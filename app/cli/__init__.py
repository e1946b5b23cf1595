"""The `integrations` command line: one module per domain, `main` assembles them."""
