"""The local sshd itself: jail permissions, key-only auth, kill and restart on the same port."""

from __future__ import annotations

import os
import pwd
import socket
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from adapters.sftp import SftpEndpoint, connect
from devstack.localstack.sshd import LOGIN_USER, PARTNER_FOLDERS, ClientKey, LocalSshd


def test_jail_root_is_root_owned_and_folders_belong_to_the_login_user(
    sshd_server: LocalSshd,
) -> None:
    jail = sshd_server.jail.stat()
    assert jail.st_uid == 0
    assert jail.st_mode & 0o022 == 0
    user = pwd.getpwnam(LOGIN_USER)
    assert user.pw_uid != 0
    for name in PARTNER_FOLDERS:
        folder = sshd_server.folder(name).stat()
        assert stat.S_ISDIR(folder.st_mode)
        assert folder.st_uid == user.pw_uid


def test_effective_config_is_key_only_and_sftp_only(sshd_server: LocalSshd) -> None:
    out = subprocess.run(
        [
            "/usr/sbin/sshd",
            "-T",
            "-f",
            str(sshd_server.config_path),
            "-C",
            f"user={LOGIN_USER},host=localhost,addr=127.0.0.1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitrootlogin"] == "no"
    assert settings["authenticationmethods"] == "publickey"
    assert settings["forcecommand"].startswith("internal-sftp")
    assert settings["chrootdirectory"] == str(sshd_server.chroot_path)
    assert Path(settings["chrootdirectory"]).resolve() == sshd_server.jail


def test_password_auth_is_not_offered(sshd_server: LocalSshd) -> None:
    transport = paramiko.Transport(socket.create_connection((sshd_server.host, sshd_server.port)))
    try:
        transport.start_client(timeout=10)
        with pytest.raises(paramiko.BadAuthenticationType) as caught:
            transport.auth_password(LOGIN_USER, "anything")
        assert caught.value.allowed_types == ["publickey"]
    finally:
        transport.close()


def test_the_chroot_confines_a_raw_client(
    sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey
) -> None:
    # Bypass our client's own path checks: the server must confine ".." by itself.
    with connect(sftp_endpoint, sftp_client_key.pkey, timeout=10) as session:
        raw = session._client
        assert sorted(raw.listdir("/../../..")) == sorted(PARTNER_FOLDERS)
        with pytest.raises(FileNotFoundError):
            raw.stat("/../../etc/passwd")


@pytest.mark.slow
def test_kill_and_restart_keep_port_and_host_key(
    sshd_server: LocalSshd, sftp_endpoint: SftpEndpoint, sftp_client_key: ClientKey
) -> None:
    port, key, pid = sshd_server.port, sshd_server.host_key, sshd_server.pid
    assert pid is not None
    sshd_server.kill()
    assert not sshd_server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection((sshd_server.host, port), timeout=2).close()
    sshd_server.restart()
    assert sshd_server.port == port
    assert sshd_server.host_key == key
    assert sshd_server.pid not in (None, pid)
    with connect(sftp_endpoint, sftp_client_key.pkey, timeout=10) as session:
        assert session.list_dir("inbox") == []


def test_a_second_server_has_its_own_host_key_and_port(
    sshd_server: LocalSshd, tmp_path: Path
) -> None:
    with LocalSshd(tmp_path / "other", partner="globex") as other:
        assert other.port != sshd_server.port
        assert other.host_key.fingerprint != sshd_server.host_key.fingerprint
    assert not other.running


def test_authorize_rejects_anything_but_one_key_line(sshd_server: LocalSshd) -> None:
    with pytest.raises(ValueError):
        sshd_server.authorize("ssh-ed25519 AAAA\nssh-ed25519 BBBB")
    with pytest.raises(ValueError):
        sshd_server.authorize('command="/bin/sh" ssh-ed25519 AAAA')
