"""HIPAA sets validated by pyx12 against its implementation-guide maps, with the 997 (4010) or
999 (5010) its ``x12n_document`` writes.

pyx12 is blocking and chatty: it logs every finding, values included (PII), on the ``pyx12``
logger, so that logger is silenced here; findings come back through its JSON error visitor
instead. Its acknowledgement is taken as it writes it, minus the envelope: ISA/GS/GE/IEA are
ours (``edi.acks``), because pyx12 numbers them from the clock and a random number.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pyx12.errors
import pyx12.map_index
import pyx12.params
import pyx12.x12n_document

from edi.acks import Elements
from edi.errors import Refused
from edi.limits import Budget, TimedText
from edi.results import GroupResult, Issue, SetResult
from foundation.pii import mask_value

_pyx12_log = logging.getLogger("pyx12")
_pyx12_log.addHandler(logging.NullHandler())
_pyx12_log.propagate = False


@cache
def _map_index() -> pyx12.map_index.map_index:
    return pyx12.map_index.map_index(None)


def has_map(icvn: str, version: str, functional_id: str) -> bool:
    """Whether pyx12 carries an implementation-guide map for this group (GS08, GS01)."""
    try:
        return _map_index().get_filename(icvn, version, functional_id) is not None
    except Exception:  # pyx12 raises plain exceptions for odd keys: then it has no map
        return False


def params() -> pyx12.params.ParamsBase:
    # The base class, not ParamsUnix: no ~/.pyx12.conf.xml may change how a file validates.
    p = pyx12.params.ParamsBase()
    p.set("exclude_external_codes", None)
    return p


@dataclass
class HipaaOutcome:
    valid: bool
    groups: list[GroupResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    ack_kind: str | None = None
    ack_sets: list[Elements] = field(default_factory=list)
    ack_version: str = ""
    crashed: str | None = None


def validate_interchange(text: str, icvn: str, budget: Budget | None = None) -> HipaaOutcome:
    """Run pyx12's validator over one canonical interchange (within ``budget``: it raises
    :class:`Refused` when pyx12 runs past it)."""
    ack, errors = io.StringIO(), io.StringIO()
    try:
        valid = pyx12.x12n_document.x12n_document(
            params(), TimedText(text, budget), ack, None, None, errors
        )
    except Refused:
        raise
    except (pyx12.errors.EngineError, pyx12.errors.X12Error) as exc:
        return HipaaOutcome(valid=False, crashed=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a pyx12 bug on odd input must be a finding, not a crash
        return HipaaOutcome(valid=False, crashed=f"pyx12 failed: {type(exc).__name__}: {exc}")
    outcome = HipaaOutcome(valid=valid)
    try:
        document = json.loads(errors.getvalue() or '{"interchanges": []}')
        for interchange in document.get("interchanges", []):
            for group in interchange.get("groups", []):
                outcome.groups.append(_group(group, outcome.issues))
        _ack(ack.getvalue(), outcome)
    except Exception as exc:  # pyx12's report of odd input is itself odd: not validated
        return HipaaOutcome(valid=False, crashed=f"pyx12's report unreadable: {type(exc).__name__}")
    return outcome


def _group(group: dict[str, Any], issues: list[Issue]) -> GroupResult:
    gs = str(group.get("gs_control_num") or "")
    for err in group.get("errors", []):
        issues.append(
            Issue(
                level="group",
                code=str(err["err_cde"]),
                message=err["err_str"],
                line=group.get("cur_line"),
                group_control=gs,
            )
        )
    sets = []
    for st in group.get("transactions", []):
        control = str(st.get("trn_set_control_num") or "").strip()
        codes = [str(err["err_cde"]) for err in st.get("errors", [])]
        for err in st.get("errors", []):
            issues.append(
                Issue(
                    level="transaction",
                    code=str(err["err_cde"]),
                    message=err["err_str"],
                    line=st.get("cur_line"),
                    group_control=gs,
                    set_control=control,
                )
            )
        for seg in st.get("segments", []):
            _segment(seg, gs, control, issues)
        if st.get("segments") and "5" not in codes:
            codes.append("5")
        sets.append(
            SetResult(
                set_id=str(st.get("trn_set_id") or ""),
                control_number=control,
                ack_code=_code(st.get("ack_code")),
                errors=sorted(set(codes)),
            )
        )
    return GroupResult(
        functional_id=str(group.get("fic") or ""),
        control_number=gs,
        version=str(group.get("vriic") or ""),
        sender="",
        receiver="",
        engine="pyx12",
        ack_code=_code(group.get("ack_code")),
        sets=sets,
        errors=sorted({str(e["err_cde"]) for e in group.get("errors", [])}),
    )


def _segment(seg: dict[str, Any], gs: str, st: str, issues: list[Issue]) -> None:
    common: dict[str, Any] = {
        "line": seg.get("cur_line"),
        "segment_id": seg.get("seg_id"),
        "segment_position": seg.get("seg_count"),
        "group_control": gs,
        "set_control": st,
    }
    for err in seg.get("errors", []):
        value = err.get("err_val")
        issues.append(
            Issue(
                level="segment",
                code=str(err["err_cde"]),
                message=_masked(err),
                value=mask_value(str(value)) if value else None,
                **common,
            )
        )
    for ele in seg.get("elements", []):
        position = str(ele.get("ele_pos"))
        if ele.get("subele_pos"):
            position += f":{ele['subele_pos']}"
        for err in ele.get("errors", []):
            value = err.get("err_val")
            issues.append(
                Issue(
                    level="element",
                    code=str(err["err_cde"]),
                    message=_masked(err),
                    element_position=position,
                    element_reference=ele.get("ele_ref_num"),
                    value=mask_value(str(value)) if value else None,
                    **common,
                )
            )


def _masked(err: dict[str, Any]) -> str:
    # pyx12 quotes the bad value in its messages; the value is shown masked in its own field.
    message = str(err.get("err_str") or "")
    value = err.get("err_val")
    if value:
        message = message.replace(f"({value})", "").replace(str(value), mask_value(str(value)))
    return " ".join(message.split())


def _code(value: Any) -> Any:
    return value if value in ("A", "E", "P", "R") else "R"


def _ack(text: str, outcome: HipaaOutcome) -> None:
    """Keep pyx12's ST..SE sets; its envelope is replaced by ours."""
    segments = [line.rstrip("~").split("*") for line in text.splitlines() if line.strip()]
    inside = False
    for seg in segments:
        if seg[0] == "ST":
            if len(seg) < 3 or seg[1] not in ("997", "999"):
                # A bare "ST" (pyx12 echoing one it was given): no set to keep. With no usable
                # set at all, the caller rejects every set in an acknowledgement of its own.
                inside = False
                continue
            inside = True
            outcome.ack_kind = seg[1]
            outcome.ack_version = seg[3] if len(seg) > 3 else ""
        if inside:
            outcome.ack_sets.append(seg)
        if seg[0] == "SE":
            inside = False
        if seg[0] == "GS" and len(seg) > 8:
            outcome.ack_version = seg[8]
