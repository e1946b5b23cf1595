"""Test-only shim for azure-eventhub 5.15's bundled AMQP stack.

Its frame decoder indexes performative fields by position and fails with ``list index out of
range`` when a peer omits trailing fields, which AMQP 1.0 allows (section 1.4) and proton does.
azure-servicebus 7.15 ships the fixed decoder (it pads omitted fields with their defaults), so the
Event Hubs transports are pointed at that one. Production code never imports this module: a real
Event Hubs namespace sends every field.
"""

from __future__ import annotations

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from azure.eventhub._pyamqp import _transport
    from azure.eventhub._pyamqp.aio import _transport_async
    from azure.servicebus._pyamqp._decode import decode_frame

    _transport.decode_frame = decode_frame  # type: ignore[attr-defined]
    _transport_async.decode_frame = decode_frame  # type: ignore[attr-defined]
    _installed = True
