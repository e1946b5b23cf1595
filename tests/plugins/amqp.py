"""The AMQP 1.0 test peer (tests/amqp_peer) for the real Azure SDKs, on a free loopback port.

``amqp_peer`` lives for the session; tests create their own entities on its state (unique
names), and fault tests stop and start it (the state survives, like a broker's disk)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.localstack.ports import free_port
from tests.amqp_peer import AmqpPeer, BrokerState, sdk_shim


@pytest.fixture(scope="session")
def amqp_peer() -> Iterator[AmqpPeer]:
    sdk_shim.install()
    peer = AmqpPeer(BrokerState(max_delivery_count=10), free_port())
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture
def running_peer(amqp_peer: AmqpPeer) -> Iterator[AmqpPeer]:
    """The session peer, started again after a test that stopped it."""
    amqp_peer.start()
    yield amqp_peer
    amqp_peer.start()
