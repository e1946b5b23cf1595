"""A real OpenSSH ``sshd`` on loopback that plays one partner's SFTP server.

One :class:`LocalSshd` is one partner: its own host key, config, authorized keys and chroot jail,
all inside a folder the caller gives. A real partner runs its own server, so one process per
partner is also the faithful model (and each partner gets a distinct host key to pin).

Who logs in
    A dedicated system user, :data:`LOGIN_USER` (``integrations-sftp``), created with ``useradd``
    when missing: no home, ``nologin`` shell, password field ``*`` (no password can match, but the
    account is not "locked": with ``UsePAM no`` sshd refuses accounts whose hash starts with
    ``!``). Not root, because a root session can write anywhere inside the jail, including its
    root-owned top, so permission mistakes that a partner's real server would refuse would pass
    here; ``PermitRootLogin`` stays ``no``.

Why the config looks the way it does
    * ``UsePAM no``: PAM's ``pam_loginuid`` fails inside containers and would refuse sessions.
    * ``AuthorizedKeysCommand /usr/bin/cat <file>`` run as root, not ``AuthorizedKeysFile``: sshd
      reads an authorized_keys file with the *login user's* uid and (StrictModes) walks its parent
      folders, so a caller folder under ``/tmp`` (mode 1777) or a 0700 pytest folder would refuse
      every key.
    * ``ChrootDirectory``: sshd requires every component of the path to be root-owned and not
      group/other-writable. When the caller's folder sits below such a component (``/tmp``), the
      jail is reached through a root-owned symlink in :data:`CHROOT_LINK_DIR`; sshd checks the
      components of the path it is given, and the link's target is the root-owned jail itself.

Everything sshd writes (pid file, log) stays in the caller's folder; the only things outside it
are the login user, ``/run/sshd`` (sshd's privilege-separation directory) and, if needed, the
symlink above.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.localstack.ports import free_port

SSHD = Path(os.environ.get("INTEGRATIONS_SSHD", "/usr/sbin/sshd"))
SSH_KEYGEN = "ssh-keygen"
LOGIN_USER = "integrations-sftp"
PRIVSEP_DIR = Path("/run/sshd")
CHROOT_LINK_DIR = Path("/run/integrations-localstack")
PARTNER_FOLDERS: tuple[str, ...] = ("inbox", "archive", "quarantine", "outbox")


class SshdError(RuntimeError):
    """sshd could not be prepared or started; the message carries its log tail."""


@dataclass(frozen=True)
class HostKey:
    """The server's public host key, for pinning by a client."""

    public_line: str  # "ssh-ed25519 AAAA..." (OpenSSH known_hosts / authorized_keys form)
    fingerprint: str  # "SHA256:..." as `ssh-keygen -lf` prints it


def ensure_login_user(name: str = LOGIN_USER) -> pwd.struct_passwd:
    """Create the SFTP login system user if missing, and make sure sshd will accept it."""
    for _attempt in range(50):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            # Concurrent sessions may race on /etc/passwd's lock; re-check and retry.
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--password",
                    "*",
                    name,
                ],
                capture_output=True,
                check=False,
            )
            time.sleep(0.1)
            continue
        _unlock_password_field(name)
        return entry
    raise SshdError(f"could not create the login user {name!r} (are we root?)")


def _unlock_password_field(name: str) -> None:
    # A "!" hash means "locked" to sshd when UsePAM is off; "*" matches no password either.
    try:
        lines = Path("/etc/shadow").read_text().splitlines()
    except OSError:
        return
    for line in lines:
        user, _, rest = line.partition(":")
        if user == name and rest.startswith("!"):
            subprocess.run(["usermod", "--password", "*", name], capture_output=True, check=True)
            return


def _ensure_privsep() -> None:
    PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(PRIVSEP_DIR, 0o755)  # noqa: S103 - sshd requires root-owned 0755
    try:
        pwd.getpwnam("sshd")
    except KeyError:
        # Debian's openssh-server creates it; an image that stripped it gets it back.
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                str(PRIVSEP_DIR),
                "--shell",
                "/usr/sbin/nologin",
                "sshd",
            ],
            capture_output=True,
            check=False,
        )


def _chroot_safe(path: Path) -> bool:
    """True when every component is root-owned and not group/other-writable (sshd's rule)."""
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        st = current.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            return False
    return True


def _descendants(pid: int) -> list[int]:
    """PIDs of every live descendant of ``pid`` (sshd's per-connection children setsid())."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 is the ppid; the command name in parentheses may contain spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class LocalSshd:
    """A real ``sshd -D`` for one partner, with its own config, host key and chroot jail.

    Layout under ``base_dir``::

        sshd_config  ssh_host_ed25519_key(.pub)  authorized_keys  sshd.log  sshd.pid
        jail/                      root-owned 0755: the partner's "/"
            inbox/ archive/ quarantine/ outbox/     owned by the login user

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        partner: str = "partner",
        port: int | None = None,
        login_user: str = LOGIN_USER,
        start_timeout: float = 15.0,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.partner = partner
        self.login_user = login_user
        self.start_timeout = start_timeout
        self._requested_port = port
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: int | None = None
        self._prepared = False

    # --- paths -----------------------------------------------------------------------------

    @property
    def jail(self) -> Path:
        """The partner's chroot jail on our filesystem (what the client sees as ``/``)."""
        return self.base_dir / "jail"

    def folder(self, name: str) -> Path:
        """A partner folder in the jail: ``inbox``, ``archive``, ``quarantine`` or ``outbox``."""
        if name not in PARTNER_FOLDERS:
            raise ValueError(f"unknown partner folder {name!r}")
        return self.jail / name

    @property
    def config_path(self) -> Path:
        return self.base_dir / "sshd_config"

    @property
    def host_key_path(self) -> Path:
        return self.base_dir / "ssh_host_ed25519_key"

    @property
    def authorized_keys_path(self) -> Path:
        return self.base_dir / "authorized_keys"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "sshd.log"

    @property
    def chroot_path(self) -> Path:
        """The path sshd is configured with (the jail, or a root-owned link to it)."""
        if _chroot_safe(self.jail):
            return self.jail
        digest = hashlib.sha256(str(self.jail).encode()).hexdigest()[:16]
        return CHROOT_LINK_DIR / f"jail-{digest}"

    # --- identity --------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._port is None:
            raise SshdError("sshd has no port yet: call start() first")
        return self._port

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def host_key(self) -> HostKey:
        """The public host key and its SHA256 fingerprint, for the client to pin."""
        self.prepare()
        public_line = " ".join((self.host_key_path.with_suffix(".pub").read_text().split())[:2])
        out = subprocess.run(
            [SSH_KEYGEN, "-l", "-E", "sha256", "-f", str(self.host_key_path.with_suffix(".pub"))],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return HostKey(public_line=public_line, fingerprint=out.split()[1])

    def authorize(self, public_key: str) -> None:
        """Allow a client public key (``"ssh-ed25519 AAAA... comment"``) to log in."""
        self.prepare()
        line = public_key.strip()
        if "\n" in line or not line.startswith(("ssh-", "ecdsa-", "sk-")):
            raise ValueError("expected one OpenSSH public key line")
        existing = self.authorized_keys_path.read_text().splitlines()
        if line not in existing:
            with self.authorized_keys_path.open("a") as handle:
                handle.write(line + "\n")

    def revoke_all(self) -> None:
        """Remove every authorized key (takes effect on the next login)."""
        self.prepare()
        self.authorized_keys_path.write_text("")

    # --- files -----------------------------------------------------------------------------

    def drop_file(self, folder: str, name: str, data: bytes) -> Path:
        """Place a file as the partner would: written to a dot-name, then renamed into place."""
        target = self.folder(folder) / name
        if target.parent != self.folder(folder):
            raise ValueError(f"file name {name!r} must not contain a path")
        tmp = target.with_name(f".{name}.drop")
        tmp.write_bytes(data)
        self._give_to_login_user(tmp)
        os.replace(tmp, target)
        return target

    def clean_folders(self) -> None:
        """Empty the partner folders (the jail itself and its permissions stay)."""
        for name in PARTNER_FOLDERS:
            folder = self.folder(name)
            for entry in folder.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    def _give_to_login_user(self, path: Path) -> None:
        entry = pwd.getpwnam(self.login_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o644)

    # --- lifecycle -------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the folder, host key, jail and login user (idempotent; no process started)."""
        if self._prepared:
            return
        if os.geteuid() != 0:
            raise SshdError("a chrooted sshd must be started as root")
        user = ensure_login_user(self.login_user)
        _ensure_privsep()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not self.host_key_path.exists():
            subprocess.run(
                [
                    SSH_KEYGEN,
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    f"{self.partner}-sftp-host",
                    "-f",
                    str(self.host_key_path),
                ],
                check=True,
                capture_output=True,
            )
        os.chmod(self.host_key_path, 0o600)
        self.authorized_keys_path.touch(mode=0o644, exist_ok=True)
        # The jail's top must be root-owned and not writable by anyone else (sshd checks).
        self.jail.mkdir(mode=0o755, exist_ok=True)
        os.chown(self.jail, 0, 0)
        os.chmod(self.jail, 0o755)  # noqa: S103 - the login user must traverse its jail
        for name in PARTNER_FOLDERS:
            folder = self.jail / name
            folder.mkdir(mode=0o755, exist_ok=True)
            os.chown(folder, user.pw_uid, user.pw_gid)
            os.chmod(folder, 0o755)  # noqa: S103 - its owner writes, root's tests read
        self._link_chroot()
        self._prepared = True

    def _link_chroot(self) -> None:
        link = self.chroot_path
        if link == self.jail:
            return
        CHROOT_LINK_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(CHROOT_LINK_DIR, 0o755)  # noqa: S103 - a chroot path component: no group/other write
        if link.is_symlink() and Path(os.readlink(link)) == self.jail:
            return
        link.unlink(missing_ok=True)
        link.symlink_to(self.jail)

    def _write_config(self) -> None:
        # Tokens in AuthorizedKeysCommand are split on spaces: keep the path quoting-free.
        if any(ch.isspace() for ch in str(self.authorized_keys_path)):
            raise SshdError(f"folder path must not contain spaces: {self.base_dir}")
        cat = shutil.which("cat") or "/usr/bin/cat"
        config = f"""\
# Generated by devstack.localstack.sshd: one partner's SFTP server on loopback.
ListenAddress {self.host}:{self.port}
HostKey {self.host_key_path}
PidFile {self.base_dir / "sshd.pid"}
LogLevel VERBOSE
UseDNS no
UsePAM no
StrictModes yes
LoginGraceTime 30
MaxStartups 100:30:200
MaxSessions 20
ClientAliveInterval 15
ClientAliveCountMax 4

# Key-only, one login user, no shells or forwarding.
PermitRootLogin no
AllowUsers {self.login_user}
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
AuthorizedKeysFile none
AuthorizedKeysCommand {Path(cat).resolve()} {self.authorized_keys_path}
AuthorizedKeysCommandUser root
DisableForwarding yes
PermitTTY no
PermitUserRC no

Subsystem sftp internal-sftp
ForceCommand internal-sftp -u 0022
ChrootDirectory {self.chroot_path}
"""
        self.config_path.write_text(config)
        os.chmod(self.config_path, 0o644)

    def start(self) -> None:
        """Start sshd and return once it answers with an SSH banner."""
        if self.running:
            return
        self.prepare()
        attempts = 1 if self._requested_port is not None else 5
        for attempt in range(attempts):
            if self._port is None or (attempt > 0 and self._requested_port is None):
                self._port = free_port()
            self._write_config()
            self._spawn()
            try:
                self._wait_ready()
                return
            except SshdError:
                # Lost the race for a free port to another process: try another one.
                if attempt + 1 == attempts or "Address already in use" not in self.log_tail():
                    raise

    def _spawn(self) -> None:
        check = subprocess.run(
            [str(SSHD), "-t", "-f", str(self.config_path)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise SshdError(f"sshd rejected its config: {check.stderr.strip()}")
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Its own session, so a Ctrl-C in the terminal that runs us doesn't reach it.
                start_new_session=True,
            )
        finally:
            log.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise SshdError(f"sshd exited during start-up:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                    if sock.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise SshdError(f"sshd did not answer on port {self._port}:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the listener and every open session (SIGTERM, then SIGKILL if needed)."""
        proc = self._proc
        if proc is None:
            return
        sessions = _descendants(proc.pid)
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the listener and its sessions by PID: a crash, for fault tests."""
        proc = self._proc
        if proc is None:
            return
        # Collect the session children first: once the parent dies they are re-parented.
        sessions = _descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        for pid in sessions + _descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        self._proc = None

    def restart(self, *, hard: bool = False) -> None:
        """Start again on the same port with the same host key (after :meth:`kill` or not)."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def close(self) -> None:
        """Stop sshd and remove the chroot link, if one was made (the folder stays)."""
        self.stop()
        link = self.chroot_path
        if link != self.jail and link.is_symlink():
            link.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LocalSshd:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class ClientKey:
    path: Path  # OpenSSH private key file (0600), usable by the `sftp` CLI too
    pkey: paramiko.PKey
    public_line: str


def make_client_key(folder: Path, name: str = "client") -> ClientKey:
    """A fresh ed25519 keypair written in OpenSSH format (paramiko cannot generate ed25519)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public_line = (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(pem)
    path.chmod(0o600)
    (folder / f"{name}.pub").write_text(public_line + "\n")
    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(pem))
    return ClientKey(path=path, pkey=pkey, public_line=public_line)
