"""Wire models: every workflow, signal, update and activity input and output and every published
event is a versioned pydantic model registered here (file contracts, too, are registered so their
schema is checked the same way).

Register a model with :func:`~foundation.wire_model.wire_model`; its JSON Schema is exported to
``wire/json_schemas/`` and the test suite refuses a backward-incompatible change that does not
bump the major version.
"""

from foundation.wire_model import WireModel, all_wire_models, wire_model

__all__ = ["WireModel", "all_wire_models", "wire_model"]
