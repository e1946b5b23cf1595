"""Answered test files leave the partner's test folder, on the real OpenSSH sshd: a passed one
by posix rename into ``archive/test``, a failed one into ``quarantine/test``; a retry after the
move answers the same; a name already filed is never overwritten."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.onboarding import OnboardingFiles
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from tests.intake_support import customer_rows, customers_csv, name_for
from tests.onboarding_support import REPO, definition_for, drop_test_file, partner_test_folder
from wire.partners import TestCheck as Look
from wire.partners import TestCheckRequest as LookRequest

CONTRACT = (REPO / "file_contracts" / "acme_customers.v1.toml").read_text()


def _request(server: LocalSshd, partner: str, attempt: int, answered: list[str]) -> LookRequest:
    # The session's client key (file "client") is authorised on the session sshd.
    feed = definition_for(server, partner).feed_config("customers", "client")
    return LookRequest(
        feed=feed,
        test_folder="inbox/test",
        contract_text=CONTRACT,
        answered=answered,
        attempt=attempt,
        at=datetime(2026, 1, 5, 9, attempt, tzinfo=UTC),
    )


def test_answered_test_files_are_filed_by_rename_and_a_retry_answers_the_same(
    settings: Settings, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    own = settings.model_copy(update={"landing_zone_dir": tmp_path / "landing"})
    files = OnboardingFiles(own)
    env = ActivityEnvironment()
    partner = f"tf-{uuid.uuid4().hex[:6]}"
    test_folder = partner_test_folder(sshd_server)
    archive = sshd_server.folder("archive") / "test"
    quarantine = sshd_server.folder("quarantine") / "test"

    good = customers_csv(customer_rows(3))
    good_name = name_for(good, 1)
    bad = customers_csv([*customer_rows(2), "x,Bad,bad@example.com,2024-01-01,,US,1.00,true,"])
    bad_name = name_for(bad, 2)
    drop_test_file(sshd_server, good_name, good)
    drop_test_file(sshd_server, bad_name, bad)

    # First look: the first file by name passes and moves to archive/test.
    first: Look = env.run(files.check_test_file, _request(sshd_server, partner, 1, []))
    assert first.attempt is not None and first.attempt.passed
    assert first.attempt.file_name == good_name
    assert first.attempt.filed_to == f"archive/test/{good_name}"
    assert (archive / good_name).read_bytes() == good
    assert not (test_folder / good_name).exists()
    # A retry of that same look (the worker died after the move) answers the same, from what
    # the first attempt kept, although the file is no longer in the test folder.
    again: Look = env.run(files.check_test_file, _request(sshd_server, partner, 1, []))
    assert again == first
    assert sorted(p.name for p in archive.iterdir()) == [good_name]

    # Next look: the broken file fails and moves to quarantine/test.
    answered = [first.attempt.signature]
    second: Look = env.run(files.check_test_file, _request(sshd_server, partner, 2, answered))
    assert second.attempt is not None and not second.attempt.passed
    assert second.attempt.file_name == bad_name
    assert second.attempt.filed_to == f"quarantine/test/{bad_name}"
    assert (quarantine / bad_name).read_bytes() == bad
    assert sorted(p.name for p in test_folder.iterdir()) == []

    # Nothing left to answer.
    answered.append(second.attempt.signature)
    idle: Look = env.run(files.check_test_file, _request(sshd_server, partner, 3, answered))
    assert idle.attempt is None and idle.reachable

    # The partner fixes the file and sends it under the same name: it fails again (same
    # content here), and the earlier one in quarantine/test is kept beside it.
    drop_test_file(
        sshd_server, bad_name, bad + b"x,Again,a@example.com,2024-01-01,,US,1.00,true,\r\n"
    )
    third: Look = env.run(files.check_test_file, _request(sshd_server, partner, 4, answered))
    assert third.attempt is not None and not third.attempt.passed
    filed = sorted(p.name for p in quarantine.iterdir())
    assert len(filed) == 2 and filed[0] == bad_name and filed[1].startswith(f"{bad_name}.")
    assert (quarantine / bad_name).read_bytes() == bad
    assert not any(test_folder.iterdir())
