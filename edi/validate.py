"""Validate an X12 file and say what to answer: the entry point of the EDI core.

Per interchange: the ISA is checked (X12.5) and the envelope read with pyx12's reader; a broken
envelope (IEA count or control number, missing trailers, malformed ISA) is answered with a TA1
and nothing inside it is processed. Groups pyx12 has an implementation-guide map for (the HIPAA
sets) are validated by pyx12 and answered with the 997 (4010) or 999 (5010) it writes; other
sets (850, 810, ...) are checked against our segment contracts and answered with a 997 we
build. 997/999/TA1 the partner sent us are read (``acknowledgements_received``), never answered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edi import segment_rules
from edi.ack_reader import read_group, read_ta1
from edi.acks import AckControl, Elements, InterchangeAck, functional_set, ta1, trim
from edi.envelope import Normalized, check_isa, normalize
from edi.errors import EnvelopeError, Refused
from edi.hipaa import has_map, validate_interchange
from edi.limits import Budget, Limits
from edi.reader import Group, Interchange, TransactionSet, check_structure, read_interchange
from edi.results import (
    MAX_ISSUES,
    AckCode,
    AckKind,
    Engine,
    GroupResult,
    InterchangeResult,
    Issue,
    ReceivedAck,
    Refusal,
    SetResult,
    ValidationResult,
)
from edi.translate import Document, translate
from foundation.pii import mask_value

# The order pyx12's reader finds envelope faults in is not their weight: a missing trailer
# explains a count mismatch, so it is the one the TA1 names.
_TA1_PRIORITY = ("023", "024", "022", "001", "021", "025")
HIPAA_999_VERSION = "005010X231A1"


@dataclass
class Validation:
    """A file's verdict, its parsed interchanges and the acknowledgements to send."""

    result: ValidationResult
    acks: list[InterchangeAck] = field(default_factory=list)
    interchanges: list[Interchange] = field(default_factory=list)

    @property
    def ack_count(self) -> int:
        """How many acknowledgement interchanges (each needs one of our control numbers)."""
        return sum(1 for ack in self.acks if ack.kind is not None)

    def acknowledgement(self, controls: Sequence[AckControl]) -> str:
        """The acknowledgement file: one interchange per inbound interchange that needs one."""
        needed = [ack for ack in self.acks if ack.kind is not None]
        if len(controls) != len(needed):
            raise ValueError(f"{len(needed)} acknowledgement(s) need as many control numbers")
        return "".join(ack.render(control) for ack, control in zip(needed, controls, strict=True))

    def translations(self) -> list[Document]:
        """A document per accepted transaction set (not for acknowledgements we received)."""
        docs = []
        verdicts = {
            (i.control_number, g.control_number, s.control_number): s.ack_code
            for i in self.result.interchanges
            if i.envelope_ok
            for g in i.groups
            if g.engine != "acknowledgement"
            for s in g.sets
        }
        for interchange in self.interchanges:
            for group in interchange.groups:
                for transaction in group.sets:
                    key = (interchange.control, group.control, transaction.control)
                    if verdicts.get(key) in ("A", "E"):
                        docs.append(translate(interchange, group, transaction))
        return docs


def validate_file(
    path: Path, limits: Limits | None = None, *, tick: Callable[[], None] | None = None
) -> Validation:
    """Validate the X12 file at ``path`` within ``limits`` (``tick``: called every few seconds
    while it runs, e.g. an activity heartbeat). A file beyond ``limits.max_file_bytes`` is
    refused before it is read. Raises ``OSError`` only when the file cannot be opened."""
    limits = limits or Limits()
    with path.open("rb") as source:
        # Read at most one byte past the limit: a file growing under us cannot exceed it.
        data = source.read(limits.max_file_bytes + 1)
    return validate(data, limits, tick=tick)


def _refused(exc: Refused) -> Validation:
    refusal = Refusal(reason=exc.reason, message=exc.message)
    issue = Issue(level="interchange", code="024", message=exc.message)
    return Validation(ValidationResult(accepted=False, refusal=refusal, issues=[issue]))


def validate(
    data: bytes | bytearray, limits: Limits | None = None, *, tick: Callable[[], None] | None = None
) -> Validation:
    """Validate ``data`` (a whole file, as received). Never raises for bad input: a broken
    envelope is answered with a TA1, a file that is not X12 or is beyond ``limits`` (size,
    segment length, time budget) ends with ``result.refusal``."""
    limits = limits or Limits()
    try:
        return _validate(data, limits, Budget(limits.budget_for(len(data)), tick))
    except Refused as exc:
        return _refused(exc)


def _validate(data: bytes | bytearray, limits: Limits, budget: Budget) -> Validation:
    try:
        normalized = normalize(data, limits)
    except EnvelopeError as exc:
        issue = Issue(level="interchange", code=exc.code, message=exc.message)
        refusal = Refusal(reason="not_x12", message=exc.message)
        return Validation(ValidationResult(accepted=False, refusal=refusal, issues=[issue]))
    validation = Validation(
        ValidationResult(
            accepted=True,
            bom_stripped=normalized.bom_stripped,
            leading_whitespace_stripped=normalized.leading_whitespace_stripped,
            separators=normalized.separators.as_dict(),
        )
    )
    issues: list[Issue] = [
        Issue(level="interchange", severity="warning", code=code, message=message)
        for code, message in normalized.warnings
    ]
    for index in range(len(normalized.interchanges)):
        budget.check()
        try:
            _interchange(normalized, index, validation, issues, budget)
        except Refused:
            raise
        except Exception as exc:  # a bug of ours on odd input: the interchange is rejected
            _reject_envelope(
                normalized.isa_fields[index],
                "024",
                f"internal error reading interchange {index + 1}: {type(exc).__name__}",
                validation,
                issues,
            )
        normalized.interchanges[index] = []  # read: its segments live on in the Interchange
    result = validation.result
    result.issues = issues[:MAX_ISSUES]
    result.issues_truncated = max(0, len(issues) - MAX_ISSUES)
    result.ack_kind = next((_kind(a.kind) for a in validation.acks if a.kind), None)
    result.accepted = all(
        i.envelope_ok and all(g.ack_code in ("A", "E") for g in i.groups)
        for i in result.interchanges
    ) and bool(result.interchanges)
    return validation


def _kind(kind: str | None) -> AckKind | None:
    kinds: dict[str, AckKind] = {"997": "997", "999": "999", "TA1": "TA1"}
    return kinds.get(kind or "")


def _envelope_result(isa: list[str], ok: bool, code: str = "000") -> InterchangeResult:
    def get(n: int) -> str:
        return isa[n] if len(isa) > n else ""

    return InterchangeResult(
        control_number=get(13),
        sender_qualifier=get(5),
        sender=get(6).strip(),
        receiver_qualifier=get(7),
        receiver=get(8).strip(),
        version=get(12),
        usage=get(15),
        date=get(9),
        time=get(10),
        ta1_requested=get(14) == "1",
        envelope_ok=ok,
        ta1_code=code,
    )


def _interchange(
    normalized: Normalized,
    index: int,
    validation: Validation,
    issues: list[Issue],
    budget: Budget,
) -> None:
    isa = normalized.isa_fields[index]
    try:
        check_isa(isa)
        check_structure(normalized.interchanges[index], normalized.separators.element)
        interchange = read_interchange(
            normalized.canonical(index), isa, normalized.separators, budget
        )
    except EnvelopeError as exc:
        _reject_envelope(isa, exc.code, exc.message, validation, issues)
        return
    if interchange.errors:
        codes = [code for code, _ in interchange.errors]
        code = next((c for c in _TA1_PRIORITY if c in codes), codes[0])
        for c, message in interchange.errors:
            issues.append(Issue(level="interchange", code=c, message=message))
        _reject_envelope(isa, code, None, validation, issues)
        return
    validation.interchanges.append(interchange)
    result = _envelope_result(isa, ok=True)
    validation.result.interchanges.append(result)
    received: list[ReceivedAck] = read_ta1(interchange)
    business = [g for g in interchange.groups if g.functional_id != "FA"]
    for group in interchange.groups:
        if group.functional_id == "FA":
            received.extend(read_group(interchange, group))
            result.groups.append(_check_group(group, issues, engine="acknowledgement")[0])
    validation.result.acknowledgements_received.extend(received)
    ack = InterchangeAck(kind=None, inbound_isa=isa)
    if result.ta1_requested:
        ack.ta1 = ta1(isa, "A", "000")
        ack.kind = "TA1"
    if business:
        ack.fa_sender, ack.fa_receiver = business[0].receiver, business[0].sender
        mapped = len(business) == len(interchange.groups) and all(
            has_map(isa[12], g.version, g.functional_id) for g in business
        )
        if mapped:
            _hipaa(interchange, result, ack, issues, budget)
        else:
            _generic(business, isa, result, ack, issues)
    result.ack_kind = _kind(ack.kind)
    validation.acks.append(ack)
    interchange.text = ""  # validated: the segments are all that is needed from here


def _reject_envelope(
    isa: list[str], code: str, message: str | None, validation: Validation, issues: list[Issue]
) -> None:
    if message is not None:
        issues.append(Issue(level="interchange", code=code, message=message))
    result = _envelope_result(isa, ok=False, code=code)
    result.ack_kind = "TA1"
    validation.result.interchanges.append(result)
    validation.acks.append(InterchangeAck(kind="TA1", inbound_isa=isa, ta1=ta1(isa, "R", code)))


# --- HIPAA sets: pyx12 ------------------------------------------------------------------------


def _hipaa(
    interchange: Interchange,
    result: InterchangeResult,
    ack: InterchangeAck,
    issues: list[Issue],
    budget: Budget,
) -> None:
    outcome = validate_interchange(interchange.text, interchange.isa[12], budget)
    by_control = {g.control: g for g in interchange.groups}
    if outcome.crashed is not None or not outcome.ack_sets:
        # pyx12 could not finish: every set is rejected, in an acknowledgement we build.
        message = outcome.crashed or "pyx12 produced no acknowledgement"
        issues.append(Issue(level="group", code="1", message=f"not validated: {message}"))
        _generic(interchange.groups, interchange.isa, result, ack, issues, unvalidated=True)
        return
    for group in outcome.groups:
        source = by_control.get(group.control_number)
        if source is not None:
            group.sender, group.receiver = source.sender, source.receiver
            sizes = {s.control: len(s.segments) for s in source.sets}
            for st in group.sets:
                st.segments = sizes.get(st.control_number, 0)
        result.groups.append(group)
    issues.extend(outcome.issues)
    ack.kind = outcome.ack_kind
    ack.sets = outcome.ack_sets
    if outcome.ack_kind == "999":
        ack.fa_version = outcome.ack_version or HIPAA_999_VERSION
    else:
        ack.fa_version = "004010" if interchange.isa[12] == "00401" else "005010"


# --- other sets: our segment contracts and our 997 --------------------------------------------


def _generic(
    groups: list[Group],
    isa: list[str],
    result: InterchangeResult,
    ack: InterchangeAck,
    issues: list[Issue],
    *,
    unvalidated: bool = False,
) -> None:
    hipaa_5010 = unvalidated and isa[12] == "00501"
    kind = "999" if hipaa_5010 else "997"
    for number, group in enumerate(groups, start=1):
        checked, body = _check_group(group, issues, engine="segment_contract", force=unvalidated)
        result.groups.append(checked)
        version = HIPAA_999_VERSION if hipaa_5010 else None
        ack.sets.extend(
            functional_set(number, kind, _ack_body(kind, group, checked, body), version=version)
        )
    ack.kind = kind
    ack.fa_version = (
        HIPAA_999_VERSION if hipaa_5010 else ("004010" if isa[12] == "00401" else "005010")
    )


def _check_group(
    group: Group, issues: list[Issue], *, engine: Engine, force: bool = False
) -> tuple[GroupResult, dict[str, list[Elements]]]:
    """Check every set of ``group``; returns the result and, per set, its AK3/AK4 lines."""
    sets: list[SetResult] = []
    lines: dict[str, list[Elements]] = {}
    for transaction in group.sets:
        checked, detail = _check_set(group, transaction, issues, force=force)
        lines[transaction.control] = detail
        sets.append(checked)
    group_codes = sorted({code for code, _ in group.errors})
    for code, message in group.errors:
        issues.append(
            Issue(
                level="group",
                code=code,
                message=message,
                line=group.line,
                group_control=group.control,
            )
        )
    return (
        GroupResult(
            functional_id=group.functional_id,
            control_number=group.control,
            version=group.version,
            sender=group.sender,
            receiver=group.receiver,
            engine=engine,
            ack_code=_group_ack_code(group_codes, sets),
            sets=sets,
            errors=group_codes,
        ),
        lines,
    )


def _group_ack_code(group_codes: list[str], sets: list[SetResult]) -> AckCode:
    """AK9-01: rejected on a group error or when no set is accepted, partially accepted when
    some are (X12 997)."""
    accepted = sum(1 for s in sets if s.ack_code == "A")
    if group_codes or accepted == 0:
        return "R"
    if accepted == len(sets):
        return "A"
    return "P"


def _check_set(
    group: Group, transaction: TransactionSet, issues: list[Issue], *, force: bool
) -> tuple[SetResult, list[Elements]]:
    """One transaction set: the reader's errors, then its segment contract (``force``: not
    validated, rejected with AK5 code 5). Returns its AK5 verdict and its AK3/AK4 lines."""
    codes = [code for code, _ in transaction.errors]
    detail: list[Elements] = []
    where = {"group_control": group.control, "set_control": transaction.control}
    for code, message in transaction.errors:
        issues.append(
            Issue(level="transaction", code=code, message=message, line=transaction.line, **where)
        )
    for segment, code, message in transaction.segment_errors:
        detail.append(["AK3", segment.id, str(segment.position), "", code])
        issues.append(
            Issue(
                level="segment",
                code=code,
                message=message,
                line=segment.line,
                segment_id=segment.id,
                segment_position=segment.position,
                **where,
            )
        )
    contract = segment_rules.load(transaction.set_id)
    if force:
        codes.append("5")
    elif contract is None:
        codes.append("1")  # transaction set not supported
        issues.append(
            Issue(
                level="transaction",
                code="1",
                line=transaction.line,
                message=f"no segment contract for set {transaction.set_id[:6]!r}",
                **where,
            )
        )
    else:
        _check_contract(contract, transaction, where, codes, detail, issues)
    if transaction.segment_errors and "5" not in codes:
        codes.append("5")
    if not transaction.closed and "2" not in codes:
        codes.append("2")
    verdict: AckCode = "R" if codes else "A"
    result = SetResult(
        set_id=transaction.set_id,
        control_number=transaction.control,
        ack_code=verdict,
        segments=len(transaction.segments),
        errors=sorted(set(codes)),
    )
    return result, detail


def _check_contract(
    contract: segment_rules.SegmentContract,
    transaction: TransactionSet,
    where: dict[str, str],
    codes: list[str],
    detail: list[Elements],
    issues: list[Issue],
) -> None:
    """A set against our segment contract: AK5 codes into ``codes``, an AK3 per segment
    problem and an AK4 per element problem into ``detail`` (values masked in issues)."""
    checked = segment_rules.check(contract, transaction)
    codes.extend(checked.set_codes)
    last = transaction.segments[-1].position if transaction.segments else 0
    for p in checked.problems:
        position = p.segment.position if p.segment else last
        detail.append(["AK3", p.segment_id, str(position), "", p.code])
        issues.append(
            Issue(
                level="segment" if p.element is None else "element",
                code=p.element_code or p.code,
                message=p.message,
                line=p.segment.line if p.segment else None,
                segment_id=p.segment_id,
                segment_position=position,
                element_position=str(p.element) if p.element else None,
                value=mask_value(p.value) if p.value else None,
                **where,
            )
        )
        if p.element is not None:
            detail.append(["AK4", str(p.element), "", p.element_code or "", p.value or ""])


def _ack_body(
    kind: str, group: Group, checked: GroupResult, lines: dict[str, list[Elements]]
) -> list[Elements]:
    """AK1, per set AK2/AK3/AK4/AK5 (IK3/IK4/IK5 in a 999), AK9 (X12 997/999)."""
    prefix = "IK" if kind == "999" else "AK"
    body: list[Elements] = [
        ["AK1", group.functional_id, group.control] + ([group.version] if kind == "999" else [])
    ]
    for st in checked.sets:
        body.append(["AK2", st.set_id, st.control_number])
        for detail in lines.get(st.control_number, []):
            body.append([prefix + detail[0][2:], *detail[1:]])
        body.append(trim([f"{prefix}5", st.ack_code, *st.errors[:5]]))
    included = group.declared_sets if group.declared_sets is not None else len(checked.sets)
    accepted = sum(1 for s in checked.sets if s.ack_code in ("A", "E"))
    body.append(
        trim(
            [
                "AK9",
                checked.ack_code,
                str(included),
                str(len(checked.sets)),
                str(accepted),
                *checked.errors[:5],
            ]
        )
    )
    return body
