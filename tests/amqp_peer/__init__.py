"""An AMQP 1.0 test peer that the real azure-servicebus and azure-eventhub SDKs talk to.

``BrokerState`` (state.py) holds the entities; ``AmqpPeer`` (server.py) serves them with
python-qpid-proton on a loopback port. See docs/messaging.md for what it covers and what not.
"""

from tests.amqp_peer.server import AmqpPeer
from tests.amqp_peer.state import BrokerState

__all__ = ["AmqpPeer", "BrokerState"]
