"""Local, real processes for tests and the developer stack: sshd, gpg homes, PostgreSQL, Temporal.

Each module starts or prepares one real component in a folder the caller owns, so the test suite
and ``integrations dev up`` exercise the same binaries a deployment talks to.
"""
