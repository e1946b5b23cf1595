"""Test harness: real Temporal, PostgreSQL, sshd and gpg, started per test session.

Fixture modules live in ``tests/plugins/`` and are registered here.
"""

pytest_plugins: list[str] = [
    "tests.plugins.sftp",
    "tests.plugins.gpg",
    "tests.plugins.services",
    "tests.plugins.amqp",
]
