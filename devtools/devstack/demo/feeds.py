"""The demo feeds and their folders on the partner side.

The demo sshd plays every counterparty: the PSP's report server, the bank and the EDI partner
each get their own folders in its jail (inbox/<who>/..., archive/<who>, outbox/<who>), so no
feed ever lists another one's files.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from devstack.localstack.sshd import LocalSshd
from devstack.services import DEMO_BANK, DEMO_PARTNER
from intake.naming import NamingContract
from wire.intake import FeedConfig, FeedSchedule, Handoff, PgpPolicy, ReportPart, SftpSource

DEMO_CRON = "0 6 * * *"  # the demo feeds' Schedules: daily; the demo runs their intake itself


def partner_folder(server: LocalSshd, relative: str) -> Path:
    """A folder in the jail owned by the login user (as ``inbox/`` is), created if missing."""
    owner = pwd.getpwnam(server.login_user)
    folder = server.jail
    for part in relative.split("/"):
        folder = folder / part
        if not folder.exists():
            folder.mkdir(mode=0o755)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
    return folder


def drop(server: LocalSshd, relative: str, name: str, data: bytes) -> Path:
    """Place a file as a partner would: written under a dot-name, then renamed into place."""
    folder = partner_folder(server, relative)
    owner = pwd.getpwnam(server.login_user)
    tmp = folder / f".{name}.drop"
    tmp.write_bytes(data)
    os.chown(tmp, owner.pw_uid, owner.pw_gid)
    tmp.chmod(0o644)
    target = folder / name
    os.replace(tmp, target)
    return target


def next_sequence(server: LocalSshd, area: str, prefix: str) -> int:
    """One more than the files of that name prefix already archived or quarantined, so a
    second ``dev up`` continues the feed's sequence instead of repeating it."""
    done = 0
    for kind in ("archive", "quarantine"):
        folder = server.jail / kind / area
        if folder.is_dir():
            done += sum(1 for p in folder.iterdir() if p.name.startswith(prefix))
    return done + 1


def demo_feed(
    server: LocalSshd,
    partner: str,
    feed: str,
    *,
    area: str,
    inbox: str,
    outbox: str,
    file_contract: str,
    handoff: Handoff,
    extensions: tuple[str, ...],
    display_name: str,
    report_part: ReportPart | None = None,
    pgp: PgpPolicy | None = None,
) -> FeedConfig:
    return FeedConfig(
        partner_id=partner,
        feed=feed,
        display_name=display_name,
        sftp=SftpSource(
            host=server.host,
            port=server.port,
            username=server.login_user,
            host_key=server.host_key.public_line,
            private_key=DEMO_PARTNER,
            inbox=inbox,
            archive=f"archive/{area}",
            quarantine=f"quarantine/{area}",
            outbox=outbox,
        ),
        naming=NamingContract(
            pattern="{system}_{entity}_{date}_seq-{sequence}.{ext}",
            system=partner,
            entity=feed,
            extensions=extensions,
        ),
        file_contract=file_contract,
        handoff=handoff,
        report_part=report_part,
        pgp=pgp,
        schedule=FeedSchedule(cron=DEMO_CRON),
        settle_seconds=0.5,
    )


def bank_feed(server: LocalSshd, env: dict[str, str]) -> FeedConfig:
    """The bank's ACH feed: our payroll files go to its outbox (PGP to its key), its return
    files arrive in its inbox."""
    return demo_feed(
        server,
        DEMO_BANK,
        "ach",
        area=DEMO_BANK,
        inbox=f"inbox/{DEMO_BANK}/returns",
        outbox=f"outbox/{DEMO_BANK}",
        file_contract="nacha.v1",
        handoff="ach_returns",
        extensions=("ach.pgp", "ach"),
        display_name="First Bank ACH: payroll out, returns in (demo)",
        pgp=PgpPolicy(signer_fingerprint=env["DEV_BANK_PGP_FINGERPRINT"]),
    )
