"""Contracts of partner onboarding: the partner definition ops submit, the workflow's state
(carried across continue-as-new), its updates, signals and queries, and its activities' inputs
and outputs. Key material never appears here: only key names, public keys and fingerprints."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from foundation.wire_model import WireModel, wire_model
from intake.naming import NamingContract
from onboarding.approvals import ApprovalKind
from onboarding.stages import Stage
from wire.intake import (
    SLUG,
    FeedConfig,
    FeedSchedule,
    Handoff,
    PgpPolicy,
    ReportPart,
    SftpSource,
)

FINGERPRINT = r"^[0-9A-F]{40}$"
KEY_NAME = r"^[A-Za-z0-9._-]{1,100}$"


class _Strict(BaseModel):
    # Partner definitions are written by people: a misspelt key must fail, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartnerSftp(_Strict):
    """The partner's SFTP server. Our key is provisioned by onboarding, so it is not named here."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=64)
    host_key: str = Field(
        min_length=20,
        description='The pin: the server\'s OpenSSH public key line ("ssh-ed25519 AAAA...") or '
        'its "SHA256:..." fingerprint, obtained from the partner out of band.',
    )
    inbox: str = "inbox"
    archive: str = "archive"
    quarantine: str = "quarantine"
    outbox: str = "outbox"
    test_folder: str = Field(
        default="inbox/test",
        description="Where the partner drops test files during the test exchange. Production "
        "intake lists only regular files of the inbox, never this folder.",
    )

    @field_validator("inbox", "archive", "quarantine", "outbox", "test_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", value) or ".." in value.split("/"):
            raise ValueError("must be a plain relative folder name")
        return value


class PartnerFeed(_Strict):
    """One feed of the partner: naming, format (its file contract), schedule, SLA, PGP."""

    feed: str = Field(pattern=SLUG)
    file_contract: str = Field(
        pattern=r"^[a-z0-9_]+\.v\d+$", description="A file in file_contracts/ without .toml."
    )
    naming: NamingContract
    schedule: FeedSchedule = Field(description="Intake schedule; sla_deadline is the SLA.")
    pgp_required: bool = Field(
        default=False, description="Files must be encrypted to us and signed by the partner's key."
    )
    handoff: Handoff | None = None
    report_part: ReportPart | None = None
    max_file_bytes: int | None = Field(default=None, ge=1)
    settle_seconds: float = Field(default=2.0, ge=0, le=300)
    dedupe_window_days: int | None = Field(default=None, ge=1, le=366)


class PartnerPgp(_Strict):
    """The partner's PGP public key, imported by fingerprint: the armored key must be exactly
    that key, or provisioning stops."""

    fingerprint: str = Field(description="Full 40-hex-digit primary key fingerprint.")
    public_key: str = Field(min_length=100, max_length=200_000)

    @field_validator("fingerprint")
    @classmethod
    def _fingerprint(cls, value: str) -> str:
        fpr = "".join(value.split()).upper()
        if not re.fullmatch(FINGERPRINT, fpr):
            raise ValueError("a full 40-hex-digit fingerprint (short key ids are forgeable)")
        return fpr

    @field_validator("public_key")
    @classmethod
    def _public(cls, value: str) -> str:
        if "PRIVATE KEY" in value:
            raise ValueError("this is a secret key: send only the public key")
        if "BEGIN PGP PUBLIC KEY BLOCK" not in value:
            raise ValueError("an ASCII-armored PGP public key block")
        return value


class SshKeySource(_Strict):
    """``generate``: we make an ed25519 key pair and give the partner its public half;
    ``provided``: a key file the partner issued, already placed in INTEGRATIONS_SFTP_KEYS_DIR."""

    mode: Literal["generate", "provided"] = "generate"
    key_file: str | None = Field(default=None, pattern=KEY_NAME)

    @model_validator(mode="after")
    def _file(self) -> SshKeySource:
        if (self.mode == "provided") != (self.key_file is not None):
            raise ValueError("key_file goes with mode = 'provided', and only with it")
        return self


class PartnerContact(_Strict):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100, description="e.g. technical, business")
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=50)


class Runbook(_Strict):
    """What ops need at 3 a.m.: who to call, the day's cut-offs, how to escalate."""

    who_to_call: str = Field(min_length=1, max_length=500)
    cutoffs: str = Field(default="", max_length=1000, description="e.g. files by 06:00 ET")
    escalation: list[str] = Field(default_factory=list, max_length=20)
    notes: str = Field(default="", max_length=4000)


@wire_model("partners.definition", "1.0")
class PartnerDefinition(WireModel):
    """Everything ops submit to onboard a partner (``integrations partners onboard FILE``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partner_id: str = Field(pattern=SLUG)
    display_name: str = Field(min_length=1, max_length=200)
    sftp: PartnerSftp
    feeds: list[PartnerFeed] = Field(min_length=1, max_length=50)
    ssh_key: SshKeySource = SshKeySource()
    pgp: PartnerPgp | None = None
    contacts: list[PartnerContact] = Field(min_length=1, max_length=20)
    runbook: Runbook
    rotation_days: int = Field(default=90, ge=2, le=3650)
    overlap_days: int = Field(default=14, ge=1, le=365)
    test_poll_seconds: int = Field(default=300, ge=1, le=86_400)

    @model_validator(mode="after")
    def _consistent(self) -> PartnerDefinition:
        names = [f.feed for f in self.feeds]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"feeds: {repeated} declared more than once")
        needs_pgp = [f.feed for f in self.feeds if f.pgp_required]
        if needs_pgp and self.pgp is None:
            raise ValueError(f"feeds {needs_pgp} require PGP: give the partner's [pgp] key")
        if self.overlap_days >= self.rotation_days:
            raise ValueError("overlap_days must be shorter than rotation_days")
        for f in self.feeds:
            self.feed_config(f.feed, "probe")  # the feed must make a valid intake config
        return self

    def feed(self, name: str) -> PartnerFeed:
        for f in self.feeds:
            if f.feed == name:
                return f
        raise KeyError(name)

    def feed_config(self, name: str, key_name: str, file_contract: str | None = None) -> FeedConfig:
        """The intake configuration of one feed, connecting with our key ``key_name``."""
        f = self.feed(name)
        s = self.sftp
        return FeedConfig(
            partner_id=self.partner_id,
            feed=f.feed,
            display_name=self.display_name,
            sftp=SftpSource(
                host=s.host,
                port=s.port,
                username=s.username,
                host_key=s.host_key,
                private_key=key_name,
                inbox=s.inbox,
                archive=s.archive,
                quarantine=s.quarantine,
                outbox=s.outbox,
            ),
            naming=f.naming,
            file_contract=file_contract or f.file_contract,
            handoff=f.handoff,
            report_part=f.report_part,
            pgp=PgpPolicy(signer_fingerprint=self.pgp.fingerprint)
            if f.pgp_required and self.pgp
            else None,
            schedule=f.schedule,
            max_file_bytes=f.max_file_bytes,
            settle_seconds=f.settle_seconds,
            dedupe_window_days=f.dedupe_window_days,
        )


class SshKeyRef(BaseModel):
    """One of our SSH keys for the partner: its file name in the keys dir and public identity."""

    key_name: str = Field(pattern=KEY_NAME)
    public_line: str
    fingerprint: str
    issued_at: datetime


class TestAttempt(BaseModel):
    feed: str
    file_name: str
    signature: str  # name:size:mtime, so the same upload is answered once
    passed: bool
    reason: str = ""
    rows_total: int | None = None
    rows_invalid: int | None = None
    answer: str | None = Field(default=None, description="Path of the ack or report we sent.")
    filed_to: str | None = Field(
        default=None,
        description="Where the answered file was moved: <archive>/test or <quarantine>/test.",
    )
    at: datetime


class Approval(BaseModel):
    kind: ApprovalKind
    actor: str
    note: str = ""
    at: datetime


@wire_model("partners.onboarding_state", "1.1")
class OnboardingState(WireModel):
    """Where a partner's onboarding is; carried whole into each continue-as-new run."""

    stage: Stage = Stage.REGISTERED
    contracts: dict[str, str] = Field(
        default_factory=dict, description="Feed → the text of its current file contract (TOML)."
    )
    ssh_key: SshKeyRef | None = None
    next_ssh_key: SshKeyRef | None = Field(
        default=None, description="Issued during a rotation's overlap, not yet cut over."
    )
    host_key_fingerprint: str | None = None
    pgp_fingerprint: str | None = None
    partner_authenticated: bool = False
    tests: list[TestAttempt] = Field(default_factory=list)
    passed_feeds: list[str] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    live_since: datetime | None = None
    next_rotation_at: datetime | None = None
    overlap_ends_at: datetime | None = None
    rotations: int = 0
    first_key_number: int = Field(
        default=1,
        ge=1,
        description="N of this generation's first key <partner>-k<N>: a partner onboarded "
        "again after offboarding continues the numbering (key names are never reused).",
    )
    revoked_keys: list[str] = Field(default_factory=list)
    runs: int = Field(default=1, description="Workflow runs so far (continue-as-new count + 1).")
    offboarded_reason: str | None = None


@wire_model("partners.onboarding_start", "1.1")
class OnboardingStart(WireModel):
    """Input of the ``PartnerOnboarding`` workflow, id ``partner-<partner_id>``."""

    definition: PartnerDefinition
    file_task_queue: str = Field(description="Task queue of the workers that move files.")
    state: OnboardingState | None = Field(
        default=None, description="Set by continue-as-new; absent on a first start."
    )


# --- updates, signals, queries ----------------------------------------------------------------


@wire_model("partners.approval_request", "1.0")
class ApprovalRequest(WireModel):
    kind: ApprovalKind
    actor: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)


@wire_model("partners.contract_change", "1.0")
class ContractChangeRequest(WireModel):
    """Move a live feed to another version of its file contract. The contract's TOML travels
    with the request, so the validator decides without I/O and history shows what was agreed."""

    feed: str = Field(pattern=SLUG)
    contract_text: str = Field(min_length=1, max_length=200_000)
    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)


@wire_model("partners.stop_request", "1.0")
class StopRequest(WireModel):
    """Offboard the partner (or abandon an onboarding in progress)."""

    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)


@wire_model("partners.test_file_notice", "1.0")
class TestFileNotice(WireModel):
    """A partner (or ops) says a test file is waiting: check now instead of at the next poll."""

    note: str = ""


class ChecklistItem(BaseModel):
    step: str
    done: bool
    detail: str = ""


@wire_model("partners.checklist", "1.1")
class Checklist(WireModel):
    partner_id: str
    stage: Stage
    items: list[ChecklistItem]
    public_key: str | None = Field(default=None, description="Give this to the partner.")
    next_public_key: str | None = None
    next_rotation_at: datetime | None = None
    overlap_ends_at: datetime | None = None
    rotations: int = 0
    last_test: TestAttempt | None = None


# --- activities -------------------------------------------------------------------------------


@wire_model("partners.register_request", "1.0")
class RegisterRequest(WireModel):
    definition: PartnerDefinition
    workflow_id: str


@wire_model("partners.registered", "1.1")
class Registered(WireModel):
    contracts: dict[str, str] = Field(description="Feed → its file contract's TOML text.")
    keys_before: int = Field(
        default=0, ge=0, description="Keys of earlier onboardings of this partner (revoked)."
    )


@wire_model("partners.key_request", "1.0")
class KeyRequest(WireModel):
    """Make (or adopt) one of our SSH keys for the partner, idempotently by ``key_name``."""

    partner_id: str = Field(pattern=SLUG)
    key_name: str = Field(pattern=KEY_NAME)
    source: SshKeySource
    at: datetime
    # During a rotation: the feed (on the old key) through which the new public key is sent.
    announce_via: FeedConfig | None = None


@wire_model("partners.credentials_request", "1.0")
class CredentialsRequest(WireModel):
    """Pin the host key and import the PGP key (on the file workers, which hold the keyring)."""

    feed: FeedConfig
    pgp: PartnerPgp | None = None


@wire_model("partners.credentials", "1.0")
class Credentials(WireModel):
    host_key_fingerprint: str
    authenticated: bool = Field(description="Our key already logs in (the partner installed it).")
    detail: str = ""
    pgp_fingerprint: str | None = None


@wire_model("partners.key_record", "1.0")
class KeyRecord(WireModel):
    partner_id: str
    key: SshKeyRef
    status: Literal["active", "issued"]
    host_key_fingerprint: str | None = None
    pgp_fingerprint: str | None = None


@wire_model("partners.test_check_request", "1.0")
class TestCheckRequest(WireModel):
    feed: FeedConfig
    test_folder: str
    contract_text: str
    answered: list[str] = Field(default_factory=list, description="Signatures already answered.")
    attempt: int
    at: datetime


@wire_model("partners.test_check", "1.1")
class TestCheck(WireModel):
    """What the look into the test folder found: nothing, or one file validated (not landed)."""

    reachable: bool
    detail: str = ""
    attempt: TestAttempt | None = None
    answer: DeliverAnswer | None = None


class DeliverAnswer(BaseModel):
    local_path: str
    remote_name: str
    sha256: str
    size: int


@wire_model("partners.stage_change", "1.0")
class StageChange(WireModel):
    partner_id: str
    stage: Stage


@wire_model("partners.go_live_request", "1.0")
class GoLiveRequest(WireModel):
    partner_id: str
    feeds: list[FeedConfig]


@wire_model("partners.cut_over_request", "1.0")
class CutOverRequest(WireModel):
    partner_id: str
    feeds: list[FeedConfig] = Field(description="The feeds' configs on the new key.")
    old_key: str
    new_key: str
    at: datetime


@wire_model("partners.key_probe", "1.0")
class KeyProbe(WireModel):
    feed: FeedConfig


@wire_model("partners.key_probed", "1.0")
class KeyProbed(WireModel):
    authenticated: bool
    detail: str = ""


@wire_model("partners.contract_install", "1.0")
class ContractInstall(WireModel):
    feed: FeedConfig = Field(description="The feed's config on the new contract.")
    contract_text: str


@wire_model("partners.offboard_request", "1.0")
class OffboardWork(WireModel):
    partner_id: str
    feeds: list[str]
    key_names: list[str]
    live: bool


@wire_model("partners.remove_keys", "1.0")
class RemoveKeys(WireModel):
    key_names: list[str]


TestCheck.model_rebuild()
