"""Soak and chaos: the whole local stack under steady load while a chaos loop kills and restarts
a worker, an sshd, PostgreSQL and the Temporal dev server; then proof, from PostgreSQL, the
partners' SFTP folders and Temporal, that nothing was lost or done twice.

    python -m benchmarks.soak [--minutes 10] [--quick] [--json]   # or: scripts/soak

A script that prints a report (exit 1 when an invariant is violated), never a timed test.
Modules: ``stack`` (the services and the faults they can suffer), ``load`` (partners, PSP,
bank, payroll), ``chaos`` (when to hurt what), ``verify`` (the invariants), ``report``.
"""
