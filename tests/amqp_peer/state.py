"""What the test peer holds: Service Bus queues (with dead-letter sub-queues and topic
subscriptions) and Event Hubs partitions. Plain Python behind one lock, so a test can look at it
from its own thread while the AMQP thread works on it.

Semantics follow the real services where the SDKs can tell the difference:

* Service Bus: sequence numbers per entity; duplicate detection on ``message_id`` (enabled per
  entity, like ``RequiresDuplicateDetection``); a peek-lock delivery is locked until it is
  completed, abandoned (delivery count + 1, back in line), dead-lettered (to
  ``<entity>/$DeadLetterQueue`` with ``DeadLetterReason``/``DeadLetterErrorDescription``) or its
  link goes away (counted as a failed delivery, like an expired lock). After ``max_delivery_count``
  failed deliveries the message is dead-lettered with ``MaxDeliveryCountExceeded``.
* Event Hubs: events are appended to a partition with a sequence number and a byte offset; a
  reader starts at a filter on ``x-opt-offset``, ``x-opt-sequence-number`` or
  ``x-opt-enqueued-time``, and nothing is ever removed.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEAD_LETTER_SUFFIX = "/$deadletterqueue"


@dataclass
class StoredMessage:
    payload: bytes  # the message exactly as encoded by the sender (copied out of proton)
    sequence_number: int
    enqueued_at: datetime
    offset: int = 0
    message_id: str | None = None
    partition_key: str | None = None
    delivery_count: int = 0
    application_properties: dict[str, object] = field(default_factory=dict)


@dataclass
class ServiceBusEntity:
    """A queue, a topic subscription, or a dead-letter sub-queue."""

    name: str
    duplicate_detection: bool = True
    max_delivery_count: int = 10
    available: list[StoredMessage] = field(default_factory=list)
    locked: dict[bytes, StoredMessage] = field(default_factory=dict)
    all_ids: set[str] = field(default_factory=set)
    next_sequence: int = 1
    dead_letter: ServiceBusEntity | None = None

    def accept(self, message: StoredMessage) -> bool:
        """Enqueue; False when duplicate detection drops it."""
        if self.duplicate_detection and message.message_id is not None:
            if message.message_id in self.all_ids:
                return False
            self.all_ids.add(message.message_id)
        message.sequence_number = self.next_sequence
        self.next_sequence += 1
        self.available.append(message)
        self.available.sort(key=lambda m: m.sequence_number)
        return True

    def lock_next(self, tag: bytes) -> StoredMessage | None:
        if not self.available:
            return None
        message = self.available.pop(0)
        self.locked[tag] = message
        return message

    def complete(self, tag: bytes) -> bool:
        return self.locked.pop(tag, None) is not None

    def abandon(self, tag: bytes, *, failed: bool = True) -> bool:
        """Back in line; ``failed`` (abandon, an expired lock) counts a delivery attempt, a plain
        release (a receiver handing back prefetched messages) does not."""
        message = self.locked.pop(tag, None)
        if message is None:
            return False
        if not failed:
            self.available.append(message)
            self.available.sort(key=lambda m: m.sequence_number)
            return True
        message.delivery_count += 1
        if message.delivery_count >= self.max_delivery_count:
            self._to_dead_letter(message, "MaxDeliveryCountExceeded", "delivery count exceeded")
        else:
            self.available.append(message)
            self.available.sort(key=lambda m: m.sequence_number)
        return True

    def dead_letter_locked(self, tag: bytes, reason: str | None, description: str | None) -> bool:
        message = self.locked.pop(tag, None)
        if message is None:
            return False
        self._to_dead_letter(message, reason, description)
        return True

    def release_all(self, tags: Iterable[bytes]) -> None:
        """A receiver link went away with these messages locked: like an expired lock."""
        for tag in list(tags):
            self.abandon(tag)

    def _to_dead_letter(self, message: StoredMessage, reason: str | None, desc: str | None) -> None:
        if self.dead_letter is None:
            return
        message.application_properties = {
            "DeadLetterReason": reason or "",
            "DeadLetterErrorDescription": desc or "",
        }
        dead = StoredMessage(
            payload=message.payload,
            sequence_number=0,
            enqueued_at=datetime.now(UTC),
            message_id=message.message_id,
            delivery_count=0,
            application_properties=message.application_properties,
        )
        self.dead_letter.duplicate_detection = False
        self.dead_letter.accept(dead)

    def peek(self, from_sequence: int, count: int) -> list[StoredMessage]:
        pending = sorted([*self.available, *self.locked.values()], key=lambda m: m.sequence_number)
        return [m for m in pending if m.sequence_number >= from_sequence][:count]


@dataclass
class Partition:
    partition_id: str
    events: list[StoredMessage] = field(default_factory=list)
    next_offset: int = 0

    def append(self, message: StoredMessage) -> None:
        message.sequence_number = len(self.events)
        message.offset = self.next_offset
        self.next_offset += len(message.payload)
        self.events.append(message)

    def start_index(self, selector: str | None) -> int:
        """Index of the first event a reader with this selector filter gets."""
        if not selector:
            return 0
        parsed = parse_selector(selector)
        if parsed is None:
            return 0
        name, operator, value = parsed
        if value == "-1" or value == "@latest":
            return 0 if value == "-1" else len(self.events)
        for index, event in enumerate(self.events):
            key: float
            if name == "x-opt-offset":
                key, bound = event.offset, float(value)
            elif name == "x-opt-sequence-number":
                key, bound = event.sequence_number, float(value)
            else:  # x-opt-enqueued-time, milliseconds since the epoch
                key, bound = event.enqueued_at.timestamp() * 1000, float(value)
            if (operator == ">=" and key >= bound) or (operator == ">" and key > bound):
                return index
        return len(self.events)


_SELECTOR = re.compile(
    r"amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=|>|=)\s*'([^']*)'"
)


def parse_selector(selector: str) -> tuple[str, str, str] | None:
    match = _SELECTOR.search(selector)
    if match is None:
        return None
    operator = ">=" if match[2] == "=" else match[2]
    return match[1], operator, match[3]


@dataclass
class EventHub:
    name: str
    partitions: list[Partition]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _round_robin: int = 0

    def partition_for(self, partition_key: str | None) -> Partition:
        if partition_key is not None:
            return self.partitions[zlib.crc32(partition_key.encode()) % len(self.partitions)]
        partition = self.partitions[self._round_robin % len(self.partitions)]
        self._round_robin += 1
        return partition


class BrokerState:
    """Every entity of the peer's one namespace. Names are case-insensitive, as in Azure."""

    def __init__(
        self,
        *,
        queues: Iterable[str] = (),
        topics: dict[str, list[str]] | None = None,
        event_hubs: dict[str, int] | None = None,
        max_delivery_count: int = 10,
    ) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.entities: dict[str, ServiceBusEntity] = {}
        self.topics: dict[str, list[str]] = {}
        self.event_hubs: dict[str, EventHub] = {}
        self.max_delivery_count = max_delivery_count
        self.dropped_duplicates = 0
        for queue in queues:
            self.add_queue(queue)
        for topic, subscriptions in (topics or {}).items():
            self.add_topic(topic, subscriptions)
        for hub, partitions in (event_hubs or {}).items():
            self.add_event_hub(hub, partitions)

    def add_queue(self, name: str) -> ServiceBusEntity:
        with self.lock:
            key = name.lower()
            dead = ServiceBusEntity(key + DEAD_LETTER_SUFFIX, duplicate_detection=False)
            entity = ServiceBusEntity(
                key, max_delivery_count=self.max_delivery_count, dead_letter=dead
            )
            self.entities[key] = entity
            self.entities[dead.name] = dead
            return entity

    def add_topic(self, name: str, subscriptions: list[str]) -> None:
        with self.lock:
            key = name.lower()
            self.topics[key] = [f"{key}/subscriptions/{s.lower()}" for s in subscriptions]
            for sub in self.topics[key]:
                self.add_queue(sub).duplicate_detection = False
            # The topic itself does duplicate detection; it keeps ids, not messages.
            self.entities[key] = ServiceBusEntity(key)

    def add_event_hub(self, name: str, partitions: int) -> EventHub:
        with self.lock:
            hub = EventHub(name, [Partition(str(i)) for i in range(partitions)])
            self.event_hubs[name.lower()] = hub
            return hub

    # --- lookups -------------------------------------------------------------------------

    def entity(self, name: str) -> ServiceBusEntity | None:
        return self.entities.get(name.lower())

    def event_hub(self, name: str) -> EventHub | None:
        return self.event_hubs.get(name.lower())

    # --- Service Bus ---------------------------------------------------------------------

    def send_to_entity(self, name: str, messages: list[StoredMessage]) -> int:
        """Enqueue on a queue, or fan out to a topic's subscriptions; returns how many were
        accepted (duplicates are dropped silently, as Service Bus does)."""
        with self.lock:
            key = name.lower()
            entity = self.entities[key]
            accepted = 0
            for message in messages:
                if key in self.topics:
                    if entity.duplicate_detection and message.message_id is not None:
                        if message.message_id in entity.all_ids:
                            self.dropped_duplicates += 1
                            continue
                        entity.all_ids.add(message.message_id)
                    for sub in self.topics[key]:
                        copy = StoredMessage(
                            message.payload, 0, message.enqueued_at, message_id=message.message_id
                        )
                        self.entities[sub].accept(copy)
                    accepted += 1
                elif entity.accept(message):
                    accepted += 1
                else:
                    self.dropped_duplicates += 1
            self.changed.notify_all()
            return accepted

    # --- Event Hubs ----------------------------------------------------------------------

    def send_to_hub(self, name: str, partition_id: str | None, events: list[StoredMessage]) -> None:
        """Append one send (a batch lands whole in one partition, as in Event Hubs)."""
        with self.lock:
            hub = self.event_hubs[name.lower()]
            if partition_id is not None:
                partition = hub.partitions[int(partition_id)]
            else:
                partition = hub.partition_for(events[0].partition_key if events else None)
            for event in events:
                partition.append(event)
            self.changed.notify_all()
