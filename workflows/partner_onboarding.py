"""One long-lived workflow per partner, from first contact to offboarding."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    # The contract parser checks patterns with Arrow's RE2: pass pyarrow through, never
    # re-import it inside the sandbox.
    import pyarrow
    import pyarrow.compute  # noqa: F401

    from intake.errors import ContractError
    from intake.file_contract import load_contract_text
    from onboarding import approvals, contract_change, rotation
    from onboarding.stages import Stage, Step, TransitionRefused, advance
    from wire.audit import AuditEntry
    from wire.intake import Delivered, DeliverRequest, FeedConfig
    from wire.partners import (
        Approval,
        ApprovalRequest,
        Checklist,
        ChecklistItem,
        ContractChangeRequest,
        ContractInstall,
        Credentials,
        CredentialsRequest,
        CutOverRequest,
        GoLiveRequest,
        KeyProbe,
        KeyProbed,
        KeyRecord,
        KeyRequest,
        OffboardWork,
        OnboardingStart,
        OnboardingState,
        Registered,
        RegisterRequest,
        RemoveKeys,
        SshKeyRef,
        SshKeySource,
        StageChange,
        StopRequest,
        TestCheck,
        TestCheckRequest,
        TestFileNotice,
    )
    from wire.search_attributes import ONBOARDING_STAGE, PARTNER

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
SHORT = timedelta(seconds=30)
FILES = timedelta(minutes=10)
KEPT_TESTS = 20  # the checklist shows the last attempts; older ones live in the audit log
# Live partners continue as new after each rotation and, besides, after this many steps.
STEPS_PER_RUN = 200
# Patch: a test_file_uploaded signal received during a look into the test folder is kept.
KEEP_POKES = "onboarding-keep-test-pokes"


@workflow.defn(name="PartnerOnboarding")
class PartnerOnboardingWorkflow:
    """Onboards one partner, id ``partner-<partner_id>``, and runs it while it is live.

    Stages: registered → credentials → test_exchange → approvals → live → offboarded.
    Signals: ``test_file_uploaded`` (TestFileNotice): look into the test folder now.
    Updates (validated, audited): ``approve`` (ApprovalRequest: security_review / ops_signoff,
    two different people), ``change_contract`` (ContractChangeRequest: a breaking change needs
    a new major version), ``offboard`` (StopRequest: also stops an onboarding in progress).
    Queries: ``checklist`` (Checklist), ``state`` (OnboardingState).
    Continues as new after each key rotation (and every STEPS_PER_RUN steps). WireModel changes,
    key rotation and offboarding write the feeds one at a time (``_feeds_lock``).
    """

    def __init__(self) -> None:
        self._start: OnboardingStart | None = None
        self._state = OnboardingState()
        self._poke = False
        self._stop: tuple[StopRequest, str] | None = None
        self._steps = 0
        # Work that writes a feed's configuration (contract change, key rotation, offboarding)
        # runs one at a time: an update handler's awaits otherwise interleave with the main
        # loop's, and a contract change could install a feed with a key just revoked, or after
        # offboarding deleted it. An uncontended acquire does not yield, so it adds no events.
        self._feeds_lock = asyncio.Lock()
        # WireModel texts accepted by change_contract and not yet applied (waiting for the
        # lock): the next change's validator compares against these.
        self._accepted_contracts: dict[str, str] = {}

    # --- the run ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: OnboardingStart) -> OnboardingState:
        self._start = start
        if start.state is not None:
            self._state = start.state
        d = start.definition
        workflow.upsert_search_attributes(
            [PARTNER.value_set(d.partner_id), ONBOARDING_STAGE.value_set(self._state.stage.value)]
        )
        if self._state.stage is Stage.REGISTERED:
            await self._register()
        if self._state.stage is Stage.CREDENTIALS and not self._stopping():
            await self._provision()
        while self._state.stage is Stage.TEST_EXCHANGE and not self._stopping():
            await self._test_round()
        if self._state.stage is Stage.APPROVALS:
            await workflow.wait_condition(
                lambda: self._stopping() or self._approved(), timeout=None
            )
            if self._approved() and not self._stopping():
                await self._go_live()
        if self._state.stage is Stage.LIVE and not self._stopping():
            await self._live()
        if self._stopping() and self._state.stage is not Stage.OFFBOARDED:
            async with self._feeds_lock:
                await self._offboard()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    def _stopping(self) -> bool:
        return self._stop is not None

    def _approved(self) -> bool:
        return approvals.complete({a.kind: a.actor for a in self._state.approvals})

    async def _move(self, step: Step) -> None:
        assert self._start is not None
        stage = advance(self._state.stage, step)
        if stage is not self._state.stage:
            self._state = self._state.model_copy(update={"stage": stage})
            workflow.upsert_search_attributes([ONBOARDING_STAGE.value_set(stage.value)])
            await self._activity(
                "onboarding.set_stage", StageChange(partner_id=self._partner, stage=stage)
            )

    @property
    def _partner(self) -> str:
        assert self._start is not None
        return self._start.definition.partner_id

    # --- 1. register; 2. credentials ----------------------------------------------------------

    async def _register(self) -> None:
        assert self._start is not None
        registered: Registered = await self._activity(
            "onboarding.register",
            RegisterRequest(
                definition=self._start.definition, workflow_id=workflow.info().workflow_id
            ),
            result_type=Registered,
        )
        self._state = self._state.model_copy(
            update={
                "contracts": registered.contracts,
                # Key names are unique per partner for ever (partner_keys keeps revoked ones).
                "first_key_number": registered.keys_before + 1,
            }
        )
        await self._audit("system:onboarding", "partner.registered", "", {})
        await self._move(Step.REGISTERED)

    def _feed(self, name: str, key: SshKeyRef | None = None) -> FeedConfig:
        assert self._start is not None
        key = key or self._state.ssh_key
        assert key is not None
        text = self._state.contracts.get(name, "")
        current = None
        if text:
            loaded = load_contract_text(text)
            current = loaded.contract_id
        return self._start.definition.feed_config(name, key.key_name, current)

    def _feeds(self, key: SshKeyRef | None = None) -> list[FeedConfig]:
        assert self._start is not None
        return [self._feed(f.feed, key) for f in self._start.definition.feeds]

    async def _provision(self) -> None:
        assert self._start is not None
        d = self._start.definition
        now = workflow.now()
        key: SshKeyRef = await self._files(
            "onboarding.ssh_key",
            KeyRequest(
                partner_id=d.partner_id,
                key_name=f"{d.partner_id}-k{self._state.first_key_number}",
                source=d.ssh_key,
                at=now,
            ),
            result_type=SshKeyRef,
        )
        self._state = self._state.model_copy(update={"ssh_key": key})
        creds: Credentials = await self._files(
            "onboarding.credentials",
            CredentialsRequest(feed=self._feed(d.feeds[0].feed), pgp=d.pgp),
            result_type=Credentials,
        )
        await self._activity(
            "onboarding.record_key",
            KeyRecord(
                partner_id=d.partner_id,
                key=key,
                status="active",
                host_key_fingerprint=creds.host_key_fingerprint,
                pgp_fingerprint=creds.pgp_fingerprint,
            ),
        )
        self._state = self._state.model_copy(
            update={
                "host_key_fingerprint": creds.host_key_fingerprint,
                "pgp_fingerprint": creds.pgp_fingerprint,
                "partner_authenticated": creds.authenticated,
            }
        )
        await self._audit(
            "system:onboarding",
            "partner.credentials",
            "",
            {
                "ssh_key_fingerprint": key.fingerprint,
                "host_key_fingerprint": creds.host_key_fingerprint,
                "pgp_fingerprint": creds.pgp_fingerprint,
            },
        )
        await self._move(Step.CREDENTIALS_READY)

    # --- 3. test exchange ---------------------------------------------------------------------

    async def _test_round(self) -> None:
        assert self._start is not None
        d = self._start.definition
        found = False
        keep_pokes = workflow.patched(KEEP_POKES)
        if keep_pokes:
            # A test_file_uploaded signal that arrives while we look is for the next look:
            # clear the flag before looking, never after.
            self._poke = False
        for f in d.feeds:
            if f.feed in self._state.passed_feeds or self._stopping():
                continue
            check: TestCheck = await self._files(
                "onboarding.check_test_file",
                TestCheckRequest(
                    feed=self._feed(f.feed),
                    test_folder=d.sftp.test_folder,
                    contract_text=self._state.contracts.get(f.feed, ""),
                    answered=[t.signature for t in self._state.tests if t.feed == f.feed],
                    attempt=len(self._state.tests) + 1,
                    at=workflow.now(),
                ),
                result_type=TestCheck,
            )
            if check.reachable != self._state.partner_authenticated:
                self._state = self._state.model_copy(
                    update={"partner_authenticated": check.reachable}
                )
            if check.attempt is None or check.answer is None:
                continue
            found = True
            feed = self._feed(f.feed)
            await workflow.execute_activity(
                "sftp.deliver",
                DeliverRequest(
                    feed=feed,
                    local_path=check.answer.local_path,
                    remote_name=check.answer.remote_name,
                    sha256=check.answer.sha256,
                    size=check.answer.size,
                ),
                result_type=Delivered,
                task_queue=self._start.file_task_queue,
                start_to_close_timeout=FILES,
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
            attempt = check.attempt
            tests = [*self._state.tests, attempt][-KEPT_TESTS:]
            passed = self._state.passed_feeds + ([f.feed] if attempt.passed else [])
            self._state = self._state.model_copy(update={"tests": tests, "passed_feeds": passed})
            await self._audit(
                "system:onboarding",
                "partner.test_passed" if attempt.passed else "partner.test_failed",
                attempt.reason,
                {"feed": f.feed, "file": attempt.file_name, "answer": attempt.answer},
                key=f"test-{attempt.signature}",
            )
        if all(f.feed in self._state.passed_feeds for f in d.feeds):
            await self._move(Step.TEST_PASSED)
            return
        if found:
            return  # answer the next file at once, if the partner already sent one
        if not keep_pokes:
            self._poke = False  # histories from before KEEP_POKES
        await workflow.wait_condition(
            lambda: self._poke or self._stopping(), timeout=timedelta(seconds=d.test_poll_seconds)
        )

    # --- 4. approvals; 5. go live -------------------------------------------------------------

    async def _go_live(self) -> None:
        assert self._start is not None
        await self._activity(
            "onboarding.go_live", GoLiveRequest(partner_id=self._partner, feeds=self._feeds())
        )
        d = self._start.definition
        now = workflow.now()
        self._state = self._state.model_copy(
            update={"live_since": now, "next_rotation_at": now + timedelta(days=d.rotation_days)}
        )
        await self._move(Step.APPROVED)
        await self._audit("system:onboarding", "partner.live", "", {})

    # --- 6. live: rotations, contract changes, offboarding ------------------------------------

    async def _live(self) -> None:
        assert self._start is not None
        d = self._start.definition
        policy = rotation.RotationPolicy(d.rotation_days, d.overlap_days)
        while not self._stopping():
            state = self._state
            assert state.next_rotation_at is not None
            wake = rotation.wake_at(state.next_rotation_at, state.overlap_ends_at)
            delay = (wake - workflow.now()).total_seconds()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._stopping, timeout=timedelta(seconds=delay))
            if self._stopping():
                return
            step = rotation.due(workflow.now(), state.next_rotation_at, state.overlap_ends_at)
            rotated = False
            async with self._feeds_lock:
                if step is rotation.RotationDue.ISSUE:
                    await self._issue_key(policy)
                elif step is rotation.RotationDue.CUT_OVER:
                    rotated = await self._cut_over()
            if rotated:  # outside the lock: continuing as new waits for every handler
                await self._continue_as_new()
            if workflow.info().is_continue_as_new_suggested() or self._steps > STEPS_PER_RUN:
                await self._continue_as_new()

    async def _issue_key(self, policy: rotation.RotationPolicy) -> None:
        now = workflow.now()
        number = self._state.first_key_number + self._state.rotations + 1
        key: SshKeyRef = await self._files(
            "onboarding.ssh_key",
            KeyRequest(
                partner_id=self._partner,
                key_name=f"{self._partner}-k{number}",
                source=SshKeySource(mode="generate"),
                at=now,
                announce_via=self._feeds()[0],
            ),
            result_type=SshKeyRef,
        )
        await self._activity(
            "onboarding.record_key", KeyRecord(partner_id=self._partner, key=key, status="issued")
        )
        next_at, overlap_ends = rotation.after_issue(now, policy)
        self._state = self._state.model_copy(
            update={
                "next_ssh_key": key,
                "next_rotation_at": next_at,
                "overlap_ends_at": overlap_ends,
            }
        )
        await self._audit(
            "system:key-rotation",
            "partner.key_issued",
            "",
            {
                "key": key.key_name,
                "fingerprint": key.fingerprint,
                "overlap_ends_at": overlap_ends.isoformat(),
            },
            key=f"key-issued-{key.key_name}",
        )

    async def _cut_over(self) -> bool:
        """Switch the feeds to the new key and revoke the old one — once the new key logs in.
        While the partner has not installed it, the old key keeps working and we look daily."""
        old, new = self._state.ssh_key, self._state.next_ssh_key
        assert old is not None and new is not None
        probed: KeyProbed = await self._files(
            "onboarding.probe_key", KeyProbe(feed=self._feeds(new)[0]), result_type=KeyProbed
        )
        now = workflow.now()
        if not probed.authenticated:
            self._state = self._state.model_copy(
                update={"overlap_ends_at": now + timedelta(days=1)}
            )
            await self._audit(
                "system:key-rotation",
                "partner.key_not_installed",
                probed.detail,
                {"key": new.key_name},
                key=f"key-waiting-{new.key_name}-{now.date().isoformat()}",
            )
            return False
        await self._activity(
            "onboarding.cut_over",
            CutOverRequest(
                partner_id=self._partner,
                feeds=self._feeds(new),
                old_key=old.key_name,
                new_key=new.key_name,
                at=now,
            ),
        )
        await self._files("onboarding.remove_keys", RemoveKeys(key_names=[old.key_name]))
        self._state = self._state.model_copy(
            update={
                "ssh_key": new,
                "next_ssh_key": None,
                "overlap_ends_at": None,
                "rotations": self._state.rotations + 1,
                "revoked_keys": [*self._state.revoked_keys, old.key_name][-KEPT_TESTS:],
            }
        )
        await self._move(Step.KEY_ROTATED)
        await self._audit(
            "system:key-rotation",
            "partner.key_rotated",
            "",
            {"revoked": old.key_name, "active": new.key_name, "fingerprint": new.fingerprint},
            key=f"key-rotated-{new.key_name}",
        )
        return True

    async def _continue_as_new(self) -> None:
        assert self._start is not None
        # Handlers still running (an update mid-activity) finish first; then a fresh history.
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._stopping():
            return  # an offboard arrived meanwhile: the run finishes it instead
        state = self._state.model_copy(update={"runs": self._state.runs + 1})
        workflow.continue_as_new(self._start.model_copy(update={"state": state}))

    async def _offboard(self) -> None:
        assert self._start is not None and self._stop is not None
        request, update_id = self._stop
        keys = [k.key_name for k in (self._state.ssh_key, self._state.next_ssh_key) if k]
        if self._start.definition.ssh_key.mode == "provided" and self._state.rotations == 0:
            keys = keys[1:]  # a key the partner issued is theirs to revoke, not ours to delete
        await self._activity(
            "onboarding.offboard",
            OffboardWork(
                partner_id=self._partner,
                feeds=[f.feed for f in self._start.definition.feeds],
                key_names=keys,
                live=self._state.live_since is not None,
            ),
        )
        await self._files("onboarding.remove_keys", RemoveKeys(key_names=keys))
        self._state = self._state.model_copy(
            update={
                "stage": Stage.OFFBOARDED,
                "offboarded_reason": request.reason,
                "revoked_keys": [*self._state.revoked_keys, *keys],
                "next_ssh_key": None,
                "overlap_ends_at": None,
            }
        )
        workflow.upsert_search_attributes([ONBOARDING_STAGE.value_set(Stage.OFFBOARDED.value)])
        await self._audit(
            request.actor, "partner.offboarded", request.reason, {"keys": keys}, key=update_id
        )

    # --- signals, updates, queries ------------------------------------------------------------

    @workflow.signal(name="test_file_uploaded")
    def test_file_uploaded(self, notice: TestFileNotice) -> None:
        self._poke = True

    @workflow.update(name="approve")
    async def approve(self, request: ApprovalRequest) -> Checklist:
        # No lock: the approval is recorded before the only await, an audit row with its own
        # key, so nothing can interleave with it (and go_live may start beside that write).
        # The validator is the only place an approval is refused. The SDK runs each update's
        # validator and then its handler in order, and this handler records the approval
        # before its first await: so the next approval's validator, even one delivered in the
        # same workflow task, already sees it. Nothing after acceptance can refuse it.
        self._state = self._state.model_copy(
            update={
                "approvals": [
                    *self._state.approvals,
                    Approval(
                        kind=request.kind, actor=request.actor, note=request.note, at=workflow.now()
                    ),
                ]
            }
        )
        await self._audit(request.actor, f"partner.{request.kind.value}", request.note, {})
        return self.checklist()

    @approve.validator
    def _validate_approve(self, request: ApprovalRequest) -> None:
        self._check_approval(request)

    def _check_approval(self, request: ApprovalRequest) -> None:
        given = {a.kind: a.actor for a in self._state.approvals}
        reason = approvals.refusal(self._state.stage, given, request.kind, request.actor)
        if reason is None and self._stopping():
            reason = "the partner is being offboarded"
        if reason is not None:
            raise ApplicationError(reason, type="ApprovalRefused", non_retryable=True)

    @workflow.update(name="change_contract")
    async def change_contract(self, request: ContractChangeRequest) -> Checklist:
        self._accepted_contracts[request.feed] = request.contract_text
        async with self._feeds_lock:
            old_text = self._state.contracts[request.feed]
            new = load_contract_text(request.contract_text, request.feed)
            old = load_contract_text(old_text, request.feed)
            self._state = self._state.model_copy(
                update={"contracts": {**self._state.contracts, request.feed: request.contract_text}}
            )
            if self._accepted_contracts.get(request.feed) == request.contract_text:
                del self._accepted_contracts[request.feed]
            await self._activity(
                "onboarding.install_contract",
                ContractInstall(feed=self._feed(request.feed), contract_text=request.contract_text),
            )
            await self._move(Step.CONTRACT_CHANGED)
            await self._audit(
                request.actor,
                "partner.contract_changed",
                request.reason,
                {
                    "feed": request.feed,
                    "from": old.contract_id,
                    "to": new.contract_id,
                    "breaking": contract_change.change_problems(old, new),
                },
            )
        return self.checklist()

    @change_contract.validator
    def _validate_change(self, request: ContractChangeRequest) -> None:
        def refuse(reason: str) -> ApplicationError:
            return ApplicationError(reason, type="ContractChangeRefused", non_retryable=True)

        if self._state.stage is not Stage.LIVE or self._stopping():
            raise refuse(f"contracts change on live partners; the partner is {self._state.stage}")
        old_text = self._accepted_contracts.get(
            request.feed, self._state.contracts.get(request.feed)
        )
        if old_text is None:
            raise refuse(f"no feed {request.feed!r}")
        if not old_text:
            raise refuse(f"feed {request.feed!r} uses a built-in contract")
        try:
            new = load_contract_text(request.contract_text, request.feed)
        except ContractError as exc:
            raise refuse(str(exc)) from None
        reason = contract_change.refusal(load_contract_text(old_text, request.feed), new)
        if reason is not None:
            raise refuse(reason)

    @workflow.update(name="offboard")
    async def offboard(self, request: StopRequest) -> Checklist:
        info = workflow.current_update_info()
        self._stop = (request, info.id if info else "offboard")
        await workflow.wait_condition(lambda: self._state.stage is Stage.OFFBOARDED)
        return self.checklist()

    @offboard.validator
    def _validate_offboard(self, request: StopRequest) -> None:
        try:
            advance(self._state.stage, Step.OFFBOARD)
        except TransitionRefused as exc:
            raise ApplicationError(str(exc), type="OffboardRefused", non_retryable=True) from None
        if self._stopping():
            raise ApplicationError(
                "offboarding is already under way", type="OffboardRefused", non_retryable=True
            )

    @workflow.query(name="state")
    def state(self) -> OnboardingState:
        return self._state

    @workflow.query(name="checklist")
    def checklist(self) -> Checklist:
        s = self._state
        given = {a.kind: a for a in s.approvals}
        feeds = [f.feed for f in self._start.definition.feeds] if self._start else []
        at = list(Stage).index(s.stage)

        def past(stage: Stage) -> bool:
            return at > list(Stage).index(stage)

        items = [
            ChecklistItem(
                step="registered",
                done=past(Stage.REGISTERED),
                detail=f"{len(feeds)} feed(s): {', '.join(feeds)}",
            ),
            ChecklistItem(
                step="ssh_key",
                done=s.ssh_key is not None,
                detail=s.ssh_key.fingerprint if s.ssh_key else "",
            ),
            ChecklistItem(
                step="host_key_pinned",
                done=s.host_key_fingerprint is not None,
                detail=s.host_key_fingerprint or "",
            ),
            ChecklistItem(
                step="pgp_key_imported",
                done=s.pgp_fingerprint is not None,
                detail=s.pgp_fingerprint or "not required",
            ),
            ChecklistItem(step="partner_installed_our_key", done=s.partner_authenticated),
            ChecklistItem(
                step="test_exchange",
                done=past(Stage.TEST_EXCHANGE),
                detail=f"passed: {sorted(s.passed_feeds)}; attempts: {len(s.tests)}",
            ),
        ]
        for kind in approvals.ApprovalKind:
            a = given.get(kind)
            items.append(
                ChecklistItem(step=kind.value, done=a is not None, detail=a.actor if a else "")
            )
        items.append(
            ChecklistItem(
                step="live",
                done=s.live_since is not None,
                detail=s.live_since.isoformat() if s.live_since else "",
            )
        )
        return Checklist(
            partner_id=self._partner if self._start else "",
            stage=s.stage,
            items=items,
            public_key=s.ssh_key.public_line if s.ssh_key else None,
            next_public_key=s.next_ssh_key.public_line if s.next_ssh_key else None,
            next_rotation_at=s.next_rotation_at,
            overlap_ends_at=s.overlap_ends_at,
            rotations=s.rotations,
            last_test=s.tests[-1] if s.tests else None,
        )

    # --- plumbing -----------------------------------------------------------------------------

    def _audit_id(self, event: str) -> str:
        """``partner-<id>/<generation>/<event>``. The workflow id is reused when a partner is
        onboarded again after offboarding, so the first run id of this chain (kept across
        continue-as-new) tells the generations apart; without it, a second registration,
        test, approval... would hit ``ON CONFLICT DO NOTHING`` and leave no audit row. It is
        an activity argument, not a command: histories recorded before it still replay."""
        info = workflow.info()
        generation = info.first_execution_run_id or info.run_id
        return f"{info.workflow_id}/{generation}/{event}"[:200]

    async def _activity(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        self._steps += 1
        return await workflow.execute_activity(
            name, arg, result_type=result_type, start_to_close_timeout=SHORT, retry_policy=RETRY
        )

    async def _files(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        assert self._start is not None
        self._steps += 1
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            task_queue=self._start.file_task_queue,
            start_to_close_timeout=FILES,
            retry_policy=RETRY,
        )

    async def _audit(
        self, actor: str, action: str, reason: str, details: dict[str, Any], key: str | None = None
    ) -> None:
        info = workflow.current_update_info()
        event = key or (info.id if info else action)
        await self._activity(
            "audit.write",
            AuditEntry(
                event_id=self._audit_id(event),
                actor=actor,
                action=action,
                subject=self._partner,
                reason=reason,
                details=details,
            ),
        )
