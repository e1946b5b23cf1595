"""The AMQP 1.0 side of the test peer, on python-qpid-proton's reactor.

One reactor thread serves every connection. What the Azure SDKs need from it (measured against
azure-servicebus 7.15 and azure-eventhub 5.15, both on their bundled pure-Python AMQP stack):

* SASL ANONYMOUS, then claims-based security: a put-token on the ``$cbs`` node is answered with
  ``status-code`` 200 and the request's ``message_id`` as ``correlation_id``, on the link whose
  source is the same node;
* link addresses like ``amqps://host:port/queue`` name the entity by their path;
* a batch (message format 0x80013700) is a message whose data sections each hold one encoded
  message; proton's Python binding does not expose the message format, so a batch is recognised
  by its shape (every data section is itself an encoded message);
* 16-byte delivery tags (the Service Bus SDK turns them into lock tokens); a disposition from a
  peek-lock receiver is echoed and then settled, or ``complete_message`` never returns;
* the ``$management`` node answers Event Hubs' ``READ`` of ``com.microsoft:eventhub`` and
  ``com.microsoft:partition`` and Service Bus' ``com.microsoft:peek-message``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from proton import (
    Condition,
    Data,
    Delivery,
    Described,
    Endpoint,
    Handler,
    Link,
    Message,
    symbol,
    timestamp,
)
from proton.reactor import ApplicationEvent, Container, EventInjector

from tests.amqp_peer.state import BrokerState, StoredMessage

log = logging.getLogger(__name__)

_DATA_SECTION = 0x75
_MESSAGE_SECTIONS = range(0x70, 0x79)
LOCK_DURATION = timedelta(seconds=60)


def entity_path(address: str | None) -> str:
    """``amqps://ns.servicebus.windows.net:5671/orders`` → ``orders``."""
    if not address:
        return ""
    if "://" in address:
        address = urlsplit(address).path
    return address.strip("/")


def _ms(moment: datetime) -> timestamp:
    return timestamp(int(moment.timestamp() * 1000))


def _sections(payload: bytes) -> list[Described]:
    data = Data()
    sections: list[Described] = []
    position = 0
    while position < len(payload):
        data.clear()
        used = data.decode(payload[position:])
        if used <= 0:
            break
        position += used
        data.rewind()
        data.next()
        value = data.get_object()
        if not isinstance(value, Described):
            raise ValueError("not an AMQP message section")
        if isinstance(value.value, memoryview):
            # Copied at once: the view points into proton's buffer, reused by the next decode.
            value = Described(value.descriptor, bytes(value.value))
        sections.append(value)
    return sections


def _is_message(encoded: bytes) -> bool:
    return len(encoded) > 3 and encoded[0:2] == b"\x00\x53" and encoded[2] in _MESSAGE_SECTIONS


def split_batch(payload: bytes) -> list[bytes]:
    """The messages in one transfer: itself, or each data section of a batch."""
    try:
        sections = _sections(payload)
    except Exception:
        return [payload]
    data = [bytes(cast(bytes, s.value)) for s in sections if s.descriptor == _DATA_SECTION]
    if data and all(_is_message(d) for d in data):
        return data
    return [payload]


def _stored(encoded: bytes) -> StoredMessage:
    message = Message()
    message.decode(encoded)
    annotations: dict[Any, Any] = dict(message.annotations or {})
    key = annotations.get(symbol("x-opt-partition-key"))
    return StoredMessage(
        payload=encoded,
        sequence_number=0,
        enqueued_at=datetime.now(UTC),
        message_id=None if message.id is None else str(message.id),
        partition_key=None if key is None else str(key),
    )


class _Route:
    """What one link is attached to."""

    def __init__(self, kind: str, name: str, partition: str | None = None) -> None:
        self.kind = kind  # "node" ($cbs/$management), "entity" (Service Bus), "hub" (Event Hubs)
        self.name = name
        self.partition = partition


def route(path: str) -> _Route:
    parts = path.split("/")
    lowered = [p.lower() for p in parts]
    if lowered[-1] in ("$cbs", "$management"):
        return _Route("node", lowered[-1])
    if "consumergroups" in lowered and "partitions" in lowered:
        return _Route("hub", parts[0], parts[lowered.index("partitions") + 1])
    if len(parts) == 3 and lowered[1] == "partitions":
        return _Route("hub", parts[0], parts[2])
    return _Route("entity", path)


class PeerHandler(Handler):
    """Reactor handler: opens what the client opens, routes links, moves messages."""

    window = 1000  # credit given to every client sender

    def __init__(self, state: BrokerState) -> None:
        super().__init__()
        self.state = state
        self.senders: set[Link] = set()  # our sending links (the clients' receivers)
        self.connections: set[Any] = set()
        self.sockets: list[Any] = []
        self.acceptor: Any = None

    # --- endpoints -----------------------------------------------------------------------

    def on_peer_stop(self, event: Any) -> None:
        """An outage: stop listening and drop every socket without an AMQP close."""
        # The sockets are closed by AmqpPeer.stop once the reactor has returned: proton's Python
        # reactor leaves them open otherwise.
        if self.acceptor is not None:
            self.sockets.append(self.acceptor._selectable)
            self.acceptor.close()
        for connection in list(self.connections):
            transport = connection.transport
            if transport is not None:
                selectable = getattr(transport, "_selectable", None)
                if selectable is not None:
                    self.sockets.append(selectable)
                transport.close_tail()
                transport.close_head()
        self.connections.clear()
        event.container.stop()

    def on_connection_remote_open(self, event: Any) -> None:
        self.connections.add(event.connection)
        if event.connection.state & Endpoint.LOCAL_UNINIT:
            event.connection.open()

    def on_session_remote_open(self, event: Any) -> None:
        if event.session.state & Endpoint.LOCAL_UNINIT:
            event.session.open()

    def on_link_remote_open(self, event: Any) -> None:
        link: Link = event.link
        if not link.state & Endpoint.LOCAL_UNINIT:
            return
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        address = link.remote_source.address if link.is_sender else link.remote_target.address
        target = route(entity_path(address))
        known = (
            target.kind == "node"
            or (target.kind == "entity" and self.state.entity(target.name) is not None)
            or (target.kind == "hub" and self.state.event_hub(target.name) is not None)
            or (target.kind == "entity" and self.state.event_hub(target.name) is not None)
        )
        if target.kind == "entity" and self.state.event_hub(target.name) is not None:
            target = _Route("hub", target.name, None)
        link.route = target
        link.locks = {}
        link.open()
        if not known:
            link.close_condition = Condition(
                "amqp:not-found", f"The messaging entity '{target.name}' could not be found."
            )
            link.condition = link.close_condition
            link.close()
            return
        if link.is_sender:
            if target.kind == "hub":
                assert target.partition is not None
                hub = self.state.event_hub(target.name)
                assert hub is not None
                partition = hub.partitions[int(target.partition)]
                with self.state.lock:
                    link.cursor = partition.start_index(_selector(link))
            self.senders.add(link)
            self._pump(link)
        else:
            link.flow(self.window)

    def on_link_remote_close(self, event: Any) -> None:
        self._forget(event.link)
        if event.link.state & Endpoint.LOCAL_ACTIVE:
            event.link.close()

    def on_session_remote_close(self, event: Any) -> None:
        if event.session.state & Endpoint.LOCAL_ACTIVE:
            event.session.close()

    def on_connection_remote_close(self, event: Any) -> None:
        self._drop_connection(event.connection)
        if event.connection.state & Endpoint.LOCAL_ACTIVE:
            event.connection.close()

    def on_transport_closed(self, event: Any) -> None:
        if event.connection is not None:
            self.connections.discard(event.connection)
            self._drop_connection(event.connection)

    def _drop_connection(self, connection: Any) -> None:
        for link in list(self.senders):
            if link.connection == connection:
                self._forget(link)

    def _forget(self, link: Link) -> None:
        """A receiver went away: its locked messages go back, counted as a failed delivery."""
        if link in self.senders:
            self.senders.discard(link)
            target: _Route = link.route
            locks: dict[bytes, StoredMessage] = getattr(link, "locks", {})
            entity = self.state.entity(target.name) if target.kind == "entity" else None
            if entity is not None and locks:
                with self.state.lock:
                    entity.release_all(locks.keys())
                link.locks = {}
                self._pump_entity(target.name)

    # --- deliveries ----------------------------------------------------------------------

    def on_link_flow(self, event: Any) -> None:
        if event.link.is_sender and event.link in self.senders:
            self._pump(event.link)

    def on_delivery(self, event: Any) -> None:
        delivery: Delivery = event.delivery
        link = delivery.link
        if link.is_receiver:
            if delivery.readable and not delivery.partial:
                # Copied at once: proton frees the buffer behind its views after advance().
                payload = bytes(cast(bytes, link.recv(delivery.pending)))
                link.advance()
                self._incoming(link, delivery, payload)
                if link.credit < self.window // 2:
                    link.flow(self.window - link.credit)
        elif delivery.updated:
            self._outcome(link, delivery)

    def _incoming(self, link: Link, delivery: Delivery, payload: bytes) -> None:
        target: _Route = link.route
        try:
            if target.kind == "node":
                self._management(link, payload)
            elif target.kind == "hub":
                events = [_stored(m) for m in split_batch(payload)]
                self.state.send_to_hub(target.name, target.partition, events)
                self._pump_hub(target.name)
            else:
                messages = [_stored(m) for m in split_batch(payload)]
                self.state.send_to_entity(target.name, messages)
                self._pump_entity(target.name)
            delivery.update(Delivery.ACCEPTED)
        except Exception as exc:
            log.exception("peer refused a transfer")
            delivery.local.condition = Condition("amqp:internal-error", str(exc))
            delivery.update(Delivery.REJECTED)
        delivery.settle()

    def _outcome(self, link: Link, delivery: Delivery) -> None:
        """A peek-lock receiver settled: complete, abandon or dead-letter, then echo."""
        tag = getattr(delivery, "peer_tag", None)
        target: _Route = link.route
        entity = self.state.entity(target.name) if target.kind == "entity" else None
        if tag is None or entity is None or (delivery.settled and delivery.local_state):
            return
        state = delivery.remote_state
        with self.state.lock:
            link.locks.pop(tag, None)
            if state == Delivery.ACCEPTED:
                entity.complete(tag)
            elif state == Delivery.REJECTED:
                condition = delivery.remote.condition
                info: dict[Any, Any] = (
                    dict(cast(Any, condition.info) or {}) if condition is not None else {}
                )
                reason = info.get("DeadLetterReason") or info.get(symbol("DeadLetterReason"))
                description = info.get("DeadLetterErrorDescription") or info.get(
                    symbol("DeadLetterErrorDescription")
                )
                entity.dead_letter_locked(
                    tag,
                    None if reason is None else str(reason),
                    None if description is None else str(description),
                )
            elif state == Delivery.MODIFIED:  # abandon
                entity.abandon(tag, failed=bool(delivery.remote.failed))
            else:  # released
                entity.abandon(tag, failed=False)
        delivery.update(state)
        delivery.settle()
        self._pump_entity(target.name)

    def _pump_entity(self, name: str) -> None:
        for link in list(self.senders):
            if link.route.kind == "entity" and link.route.name.lower() in (
                name.lower(),
                *self._subscriptions(name),
            ):
                self._pump(link)

    def _subscriptions(self, name: str) -> list[str]:
        return self.state.topics.get(name.lower(), [])

    def _pump_hub(self, name: str) -> None:
        for link in list(self.senders):
            if link.route.kind == "hub" and link.route.name.lower() == name.lower():
                self._pump(link)

    def _pump(self, link: Link) -> None:
        target: _Route = link.route
        if not link.state & Endpoint.LOCAL_ACTIVE:
            return
        if target.kind == "hub":
            hub = self.state.event_hub(target.name)
            assert hub is not None and target.partition is not None
            partition = hub.partitions[int(target.partition)]
            while link.credit > 0:
                with self.state.lock:
                    if link.cursor >= len(partition.events):
                        return
                    event = partition.events[link.cursor]
                    link.cursor += 1
                tag = uuid.uuid4().bytes
                delivery = link.delivery(cast(str, tag))  # proton takes bytes tags too
                link.send(self._annotated(event, locked=False))
                link.advance()
                delivery.settle()  # Event Hubs readers get pre-settled events
            return
        entity = self.state.entity(target.name)
        if entity is None:
            return
        while link.credit > 0:
            tag = uuid.uuid4().bytes  # 16 bytes: the SDK derives the lock token from the tag
            with self.state.lock:
                message = entity.lock_next(tag)
                if message is None:
                    return
                if link.remote_snd_settle_mode == Link.SND_SETTLED:
                    entity.complete(tag)  # receive-and-delete
                else:
                    link.locks[tag] = message
            delivery = link.delivery(cast(str, tag))  # proton takes bytes tags too
            delivery.peer_tag = tag
            link.send(self._annotated(message, locked=True))
            link.advance()
            if link.remote_snd_settle_mode == Link.SND_SETTLED:
                delivery.settle()

    def _annotated(self, stored: StoredMessage, *, locked: bool) -> bytes:
        message = Message()
        message.decode(stored.payload)
        annotations: dict[Any, Any] = dict(message.annotations or {})
        annotations[symbol("x-opt-sequence-number")] = stored.sequence_number
        annotations[symbol("x-opt-enqueued-time")] = _ms(stored.enqueued_at)
        annotations[symbol("x-opt-offset")] = str(stored.offset)
        if locked:
            annotations[symbol("x-opt-locked-until")] = _ms(datetime.now(UTC) + LOCK_DURATION)
        message.annotations = annotations
        message.delivery_count = stored.delivery_count
        # Service Bus always sends a header; first-acquirer keeps proton from omitting it.
        message.first_acquirer = stored.delivery_count == 0
        if stored.application_properties:
            message.properties = cast(
                Any, {**(message.properties or {}), **stored.application_properties}
            )
        return bytes(message.encode())

    # --- $cbs and $management ------------------------------------------------------------

    def _management(self, link: Link, payload: bytes) -> None:
        request = Message()
        request.decode(payload)
        node: _Route = link.route
        props: dict[str, Any] = {str(k): v for k, v in cast(Any, request.properties or {}).items()}
        operation = str(props.get("operation", ""))
        status, description, body = 200, "OK", None
        if node.name == "$cbs":
            status, description = 200, "OK"  # any token will do: the peer checks no claims
        elif operation == "READ":
            status, description, body = self._read(props)
        elif operation == "com.microsoft:peek-message":
            status, description, body = self._peek(entity_path(link.remote_target.address), request)
        else:
            status, description = 501, f"operation {operation!r} is not implemented by the peer"
        response = Message(
            correlation_id=request.id,
            properties={
                "status-code": status,
                "statusCode": status,
                "status-description": description,
                "statusDescription": description,
            },
        )
        if body is not None:
            response.body = body
        reply = self._reply_link(link, node.name)
        if reply is not None:
            reply.delivery(cast(str, uuid.uuid4().bytes))
            reply.send(bytes(response.encode()))
            reply.advance()

    def _reply_link(self, request_link: Link, node: str) -> Link | None:
        session = request_link.session
        fallback = None
        link = request_link.connection.link_head(Endpoint.LOCAL_ACTIVE)
        while link is not None:
            if link.is_sender and route(entity_path(link.remote_source.address)).name == node:
                if link.session == session and link.remote_source.address == (
                    request_link.remote_target.address
                ):
                    return link
                fallback = fallback or link
            link = link.next(Endpoint.LOCAL_ACTIVE)
        return fallback

    def _read(self, props: dict[str, Any]) -> tuple[int, str, Any]:
        hub = self.state.event_hub(str(props.get("name", "")))
        if hub is None:
            return 404, "event hub not found", None
        if props.get("type") == "com.microsoft:eventhub":
            return (
                200,
                "OK",
                {
                    "name": hub.name,
                    "type": "com.microsoft:eventhub",
                    "created_at": _ms(hub.created_at),
                    "partition_count": len(hub.partitions),
                    "partition_ids": [p.partition_id for p in hub.partitions],
                },
            )
        partition = hub.partitions[int(str(props.get("partition")))]
        with self.state.lock:
            last = partition.events[-1] if partition.events else None
            return (
                200,
                "OK",
                {
                    "name": hub.name,
                    "type": "com.microsoft:partition",
                    "partition": partition.partition_id,
                    "begin_sequence_number": 0,
                    "last_enqueued_sequence_number": -1 if last is None else last.sequence_number,
                    "last_enqueued_offset": "-1" if last is None else str(last.offset),
                    "last_enqueued_time_utc": _ms(last.enqueued_at if last else hub.created_at),
                    "is_partition_empty": last is None,
                },
            )

    def _peek(self, node_address: str, request: Message) -> tuple[int, str, Any]:
        entity_name = node_address.rsplit("/", 1)[0] if "/" in node_address else ""
        entity = self.state.entity(entity_name)
        if entity is None:
            return 404, "entity not found", None
        body = dict(cast(Any, request.body) or {})
        start = int(body.get("from-sequence-number", 0))
        count = int(body.get("message-count", 1))
        with self.state.lock:
            found = entity.peek(start, count)
        if not found:
            return 204, "No messages", None
        return (
            200,
            "OK",
            {"messages": [{"message": self._annotated(m, locked=False)} for m in found]},
        )


def _selector(link: Link) -> str | None:
    data = link.remote_source.filter
    data.rewind()
    if not data.next():
        return None
    filters = data.get_object()
    if not isinstance(filters, dict):
        return None
    for value in filters.values():
        if isinstance(value, Described):
            return str(value.value)
        if isinstance(value, str):
            return value
    return None


class AmqpPeer:
    """The peer on ``127.0.0.1:port`` in a background thread; :meth:`stop` drops every
    connection (a broker outage) and :meth:`start` serves the same state again."""

    def __init__(self, state: BrokerState, port: int, host: str = "127.0.0.1") -> None:
        self.state = state
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._container: Container | None = None
        self._injector: EventInjector | None = None
        self._handler: PeerHandler | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def connection_string(self, entity: str | None = None) -> str:
        text = (
            f"Endpoint=sb://{self.host}:{self.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;"
        )
        if entity:
            text += f"EntityPath={entity};"
        return text + "UseDevelopmentEmulator=true;"

    def start(self) -> None:
        if self.running:
            return
        handler = PeerHandler(self.state)
        container = Container(handler)
        container.container_id = "amqp-test-peer"
        handler.acceptor = container.listen(f"{self.host}:{self.port}")
        injector = EventInjector()
        container.selectable(injector)
        self._container, self._injector, self._handler = container, injector, handler
        ready = threading.Event()

        def run() -> None:
            ready.set()
            with contextlib.suppress(Exception):
                container.run()

        self._thread = threading.Thread(target=run, name="amqp-peer", daemon=True)
        self._thread.start()
        ready.wait()

    def stop(self) -> None:
        """Close the listener and every connection, like a broker going away."""
        if not self.running or self._injector is None or self._container is None:
            return
        self._injector.trigger(ApplicationEvent("peer_stop"))
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._thread = None
        for selectable in self._handler.sockets if self._handler else []:
            with contextlib.suppress(Exception):
                selectable._delegate.close()

    def restart(self) -> None:
        self.stop()
        self.start()
