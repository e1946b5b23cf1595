"""Reading the 997, 999 and TA1 a partner sends us about our interchanges."""

from __future__ import annotations

from edi.datatypes import as_int
from edi.reader import Group, Interchange, Segment
from edi.results import AckCode, ReceivedAck


def _code(value: str) -> AckCode:
    # AK501/IK501/AK901 codes; M and W (5010 997: rejected/partial, message authentication)
    # and X (5010: rejected, content could not be analysed) count as rejections.
    codes: dict[str, AckCode] = {"A": "A", "E": "E", "P": "P", "R": "R"}
    return codes.get(value, "R")


def read_group(interchange: Interchange, group: Group) -> list[ReceivedAck]:
    """One ReceivedAck per 997/999 transaction set in an FA group."""
    acks = []
    for transaction in group.sets:
        ak1: Segment | None = None
        ak9: Segment | None = None
        set_codes: dict[str, str] = {}
        current: str | None = None
        for seg in transaction.segments:
            if seg.id == "AK1":
                ak1 = seg
            elif seg.id == "AK2":
                current = seg.get(2)
            elif seg.id in ("AK5", "IK5") and current is not None:
                set_codes[current] = _code(seg.get(1))
            elif seg.id == "AK9":
                ak9 = seg
        if ak1 is None or ak9 is None:
            continue
        acks.append(
            ReceivedAck(
                kind="999" if transaction.set_id == "999" else "997",
                partner_sender=interchange.isa[6].strip(),
                acknowledged_group=ak1.get(2),
                functional_id=ak1.get(1),
                ack_code=_code(ak9.get(1)),
                sets_included=_int(ak9.get(2)),
                sets_received=_int(ak9.get(3)),
                sets_accepted=_int(ak9.get(4)),
                set_codes=set_codes,
            )
        )
    return acks


def read_ta1(interchange: Interchange) -> list[ReceivedAck]:
    return [
        ReceivedAck(
            kind="TA1",
            partner_sender=interchange.isa[6].strip(),
            acknowledged_interchange=seg.get(1),
            ack_code=_code(seg.get(4)),
            note_code=seg.get(5) or None,
        )
        for seg in interchange.ta1
    ]


def _int(value: str) -> int | None:
    return as_int(value)
