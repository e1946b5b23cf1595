"""Payroll's pure core: roster and period inputs, the amounts we expect, reconciliation of the
provider's report, the GL journal and the direct-deposit entries. No I/O here."""
