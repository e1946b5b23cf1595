"""PostgreSQL: the connection pool, the migration runner, and one module per aggregate (feeds,
partners, ACH originations and cases, EDI control numbers, payout reports)."""
