"""Fixtures: one real OpenSSH sshd per session playing partner "acme", and a client keypair.

Tests get clean partner folders (inbox/archive/quarantine/outbox) and a running server each time,
even after an earlier test killed it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.sftp import SftpEndpoint, SftpSession, connect
from devstack.localstack.sshd import ClientKey, LocalSshd, make_client_key


@pytest.fixture(scope="session")
def sftp_client_key(tmp_path_factory: pytest.TempPathFactory) -> ClientKey:
    return make_client_key(tmp_path_factory.mktemp("sftp-client"))


@pytest.fixture(scope="session")
def sshd_session_server(
    tmp_path_factory: pytest.TempPathFactory, sftp_client_key: ClientKey
) -> Iterator[LocalSshd]:
    server = LocalSshd(tmp_path_factory.mktemp("sshd"), partner="acme")
    server.start()
    server.authorize(sftp_client_key.public_line)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sshd_server(sshd_session_server: LocalSshd) -> LocalSshd:
    """The session's sshd, running, with empty partner folders."""
    if not sshd_session_server.running:
        sshd_session_server.start()
    sshd_session_server.clean_folders()
    return sshd_session_server


@pytest.fixture
def sftp_endpoint(sshd_server: LocalSshd) -> SftpEndpoint:
    return SftpEndpoint(
        host=sshd_server.host,
        port=sshd_server.port,
        username=sshd_server.login_user,
        host_key=sshd_server.host_key.public_line,
    )


@pytest.fixture
def sftp_session(sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey) -> Iterator[SftpSession]:
    session = connect(sftp_endpoint, sftp_client_key.pkey, timeout=10.0, io_timeout=30.0)
    try:
        yield session
    finally:
        session.close()
